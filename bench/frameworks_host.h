/*
 * frameworks_host.h: a minimal in-process implementation of the backend
 * ABI's host table (include/inferd/backend.h), so that a backend library can
 * be loaded and driven without the server: for the framework backends' unit
 * tests (load/unload under ASan/LSan), the ONNX conformance runner and the
 * in-process half of bench/frameworks_bench.
 *
 * Single-threaded use only (one test thread plays repository and instance
 * threads). Requests and responses are synchronous: the backends shipped with
 * inferd send every response before execute returns.
 */
#ifndef INFERD_FRAMEWORKS_HOST_H
#define INFERD_FRAMEWORKS_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/backend.h"

typedef struct fh_backend fh_backend_t;
typedef struct fh_model fh_model_t;

/* dlopens lib, registers and runs backend_init. NULL with err filled. */
fh_backend_t *fh_backend_open(const char *lib, const char *name, char *err,
                              size_t err_size);
void fh_backend_close(fh_backend_t *b); /* backend_fini + dlclose */

/* A model config (copied). */
fh_model_t *fh_model_new(fh_backend_t *b, const char *name,
                         const char *file_path, int32_t max_batch_size);
void fh_model_add_io(fh_model_t *m, bool output, const char *name,
                     inferd_datatype_t dt, const int64_t *dims,
                     uint32_t n_dims);
void fh_model_set_param(fh_model_t *m, const char *key, const char *value);
/* model_init + instance_init for n_instances; on failure returns false,
 * everything initialised is finalised again and err holds the message. */
bool fh_model_load(fh_model_t *m, uint32_t n_instances, char *err,
                   size_t err_size);
void fh_model_unload(fh_model_t *m);
void fh_model_free(fh_model_t *m); /* unloads if needed */

/* Requests: inputs borrowed until fh_request_free. */
inferd_request_t *fh_request_new(void);
void fh_request_add_input(inferd_request_t *r, const char *name,
                          inferd_datatype_t dt, const int64_t *shape,
                          uint32_t n_dims, const void *data,
                          uint64_t byte_size);
void fh_request_add_output(inferd_request_t *r, const char *name);
/* Resets the response state so the request can be executed again. */
void fh_request_reset(inferd_request_t *r);
void fh_request_free(inferd_request_t *r);

/* Calls execute on instance i; false (err) if execute itself failed or a
 * request was left without a final response or release. */
bool fh_execute(fh_model_t *m, uint32_t instance, inferd_request_t **reqs,
                uint32_t n, char *err, size_t err_size);

/* After execute: the response's error message (NULL on success) and its
 * outputs. */
const char *fh_request_error(const inferd_request_t *r);
bool fh_request_output(const inferd_request_t *r, const char *name,
                       inferd_datatype_t *dt, const int64_t **shape,
                       uint32_t *n_dims, const void **data,
                       uint64_t *byte_size);
uint32_t fh_request_output_count(const inferd_request_t *r);

#endif /* INFERD_FRAMEWORKS_HOST_H */
