/*
 * The schedulers' idle-exit races, driven directly through sched_t with a
 * fake instance set and a 1 ms idle timeout, so that a thread decides to
 * exit thousands of times while requests arrive: producers spacing requests
 * at 0..2 ms (every request answered exactly once, none stranded: a lost
 * one shows as a timeout), an instance never executing on two threads at
 * once, one request at a time at about the idle timeout (nothing later
 * rescues a stranded one), deferred wake-ups (kick starting threads), and stop
 * racing producers and exiting threads (every request refused, answered or
 * failed, every thread joined). For the default scheduler and the dynamic
 * batcher. Meant for TSan too.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/completion.h"
#include "core/request.h"
#include "sched/scheduler.h"
#include "unit.h"

#define N_INST 4

static atomic_int in_exec[N_INST];
static atomic_int overlaps;  /* an instance executing on two threads */
static atomic_int answered;  /* requests completed or failed */
static atomic_int succeeded; /* requests executed */
static atomic_int answers;   /* responses, to catch double answers */
static core_ref_t ref;

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* rand() shares state across threads; each thread draws its own */
static _Thread_local uint32_t seed;
static int rnd(int n) {
  if (!seed)
    seed = (uint32_t)(uintptr_t)&seed | 1u;
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return n > 0 ? (int)(seed % (uint32_t)n) : 0;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* ---- completion hooks (what the server installs) ---- */
static void h_response_send(inferd_response_t *resp, uint32_t flags) {
  (void)flags;
  atomic_fetch_add(&answers, 1);
  inferd_response_free(resp);
}
static void h_send_final(inferd_request_t *req) {
  (void)req;
  atomic_fetch_add(&answers, 1);
}
static void h_release(inferd_request_t *req) {
  core_request_destroy(req);
  atomic_fetch_add(&answered, 1);
}
static const core_completion_hooks_t hooks = {.response_send = h_response_send,
                                              .request_send_final =
                                                  h_send_final,
                                              .request_release = h_release};

static void execute(void *ctx, uint32_t instance, inferd_request_t **reqs,
                    uint32_t n) {
  (void)ctx;
  if (atomic_fetch_add(&in_exec[instance], 1) != 0)
    atomic_fetch_add(&overlaps, 1);
  if (rnd(4) == 0)
    sleep_us(rnd(200));
  atomic_fetch_sub(&in_exec[instance], 1);
  for (uint32_t i = 0; i < n; i++) {
    atomic_fetch_add(&succeeded, 1);
    atomic_fetch_add(&answers, 1);
    core_request_release(reqs[i]);
  }
}

static Inference__ModelConfig cfg;
static Inference__ModelDynamicBatching dyn_cfg;
static sched_instance_set_t set;

static sched_t *new_sched(bool dynamic) {
  sched_t *s = NULL;
  inferd_status_t *st =
      dynamic ? sched_dynamic_new(&set, &s) : sched_default_new(&set, &s);
  CHECK(st == NULL);
  inferd_status_free(st);
  return s;
}

/* Submits one request; false when the scheduler refused it. */
static bool submit(sched_t *s) {
  inferd_request_t *r = NULL;
  inferd_status_t *st = core_request_alloc(NULL, NULL, &r);
  if (st) { /* counted as refused; CHECK is for the main thread only */
    inferd_status_free(st);
    return false;
  }
  r->batch_size = 1;
  r->t_queue_ns = core_now_ns();
  st = s->ops->enqueue(s, r);
  if (st) {
    inferd_status_free(st);
    core_request_destroy(r);
    return false;
  }
  return true;
}

typedef struct producer {
  sched_t *s;
  int n;          /* requests to submit */
  int max_gap_us; /* random gap between them */
  bool defer;     /* in groups of 3 with deferred wake-ups */
  int accepted;
  atomic_bool *halt;
} producer_t;

static void *producer_main(void *p) {
  producer_t *pr = p;
  for (int i = 0; i < pr->n && !(pr->halt && atomic_load(pr->halt)); i++) {
    if (pr->defer && i % 3 == 0)
      inferd_thread_defer_wakeups(true);
    pr->accepted += submit(pr->s);
    if (pr->defer && i % 3 == 2)
      inferd_thread_defer_wakeups(false);
    if (pr->max_gap_us && (!pr->defer || i % 3 == 2))
      sleep_us(rnd(pr->max_gap_us));
  }
  if (pr->defer)
    inferd_thread_defer_wakeups(false);
  return NULL;
}

static bool wait_answered(int want, int timeout_ms) {
  for (int t = 0; atomic_load(&answered) < want && t < timeout_ms; t++)
    sleep_us(1000);
  return atomic_load(&answered) == want;
}

static void reset_counts(void) {
  atomic_store(&answered, 0);
  atomic_store(&succeeded, 0);
  atomic_store(&answers, 0);
}

/* Producers spaced around the idle timeout: all answered, no overlap. */
static void run_spaced(bool dynamic, bool defer) {
  reset_counts();
  sched_t *s = new_sched(dynamic);
  if (!s)
    return;
  enum { N_PROD = 4, EACH = 1500 };
  producer_t pr[N_PROD];
  pthread_t th[N_PROD];
  for (int i = 0; i < N_PROD; i++) {
    pr[i] = (producer_t){.s = s, .n = EACH, .max_gap_us = 2000, .defer = defer};
    pthread_create(&th[i], NULL, producer_main, &pr[i]);
  }
  int accepted = 0;
  for (int i = 0; i < N_PROD; i++) {
    pthread_join(th[i], NULL);
    accepted += pr[i].accepted;
  }
  CHECK(accepted == N_PROD * EACH);
  bool all = wait_answered(accepted, 30000);
  if (!all)
    fprintf(stderr, "%s%s: %d of %d answered\n",
            dynamic ? "dynamic" : "default", defer ? " deferred" : "",
            atomic_load(&answered), accepted);
  CHECK(all);
  CHECK(atomic_load(&succeeded) == accepted);
  CHECK(atomic_load(&answers) == accepted);
  s->ops->stop(s);
  s->ops->free(s);
}

/* One request at a time, each 0..2 ms after the previous answer, so that
 * many land as the thread decides to exit: a stranded request is the only
 * one in flight and nothing later rescues it, so it shows as a timeout. */
static void run_sequential(bool dynamic, bool defer) {
  reset_counts();
  sched_t *s = new_sched(dynamic);
  if (!s)
    return;
  int stuck = 0;
  for (int i = 0; i < 1500 && !stuck; i++) {
    sleep_us(rnd(2000));
    if (defer)
      inferd_thread_defer_wakeups(true);
    CHECK(submit(s));
    if (defer)
      inferd_thread_defer_wakeups(false);
    stuck = !wait_answered(i + 1, 2000);
  }
  if (stuck)
    fprintf(stderr, "%s%s: a request was stranded\n",
            dynamic ? "dynamic" : "default", defer ? " deferred" : "");
  CHECK(!stuck);
  s->ops->stop(s);
  s->ops->free(s);
}

/* stop racing producers and exiting threads */
static void run_stop_race(bool dynamic, int rounds) {
  for (int k = 0; k < rounds; k++) {
    reset_counts();
    sched_t *s = new_sched(dynamic);
    if (!s)
      return;
    atomic_bool halt = false;
    producer_t pr[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
      pr[i] =
          (producer_t){.s = s, .n = 1000000, .max_gap_us = 1500, .halt = &halt};
      pthread_create(&th[i], NULL, producer_main, &pr[i]);
    }
    sleep_us(500 + rnd(3000));
    s->ops->stop(s); /* drain + join; producers now get refusals */
    atomic_store(&halt, true);
    int accepted = 0;
    for (int i = 0; i < 2; i++) {
      pthread_join(th[i], NULL);
      accepted += pr[i].accepted;
    }
    /* stop failed the queued ones and waited for the running ones */
    CHECK(atomic_load(&answered) == accepted);
    CHECK(atomic_load(&answers) == accepted);
    s->ops->stop(s); /* idempotent */
    s->ops->free(s);
  }
}

static void *nothing(void *p) { return p; }

int main(void) {
  core_completion_install(&hooks);
  core_ref_init(&ref, NULL);
  inference__model_config__init(&cfg);
  inference__model_dynamic_batching__init(&dyn_cfg);
  cfg.max_batch_size = 4;
  cfg.dynamic_batching = &dyn_cfg;
  set = (sched_instance_set_t){.name = "fake",
                               .version = 1,
                               .n_instances = N_INST,
                               .config = &cfg,
                               .ref = &ref,
                               .execute = execute,
                               .instance_idle_timeout_ms = 1};
  /* a first thread makes TSan start its own background thread: count
   * after it */
  pthread_t first;
  pthread_create(&first, NULL, nothing, NULL);
  pthread_join(first, NULL);
  int t0 = count_threads();

  /* a scheduler starts no thread until its first request */
  for (int d = 0; d < 2; d++) {
    sched_t *s = new_sched(d);
    CHECK(count_threads() == t0);
    s->ops->stop(s);
    s->ops->free(s);
  }

  for (int d = 0; d < 2; d++) {
    run_sequential(d, false);
    run_sequential(d, true);
    run_spaced(d, false);
    run_spaced(d, true);
    run_stop_race(d, 100);
  }
  CHECK(atomic_load(&overlaps) == 0);
  CHECK(count_threads() == t0);
  /* no deferred reference left behind */
  CHECK(atomic_load(&ref.refs) == 1);
  return UNIT_END();
}
