/*
 * scheduler.h: the scheduler interface. Each model version has one scheduler
 * that queues its requests and hands batches to its instances; the default
 * scheduler, the dynamic batcher, the sequence batcher and the ensemble
 * scheduler are implementations of this table (one file each). Prefix sched_.
 *
 * Threads: enqueue is called from frontend threads, concurrently. The
 * scheduler runs one execution thread per instance (or its own threads) and
 * runs batches through its instance set from them. drain may be called from the
 * repository thread while requests run; stop and free are called once, when the
 * model version is finalised (no request holds it any more).
 */
#ifndef INFERD_SCHED_H
#define INFERD_SCHED_H

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
  /* drain, then waits for running executions and joins the threads.
   * Idempotent. */
  void (*stop)(sched_t *s);
  /* Wakes the execution (or batcher) threads after deferred enqueues. */
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
   * execution thread only): cancelled requests are answered CANCELLED, the
   * others go to the backend, which completes them; a failed execute fails
   * every request of the batch. */
  void (*execute)(void *ctx, uint32_t instance, inferd_request_t **reqs,
                  uint32_t n);
  void *ctx;
} sched_instance_set_t;

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
#endif
