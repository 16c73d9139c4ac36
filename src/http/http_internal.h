/*
 * http_internal.h: the pieces of the HTTP frontend that need no socket, so
 * that unit tests can drive them directly: a bump arena, a growable output
 * buffer with JSON string escaping, the router, the infer request parser and
 * the infer response writer. Prefix http_.
 *
 * Threads: every function here works on caller-owned objects only; an object
 * is used by one thread at a time.
 */
#ifndef INFERD_HTTP_INTERNAL_H
#define INFERD_HTTP_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "inferd/server.h"

/* ---- arena ----------------------------------------------------------------
 * The core's bump allocator (core/arena.h) with a 4 KiB inline block in the
 * per-request state, so a small request costs no allocation at all;
 * everything is freed at once by http_arena_deinit. */
#define HTTP_ARENA_INLINE 4096
typedef struct http_arena {
  core_arena_t a;
  _Alignas(16) char inline_buf[HTTP_ARENA_INLINE];
} http_arena_t;

static inline void http_arena_init(http_arena_t *a) {
  core_arena_init(&a->a, a->inline_buf, sizeof(a->inline_buf));
}
static inline void http_arena_deinit(http_arena_t *a) {
  core_arena_deinit(&a->a);
}
/* 16-byte aligned; NULL on allocation failure. n == 0 returns a valid
 * non-NULL pointer. */
static inline void *http_arena_alloc(http_arena_t *a, size_t n) {
  return core_arena_alloc(&a->a, n);
}

/* ---- output buffer ------------------------------------------------------- */
typedef struct http_buf {
  char *data; /* malloc'd; NULL until the first append */
  size_t len, cap;
  bool oom; /* an append failed: the content is incomplete */
} http_buf_t;

