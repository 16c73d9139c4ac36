/*
 * message_util.c: small helpers over the protobuf-c descriptors shared by the
 * text reader, the JSON reader/writer and validation: allocating messages,
 * growing repeated fields, recognising map entries, and the position side
 * table. Every allocation uses malloc so protobuf_c_message_free_unpacked(msg,
 * NULL) frees what these helpers built.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

size_t cfg_scalar_size(ProtobufCType type) {
  switch (type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_ENUM:
    return 4;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

void *cfg_repeated_append(ProtobufCMessage *msg,
                          const ProtobufCFieldDescriptor *f) {
  size_t *n = (size_t *)((char *)msg + f->quantifier_offset);
  void **arr = (void **)((char *)msg + f->offset);
  size_t sz = cfg_scalar_size(f->type);
  /* Grow in powers of two: the array's capacity is implied by n. */
  size_t cap = 0;
  if (*n > 0) {
    cap = 1;
    while (cap < *n)
      cap *= 2;
  }
  if (*n == cap) {
    size_t ncap = cap ? cap * 2 : 1;
    void *na = realloc(*arr, ncap * sz);
    if (!na)
      return NULL;
    *arr = na;
  }
  void *slot = (char *)*arr + *n * sz;
  memset(slot, 0, sz);
  (*n)++;
  return slot;
}

ProtobufCMessage *cfg_message_new(const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = malloc(desc->sizeof_message);
  if (m)
    protobuf_c_message_init(desc, m);
  return m;
}

bool cfg_field_is_map(const ProtobufCFieldDescriptor *f) {
  if (f->label != PROTOBUF_C_LABEL_REPEATED ||
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    return false;
  const ProtobufCMessageDescriptor *d = f->descriptor;
  size_t nl = strlen(d->short_name);
  return d->n_fields == 2 && d->fields[0].id == 1 &&
         strcmp(d->fields[0].name, "key") == 0 && d->fields[1].id == 2 &&
         strcmp(d->fields[1].name, "value") == 0 && nl > 5 &&
         strcmp(d->short_name + nl - 5, "Entry") == 0;
}

void cfg_pos_table_deinit(cfg_pos_table_t *t) {
  if (!t)
    return;
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}

const cfg_pos_t *cfg_pos_find(const cfg_pos_table_t *t, const void *msg,
                              const char *field_name, size_t index) {
  if (!t || !msg)
    return NULL;
  /* Later entries win: a message address may be reused after a free. */
  for (size_t i = t->n; i-- > 0;) {
    const cfg_pos_t *p = &t->v[i];
    if (p->msg == msg && p->index == index &&
        strcmp(p->field->name, field_name) == 0)
      return p;
  }
  return NULL;
}
