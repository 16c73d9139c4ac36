/*
 * http_endpoints.h: the non-infer endpoints (health, metadata, config,
 * statistics, repository, logging, shared memory, and the 501 answers for
 * features not there yet) and the helpers they share with http_server.c.
 * Prefix http_.
 *
 * Threads: everything runs on the MHD thread that owns the connection. A
 * repository load/unload, or a wait for a load on demand, suspends the
 * connection and returns at once; the server's completion callback (its
 * repository thread) resumes it, and http_endpoint_finish (or the route
 * again) answers on the MHD thread.
 */
#ifndef INFERD_HTTP_ENDPOINTS_H
#define INFERD_HTTP_ENDPOINTS_H

#include <jansson.h>
#include <microhttpd.h>

#include "http/http_internal.h"

typedef struct http_req http_req_t;

inferd_server_t *http_req_server(http_req_t *q);
const http_route_t *http_req_route(http_req_t *q);
http_arena_t *http_req_arena(http_req_t *q);
/* Parses the body as a JSON object (kept until the request ends); *out is
 * NULL for an empty body. */
inferd_status_t *http_req_body_json(http_req_t *q, json_t **out);

/* Queue a response (each marks the request answered). data is malloc'd and
 * transferred; j is consumed; st is consumed. */
enum MHD_Result http_queue_buf(http_req_t *q, unsigned status, char *data,
                               size_t len, const char *content_type);
enum MHD_Result http_queue_json(http_req_t *q, unsigned status, json_t *j);
enum MHD_Result http_queue_empty(http_req_t *q, unsigned status);
enum MHD_Result http_queue_error(http_req_t *q, inferd_status_t *st);

/* Starts inferd_server_model_load_async (route REPO_LOAD; opts may be NULL)
 * or inferd_server_model_unload_async and suspends the connection until its
 * callback, after which http_endpoint_finish answers; a synchronous error is
 * answered the same way. model_name, opts and everything they point to must
 * live as long as the request state (arena or body JSON): the server may read
 * them until its callback has run. */
enum MHD_Result http_req_start_repo_op(http_req_t *q, const char *model_name,
                                       size_t name_len,
                                       const inferd_model_load_options_t *opts,
                                       bool unload_dependents);

/* Load on demand (issue 9): call when inferd_server_model_acquire failed
 * for the route's model with st (consumed). The first time for a request it
 * asks the server to load the model; if the server starts (or joins) a
 * load, the connection is suspended until it has finished, and then the
 * route's handler runs again from the start (http_endpoint_handle, or the
 * infer path); a load that failed is answered with its error. Otherwise, and
 * on the second call for a request, st is answered. Returns what the
 * handler returns. */
enum MHD_Result http_req_wait_model(http_req_t *q, inferd_status_t *st);

/* Answers the shared memory routes (HTTP_ROUTE_SHM; http_shm.c). */
enum MHD_Result http_shm_handle(http_req_t *q);

/* Answers every route except NOT_FOUND, METHOD_NOT_ALLOWED and INFER. */
enum MHD_Result http_endpoint_handle(http_req_t *q);
/* Answers a resumed repository operation; *result (consumed) is its status. */
enum MHD_Result http_endpoint_finish(http_req_t *q, inferd_status_t **result);

#endif /* INFERD_HTTP_ENDPOINTS_H */
