/*
 * model_execute.c: one batch on one instance of a model version, as the
 * schedulers call it through their instance set: requests cancelled while
 * queued are answered CANCELLED, the rest go to the backend's execute; a
 * failed execute fails every request of the batch; execution statistics.
 */
#include "backend/model.h"
#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"

void model_execute(void *model, uint32_t instance, inferd_request_t **reqs,
                   uint32_t n) {
  inferd_model_t *m = model;
  inferd_backend_instance_t *inst = &m->instances[instance];
  uint64_t start = core_now_ns();
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    inferd_request_t *r = reqs[i];
    if (atomic_load(&r->cancelled)) {
      core_request_fail(
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
      core_request_fail(reqs[i], inferd_status_new(inferd_status_code(st), "%s",
                                                   inferd_status_message(st)));
    inferd_status_free(st);
    return;
  }
  atomic_fetch_add_explicit(&m->stats.execution_count, 1, memory_order_relaxed);
  atomic_store_explicit(&m->stats.last_inference_ms, core_wall_ms(),
                        memory_order_relaxed);
}
