/*
 * request.c: building inference requests (the data-only part of the public
 * request API). Strings and shapes are copied into the request's arena;
 * input data buffers are only referenced (borrowed until release).
 * inferd_request_new/free live in src/server/ since they touch models.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"

#define OOM() inferd_status_new(INFERD_NO_MEMORY, "out of memory")

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap)
    return true;
  uint32_t nc = *cap ? *cap * 2 : 4;
  while (nc < need)
    nc *= 2;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (!p)
    return false;
  *arr = p;
  *cap = nc;
  return true;
}

/* Recycled requests: a request is ~1 KiB with its inline arena, and a
 * server allocates one per inference. Freed requests keep their input,
 * output-name and parameter arrays (and capacities) for the next use. */
/* Object pools compile out under the sanitizers, so that ASan sees every
 * use after free instead of a recycled object (STYLE: tests). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define POOL_MAX 0
#else
#define POOL_MAX 256
#endif
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static inferd_request_t *pool[POOL_MAX + 1];
static const uint32_t pool_max = POOL_MAX; /* no "always false" warning */
static uint32_t n_pool;

inferd_status_t *core_request_alloc(inferd_model_t *model, core_ref_t *ref,
                                    inferd_request_t **out) {
  inferd_request_t *r = NULL;
  pthread_mutex_lock(&pool_mu);
  if (n_pool)
    r = pool[--n_pool];
  pthread_mutex_unlock(&pool_mu);
  if (!r && !(r = calloc(1, sizeof(*r))))
    return OOM();
  r->model = model;
  r->model_ref = ref;
  core_arena_init(&r->arena, r->arena_buf, sizeof(r->arena_buf));
  r->id = "";
  atomic_init(&r->cancelled, false);
  *out = r;
  return NULL;
}

void core_request_destroy(inferd_request_t *r) {
  if (!r)
    return;
  for (uint32_t i = 0; i < r->n_inputs; i++)
    if (r->inputs[i].buffers != &r->inputs[i].inline_buffer)
      free(r->inputs[i].buffers);
  core_arena_deinit(&r->arena);
  if (r->model_ref)
    core_ref_release(r->model_ref);
  /* keep the arrays, clear everything else */
  core_input_t *inputs = r->inputs;
  const char **requested = r->requested;
  core_param_t *params = r->params;
  uint32_t ci = r->cap_inputs, cr = r->cap_requested, cp = r->cap_params;
  /* the arena (re-initialised on reuse) and its inline block need no
   * clearing */
  memset(r, 0, offsetof(inferd_request_t, arena));
  memset((char *)r + offsetof(inferd_request_t, id), 0,
         sizeof(*r) - offsetof(inferd_request_t, id));
  r->inputs = inputs;
  r->cap_inputs = ci;
  r->requested = requested;
  r->cap_requested = cr;
  r->params = params;
  r->cap_params = cp;
  pthread_mutex_lock(&pool_mu);
  if (n_pool < pool_max) {
    pool[n_pool++] = r;
    r = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  if (r) {
    free(r->inputs);
    free(r->requested);
    free(r->params);
    free(r);
  }
}

int32_t core_request_find_input(const inferd_request_t *r, const char *name,
                                size_t len) {
  for (uint32_t i = 0; i < r->n_inputs; i++)
    if (strncmp(r->inputs[i].name, name, len) == 0 &&
        r->inputs[i].name[len] == '\0')
      return (int32_t)i;
  return -1;
}

inferd_model_t *inferd_request_model(const inferd_request_t *req) {
  return req->model;
}

inferd_status_t *inferd_request_set_id(inferd_request_t *req, const char *id,
                                       size_t len) {
  char *p = core_arena_strndup(&req->arena, id, len);
  if (!p)
    return OOM();
  req->id = p;
  return NULL;
}

const char *inferd_request_id(const inferd_request_t *req) { return req->id; }

void inferd_request_set_flags(inferd_request_t *req, uint32_t flags) {
  req->flags = flags;
}

void inferd_request_set_correlation_id(inferd_request_t *req, uint64_t id) {
  req->correlation_id = id;
  req->correlation_id_str = NULL;
}

inferd_status_t *inferd_request_set_correlation_id_string(inferd_request_t *req,
                                                          const char *id,
                                                          size_t len) {
  char *p = core_arena_strndup(&req->arena, id, len);
  if (!p)
    return OOM();
  req->correlation_id_str = p;
  req->correlation_id = 0;
  return NULL;
}

void inferd_request_set_priority(inferd_request_t *req, uint64_t priority) {
  req->priority = priority;
}

void inferd_request_set_timeout_us(inferd_request_t *req, uint64_t t) {
  req->timeout_us = t;
}

static inferd_status_t *add_param(inferd_request_t *req, const char *key,
                                  size_t key_len, core_param_t **out) {
  for (uint32_t i = 0; i < req->n_params; i++)
    if (strncmp(req->params[i].key, key, key_len) == 0 &&
        req->params[i].key[key_len] == '\0')
      return inferd_status_new(INFERD_INVALID_ARG,
                               "parameter \"%.*s\" given twice", (int)key_len,
                               key);
  if (!grow((void **)&req->params, &req->cap_params, req->n_params + 1,
            sizeof(core_param_t)))
    return OOM();
  core_param_t *p = &req->params[req->n_params];
  p->key = core_arena_strndup(&req->arena, key, key_len);
  if (!p->key)
    return OOM();
  req->n_params++;
  *out = p;
  return NULL;
}

inferd_status_t *inferd_request_set_param_string(inferd_request_t *req,
                                                 const char *key,
                                                 size_t key_len,
                                                 const char *val,
                                                 size_t val_len) {
  char *v = core_arena_strndup(&req->arena, val, val_len);
  if (!v)
    return OOM();
  core_param_t *p;
  inferd_status_t *st = add_param(req, key, key_len, &p);
  if (st)
    return st;
  p->type = INFERD_PARAM_STRING;
  p->v.s = v;
  return NULL;
}

inferd_status_t *inferd_request_set_param_int(inferd_request_t *req,
                                              const char *key, size_t key_len,
                                              int64_t val) {
  core_param_t *p;
  inferd_status_t *st = add_param(req, key, key_len, &p);
  if (st)
    return st;
  p->type = INFERD_PARAM_INT;
  p->v.i = val;
  return NULL;
}

inferd_status_t *inferd_request_set_param_bool(inferd_request_t *req,
                                               const char *key, size_t key_len,
                                               bool val) {
  core_param_t *p;
  inferd_status_t *st = add_param(req, key, key_len, &p);
  if (st)
    return st;
  p->type = INFERD_PARAM_BOOL;
  p->v.b = val;
  return NULL;
}

inferd_status_t *inferd_request_set_param_double(inferd_request_t *req,
                                                 const char *key,
                                                 size_t key_len, double val) {
  core_param_t *p;
  inferd_status_t *st = add_param(req, key, key_len, &p);
  if (st)
    return st;
  p->type = INFERD_PARAM_DOUBLE;
  p->v.d = val;
  return NULL;
}

inferd_status_t *inferd_request_add_input(inferd_request_t *req,
                                          const char *name, size_t name_len,
                                          inferd_datatype_t dt,
                                          const int64_t *shape, size_t n_dims,
                                          uint32_t *index) {
  if (core_request_find_input(req, name, name_len) >= 0)
    return inferd_status_new(INFERD_INVALID_ARG, "input \"%.*s\" given twice",
                             (int)name_len, name);
  if (n_dims > 64)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%.*s\": %zu dimensions, at most 64",
                             (int)name_len, name, n_dims);
  if (!grow((void **)&req->inputs, &req->cap_inputs, req->n_inputs + 1,
            sizeof(core_input_t)))
    return OOM();
  /* buffers may point at inline_buffer of an element; fix them after move */
  for (uint32_t i = 0; i < req->n_inputs; i++)
    if (req->inputs[i].cap_buffers == 1)
      req->inputs[i].buffers = &req->inputs[i].inline_buffer;
  core_input_t *in = &req->inputs[req->n_inputs];
  memset(in, 0, sizeof(*in));
  in->name = core_arena_strndup(&req->arena, name, name_len);
  in->shape = core_arena_alloc(&req->arena, sizeof(int64_t) * (n_dims + 1));
  if (!in->name || !in->shape)
    return OOM();
  if (n_dims)
    memcpy(in->shape, shape, sizeof(int64_t) * n_dims);
  in->n_dims = (uint32_t)n_dims;
  in->dt = dt;
  in->buffers = &in->inline_buffer;
  in->cap_buffers = 1;
  if (index)
    *index = req->n_inputs;
  req->n_inputs++;
  return NULL;
}

