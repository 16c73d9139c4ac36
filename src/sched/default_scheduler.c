/*
 * default_scheduler.c: Triton's default scheduler: one FIFO queue per model
 * version, at most one execution thread per instance, one request per
 * execution. Frontend threads only lock the queue, link the request and
 * signal, starting a thread for an instance that has none when more
 * requests wait than threads are idle. A thread that waited idle_ns without
 * a request exits, so an idle model costs no thread; the next request
 * starts one again.
 *
 * Invariants (under mu): a worker's thread is alive from its start until it
 * decides to exit, and that decision is taken under mu with the queue empty,
 * so an enqueue either sees the thread alive (and the thread then sees the
 * request) or sees it gone (and starts another): no request is stranded.
 * n_idle counts alive threads not executing (waiting, or about to look at
 * the queue). After stop, the queue is empty and every thread ever started
 * has been joined.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "sched/scheduler.h"

typedef struct default_sched default_sched_t;

/* One instance's execution thread. A thread that exited is joined when the
 * instance's next-but-one thread starts (by then it has long finished, so
 * the join does not wait under the lock) or at stop: `prev` holds it
 * meanwhile. Handles and joinable flags change only under mu while not
 * stopping. */
typedef struct worker {
  default_sched_t *s;
  uint32_t instance;
  pthread_t thread, prev;
  bool joinable, prev_joinable;
  bool alive;       /* started and has not decided to exit */
  bool inline_busy; /* executing on a submitting thread (no thread of its
                       own may start meanwhile) */
} worker_t;

struct default_sched {
  sched_t base;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  inferd_request_t *head, *tail;
  uint32_t n_queued;
  uint32_t n_alive, n_idle;
  uint32_t n_inline; /* instances executing on a submitting thread */
  uint64_t idle_ns;  /* 0: threads never exit */
  bool stopping;
  worker_t *workers;
};

static void *worker_main(void *p) {
  worker_t *w = p;
  default_sched_t *s = w->s;
  const sched_instance_set_t *set = s->base.set;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    bool timed_out = false;
    if (!s->head && !s->stopping) {
      struct timespec ts;
      if (s->idle_ns)
        sched_timespec_at(&ts, core_now_ns() + s->idle_ns);
      while (!s->head && !s->stopping && !timed_out)
        if (!s->idle_ns)
          pthread_cond_wait(&s->cv, &s->mu);
        else
          timed_out = pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT;
    }
    inferd_request_t *r = s->head;
    if (!r) /* stopping (drain emptied the queue) or idle too long */
      break;
    s->head = r->next;
    if (!s->head)
      s->tail = NULL;
    s->n_queued--;
    s->n_idle--;
    pthread_mutex_unlock(&s->mu);
    r->next = NULL;
    set->execute(set->ctx, w->instance, &r, 1);
    pthread_mutex_lock(&s->mu);
    s->n_idle++;
  }
  w->alive = false;
  s->n_alive--;
  s->n_idle--;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Starts w's thread; under mu, w not alive, not stopping. */
static bool spawn(default_sched_t *s, worker_t *w) {
  if (w->prev_joinable) {
    pthread_join(w->prev, NULL);
    w->prev_joinable = false;
  }
  pthread_t t;
  int rc = pthread_create(&t, NULL, worker_main, w);
  if (rc != 0) {
    LOG_ERROR("model \"%s\" version %lld: cannot start the execution thread "
              "of instance %u (error %d)",
              s->base.set->name, (long long)s->base.set->version, w->instance,
              rc);
    return false;
  }
  if (w->joinable) {
    w->prev = w->thread;
    w->prev_joinable = true;
  }
  w->thread = t;
  w->joinable = true;
  w->alive = true;
  s->n_alive++;
  s->n_idle++; /* it looks at the queue before it first waits */
  return true;
}

/* Starts threads for instances that have none while more requests wait
 * than alive threads are idle; under mu. */
static void start_threads(default_sched_t *s) {
  uint32_t n = s->base.set->n_instances;
  for (uint32_t i = 0; i < n && s->n_queued > s->n_idle && !s->stopping; i++)
    if (!s->workers[i].alive && !s->workers[i].inline_busy &&
        !spawn(s, &s->workers[i]))
      break;
}

