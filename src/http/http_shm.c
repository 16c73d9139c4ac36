/*
 * http_shm.c: the shared memory extensions over REST (reference §1.13) and
 * the infer path's use of system shared memory.
 *
 * System shared memory: status, register and unregister on the server's
 * registry (inferd/server.h). CUDA shared memory: this build has no CUDA
 * support, so register answers 501 naming it; status lists no region and
 * unregister has nothing to do (200), as a Triton built without GPUs does:
 * Triton's own shm clients unregister every CUDA region before they start,
 * and must not fail on a CPU-only server.
 *
 * Infer: a shared memory input's buffer is a pointer into the region (no
 * copy); a shared memory output is written by the backend straight into the
 * region through the request's response allocator. The request state holds
 * a reference on each region it uses until it ends (http_shm_hold_release),
 * so a region unregistered meanwhile stays mapped until then.
 */
#include <inttypes.h>
#include <string.h>

#include "http/http_endpoints.h"

/* ---- the REST endpoints ---------------------------------------------------
 */

static json_t *str_json(const char *s) {
  json_t *j = json_string(s);
  return j ? j : json_string(""); /* not UTF-8: an empty string */
}

static enum MHD_Result system_status(http_req_t *q, const http_route_t *r) {
  inferd_shm_region_status_t *st = NULL;
  size_t n = 0;
  inferd_status_t *e = inferd_server_shm_status(http_req_server(q), r->region,
                                                r->region_len, &st, &n);
  if (e)
    return http_queue_error(q, e);
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "name", str_json(st[i].name));
    json_object_set_new(o, "key", str_json(st[i].key));
    json_object_set_new(o, "offset", json_integer((json_int_t)st[i].offset));
    json_object_set_new(o, "byte_size",
                        json_integer((json_int_t)st[i].byte_size));
    json_array_append_new(a, o);
  }
  inferd_shm_region_status_free(st, n);
  return http_queue_json(q, 200, a);
}

static inferd_status_t *want_u64(json_t *v, const char *field, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "Unable to parse '%s': expected a non-negative "
                             "integer",
                             field);
  *out = (uint64_t)json_integer_value(v);
  return NULL;
}

/* POST /v2/systemsharedmemory/region/{r}/register {key, offset?, byte_size} */
static enum MHD_Result system_register(http_req_t *q, const http_route_t *r) {
  json_t *body = NULL;
  inferd_status_t *st = http_req_body_json(q, &body);
  if (st)
    return http_queue_error(q, st);
  json_t *key = body ? json_object_get(body, "key") : NULL;
  json_t *off = body ? json_object_get(body, "offset") : NULL;
  json_t *size = body ? json_object_get(body, "byte_size") : NULL;
  uint64_t offset = 0, byte_size = 0;
  if (!key)
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "Shared memory register request has no 'key' "
                           "field");
  else if (!json_is_string(key))
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "Unable to parse 'key': expected a string");
  else if (off && (st = want_u64(off, "offset", &offset)))
    ;
  else if (!size)
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "Shared memory register request has no "
                           "'byte_size' field");
  else if ((st = want_u64(size, "byte_size", &byte_size)))
    ;
  else
    st = inferd_server_shm_register(http_req_server(q), r->region,
                                    r->region_len, json_string_value(key),
                                    json_string_length(key), offset, byte_size);
  if (st)
    return http_queue_error(q, st);
  return http_queue_empty(q, 200);
}

static enum MHD_Result cuda_shm(http_req_t *q, const http_route_t *r) {
  int nl = (int)r->region_len;
  switch (r->shm_op) {
  case HTTP_SHM_STATUS: {
    if (!r->region)
      return http_queue_json(q, 200, json_array());
    /* one name space for both kinds (Triton): say which it is */
    inferd_shm_region_status_t *st = NULL;
    size_t n = 0;
    inferd_status_t *e = inferd_server_shm_status(http_req_server(q), r->region,
                                                  r->region_len, &st, &n);
    inferd_shm_region_status_free(st, n);
    if (!e)
      return http_queue_error(
          q, inferd_status_new(INFERD_NOT_FOUND,
                               "The region named '%.*s' is registered as "
                               "system shared memory, not CUDA shared memory",
                               nl, r->region));
    inferd_status_free(e);
    return http_queue_error(
        q, inferd_status_new(INFERD_NOT_FOUND,
                             "Unable to find cuda shared memory region: "
                             "'%.*s'",
                             nl, r->region));
  }
  case HTTP_SHM_REGISTER:
    return http_queue_error(
        q, inferd_status_new(INFERD_UNSUPPORTED,
                             "failed to register CUDA shared memory region: "
                             "'%.*s', GPUs not supported (this inferd has no "
                             "CUDA support: CUDA shared memory needs the GPU "
                             "layer)",
                             nl, r->region));
  default: /* unregister: no CUDA region can exist */
    return http_queue_empty(q, 200);
  }
}

