/*
 * bk_util.h: helpers shared by the backends shipped with inferd (identity,
 * add_sub, testing). Compiled into each backend library separately; nothing
 * here is exported (hidden visibility), and it uses only backend.h/types.h.
 *
 * Threads: bk_host is written once by bk_register (the repository thread,
 * before any hook runs) and read-only afterwards. The request helpers must be
 * called by the thread that owns the request (the instance's thread inside
 * execute), as backend.h requires.
 */
#ifndef INFERD_BK_UTIL_H
#define INFERD_BK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/backend.h"

/* The server's table, valid until the library is unloaded. */
extern const inferd_host_api_t *bk_host;

#define BK_LOG(level, ...)                                                     \
  bk_host->log((level), __FILE__, __LINE__, __VA_ARGS__)
enum {
  BK_LOG_ERROR = 0,
  BK_LOG_WARNING = 1,
  BK_LOG_INFO = 2,
  BK_LOG_VERBOSE = 3
};

/* Checks the host table (ABI major, size) and stores it in bk_host; on
 * success *out = api. Returns an error naming both ABI versions otherwise. */
inferd_status_t *bk_register(const char *backend, const inferd_host_api_t *host,
                             const inferd_backend_api_t *api,
                             const inferd_backend_api_t **out);

/* Properties of one request input (pointers borrowed until request_release). */
typedef struct bk_input {
  uint32_t index;
  const char *name;
  inferd_datatype_t dt;
  const int64_t *shape;
  uint32_t n_dims;
  uint64_t byte_size;
  uint32_t n_buffers;
} bk_input_t;

/* Looks up the request's input `name`. NOT_FOUND names the input. */
inferd_status_t *bk_input_get(const inferd_request_t *r, const char *name,
                              bk_input_t *in);

/* Copies the input's bytes (all buffers, in order) to dst, which holds
 * in->byte_size bytes. Fails on device memory or inconsistent sizes. */
inferd_status_t *bk_input_copy(const inferd_request_t *r, const bk_input_t *in,
                               void *dst);

/* Makes the input contiguous: *data points at the single CPU buffer when there
 * is one (*owned = NULL), else at a malloc'd copy that the caller frees
 * (*owned = the copy). */
inferd_status_t *bk_input_contiguous(const inferd_request_t *r,
                                     const bk_input_t *in, const void **data,
                                     void **owned);

/* Element count of a shape; false on a negative dim or overflow. */
bool bk_element_count(const int64_t *shape, uint32_t n_dims, uint64_t *count);

/* Writes "[d0,d1,...]" into buf (always NUL-terminated, truncated if short). */
const char *bk_shape_str(const int64_t *shape, uint32_t n_dims, char *buf,
                         size_t size);

/* Sends an error response (error transferred) as the request's final response
 * and releases the request. Never fails: if no response can be created the
 * request is ended with a flags-only final. */
void bk_fail_request(inferd_request_t *r, inferd_status_t *error);

/* Ends the request: sends resp (may be NULL only when error is set) as its
 * FINAL response, turned into an error response when error (transferred) is
 * non-NULL, then releases the request. */
void bk_finish(inferd_request_t *r, inferd_response_t *resp,
               inferd_status_t *error);

/* For backends that answer the requests of a batch one at a time: for each
 * request, creates its response, lets one() fill it, reports the request's
 * statistics, sends the response FINAL (an error response when one()
 * failed) and releases the request; then reports the batch. exec_start_ns:
 * when the execute call began; compute_start_ns: when its computation began
 * (after any per-batch set-up); batch: its size for batch statistics. */
typedef inferd_status_t *(*bk_one_fn)(void *state, inferd_backend_model_t *m,
                                      inferd_request_t *r,
                                      inferd_response_t *resp);
void bk_execute_each(inferd_backend_instance_t *inst,
                     inferd_request_t *const *requests, uint32_t n,
                     uint64_t batch, uint64_t exec_start_ns,
                     uint64_t compute_start_ns, bk_one_fn one, void *state);

/* Optional config parameters (model_parameter): *out is left unchanged
 * when the parameter is absent; a malformed or out-of-range value is an
 * INVALID_ARG status naming the model, the parameter and the value. */
inferd_status_t *bk_param_int(const inferd_backend_model_t *m, const char *key,
                              int64_t lo, int64_t hi, int64_t *out);
inferd_status_t *bk_param_bool(const inferd_backend_model_t *m, const char *key,
                               bool *out);

/* Strict parsers for config/request parameter text. */
bool bk_parse_int64(const char *s, int64_t *out);
bool bk_parse_bool(const char *s, bool *out);

/* Sleeps ms milliseconds (restarting after signals). */
void bk_sleep_ms(int64_t ms);

/* Batch size of an execute call for statistics: the sum of the first
 * dimension of each request's first input when the model batches, else n. */
uint64_t bk_batch_size(const inferd_backend_model_t *m,
                       inferd_request_t *const *requests, uint32_t n);

/* ---- identity mapping (identity and testing backends) ------------------
 * Each config input maps to one config output: INPUT<s> → OUTPUT<s>, any
 * other name X → X. The output must exist with the same data type. */
typedef struct bk_io_pair {
  const char *input; /* borrowed from the model config until model_fini */
  const char *output;
  inferd_datatype_t dt;
} bk_io_pair_t;

typedef struct bk_io_map {
  uint32_t n_pairs;
  bk_io_pair_t pairs[]; /* one per config input */
} bk_io_map_t;

/* Builds the mapping from the model's config; errors name the model and the
 * input/output. The caller frees the map with free(). */
inferd_status_t *bk_io_map_new(const inferd_backend_model_t *m,
                               bk_io_map_t **out);

/* Adds to resp every output the request asks for, copied from its input.
 * On error the response is unchanged as far as the caller is concerned: it
 * must be sent as an error response (outputs are dropped). */
inferd_status_t *bk_io_map_fill(const bk_io_map_t *map,
                                const inferd_backend_model_t *m,
                                inferd_request_t *r, inferd_response_t *resp);

#endif /* INFERD_BK_UTIL_H */
