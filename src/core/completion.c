/*
 * completion.c: forwards the completion calls of schedulers and backends to
 * the hooks the server installed (see completion.h).
 */
#include <stdatomic.h>
#include <stddef.h>

#include "core/completion.h"
#include "core/request.h"

static _Atomic(const core_completion_hooks_t *) hooks;

void core_completion_install(const core_completion_hooks_t *h) {
  atomic_store_explicit(&hooks, h, memory_order_release);
}

static const core_completion_hooks_t *get(void) {
  return atomic_load_explicit(&hooks, memory_order_acquire);
}

void core_response_send(inferd_response_t *resp, uint32_t flags) {
  get()->response_send(resp, flags);
}

void core_request_send_final(inferd_request_t *req) {
  get()->request_send_final(req);
}

void core_request_release(inferd_request_t *req) {
  get()->request_release(req);
}

inferd_status_t *core_request_submit(inferd_server_t *s,
                                     inferd_request_t *req) {
  return get()->request_submit(s, req);
}

void core_request_fail(inferd_request_t *req, inferd_status_t *st) {
  inferd_response_t *resp = NULL;
  inferd_status_t *e = core_response_alloc(req, &resp);
  if (e) {
    inferd_status_free(e);
    inferd_status_free(st);
    core_request_send_final(req); /* the frontend sees a bare final */
  } else {
    resp->error = st;
    core_response_send(resp, INFERD_RESPONSE_FLAG_FINAL);
  }
  core_request_release(req);
}