enum MHD_Result http_shm_handle(http_req_t *q) {
  const http_route_t *r = http_req_route(q);
  if (r->shm_cuda)
    return cuda_shm(q, r);
  switch (r->shm_op) {
  case HTTP_SHM_STATUS:
    return system_status(q, r);
  case HTTP_SHM_REGISTER:
    return system_register(q, r);
  default: {
    inferd_status_t *st = inferd_server_shm_unregister(
        http_req_server(q), r->region, r->region_len);
    if (st)
      return http_queue_error(q, st);
    return http_queue_empty(q, 200);
  }
  }
}

/* ---- infer ----------------------------------------------------------------
 */

struct http_shm_out {
  const char *name; /* the output's, NUL-terminated (parsed JSON) */
  size_t name_len;
  void *ptr;
  uint64_t byte_size; /* what the client gave for it */
};

/* Takes a reference on shm->region for the request; *ptr into it. */
static inferd_status_t *hold(inferd_server_t *s, http_arena_t *a,
                             http_shm_hold_t *h, const http_shm_ref_t *shm,
                             void **ptr) {
  if (h->n_regions == h->cap_regions) {
    size_t nc = h->cap_regions ? 2 * h->cap_regions : 8;
    inferd_shm_region_t **nr = http_arena_alloc(a, nc * sizeof(*nr));
    if (!nr)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    if (h->n_regions)
      memcpy(nr, h->regions, h->n_regions * sizeof(*nr));
    h->regions = nr;
    h->cap_regions = nc;
  }
  inferd_shm_region_t *r = NULL;
  inferd_status_t *st = inferd_server_shm_acquire(
      s, shm->region, shm->region_len, shm->offset, shm->byte_size, &r, ptr);
  if (st)
    return st;
  h->regions[h->n_regions++] = r;
  return NULL;
}

inferd_status_t *http_shm_input(inferd_server_t *s, http_arena_t *a,
                                http_shm_hold_t *h, const http_input_t *in,
                                const void **data) {
  void *p = NULL;
  inferd_status_t *st = hold(s, a, h, &in->shm, &p);
  if (st)
    return inferd_status_prefix(st, "input \"%.*s\"", (int)in->name_len,
                                in->name);
  *data = p;
  return NULL;
}

/* The response allocator (an instance thread): outputs asked for in shared
 * memory are written there, the others go to server memory. The table is
 * read-only once the request is submitted. */
static inferd_status_t *shm_alloc(void *userp, const char *name,
                                  size_t byte_size, inferd_memtype_t pref,
                                  int64_t pref_dev, void **buffer,
                                  void **buffer_userp,
                                  inferd_memtype_t *actual_type,
                                  int64_t *actual_dev) {
  (void)pref;
  (void)pref_dev;
  http_shm_hold_t *h = userp;
  for (size_t i = 0; i < h->n_outs; i++) {
    struct http_shm_out *o = &h->outs[i];
    if (strcmp(o->name, name) != 0)
      continue;
    if (byte_size > o->byte_size)
      return inferd_status_new(INFERD_INTERNAL,
                               "shared memory size specified with the request "
                               "for output '%s' (%" PRIu64 " bytes) should be "
                               "at least %zu bytes to hold the results",
                               name, o->byte_size, byte_size);
    *buffer = o->ptr;
    *buffer_userp = o;
    *actual_type = INFERD_MEM_CPU;
    *actual_dev = 0;
    return NULL;
  }
  return NULL; /* *buffer stays NULL: server memory */
}

/* The region references are the request's (http_shm_hold_release), not
 * the buffers'. */
static void shm_release(void *userp, void *buffer, void *buffer_userp,
                        size_t byte_size, inferd_memtype_t type,
                        int64_t device) {
  (void)userp, (void)buffer, (void)buffer_userp, (void)byte_size, (void)type,
      (void)device;
}

inferd_status_t *http_shm_outputs(inferd_server_t *s, http_arena_t *a,
                                  http_shm_hold_t *h, const http_infer_t *inf,
                                  inferd_request_t *r) {
  size_t n = 0;
  for (size_t i = 0; i < inf->n_outputs; i++)
    n += inf->outputs[i].shm.region != NULL;
  if (n == 0)
    return NULL;
  h->outs = http_arena_alloc(a, n * sizeof(*h->outs));
  if (!h->outs)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < inf->n_outputs; i++) {
    const http_output_t *o = &inf->outputs[i];
    if (!o->shm.region)
      continue;
    void *p = NULL;
    inferd_status_t *st = hold(s, a, h, &o->shm, &p);
    if (st)
      return inferd_status_prefix(st, "output \"%.*s\"", (int)o->name_len,
                                  o->name);
    h->outs[h->n_outs++] = (struct http_shm_out){
        .name = o->name,
        .name_len = o->name_len,
        .ptr = p,
        .byte_size = o->shm.byte_size,
    };
  }
  inferd_request_set_response_allocator(r, shm_alloc, shm_release, h);
  return NULL;
}

void http_shm_hold_release(http_shm_hold_t *h) {
  for (size_t i = 0; i < h->n_regions; i++)
    inferd_shm_region_release(h->regions[i]);
  memset(h, 0, sizeof(*h));
}
