/*
 * config.h: reading, completing, validating and printing model configs
 * (Inference__ModelConfig from proto/model_config.proto, compiled with
 * protoc-c). Internal API of src/config/; prefix cfg_.
 *
 * Every config error names file:line:column and the field, e.g.
 *   models/simple/config.pbtxt:7:15: field "max_batch_size": expected an
 *   integer, got "abc"
 * Validation errors name the field path and, where the value came from the
 * file, its position.
 *
 * Threads: all functions are reentrant; a config message is owned by one
 * thread at a time.
 */
#ifndef INFERD_CONFIG_H
#define INFERD_CONFIG_H

#include "inferd/server.h"
#include "model_config.pb-c.h"

typedef Inference__ModelConfig cfg_model_t;

/* Parses protobuf text format for any message described by desc into a
 * freshly allocated message (free with protobuf_c_message_free_unpacked(msg,
 * NULL)). filename is used in error messages only. */
inferd_status_t *cfg_text_parse(const ProtobufCMessageDescriptor *desc,
                                const char *text, size_t len,
                                const char *filename, ProtobufCMessage **out);

/* Prints any message as JSON the way Triton's config endpoint does
 * (reference §1.10): snake_case names, every scalar field printed even when
 * default, enums as names, 64-bit integers as JSON numbers, map keys as
 * strings. *out is malloc'd, NUL-terminated; *len excludes the NUL. */
inferd_status_t *cfg_json_print(const ProtobufCMessage *msg, char **out,
                                size_t *len);

/* Parses the JSON form (load override; reference §3.5): enum names
 * case-insensitive, 64-bit ints as numbers or strings, unknown fields are
 * errors. */
inferd_status_t *cfg_json_parse(const ProtobufCMessageDescriptor *desc,
                                const char *json, size_t len,
                                ProtobufCMessage **out);

typedef struct cfg_load_options {
  const char *model_dir;         /* <repository>/<model> */
  const char *model_name;        /* directory name */
  const char *model_config_name; /* configs/<name>.pbtxt if present; or NULL */
  bool autocomplete;             /* !strict_model_config */
  int32_t gpu_count;             /* visible GPUs (KIND_AUTO resolution) */
  /* why gpu_count is 0 (the GPU layer's words); NULL: "no GPU is
   * available" */
  const char *gpu_unavailable_reason;
} cfg_load_options_t;

/* Reads <model_dir>/config.pbtxt (or configs/<name>.pbtxt), allowing it to
 * be absent when autocomplete is on, then autofills (name, backend, platform,
 * default_model_filename from the files in the first numeric version
 * directory; reference §3.6), normalises (version policy, instance groups:
 * KIND_AUTO resolved, count, names) and validates (reference §3.7). On
 * success *out is a complete config (free with cfg_free). */
inferd_status_t *cfg_load(const cfg_load_options_t *opts, cfg_model_t **out);

/* The same steps for a config already in memory (load override). */
inferd_status_t *cfg_complete(const cfg_load_options_t *opts, cfg_model_t *cfg);

/* The default model file name for a config (default_model_filename if set,
 * else per backend/platform: model.onnx, model.pt, model.plan, model.py,
 * model.graphdef, model.savedmodel, model.<backend>). Borrowed from cfg,
 * static storage, or (model.<backend>) a per-thread buffer that the next
 * call on the same thread overwrites. */
const char *cfg_default_model_filename(const cfg_model_t *cfg);

/* Is path acceptable as a model_warmup input_data_file: relative, non-empty,
 * and without "", "." or ".." components (so it stays inside
 * <model_dir>/warmup/)? */
bool cfg_warmup_file_path_ok(const char *path);

void cfg_free(cfg_model_t *cfg); /* NULL ignored */

#endif /* INFERD_CONFIG_H */
