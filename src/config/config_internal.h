/*
 * config_internal.h: what the files of src/config/ share: the position side
 * table that remembers where in config.pbtxt each value came from, so that
 * validation errors can name file:line:column.
 *
 * Threads: a table is owned by the thread that parses and validates.
 */
#ifndef INFERD_CONFIG_INTERNAL_H
#define INFERD_CONFIG_INTERNAL_H

#include <stddef.h>

#include "config/config.h"

/* Where the value of field `field` (element `index` of a repeated field, 0
 * otherwise) of message `msg` started in the text. For message values the
 * position is the field name's, or the element's "{" inside a list. */
typedef struct cfg_pos {
  const void *msg;
  const ProtobufCFieldDescriptor *field;
  size_t index;
  int line, col;
} cfg_pos_t;

typedef struct cfg_pos_table {
  cfg_pos_t *v;
  size_t n, cap;
} cfg_pos_table_t;

void cfg_pos_table_deinit(cfg_pos_table_t *t);
/* NULL when unknown (value not from the text, or t NULL). */
const cfg_pos_t *cfg_pos_find(const cfg_pos_table_t *t, const void *msg,
                              const char *field_name, size_t index);

/* cfg_text_parse that also records positions into pos (may be NULL). On
 * error the table may hold entries of freed messages: deinit it. */
inferd_status_t *cfg_text_parse_pos(const ProtobufCMessageDescriptor *desc,
                                    const char *text, size_t len,
                                    const char *filename,
                                    ProtobufCMessage **out,
                                    cfg_pos_table_t *pos);

/* cfg_complete with the label used in messages (file path or description)
 * and the positions of a parsed file (may be NULL). */
inferd_status_t *cfg_complete_at(const cfg_load_options_t *opts,
                                 cfg_model_t *cfg, const char *label,
                                 const cfg_pos_table_t *pos);

/* Is this repeated message field a protobuf map (entry message with key = 1
 * and value = 2, named *Entry)? */
bool cfg_field_is_map(const ProtobufCFieldDescriptor *f);

/* Sizes of one element of a repeated scalar field of this type. */
size_t cfg_scalar_size(ProtobufCType type);

/* Appends one zeroed element slot to the repeated field f of msg, growing
 * the array; returns the slot or NULL on out of memory (message unchanged). */
void *cfg_repeated_append(ProtobufCMessage *msg,
                          const ProtobufCFieldDescriptor *f);

/* Allocates and initialises a message of desc (malloc); NULL on OOM. */
ProtobufCMessage *cfg_message_new(const ProtobufCMessageDescriptor *desc);

#endif /* INFERD_CONFIG_INTERNAL_H */