static inferd_status_t *enqueue(sched_t *base, inferd_request_t *req) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  if (s->stopping) {
    pthread_mutex_unlock(&s->mu);
    return sched_err_unloading(base);
  }
  if (base->set->inline_ok && !s->head) {
    /* a non-blocking backend on an instance without a thread: run it here,
     * on the submitting thread (no wake-ups); requests that come meanwhile
     * queue for threads as usual */
    for (uint32_t i = 0; i < base->set->n_instances; i++) {
      worker_t *w = &s->workers[i];
      if (w->alive || w->inline_busy)
        continue;
      w->inline_busy = true;
      s->n_inline++;
      /* the request's release inside execute may drop the version's last
       * other reference: hold one so that the version (and this
       * scheduler) outlives the call; a thread of its own would be joined
       * before finalisation, this one is not */
      core_ref_t *ref = base->set->ref;
      core_ref_acquire(ref);
      pthread_mutex_unlock(&s->mu);
      inferd_request_t *batch[1] = {req};
      req->next = NULL;
      base->set->execute(base->set->ctx, i, batch, 1);
      pthread_mutex_lock(&s->mu);
      w->inline_busy = false;
      s->n_inline--;
      if (s->head && !s->stopping) {
        start_threads(s);
        pthread_cond_signal(&s->cv);
      }
      pthread_mutex_unlock(&s->mu);
      core_ref_release(ref); /* last: may hand the version to finalisation */
      return NULL;
    }
  }
  bool defer = sched_defer_wakeup(base);
  if (!defer && s->n_alive == 0 && s->n_inline == 0) {
    /* the request would wait for a thread that cannot start: refuse it
     * (with an inline execution running, that one starts threads when it
     * ends) */
    if (!spawn(s, &s->workers[0])) {
      pthread_mutex_unlock(&s->mu);
      return sched_err_no_thread(base);
    }
  }
  req->next = NULL;
  if (s->tail)
    s->tail->next = req;
  else
    s->head = req;
  s->tail = req;
  s->n_queued++;
  if (!defer) {
    start_threads(s);
    pthread_cond_signal(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Detaches the queue; under mu. */
static inferd_request_t *take_queue(default_sched_t *s) {
  inferd_request_t *q = s->head;
  s->head = s->tail = NULL;
  s->n_queued = 0;
  return q;
}

static void kick(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  inferd_request_t *stranded = NULL;
  pthread_mutex_lock(&s->mu);
  start_threads(s);
  if (s->head && s->n_alive == 0 && s->n_inline == 0) /* no thread can run
                                                         them */
    stranded = take_queue(s);
  else if (s->head && s->head->next)
    pthread_cond_broadcast(&s->cv); /* several requests: every idle worker */
  else if (s->head)
    pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  sched_fail_list(stranded, sched_err_no_thread, base);
}

static void drain(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  inferd_request_t *q = take_queue(s);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  sched_fail_list(q, sched_err_unloading, base);
}

static void stop(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  drain(base);
  /* stopping is set: no thread starts any more and the handles are stable;
   * the threads need mu to finish, so join without it */
  for (uint32_t i = 0; i < base->set->n_instances; i++) {
    worker_t *w = &s->workers[i];
    if (w->prev_joinable)
      pthread_join(w->prev, NULL);
    if (w->joinable)
      pthread_join(w->thread, NULL);
    w->prev_joinable = w->joinable = false;
  }
}

static void sched_free(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->workers);
  free(s);
}

static const sched_ops_t default_ops = {.name = "default",
                                        .enqueue = enqueue,
                                        .drain = drain,
                                        .stop = stop,
                                        .kick = kick,
                                        .free = sched_free};

inferd_status_t *sched_default_new(const sched_instance_set_t *set,
                                   sched_t **out) {
  if (set->n_instances == 0)
    return inferd_status_new(INFERD_INTERNAL, "model \"%s\": no instance",
                             set->name);
  uint64_t idle_ns;
  inferd_status_t *st = sched_idle_timeout_ns(set, &idle_ns);
  if (st)
    return st;
  default_sched_t *s = calloc(1, sizeof(*s));
  worker_t *w = calloc(set->n_instances, sizeof(*w));
  if (!s || !w) {
    free(s);
    free(w);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  s->base.ops = &default_ops;
  s->base.set = set;
  s->idle_ns = idle_ns;
  s->workers = w;
  for (uint32_t i = 0; i < set->n_instances; i++) {
    w[i].s = s;
    w[i].instance = i;
  }
  pthread_mutex_init(&s->mu, NULL);
  sched_cond_init(&s->cv);
  /* threads start with the first request */
  *out = &s->base;
  return NULL;
}
