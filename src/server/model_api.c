/*
 * model_api.c: the model part of server.h: lookup through the repository,
 * references, and read-only accessors of a loaded model version.
 */
#include "backend/model.h"
#include "repository/repository.h"
#include "server/server_internal.h"

inferd_status_t *inferd_server_model_acquire(inferd_server_t *s,
                                             const char *name, size_t len,
                                             int64_t version,
                                             inferd_model_t **out) {
  return repo_acquire(s->repo, name, len, version, out);
}

void inferd_model_acquire(inferd_model_t *m) { core_ref_acquire(&m->ref); }

void inferd_model_release(inferd_model_t *m) {
  if (m)
    core_ref_release(&m->ref);
}

inferd_status_t *
inferd_server_model_ready_versions(inferd_server_t *s, const char *name,
                                   size_t len, int64_t **versions, size_t *n) {
  return repo_ready_versions(s->repo, name, len, versions, n);
}

const char *inferd_model_name(const inferd_model_t *m) { return m->name; }
int64_t inferd_model_version(const inferd_model_t *m) { return m->version; }
const char *inferd_model_platform(const inferd_model_t *m) {
  return m->platform ? m->platform : "";
}
int32_t inferd_model_max_batch_size(const inferd_model_t *m) {
  return m->config->max_batch_size;
}
bool inferd_model_is_decoupled(const inferd_model_t *m) { return m->decoupled; }
size_t inferd_model_input_count(const inferd_model_t *m) { return m->n_inputs; }
size_t inferd_model_output_count(const inferd_model_t *m) {
  return m->n_outputs;
}

static void io_out(const model_io_t *io, const char **name,
                   inferd_datatype_t *dt, const int64_t **dims,
                   size_t *n_dims) {
  if (name)
    *name = io->name;
  if (dt)
    *dt = io->dt;
  if (dims)
    *dims = io->dims;
  if (n_dims)
    *n_dims = io->n_dims;
}

void inferd_model_input(const inferd_model_t *m, size_t i, const char **name,
                        inferd_datatype_t *dt, const int64_t **dims,
                        size_t *n_dims) {
  io_out(&m->inputs[i], name, dt, dims, n_dims);
}

void inferd_model_output(const inferd_model_t *m, size_t i, const char **name,
                         inferd_datatype_t *dt, const int64_t **dims,
                         size_t *n_dims) {
  io_out(&m->outputs[i], name, dt, dims, n_dims);
}

const char *inferd_model_config_json(const inferd_model_t *m, size_t *len) {
  if (len)
    *len = m->config_json_len;
  return m->config_json;
}

const void *inferd_model_config_message(const inferd_model_t *m) {
  return m->config;
}
