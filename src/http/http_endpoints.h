/*
 * http_endpoints.h: the non-infer endpoints (health, metadata, config,
 * statistics, repository, logging, and the 501 answers for features not
 * there yet) and the helpers they share with http_server.c. Prefix http_.
 *
 * Threads: everything runs on the MHD thread that owns the connection, except
 * repository load/unload, which http_req_run_repo_op runs on a short-lived
 * thread while the connection is suspended.
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

/* Runs load (route REPO_LOAD) or unload off the MHD thread; the connection
 * is suspended until it finishes, then http_endpoint_finish answers.
 * model_name and config are borrowed until then. */
enum MHD_Result http_req_run_repo_op(http_req_t *q, const char *model_name,
                                     const char *config,
                                     bool unload_dependents);

/* Answers every route except NOT_FOUND, METHOD_NOT_ALLOWED and INFER. */
enum MHD_Result http_endpoint_handle(http_req_t *q);
/* Answers a resumed repository operation; *result (consumed) is its status. */
enum MHD_Result http_endpoint_finish(http_req_t *q, inferd_status_t **result);

#endif /* INFERD_HTTP_ENDPOINTS_H */
