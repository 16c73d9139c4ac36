/*
 * host_api.c: the table of server functions handed to backends
 * (inferd_host_api_t, include/inferd/backend.h). Thin adapters over the core
 * request/response objects and the model/instance objects.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/model.h"
#include "core/clock.h"
#include "core/completion.h"
#include "core/request.h"
#include "core/status_internal.h"

/* ---- status / log ---- */
static inferd_status_t *h_status_new(inferd_code_t code, const char *fmt, ...)
    INFERD_PRINTF(2, 3);
static inferd_status_t *h_status_new(inferd_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  inferd_status_t *st = core_status_vnew(code, fmt, ap);
  va_end(ap);
  return st;
}

static void h_log(int32_t level, const char *file, int line, const char *fmt,
                  ...) INFERD_PRINTF(4, 5);
static void h_log(int32_t level, const char *file, int line, const char *fmt,
                  ...) {
  if (!inferd_log_enabled(level))
    return;
  char buf[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  inferd_log(level, file, line, "%s", buf);
}

static uint64_t h_now_ns(void) { return core_now_ns(); }

/* ---- backend ---- */
static const char *h_backend_name(const inferd_backend_t *b) { return b->name; }
static const char *h_backend_config(const inferd_backend_t *b,
                                    const char *key) {
  const be_registry_t *reg = b->registry;
  for (size_t i = 0; i < reg->n_configs; i++)
    if (strcmp(reg->configs[i].backend, b->name) == 0 &&
        strcmp(reg->configs[i].key, key) == 0)
      return reg->configs[i].value;
  return NULL;
}
static void h_backend_set_state(inferd_backend_t *b, void *s) { b->state = s; }
static void *h_backend_state(const inferd_backend_t *b) { return b->state; }

/* ---- model ---- */
#define M(x) model_from_be(x)
static inferd_backend_t *h_model_backend(const inferd_backend_model_t *m) {
  return M(m)->backend;
}
static const char *h_model_name(const inferd_backend_model_t *m) {
  return M(m)->name;
}
static int64_t h_model_version(const inferd_backend_model_t *m) {
  return M(m)->version;
}
static const char *h_model_dir(const inferd_backend_model_t *m) {
  return M(m)->model_dir;
}
static const char *h_model_file_path(const inferd_backend_model_t *m) {
  return M(m)->file_path;
}
static const char *h_model_config_json(const inferd_backend_model_t *m) {
  return M(m)->config_json;
}
static const char *h_model_parameter(const inferd_backend_model_t *m,
                                     const char *key) {
  const cfg_model_t *c = M(m)->config;
  for (size_t i = 0; i < c->n_parameters; i++)
    if (c->parameters[i]->key && strcmp(c->parameters[i]->key, key) == 0)
      return c->parameters[i]->value && c->parameters[i]->value->string_value
                 ? c->parameters[i]->value->string_value
                 : "";
  return NULL;
}
static int32_t h_model_max_batch_size(const inferd_backend_model_t *m) {
  return M(m)->config->max_batch_size;
}
static uint32_t h_model_input_count(const inferd_backend_model_t *m) {
  return M(m)->n_inputs;
}
static uint32_t h_model_output_count(const inferd_backend_model_t *m) {
  return M(m)->n_outputs;
}
static void io_get(const model_io_t *io, const char **name,
                   inferd_datatype_t *dt, const int64_t **dims,
                   uint32_t *n_dims) {
  if (name)
    *name = io->name;
  if (dt)
    *dt = io->dt;
  if (dims)
    *dims = io->dims;
  if (n_dims)
    *n_dims = io->n_dims;
}
static void h_model_input(const inferd_backend_model_t *m, uint32_t i,
                          const char **name, inferd_datatype_t *dt,
                          const int64_t **dims, uint32_t *n_dims) {
  io_get(&M(m)->inputs[i], name, dt, dims, n_dims);
}
static void h_model_output(const inferd_backend_model_t *m, uint32_t i,
                           const char **name, inferd_datatype_t *dt,
                           const int64_t **dims, uint32_t *n_dims) {
  io_get(&M(m)->outputs[i], name, dt, dims, n_dims);
}
static void h_model_set_state(inferd_backend_model_t *m, void *s) {
  M(m)->backend_state = s;
}
static void *h_model_state(const inferd_backend_model_t *m) {
  return M(m)->backend_state;
}

/* ---- instance ---- */
static inferd_backend_model_t *
h_instance_model(const inferd_backend_instance_t *i) {
  return model_to_be(i->model);
}
static const char *h_instance_name(const inferd_backend_instance_t *i) {
  return i->name;
}
static int32_t h_instance_kind(const inferd_backend_instance_t *i) {
  return i->kind;
}
static int32_t h_instance_device_id(const inferd_backend_instance_t *i) {
  return i->device_id;
}
static void h_instance_set_state(inferd_backend_instance_t *i, void *s) {
  i->state = s;
}
static void *h_instance_state(const inferd_backend_instance_t *i) {
  return i->state;
}

/* ---- requests ---- */
static const char *h_request_id(const inferd_request_t *r) { return r->id; }
static uint64_t h_request_correlation_id(const inferd_request_t *r) {
  return r->correlation_id;
}
static const char *h_request_correlation_id_string(const inferd_request_t *r) {
  return r->correlation_id_str;
}
static uint32_t h_request_flags(const inferd_request_t *r) { return r->flags; }
static uint32_t h_request_input_count(const inferd_request_t *r) {
  return r->n_inputs;
}
static inferd_status_t *
h_request_input(const inferd_request_t *r, uint32_t i, const char **name,
                inferd_datatype_t *dt, const int64_t **shape, uint32_t *n_dims,
                uint64_t *byte_size, uint32_t *n_buffers) {
  if (i >= r->n_inputs)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input index %u out of range (%u inputs)", i,
                             r->n_inputs);
  const core_input_t *in = &r->inputs[i];
  if (name)
    *name = in->name;
  if (dt)
    *dt = in->dt;
  if (shape)
    *shape = in->shape;
  if (n_dims)
    *n_dims = in->n_dims;
  if (byte_size)
    *byte_size = in->byte_size;
  if (n_buffers)
    *n_buffers = in->n_buffers;
  return NULL;
}
static inferd_status_t *h_request_input_index(const inferd_request_t *r,
                                              const char *name, uint32_t *i) {
  int32_t k = core_request_find_input(r, name, strlen(name));
  if (k < 0)
    return inferd_status_new(INFERD_NOT_FOUND, "request has no input \"%s\"",
                             name);
  *i = (uint32_t)k;
  return NULL;
}
static inferd_status_t *
h_request_input_buffer(const inferd_request_t *r, uint32_t input,
                       uint32_t buffer, const void **base, uint64_t *size,
                       inferd_memtype_t *mem_type, int64_t *device_id) {
  if (input >= r->n_inputs || buffer >= r->inputs[input].n_buffers)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input %u buffer %u out of range", input, buffer);
  const core_buffer_t *b = &r->inputs[input].buffers[buffer];
  if (base)
    *base = b->base;
  if (size)
    *size = b->size;
  if (mem_type)
    *mem_type = b->mem_type;
  if (device_id)
    *device_id = b->device_id;
  return NULL;
}
static uint32_t h_request_output_count(const inferd_request_t *r) {
  return r->n_out_names;
}
static const char *h_request_output_name(const inferd_request_t *r,
                                         uint32_t i) {
  return i < r->n_out_names ? r->out_names[i] : NULL;
}
static uint32_t h_request_parameter_count(const inferd_request_t *r) {
  return r->n_params;
}
static inferd_status_t *h_request_parameter(const inferd_request_t *r,
                                            uint32_t i, const char **key,
                                            inferd_param_type_t *type,
                                            const void **value) {
  if (i >= r->n_params)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "parameter index %u out of range", i);
  const core_param_t *p = &r->params[i];
  *key = p->key;
  *type = p->type;
  *value = p->type == INFERD_PARAM_STRING ? (const void *)p->v.s
                                          : (const void *)&p->v;
  return NULL;
}
static bool h_request_is_cancelled(const inferd_request_t *r) {
  return atomic_load(&((inferd_request_t *)r)->cancelled);
}
static void h_request_release(inferd_request_t *r) { core_request_release(r); }

