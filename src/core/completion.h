/*
 * completion.h: the request path as the lower layers see it. Schedulers
 * and the backend host functions complete requests through these calls
 * (and model warmup submits its requests);
 * the server installs the implementation (statistics, output filtering, the
 * frontend's callbacks, the in-flight count) once at startup, so that
 * nothing below src/server/ calls the server by name. Prefix core_.
 *
 * Threads: the install call happens before any request exists; the three
 * calls are made from any server thread, as their implementation allows.
 */
#ifndef INFERD_CORE_COMPLETION_H
#define INFERD_CORE_COMPLETION_H

#include "inferd/server.h"

typedef struct core_completion_hooks {
  /* hands a response to the request's frontend (resp transferred) */
  void (*response_send)(inferd_response_t *resp, uint32_t flags);
  /* a flags-only final response */
  void (*request_send_final)(inferd_request_t *req);
  /* the server is done with req: release callback, in-flight count */
  void (*request_release)(inferd_request_t *req);
  /* admits a request built below the server (model warmup) exactly as
   * inferd_server_infer_async does: validation, then its scheduler */
  inferd_status_t *(*request_submit)(inferd_server_t *s, inferd_request_t *req);
} core_completion_hooks_t;

/* Installs the hooks (the table is borrowed for the process's life). */
void core_completion_install(const core_completion_hooks_t *hooks);

void core_response_send(inferd_response_t *resp, uint32_t flags);
void core_request_send_final(inferd_request_t *req);
void core_request_release(inferd_request_t *req);
/* Submits req through the server's admission (see request_submit). */
inferd_status_t *core_request_submit(inferd_server_t *s, inferd_request_t *req);
/* Completes req with an error response (st transferred) and releases it. */
void core_request_fail(inferd_request_t *req, inferd_status_t *st);
#endif
