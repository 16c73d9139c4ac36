/*
 * scheduler.h: the scheduler interface. Each model version has one scheduler
 * that queues its requests and hands batches to its instances; the default
 * scheduler, the dynamic batcher, the sequence batcher and the ensemble
 * scheduler are implementations of this table (one file each). Prefix sched_.
 *
 * Threads: enqueue is called from frontend threads, concurrently. The
 * scheduler runs at most one execution thread per instance (or its own
 * threads) and runs batches through its instance set from them. Execution
 * threads are started on demand and exit after instance_idle_timeout_ms
 * without work, so an idle model version costs no thread (issue 9); an
 * instance never executes on two threads at once. drain may be called from
 * the repository thread while requests run; stop and free are called once,
 * when the model version is finalised (no request holds it any more).
 */
#ifndef INFERD_SCHED_H
#define INFERD_SCHED_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "core/refcount.h"
#include "core/request.h"

typedef struct sched sched_t;

typedef struct sched_ops {
  const char *name;
  /* Queues req (transferred on success). Errors (e.g. queue full) leave req
   * with the caller. Must not block on execution. */
  inferd_status_t *(*enqueue)(sched_t *s, inferd_request_t *req);
  /* Stops admitting and fails the queued requests with UNAVAILABLE; never
   * blocks (executions that started go on). Idempotent. */
  void (*drain)(sched_t *s);
  /* drain, then waits for running executions and joins every thread it
   * started (those that exited when idle included). Idempotent. */
  void (*stop)(sched_t *s);
  /* Wakes the execution (or batcher) threads after deferred enqueues,
   * starting them when they exited while idle. */
  void (*kick)(sched_t *s);
  void (*free)(sched_t *s);
} sched_ops_t;

/* What a scheduler needs of the model version it serves, without knowing
 * what a model is: the instances behind a run function, the scheduling
 * config and the version's refcount. The model version owns both the set
 * and the scheduler; the set outlives the scheduler. */
typedef struct sched_instance_set {
  const char *name; /* for messages */
  int64_t version;
  uint32_t n_instances;
  const cfg_model_t *config; /* max_batch_size, dynamic_batching, inputs */
  core_ref_t *ref;           /* held while a deferred wake-up is pending */
  /* Runs one batch on instance `instance` (called from that instance's
   * current execution thread only, never on two threads at once; after
   * the instance was idle the thread may be a new one): cancelled requests are
   * answered CANCELLED, the others go to the backend, which completes them; a
   * failed execute fails every request of the batch. */
  void (*execute)(void *ctx, uint32_t instance, inferd_request_t **reqs,
                  uint32_t n);
  void *ctx;
  /* How long an execution (or batcher) thread waits for work before it
   * exits; the next request starts it again. 0 = SCHED_IDLE_TIMEOUT_MS,
   * UINT32_MAX = never exit. A model config parameter
   * "inferd_instance_idle_timeout_ms" (an inferd extension) overrides it for
   * one model. */
  uint32_t instance_idle_timeout_ms;
  /* the backend declared execute non-blocking and inline execution is on:
   * the default scheduler may run a request on the submitting thread when
   * an instance has no thread and nothing is queued */
  bool inline_ok;
} sched_instance_set_t;

#define SCHED_IDLE_TIMEOUT_MS 2000u

struct sched {
  const sched_ops_t *ops;
  const sched_instance_set_t *set;
};

/* The default scheduler: one FIFO queue, one thread per instance, one
 * request per execution. */
inferd_status_t *sched_default_new(const sched_instance_set_t *set,
                                   sched_t **out);

/* The dynamic batcher (config dynamic_batching). */
inferd_status_t *sched_dynamic_new(const sched_instance_set_t *set,
                                   sched_t **out);

/* Picks the scheduler the model's config asks for (sched_factory.c).
 * Configs asking for a scheduler inferd does not have yet fail with
 * UNSUPPORTED. */
inferd_status_t *sched_new_for_model(const sched_instance_set_t *set,
                                     sched_t **out);

/* Called by enqueue, under the scheduler's lock, instead of signalling:
 * true when the calling thread defers wake-ups (the scheduler is then kicked
 * by inferd_thread_defer_wakeups(false)), false when it must signal now. */
bool sched_defer_wakeup(sched_t *s);

/* Sets *out_ns to the idle timeout of set's execution threads (the model's
 * "inferd_instance_idle_timeout_ms" parameter, else the set's field, else
 * SCHED_IDLE_TIMEOUT_MS); 0 means never exit. A parameter that is not a
 * decimal number of milliseconds in [1, 4294967295] fails with INVALID_ARG.
 * Thread-safe. */
inferd_status_t *sched_idle_timeout_ns(const sched_instance_set_t *set,
                                       uint64_t *out_ns);

/* The absolute CLOCK_MONOTONIC time mono_ns as a timespec, for
 * pthread_cond_timedwait on a condition variable created with
 * sched_cond_init. */
void sched_timespec_at(struct timespec *ts, uint64_t mono_ns);

/* Initialises cv to measure timeouts on CLOCK_MONOTONIC (a wall-clock jump
 * must not wake or hold back an idle thread). */
void sched_cond_init(pthread_cond_t *cv);
/* The errors both schedulers answer with (new status each call). */
inferd_status_t *sched_err_unloading(const sched_t *s);
inferd_status_t *sched_err_no_thread(const sched_t *s);
/* Fails every request of a `next`-linked list with why(s) (queued requests
 * of a scheduler that stops or cannot start a thread). */
void sched_fail_list(inferd_request_t *list,
                     inferd_status_t *(*why)(const sched_t *s),
                     const sched_t *s);
#endif