/* ---- responses ---- */
static inferd_status_t *h_response_new(inferd_response_t **out,
                                       inferd_request_t *r) {
  return core_response_alloc(r, out);
}
static inferd_status_t *h_response_output(inferd_response_t *resp,
                                          const char *name,
                                          inferd_datatype_t dt,
                                          const int64_t *shape, uint32_t n_dims,
                                          uint64_t byte_size, void **buffer) {
  if (dt <= INFERD_TYPE_INVALID || dt >= INFERD_TYPE_COUNT_)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "output \"%s\": invalid data type %d", name,
                             (int)dt);
  return core_response_add_output(resp, name, dt, shape, n_dims, byte_size,
                                  INFERD_MEM_CPU, 0, buffer, NULL, NULL);
}
static inferd_status_t *h_response_output_memory(
    inferd_response_t *resp, const char *name, inferd_datatype_t dt,
    const int64_t *shape, uint32_t n_dims, uint64_t byte_size,
    inferd_memtype_t preferred_type, int64_t preferred_device, void **buffer,
    inferd_memtype_t *mem_type, int64_t *device_id) {
  if (dt <= INFERD_TYPE_INVALID || dt >= INFERD_TYPE_COUNT_)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "output \"%s\": invalid data type %d", name,
                             (int)dt);
  if (preferred_type != INFERD_MEM_CPU &&
      preferred_type != INFERD_MEM_CPU_PINNED &&
      preferred_type != INFERD_MEM_GPU)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "output \"%s\": invalid memory type %d", name,
                             (int)preferred_type);
  return core_response_add_output(resp, name, dt, shape, n_dims, byte_size,
                                  preferred_type, preferred_device, buffer,
                                  mem_type, device_id);
}
static inferd_status_t *h_set_string(inferd_response_t *r, const char *k,
                                     const char *v) {
  return core_response_set_param(r, k, INFERD_PARAM_STRING, v);
}
static inferd_status_t *h_set_int(inferd_response_t *r, const char *k,
                                  int64_t v) {
  return core_response_set_param(r, k, INFERD_PARAM_INT, &v);
}
static inferd_status_t *h_set_bool(inferd_response_t *r, const char *k,
                                   bool v) {
  return core_response_set_param(r, k, INFERD_PARAM_BOOL, &v);
}
static inferd_status_t *h_set_double(inferd_response_t *r, const char *k,
                                     double v) {
  return core_response_set_param(r, k, INFERD_PARAM_DOUBLE, &v);
}
static inferd_status_t *h_response_send(inferd_response_t *resp, uint32_t flags,
                                        inferd_status_t *error) {
  if (!resp) {
    inferd_status_free(error);
    return inferd_status_new(INFERD_INVALID_ARG, "response_send: no response");
  }
  if (error) {
    inferd_status_free(resp->error);
    resp->error = error;
  }
  core_response_send(resp, flags);
  return NULL;
}
static inferd_status_t *h_request_send_final(inferd_request_t *r) {
  core_request_send_final(r);
  return NULL;
}

