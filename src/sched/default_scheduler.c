/*
 * default_scheduler.c: Triton's default scheduler: one FIFO queue per model
 * version, one execution thread per instance, one request per execution.
 * Frontend threads only lock the queue, link the request and signal.
 * Invariant: after stop, the queue is empty and no thread runs.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/completion.h"
#include "core/log.h"
#include "sched/scheduler.h"

typedef struct default_sched {
  sched_t base;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  inferd_request_t *head, *tail;
  bool stopping;
  pthread_t *threads;
  uint32_t n_threads;
} default_sched_t;

typedef struct worker_arg {
  default_sched_t *s;
  uint32_t instance;
} worker_arg_t;

static void *worker(void *p) {
  worker_arg_t *a = p;
  default_sched_t *s = a->s;
  uint32_t instance = a->instance;
  const sched_instance_set_t *set = s->base.set;
  free(a);
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (!s->head && !s->stopping)
      pthread_cond_wait(&s->cv, &s->mu);
    inferd_request_t *r = s->head;
    if (!r) { /* stopping and drained */
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    s->head = r->next;
    if (!s->head)
      s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    r->next = NULL;
    set->execute(set->ctx, instance, &r, 1);
  }
}

static inferd_status_t *enqueue(sched_t *base, inferd_request_t *req) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  if (s->stopping) {
    pthread_mutex_unlock(&s->mu);
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "model \"%s\" version %lld is unloading",
                             base->set->name, (long long)base->set->version);
  }
  req->next = NULL;
  if (s->tail)
    s->tail->next = req;
  else
    s->head = req;
  s->tail = req;
  if (!sched_defer_wakeup(base))
    pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void kick(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  if (s->head && s->head->next)
    pthread_cond_broadcast(&s->cv); /* several requests: every idle worker */
  else if (s->head)
    pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void drain(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  inferd_request_t *q = s->head;
  s->head = s->tail = NULL;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  while (q) {
    inferd_request_t *next = q->next;
    core_request_fail(q, inferd_status_new(INFERD_UNAVAILABLE,
                                           "model \"%s\" version %lld is "
                                           "unloading",
                                           base->set->name,
                                           (long long)base->set->version));
    q = next;
  }
}

static void stop(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  drain(base);
  for (uint32_t i = 0; i < s->n_threads; i++)
    pthread_join(s->threads[i], NULL);
  s->n_threads = 0;
}

static void sched_free(sched_t *base) {
  default_sched_t *s = (default_sched_t *)base;
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->threads);
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
  default_sched_t *s = calloc(1, sizeof(*s));
  if (!s)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  s->base.ops = &default_ops;
  s->base.set = set;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->threads = calloc(set->n_instances, sizeof(pthread_t));
  if (!s->threads) {
    sched_free(&s->base);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (uint32_t i = 0; i < set->n_instances; i++) {
    worker_arg_t *a = malloc(sizeof(*a));
    if (a) {
      a->s = s;
      a->instance = i;
    }
    int rc = a ? pthread_create(&s->threads[i], NULL, worker, a) : -1;
    if (rc != 0) {
      free(a);
      stop(&s->base);
      sched_free(&s->base);
      return inferd_status_new(INFERD_INTERNAL,
                               "cannot start execution thread %u of model "
                               "\"%s\"",
                               i, set->name);
    }
    s->n_threads++;
  }
  *out = &s->base;
  return NULL;
}
