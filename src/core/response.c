/*
 * response.c: inference responses. A response owns its output buffers (one
 * malloc each, handed to frontends without copying) or, when the request
 * has a response allocator, the allocator's buffers (released through it),
 * and holds a model reference so that it may outlive its request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "core/request.h"

#define OOM() inferd_status_new(INFERD_NO_MEMORY, "out of memory")

inferd_status_t *core_response_alloc(inferd_request_t *r,
                                     inferd_response_t **out) {
  inferd_response_t *resp = calloc(1, sizeof(*resp));
  if (!resp)
    return OOM();
  resp->model = r->model;
  resp->model_ref = r->model_ref;
  resp->out_alloc = r->out_alloc;
  resp->out_release = r->out_release;
  resp->out_userp = r->out_userp;
  if (resp->model_ref)
    core_ref_acquire(resp->model_ref);
  resp->model_name = r->model_name ? r->model_name : "";
  resp->model_version = r->model_version;
  resp->request = r;
  *out = resp;
  return NULL;
}

/* The allocator's buffer for o, or NULL (server memory). On success with a
 * buffer the backend cannot write (another memory type), o->staging gets
 * one it can. */
static inferd_status_t *alloc_external(inferd_response_t *resp,
                                       core_output_t *o,
                                       inferd_memtype_t preferred_type,
                                       int64_t preferred_device) {
  void *buf = NULL, *bu = NULL;
  inferd_memtype_t type = INFERD_MEM_CPU;
  int64_t dev = 0;
  inferd_status_t *st =
      resp->out_alloc(resp->out_userp, o->name, (size_t)o->byte_size,
                      preferred_type, preferred_device, &buf, &bu, &type, &dev);
  if (st)
    return inferd_status_prefix(st, "output \"%s\"", o->name);
  if (!buf)
    return NULL;
  o->data = buf;
  o->buffer_userp = bu;
  o->mem_type = type;
  o->device_id = dev;
  o->external = true;
  bool direct = (core_mem_is_host(type) && core_mem_is_host(preferred_type)) ||
                (type == preferred_type && dev == preferred_device);
  if (direct)
    return NULL;
  /* the backend writes host memory and the server copies it once at
   * send (a device buffer given to a host backend, or the reverse) */
  o->staging = malloc(o->byte_size ? o->byte_size : 1);
  if (!o->staging) {
    resp->out_release(resp->out_userp, buf, bu, (size_t)o->byte_size, type,
                      dev);
    o->external = false;
    return OOM();
  }
  o->staging_type = INFERD_MEM_CPU;
  o->staging_device = 0;
  return NULL;
}

inferd_status_t *core_response_add_output(
    inferd_response_t *resp, const char *name, inferd_datatype_t dt,
    const int64_t *shape, uint32_t n_dims, uint64_t byte_size,
    inferd_memtype_t preferred_type, int64_t preferred_device, void **buffer,
    inferd_memtype_t *mem_type, int64_t *device_id) {
  for (uint32_t i = 0; i < resp->n_outputs; i++)
    if (strcmp(resp->outputs[i].name, name) == 0)
      return inferd_status_new(INFERD_INTERNAL,
                               "output \"%s\" added twice to a response", name);
  if (resp->n_outputs == resp->cap_outputs) {
    uint32_t nc = resp->cap_outputs ? resp->cap_outputs * 2 : 4;
    core_output_t *p = realloc(resp->outputs, sizeof(*p) * nc);
    if (!p)
      return OOM();
    resp->outputs = p;
    resp->cap_outputs = nc;
  }
  /* one block per output: shape, name, then (server memory) the data at a
   * 64-byte offset (frontends hand the data to the network layer as it
   * is); an allocator's output keeps only shape and name here */
  size_t nlen = strlen(name);
  size_t head = sizeof(int64_t) * (n_dims + 1) + nlen + 1;
  head = (head + 63) & ~(size_t)63;
  if (byte_size > SIZE_MAX - head)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "output \"%s\": %llu bytes is too large", name,
                             (unsigned long long)byte_size);
  /* without an allocator (the common case) one malloc holds it all */
  char *block = malloc(resp->out_alloc ? head
                                       : head + (byte_size ? byte_size : 1));
  if (!block)
    return OOM();
  core_output_t o = {0};
  o.shape = (int64_t *)block;
  if (n_dims)
    memcpy(o.shape, shape, sizeof(int64_t) * n_dims);
  o.name = (char *)(o.shape + n_dims + 1);
  memcpy(o.name, name, nlen + 1);
  o.dt = dt;
  o.n_dims = n_dims;
  o.byte_size = byte_size;
  o.mem_type = INFERD_MEM_CPU;
  if (resp->out_alloc) {
    inferd_status_t *st =
        alloc_external(resp, &o, preferred_type, preferred_device);
    if (st) {
      free(block);
      return st;
    }
  }
  if (!o.external && resp->out_alloc) { /* declined: the data joins */
    char *grown = realloc(block, head + (byte_size ? byte_size : 1));
    if (!grown) {
      free(block);
      return OOM();
    }
    block = grown;
    o.shape = (int64_t *)block;
    o.name = (char *)(o.shape + n_dims + 1);
  }
  if (!o.external)
    o.data = block + head;
  resp->outputs[resp->n_outputs++] = o;
  *buffer = o.staging ? o.staging : o.data;
  if (mem_type)
    *mem_type = o.staging ? o.staging_type : o.mem_type;
  if (device_id)
    *device_id = o.staging ? o.staging_device : o.device_id;
  return NULL;
}

