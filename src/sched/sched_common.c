/*
 * sched_common.c: what every scheduler shares: running a batch on an
 * instance (cancellation check, the execute call, its error path,
 * execution statistics), failing a request, and deferred wake-ups.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "sched/scheduler.h"

void sched_fail_request(inferd_request_t *req, inferd_status_t *st) {
  inferd_response_t *resp = NULL;
  inferd_status_t *e = core_response_alloc(req, &resp);
  if (e) {
    inferd_status_free(e);
    inferd_status_free(st);
    core_request_send_final(req); /* frontend sees a final without response */
  } else {
    resp->error = st;
    core_response_send(resp, INFERD_RESPONSE_FLAG_FINAL);
  }
  core_request_release(req);
}

void sched_execute(inferd_backend_instance_t *inst, inferd_request_t **reqs,
                   uint32_t n) {
  inferd_model_t *m = inst->model;
  uint64_t start = core_now_ns();
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    inferd_request_t *r = reqs[i];
    if (atomic_load(&r->cancelled)) {
      sched_fail_request(
          r, inferd_status_new(INFERD_CANCELLED, "request cancelled"));
      continue;
    }
    r->t_exec_ns = start;
    reqs[k++] = r;
  }
  if (k == 0)
    return;
  inferd_status_t *st = m->backend->api->execute(inst, reqs, k);
  if (st) {
    LOG_VERBOSE(1, "model \"%s\" instance \"%s\": execute failed: %s", m->name,
                inst->name, inferd_status_message(st));
    for (uint32_t i = 0; i < k; i++)
      sched_fail_request(reqs[i],
                         inferd_status_new(inferd_status_code(st), "%s",
                                           inferd_status_message(st)));
    inferd_status_free(st);
    return;
  }
  atomic_fetch_add_explicit(&m->stats.execution_count, 1, memory_order_relaxed);
  atomic_store_explicit(&m->stats.last_inference_ms, core_wall_ms(),
                        memory_order_relaxed);
}

/* the schedulers that received deferred requests on this thread; each is
 * held through a model reference until it is kicked */
#define DEFER_MAX 16
static _Thread_local struct {
  bool on;
  uint32_t n;
  sched_t *s[DEFER_MAX];
} deferred;

bool sched_defer_wakeup(sched_t *s) {
  if (!deferred.on)
    return false;
  for (uint32_t i = 0; i < deferred.n; i++)
    if (deferred.s[i] == s)
      return true;
  if (deferred.n == DEFER_MAX)
    return false; /* too many models in one iteration: wake now */
  core_ref_acquire(&s->model->ref);
  deferred.s[deferred.n++] = s;
  return true;
}

void inferd_thread_defer_wakeups(bool defer) {
  deferred.on = defer;
  if (defer)
    return;
  for (uint32_t i = 0; i < deferred.n; i++) {
    sched_t *s = deferred.s[i];
    s->ops->kick(s);
    core_ref_release(&s->model->ref);
  }
  deferred.n = 0;
}
