/*
 * completion.c: forwards the completion calls of schedulers and backends to
 * the hooks the server installed (see completion.h).
 */
#include <stdatomic.h>
#include <stddef.h>

#include "core/completion.h"

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
