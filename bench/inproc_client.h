/*
 * inproc_client.h: a small client of the embedding API (include/inferd/
 * server.h, linked from libinferd.so) for the tools that drive a backend
 * in-process without a frontend: the framework backends' unit tests, the
 * ONNX conformance runner and bench/frameworks_inproc. They write a
 * temporary model repository, start a server over it and run requests
 * through the real host (scheduler, instance threads, backend ABI), so they
 * test and measure what inferd serves, minus HTTP and gRPC. Prefix ic_.
 *
 * Threads: an ic_repo_t is used by one thread; ic_infer may be called from
 * several threads at once (each call waits only for its own requests). It
 * must not be called from a server callback.
 */
#ifndef INFERD_INPROC_CLIENT_H
#define INFERD_INPROC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/server.h"

typedef struct ic_repo ic_repo_t;

/* Creates an empty repository directory (mkdtemp under $TMPDIR, else /tmp).
 * Pair with ic_repo_free. */
inferd_status_t *ic_repo_new(ic_repo_t **out);
/* The repository's path (borrowed until ic_repo_free). */
const char *ic_repo_path(const ic_repo_t *r);
/* Adds model `name`: <repo>/<name>/config.pbtxt holding config_text, and
 * version directory 1 with `file_name` as a symbolic link to model_file
 * (made absolute; the file is not copied). model_file NULL: the version
 * directory stays empty. Errors name the path that could not be made. */
inferd_status_t *ic_repo_add_model(ic_repo_t *r, const char *name,
                                   const char *config_text,
                                   const char *model_file,
                                   const char *file_name);
/* Removes the repository's directory tree (links are removed, never
 * followed) and frees r. NULL is ignored. */
void ic_repo_free(ic_repo_t *r);

/* A server over one repository (control mode none: every model loads now),
 * backends from backend_dir (<dir>/<name>/libinferd_<name>.so). With
 * exit_on_error the first model that fails to load makes this return its
 * error. Free with ic_server_free. */
inferd_status_t *ic_server_new(inferd_server_t **out, const char *repo,
                               const char *backend_dir, bool exit_on_error);
/* inferd_server_stop (no requests are in flight after ic_infer) and free.
 * NULL is ignored. */
void ic_server_free(inferd_server_t *s);

/* Adds an input and its one data buffer (borrowed until the request's
 * release, i.e. until ic_infer returns). */
inferd_status_t *ic_request_input(inferd_request_t *req, const char *name,
                                  inferd_datatype_t dt, const int64_t *shape,
                                  size_t n_dims, const void *data,
                                  size_t byte_size);

/* Submits n requests with wake-ups deferred (so a dynamic batcher finds them
 * all queued at once) and waits until every one has been released.
 * resps[i] receives request i's final response (the caller frees it with
 * inferd_response_free; NULL when none came). The requests' callbacks are
 * set here. If infer_async refuses request i, the requests before it are
 * still waited for, resps[i..n-1] are NULL and the refusal is returned
 * prefixed with "request <i>"; the caller keeps every request either way. */
inferd_status_t *ic_infer(inferd_server_t *s, inferd_request_t **reqs, size_t n,
                          inferd_response_t **resps);

/* The response's error message, NULL when it succeeded (or resp is NULL:
 * then "no response"). Borrowed until the response is freed. */
const char *ic_response_error(const inferd_response_t *resp);
/* Finds output `name`; false when the response has none by that name. */
bool ic_response_output(const inferd_response_t *resp, const char *name,
                        inferd_datatype_t *dt, const int64_t **shape,
                        size_t *n_dims, const void **data, size_t *byte_size);

/* Inference and execution counts of model `name` (summed over its READY
 * versions). The host counts an execution after the backend's execute
 * returns, which can be after the requests were released: this waits up to
 * 2 s for execution_count to reach min_executions before it reads. */
inferd_status_t *ic_model_counts(inferd_server_t *s, const char *name,
                                 uint64_t min_executions, uint64_t *inferences,
                                 uint64_t *executions);

/* Appends `input [{ name, data_type, dims }]` (or output) to a config text
 * in buf (NUL-terminated, size n); false when it does not fit. A scalar
 * (n_dims 0) becomes dims [1] (requests then give it shape [1]): a config
 * cannot declare one when max_batch_size is 0. */
bool ic_config_io(char *buf, size_t n, bool output, const char *name,
                  inferd_datatype_t dt, const int64_t *dims, size_t n_dims);

#endif /* INFERD_INPROC_CLIENT_H */
