/*
 * sched_common.c: what every scheduler shares: deferred wake-ups (a
 * frontend's event loop hands over several requests, then wakes each
 * scheduler once), and the idle timeout and monotonic waits of the
 * execution threads that exit when idle.
 */
#include <errno.h>
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

#define IDLE_PARAM "inferd_instance_idle_timeout_ms"

inferd_status_t *sched_idle_timeout_ns(const sched_instance_set_t *set,
                                       uint64_t *out_ns) {
  uint64_t ms = set->instance_idle_timeout_ms ? set->instance_idle_timeout_ms
                                              : SCHED_IDLE_TIMEOUT_MS;
  const cfg_model_t *c = set->config;
  for (size_t i = 0; c && i < c->n_parameters; i++) {
    const char *k = c->parameters[i]->key;
    if (!k || strcmp(k, IDLE_PARAM) != 0)
      continue;
    const char *v =
        c->parameters[i]->value ? c->parameters[i]->value->string_value : NULL;
    char *end = NULL;
    errno = 0;
    unsigned long long x =
        v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!v || !end || *end || errno || x == 0 || x > UINT32_MAX)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "model \"%s\": parameter \"" IDLE_PARAM
                               "\": expected milliseconds in [1, %u], got "
                               "\"%s\"",
                               set->name, UINT32_MAX, v ? v : "");
    ms = x;
  }
  *out_ns = ms == UINT32_MAX ? 0 : ms * 1000000u;
  return NULL;
}

void sched_timespec_at(struct timespec *ts, uint64_t mono_ns) {
  ts->tv_sec = (time_t)(mono_ns / 1000000000u);
  ts->tv_nsec = (long)(mono_ns % 1000000000u);
}

void sched_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

inferd_status_t *sched_err_unloading(const sched_t *s) {
  return inferd_status_new(INFERD_UNAVAILABLE,
                           "model \"%s\" version %lld is unloading",
                           s->set->name, (long long)s->set->version);
}

inferd_status_t *sched_err_no_thread(const sched_t *s) {
  return inferd_status_new(INFERD_INTERNAL,
                           "model \"%s\" version %lld: cannot start an "
                           "execution thread",
                           s->set->name, (long long)s->set->version);
}

void sched_fail_list(inferd_request_t *list,
                     inferd_status_t *(*why)(const sched_t *s),
                     const sched_t *s) {
  while (list) {
    inferd_request_t *next = list->next;
    list->next = NULL;
    atomic_store(&list->on_cancel, NULL); /* no cancel reaches it now */
    core_request_fail(list, why(s));
    list = next;
  }
}