void http_buf_init(http_buf_t *b);
void http_buf_deinit(http_buf_t *b);
/* Transfers data to the caller (free with free()); b is empty afterwards. */
char *http_buf_take(http_buf_t *b, size_t *len);
void http_buf_append(http_buf_t *b, const void *p, size_t n);
void http_buf_puts(http_buf_t *b, const char *s);
void http_buf_printf(http_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends a JSON string literal (quotes included). Invalid UTF-8 sequences
 * are replaced by U+FFFD, control characters escaped, so the result is
 * always valid JSON. */
void http_buf_json_string(http_buf_t *b, const char *s, size_t n);
/* {"error":"<msg>"} */
void http_buf_error_json(http_buf_t *b, const char *msg);

/* ---- base64 (load parameters "file:<path>") -------------------------------
 * Upper bound of the decoded size of len input bytes. */
size_t http_base64_decoded_max(size_t len);
/* Decodes in[0..len) strictly (RFC 4648 standard alphabet, padding required,
 * no whitespace, zero pad bits) into out, which holds
 * http_base64_decoded_max(len) bytes. Errors: INVALID_ARG "invalid base64:
 * ..." naming the offset. */
inferd_status_t *http_base64_decode(const char *in, size_t len, uint8_t *out,
                                    size_t *out_len);

/* ---- router (reference §1.2) ----------------------------------------------
 */
typedef enum http_route_id {
  HTTP_ROUTE_NOT_FOUND = 0,
  HTTP_ROUTE_METHOD_NOT_ALLOWED,
  HTTP_ROUTE_HEALTH_LIVE,
  HTTP_ROUTE_HEALTH_READY,
  HTTP_ROUTE_SERVER_METADATA,
  HTTP_ROUTE_MODEL_METADATA,
  HTTP_ROUTE_MODEL_READY,
  HTTP_ROUTE_MODEL_CONFIG,
  HTTP_ROUTE_MODEL_STATS, /* model may be absent: /v2/models/stats */
  HTTP_ROUTE_INFER,
  HTTP_ROUTE_GENERATE, /* generate and generate_stream */
  HTTP_ROUTE_REPO_INDEX,
  HTTP_ROUTE_REPO_LOAD,
  HTTP_ROUTE_REPO_UNLOAD,
  HTTP_ROUTE_SHM,   /* system and CUDA shared memory, all verbs */
  HTTP_ROUTE_TRACE, /* global and per-model trace settings */
  HTTP_ROUTE_LOGGING,
  HTTP_ROUTE_DASHBOARD, /* GET / and /index.html (http_dashboard.c) */
} http_route_id_t;

typedef struct http_route {
  http_route_id_t id;
  bool is_post;      /* the verb, for routes taking both */
  const char *model; /* points into the url; NULL when none */
  size_t model_len;
  int64_t version;       /* -1 when not given */
  bool version_overflow; /* [0-9]+ but does not fit int64 */
  bool has_repo;         /* /v2/repository/{repo}/... with repo non-empty */
  /* HTTP_ROUTE_SHM: /v2/{system,cuda}sharedmemory[/region/{r}]/{op} */
  bool shm_cuda;      /* cudasharedmemory */
  int shm_op;         /* HTTP_SHM_STATUS, _REGISTER, _UNREGISTER */
  const char *region; /* points into the url; NULL when none */
  size_t region_len;
} http_route_t;

enum { HTTP_SHM_STATUS = 1, HTTP_SHM_REGISTER, HTTP_SHM_UNREGISTER };

/* Matches method and path (no query string) against the endpoint table. */
void http_route_match(const char *method, const char *url, http_route_t *r);
/* True for the routes whose request body the handler reads. */
bool http_route_takes_body(const http_route_t *r);

/* ---- infer request (reference §1.6, §1.7, §1.16) ---------------------------
 */
/* A tensor in a system shared memory region (parameters
 * shared_memory_region / _byte_size / _offset); region NULL when none. */
typedef struct http_shm_ref {
  const char *region; /* borrowed from the parsed JSON */
  size_t region_len;
  uint64_t offset, byte_size;
} http_shm_ref_t;

typedef struct http_input {
  const char *name; /* borrowed from the parsed JSON / model */
  size_t name_len;
  inferd_datatype_t dt;
  int64_t *shape; /* arena */
  size_t n_dims;
  const void *data; /* into the body (binary) or the arena (JSON data) */
  size_t byte_size;
  http_shm_ref_t shm; /* parameters.shared_memory_*: data is NULL */
} http_input_t;

typedef struct http_output {
  const char *name;
  size_t name_len;
  int binary;         /* -1 not said, 0 false, 1 true */
  http_shm_ref_t shm; /* written into a shared memory region */
} http_output_t;

typedef struct http_param {
  const char *key;
  size_t key_len;
  json_t *value; /* borrowed from the parsed document */
} http_param_t;

typedef struct http_infer {
  json_t *root; /* owned; strings above point into it */
  const char *id;
  size_t id_len;
  http_input_t *inputs;
  size_t n_inputs;
  http_output_t *outputs;
  size_t n_outputs;
  bool has_outputs; /* "outputs" present */
  bool binary_data_output;
  bool raw; /* raw binary body: every output binary */
  /* reserved parameters */
  bool has_seq_id;
  uint64_t seq_id;
  const char *seq_id_str; /* string form when not NULL */
  size_t seq_id_str_len;
  uint32_t flags; /* INFERD_REQUEST_FLAG_* */
  bool has_priority, has_timeout;
  uint64_t priority, timeout_us;
  http_param_t *params; /* custom parameters */
  size_t n_params;
} http_infer_t;

/* Parses the Inference-Header-Content-Length value: an int32 in
 * [0, body_len]. */
inferd_status_t *http_parse_header_length(const char *value, size_t body_len,
                                          size_t *out);

/* Parses an infer request body. header_len is the JSON header length from
 * Inference-Header-Content-Length, or SIZE_MAX when the header is absent
 * (the whole body is JSON). Binary inputs point into body (borrowed: body
 * must outlive the use of out); JSON data is converted into buffers from a.
 * max_input_size bounds each input's decoded byte size. On success out->root
 * must be released with http_infer_deinit; on failure nothing is left. */
inferd_status_t *http_infer_parse(http_arena_t *a, const char *body,
                                  size_t body_len, size_t header_len,
                                  uint64_t max_input_size, http_infer_t *out);
/* Raw binary request (Inference-Header-Content-Length: 0): the whole body is
 * the single model input (name, dt, config dims without batch dim,
 * max_batch_size) (reference §1.7). */
inferd_status_t *http_infer_parse_raw(http_arena_t *a, const char *body,
                                      size_t body_len, const char *name,
                                      inferd_datatype_t dt, const int64_t *dims,
                                      size_t n_dims, int32_t max_batch_size,
                                      http_infer_t *out);
void http_infer_deinit(http_infer_t *inf);

/* ---- infer response ------------------------------------------------------ */
typedef struct http_out_tensor {
  const char *name;
  inferd_datatype_t dt;
  const int64_t *shape;
  size_t n_dims;
  const void *base;
  size_t byte_size;
  bool binary;
} http_out_tensor_t;

typedef struct http_out_param {
  const char *key;
  inferd_param_type_t type;
  const void *value; /* as inferd_response_param */
} http_out_param_t;

/* Whether output `name` is sent in binary form for this request. */
bool http_output_is_binary(const http_infer_t *inf, const char *name);

/* Writes the response JSON into b. Binary tensors get
 * parameters.binary_data_size; their blobs are not written (the caller sends
 * them after the JSON in the same order). Fails (INVALID_ARG) for FP16/BF16
 * outputs in JSON form and (INTERNAL) for malformed BYTES data. */
inferd_status_t *http_infer_write(http_buf_t *b, const char *model_name,
                                  int64_t model_version, const char *id,
                                  const http_out_param_t *params,
                                  size_t n_params,
                                  const http_out_tensor_t *outs, size_t n_outs);
/* The same, where shm[i] true marks outs[i] as written into a shared memory
 * region: it gets only name, datatype and shape (as in Triton). shm may be
 * NULL (none). */
inferd_status_t *http_infer_write_shm(http_buf_t *b, const char *model_name,
                                      int64_t model_version, const char *id,
                                      const http_out_param_t *params,
                                      size_t n_params,
                                      const http_out_tensor_t *outs,
                                      const bool *shm, size_t n_outs);

/* ---- infer with system shared memory (http_shm.c) ------------------------
 * The regions an infer request holds and the outputs its response allocator
 * places in them; everything in the request's arena. Zero-initialised. */
typedef struct http_shm_hold {
  inferd_shm_region_t **regions;
  size_t n_regions, cap_regions;
  struct http_shm_out *outs;
  size_t n_outs;
} http_shm_hold_t;

/* Looks up input in's region (in->shm) and takes a reference on it for the
 * request: *data points into the region (no copy). Errors: the registry's
 * (inferd_server_shm_acquire), prefixed with the input. */
inferd_status_t *http_shm_input(inferd_server_t *s, http_arena_t *a,
                                http_shm_hold_t *h, const http_input_t *in,
                                const void **data);
/* For the outputs of inf asked for in shared memory: takes a reference on
 * each region and installs on r a response allocator that places those
 * outputs in them (an output larger than its shared_memory_byte_size fails
 * with INTERNAL, Triton's text). h must stay in place until every response
 * of r is freed. Nothing is done when no output uses shared memory. */
inferd_status_t *http_shm_outputs(inferd_server_t *s, http_arena_t *a,
                                  http_shm_hold_t *h, const http_infer_t *inf,
                                  inferd_request_t *r);
/* Drops the request's references (after its responses are freed). */
void http_shm_hold_release(http_shm_hold_t *h);
/* Whether output `name` of the request goes to shared memory. */
bool http_output_is_shm(const http_infer_t *inf, const char *name);

#endif /* INFERD_HTTP_INTERNAL_H */