/* ---- statistics ---- */
/* Success/failure and queue time are recorded by the server itself (every
 * request has them whatever the backend does); the backend reports the
 * compute breakdown it alone can measure. */
static void h_report_statistics(inferd_backend_instance_t *i,
                                inferd_request_t *r, bool success,
                                uint64_t exec_start, uint64_t compute_start,
                                uint64_t compute_end, uint64_t exec_end) {
  (void)r;
  if (!success)
    return;
  model_stats_t *s = &i->model->stats;
  model_stats_add(&s->compute_input, compute_start - exec_start);
  model_stats_add(&s->compute_infer, compute_end - compute_start);
  model_stats_add(&s->compute_output, exec_end - compute_end);
}
static void h_report_batch_statistics(inferd_backend_instance_t *i,
                                      uint64_t batch_size, uint64_t exec_start,
                                      uint64_t compute_start,
                                      uint64_t compute_end, uint64_t exec_end) {
  model_stats_batch(&i->model->stats, batch_size, compute_start - exec_start,
                    compute_end - compute_start, exec_end - compute_end);
}

static inferd_status_t *h_model_set_config_json(inferd_backend_model_t *m,
                                                const char *json) {
  if (!json)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model_set_config_json: no JSON given");
  return model_complete_config(M(m), json);
}

const inferd_host_api_t be_host_api = {
    .abi_major = INFERD_BACKEND_ABI_MAJOR,
    .abi_minor = INFERD_BACKEND_ABI_MINOR,
    .struct_size = sizeof(inferd_host_api_t),
    .status_new = h_status_new,
    .status_code = inferd_status_code,
    .status_message = inferd_status_message,
    .status_free = inferd_status_free,
    .log = h_log,
    .log_enabled = inferd_log_enabled,
    .now_ns = h_now_ns,
    .backend_name = h_backend_name,
    .backend_config = h_backend_config,
    .backend_set_state = h_backend_set_state,
    .backend_state = h_backend_state,
    .model_backend = h_model_backend,
    .model_name = h_model_name,
    .model_version = h_model_version,
    .model_dir = h_model_dir,
    .model_file_path = h_model_file_path,
    .model_config_json = h_model_config_json,
    .model_parameter = h_model_parameter,
    .model_max_batch_size = h_model_max_batch_size,
    .model_input_count = h_model_input_count,
    .model_output_count = h_model_output_count,
    .model_input = h_model_input,
    .model_output = h_model_output,
    .model_set_state = h_model_set_state,
    .model_state = h_model_state,
    .instance_model = h_instance_model,
    .instance_name = h_instance_name,
    .instance_kind = h_instance_kind,
    .instance_device_id = h_instance_device_id,
    .instance_set_state = h_instance_set_state,
    .instance_state = h_instance_state,
    .request_id = h_request_id,
    .request_correlation_id = h_request_correlation_id,
    .request_correlation_id_string = h_request_correlation_id_string,
    .request_flags = h_request_flags,
    .request_input_count = h_request_input_count,
    .request_input = h_request_input,
    .request_input_index = h_request_input_index,
    .request_input_buffer = h_request_input_buffer,
    .request_output_count = h_request_output_count,
    .request_output_name = h_request_output_name,
    .request_parameter_count = h_request_parameter_count,
    .request_parameter = h_request_parameter,
    .request_is_cancelled = h_request_is_cancelled,
    .request_release = h_request_release,
    .response_new = h_response_new,
    .response_output = h_response_output,
    .response_set_param_string = h_set_string,
    .response_set_param_int = h_set_int,
    .response_set_param_bool = h_set_bool,
    .response_set_param_double = h_set_double,
    .response_send = h_response_send,
    .response_free = inferd_response_free,
    .request_send_final = h_request_send_final,
    .instance_report_statistics = h_report_statistics,
    .instance_report_batch_statistics = h_report_batch_statistics,
    .model_set_config_json = h_model_set_config_json,
    .response_output_memory = h_response_output_memory,
};
