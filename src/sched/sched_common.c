/*
 * sched_common.c: what every scheduler shares: deferred wake-ups (a
 * frontend's event loop hands over several requests, then wakes each
 * scheduler once).
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "sched/scheduler.h"

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
  core_ref_acquire(s->set->ref);
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
    core_ref_release(s->set->ref);
  }
  deferred.n = 0;
}