inferd_status_t *core_response_commit_outputs(inferd_response_t *resp) {
  for (uint32_t i = 0; i < resp->n_outputs; i++) {
    core_output_t *o = &resp->outputs[i];
    if (!o->staging)
      continue;
    inferd_status_t *st = core_memory_copy(
        o->data, o->mem_type, o->device_id, o->staging, o->staging_type,
        o->staging_device, (size_t)o->byte_size);
    if (st)
      return inferd_status_prefix(st, "output \"%s\"", o->name);
    free(o->staging);
    o->staging = NULL;
  }
  return NULL;
}

static void output_free(inferd_response_t *resp, core_output_t *o) {
  if (o->external && resp->out_release)
    resp->out_release(resp->out_userp, o->data, o->buffer_userp,
                      (size_t)o->byte_size, o->mem_type, o->device_id);
  free(o->staging);
  free(o->shape); /* the block holds the name (and server data) too */
}

void core_response_drop_outputs(inferd_response_t *resp) {
  for (uint32_t i = 0; i < resp->n_outputs; i++)
    output_free(resp, &resp->outputs[i]);
  resp->n_outputs = 0;
}

inferd_status_t *core_response_set_param(inferd_response_t *resp,
                                         const char *key,
                                         inferd_param_type_t type,
                                         const void *value) {
  if (!resp->arena) {
    resp->arena = malloc(sizeof(core_arena_t));
    if (!resp->arena)
      return OOM();
    core_arena_init(resp->arena, NULL, 0);
  }
  if (resp->n_params == resp->cap_params) {
    uint32_t nc = resp->cap_params ? resp->cap_params * 2 : 4;
    core_param_t *p = realloc(resp->params, sizeof(*p) * nc);
    if (!p)
      return OOM();
    resp->params = p;
    resp->cap_params = nc;
  }
  core_param_t p = {0};
  p.key = core_arena_strndup(resp->arena, key, strlen(key));
  if (!p.key)
    return OOM();
  p.type = type;
  switch (type) {
  case INFERD_PARAM_STRING:
    p.v.s = core_arena_strndup(resp->arena, value, strlen(value));
    if (!p.v.s)
      return OOM();
    break;
  case INFERD_PARAM_INT:
    p.v.i = *(const int64_t *)value;
    break;
  case INFERD_PARAM_BOOL:
    p.v.b = *(const bool *)value;
    break;
  case INFERD_PARAM_DOUBLE:
    p.v.d = *(const double *)value;
    break;
  default:
    return inferd_status_new(INFERD_INVALID_ARG,
                             "parameter \"%s\": unknown type %d", key,
                             (int)type);
  }
  resp->params[resp->n_params++] = p;
  return NULL;
}

void core_response_filter_outputs(inferd_response_t *resp,
                                  const inferd_request_t *r) {
  if (r->n_requested == 0)
    return;
  uint32_t k = 0;
  for (uint32_t i = 0; i < resp->n_outputs; i++) {
    bool want = false;
    for (uint32_t j = 0; j < r->n_requested && !want; j++)
      want = strcmp(resp->outputs[i].name, r->requested[j]) == 0;
    if (want)
      resp->outputs[k++] = resp->outputs[i];
    else
      output_free(resp, &resp->outputs[i]);
  }
  resp->n_outputs = k;
}

const inferd_status_t *inferd_response_error(const inferd_response_t *r) {
  return r->error;
}

const char *inferd_response_model_name(const inferd_response_t *r) {
  return r->model_name;
}

int64_t inferd_response_model_version(const inferd_response_t *r) {
  return r->model_version;
}

size_t inferd_response_output_count(const inferd_response_t *r) {
  return r->n_outputs;
}

void inferd_response_output(const inferd_response_t *r, size_t i,
                            const char **name, inferd_datatype_t *dt,
                            const int64_t **shape, size_t *n_dims,
                            const void **base, size_t *byte_size) {
  const core_output_t *o = &r->outputs[i];
  if (name)
    *name = o->name;
  if (dt)
    *dt = o->dt;
  if (shape)
    *shape = o->shape;
  if (n_dims)
    *n_dims = o->n_dims;
  if (base)
    *base = o->data;
  if (byte_size)
    *byte_size = o->byte_size;
}

void inferd_response_output_memory(const inferd_response_t *r, size_t i,
                                   inferd_memtype_t *type, int64_t *device_id,
                                   void **buffer_userp) {
  const core_output_t *o = &r->outputs[i];
  if (type)
    *type = o->mem_type;
  if (device_id)
    *device_id = o->device_id;
  if (buffer_userp)
    *buffer_userp = o->external ? o->buffer_userp : NULL;
}

size_t inferd_response_param_count(const inferd_response_t *r) {
  return r->n_params;
}

void inferd_response_param(const inferd_response_t *r, size_t i,
                           const char **key, inferd_param_type_t *type,
                           const void **value) {
  const core_param_t *p = &r->params[i];
  *key = p->key;
  *type = p->type;
  *value = p->type == INFERD_PARAM_STRING ? (const void *)p->v.s
                                          : (const void *)&p->v;
}

void inferd_response_free(inferd_response_t *r) {
  if (!r)
    return;
  core_response_drop_outputs(r);
  free(r->outputs);
  free(r->params);
  if (r->arena) {
    core_arena_deinit(r->arena);
    free(r->arena);
  }
  inferd_status_free(r->error);
  if (r->model_ref)
    core_ref_release(r->model_ref);
  free(r);
}