inferd_status_t *
inferd_request_append_input_data(inferd_request_t *req, uint32_t index,
                                 const void *base, size_t byte_size,
                                 inferd_memtype_t mem_type, int64_t device_id) {
  if (index >= req->n_inputs)
    return inferd_status_new(INFERD_INVALID_ARG, "no input with index %u",
                             index);
  core_input_t *in = &req->inputs[index];
  if (in->n_buffers == in->cap_buffers) {
    uint32_t nc = in->cap_buffers * 2;
    core_buffer_t *nb = malloc(sizeof(core_buffer_t) * nc);
    if (!nb)
      return OOM();
    memcpy(nb, in->buffers, sizeof(core_buffer_t) * in->n_buffers);
    if (in->buffers != &in->inline_buffer)
      free(in->buffers);
    in->buffers = nb;
    in->cap_buffers = nc;
  }
  in->buffers[in->n_buffers++] =
      (core_buffer_t){base, byte_size, mem_type, device_id};
  in->byte_size += byte_size;
  return NULL;
}

inferd_status_t *inferd_request_add_requested_output(inferd_request_t *req,
                                                     const char *name,
                                                     size_t name_len) {
  for (uint32_t i = 0; i < req->n_requested; i++)
    if (strncmp(req->requested[i], name, name_len) == 0 &&
        req->requested[i][name_len] == '\0')
      return inferd_status_new(INFERD_INVALID_ARG,
                               "output \"%.*s\" requested twice", (int)name_len,
                               name);
  if (!grow((void **)&req->requested, &req->cap_requested, req->n_requested + 1,
            sizeof(char *)))
    return OOM();
  char *p = core_arena_strndup(&req->arena, name, name_len);
  if (!p)
    return OOM();
  req->requested[req->n_requested++] = p;
  return NULL;
}

void inferd_request_set_callbacks(inferd_request_t *req,
                                  inferd_response_cb response_cb,
                                  inferd_release_cb release_cb, void *userp) {
  req->response_cb = response_cb;
  req->release_cb = release_cb;
  req->userp = userp;
}

void inferd_request_set_response_allocator(inferd_request_t *req,
                                           inferd_output_alloc_fn alloc,
                                           inferd_output_release_fn release,
                                           void *userp) {
  req->out_alloc = alloc;
  req->out_release = release;
  req->out_userp = userp;
}

void inferd_request_cancel(inferd_request_t *req) {
  atomic_store(&req->cancelled, true);
  void (*fn)(inferd_request_t *) = atomic_load(&req->on_cancel);
  if (fn) /* the scheduler holding it is alive: the request holds its model */
    fn(req);
}
