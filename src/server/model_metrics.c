/*
 * model_metrics.c: what the Prometheus metrics need beyond the statistics
 * counters of model_stats_t: failures by reason, requests pending, latency
 * histograms; and the snapshot the metrics endpoint reads
 * (inferd_server_model_metrics).
 *
 * The figures live in a side table of the server keyed by the model
 * version's address and its load time (a version loaded later at the same
 * address has another load time, so it never inherits old counts), because
 * the version's struct belongs to src/backend. Invariants:
 * - the table is split into stripes, each a rwlock over its own buckets:
 *   the request path takes one stripe for reading (lookup, then relaxed
 *   atomics), so it never waits for another request; a writer (the first
 *   record of a version, a snapshot's sweep) holds one stripe at a time,
 *   never the whole table;
 * - an entry is created on a version's first record and freed by a
 *   snapshot after its version was missing from two snapshots' READY lists
 *   in a row (a version that is unloading may still record: it then gets a
 *   fresh entry, which a later snapshot frees again).
 * The statistics extension's counters stay the one source of truth for
 * everything both report; failures by reason add up to its fail count (the
 * snapshot derives OTHER so that they always do).
 */
#include <stdlib.h>
#include <string.h>

#include "backend/model.h"
#include "core/clock.h"
#include "core/str.h"
#include "repository/repository.h"
#include "server/server_internal.h"

static const uint64_t bounds_us[INFERD_METRICS_N_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const uint64_t first_bounds_ms[INFERD_METRICS_N_FIRST_BUCKETS] = {
    100, 500, 2000, 5000};

const uint64_t *inferd_metrics_bucket_bounds_us(void) { return bounds_us; }
const uint64_t *inferd_metrics_first_bucket_bounds_ms(void) {
  return first_bounds_ms;
}

struct srv_mm_entry {
  const inferd_model_t *model;
  uint64_t load_ns;
  atomic_uint_fast64_t fail[INFERD_FAIL_N];
  atomic_int_fast64_t pending;
  atomic_uint_fast64_t queue_hist[INFERD_METRICS_N_BUCKETS + 1];
  atomic_uint_fast64_t request_hist[INFERD_METRICS_N_BUCKETS + 1];
  atomic_uint_fast64_t first_hist[INFERD_METRICS_N_FIRST_BUCKETS + 1];
  atomic_uint_fast64_t first_sum_ns;
  atomic_uint_fast64_t seen_gen; /* last snapshot that found it READY */
  uint32_t missed;               /* sweeps in a row without it; stripe lock */
  struct srv_mm_entry *next;
};

static uint32_t bucket_of(const inferd_model_t *m, uint64_t load_ns) {
  uint64_t h = (uint64_t)(uintptr_t)m ^ (load_ns * 0x9e3779b97f4a7c15ull);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return (uint32_t)(h & (SRV_MM_BUCKETS - 1));
}

static pthread_rwlock_t *stripe_of(srv_metrics_t *t, uint32_t b) {
  return &t->stripes[b % SRV_MM_STRIPES];
}

void srv_metrics_init(srv_metrics_t *t) {
  memset(t, 0, sizeof(*t));
  for (int i = 0; i < SRV_MM_STRIPES; i++)
    pthread_rwlock_init(&t->stripes[i], NULL);
}

void srv_metrics_deinit(srv_metrics_t *t) {
  for (uint32_t b = 0; b < SRV_MM_BUCKETS; b++) {
    srv_mm_entry_t *e = t->buckets[b];
    while (e) {
      srv_mm_entry_t *nx = e->next;
      free(e);
      e = nx;
    }
    t->buckets[b] = NULL;
  }
  for (int i = 0; i < SRV_MM_STRIPES; i++)
    pthread_rwlock_destroy(&t->stripes[i]);
}

static srv_mm_entry_t *find(srv_metrics_t *t, uint32_t b,
                            const inferd_model_t *m, uint64_t load_ns) {
  for (srv_mm_entry_t *e = t->buckets[b]; e; e = e->next)
    if (e->model == m && e->load_ns == load_ns)
      return e;
  return NULL;
}

/* Runs fn on m's entry (created when missing) under its stripe's read
 * lock. Under memory pressure the record is dropped: metrics are best
 * effort, inference is not. */
#define WITH_ENTRY(t, m, e, body)                                              \
  do {                                                                         \
    uint32_t b_ = bucket_of((m), (m)->load_ns);                                \
    pthread_rwlock_t *l_ = stripe_of((t), b_);                                 \
    pthread_rwlock_rdlock(l_);                                                 \
    srv_mm_entry_t *e = find((t), b_, (m), (m)->load_ns);                      \
    if (!e) {                                                                  \
      pthread_rwlock_unlock(l_);                                               \
      pthread_rwlock_wrlock(l_);                                               \
      e = find((t), b_, (m), (m)->load_ns);                                    \
      if (!e && (e = calloc(1, sizeof(*e)))) {                                 \
        e->model = (m);                                                        \
        e->load_ns = (m)->load_ns;                                             \
        e->next = (t)->buckets[b_];                                            \
        (t)->buckets[b_] = e;                                                  \
      }                                                                        \
    }                                                                          \
    if (e) {                                                                   \
      body;                                                                    \
    }                                                                          \
    pthread_rwlock_unlock(l_);                                                 \
  } while (0)

static void add(atomic_uint_fast64_t *c, uint64_t v) {
  atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint32_t hist_index(uint64_t us) {
  uint32_t lo = 0, hi = INFERD_METRICS_N_BUCKETS;
  while (lo < hi) { /* first bound >= us; N when none (+Inf) */
    uint32_t mid = (lo + hi) / 2;
    if (bounds_us[mid] < us)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void srv_metrics_accepted(srv_metrics_t *t, const inferd_model_t *m,
                          int64_t delta) {
  WITH_ENTRY(
      t, m, e,
      atomic_fetch_add_explicit(&e->pending, delta, memory_order_relaxed));
}

void srv_metrics_rejected(srv_metrics_t *t, const inferd_model_t *m) {
  WITH_ENTRY(t, m, e, {
    atomic_fetch_sub_explicit(&e->pending, 1, memory_order_relaxed);
    add(&e->fail[INFERD_FAIL_REJECTED], 1);
    add(&e->request_hist[0], 1); /* as in the statistics: a 0 ns failure */
  });
}

void srv_metrics_final(srv_metrics_t *t, const inferd_request_t *req,
                       const inferd_status_t *error, uint64_t request_ns,
                       uint64_t queue_ns, bool first) {
  int reason = -1;
  if (error) {
    inferd_code_t code = inferd_status_code(error);
    if (code == INFERD_CANCELLED)
      reason = INFERD_FAIL_CANCELED;
    else if (req->t_exec_ns)
      reason = INFERD_FAIL_BACKEND;
    else if (code == INFERD_UNAVAILABLE)
      reason = INFERD_FAIL_REJECTED; /* timed out or drained in the queue */
    else
      reason = INFERD_FAIL_OTHER;
  }
  const inferd_model_t *m = req->model;
  WITH_ENTRY(t, m, e, {
    atomic_fetch_sub_explicit(&e->pending, 1, memory_order_relaxed);
    if (reason >= 0)
      add(&e->fail[reason], 1);
    add(&e->request_hist[hist_index(request_ns / 1000)], 1);
    if (!error && req->t_exec_ns)
      add(&e->queue_hist[hist_index(queue_ns / 1000)], 1);
    if (first) {
      uint64_t ms = request_ns / 1000000;
      uint32_t i = 0;
      while (i < INFERD_METRICS_N_FIRST_BUCKETS && first_bounds_ms[i] < ms)
        i++;
      add(&e->first_hist[i], 1);
      add(&e->first_sum_ns, request_ns);
    }
  });
}

/* Copies m's side figures into o and marks its entry seen by snapshot gen;
 * a version without an entry has recorded nothing yet (all zero). */
static void read_entry(srv_metrics_t *t, const inferd_model_t *m, uint64_t gen,
                       inferd_model_metrics_t *o) {
  uint32_t b = bucket_of(m, m->load_ns);
  pthread_rwlock_t *l = stripe_of(t, b);
  pthread_rwlock_rdlock(l);
  srv_mm_entry_t *e = find(t, b, m, m->load_ns);
  if (e) {
    for (int i = 0; i < INFERD_FAIL_N; i++)
      o->fail[i] = atomic_load_explicit(&e->fail[i], memory_order_relaxed);
    o->pending = atomic_load_explicit(&e->pending, memory_order_relaxed);
    for (int i = 0; i <= INFERD_METRICS_N_BUCKETS; i++) {
      o->queue_hist[i] =
          atomic_load_explicit(&e->queue_hist[i], memory_order_relaxed);
      o->request_hist[i] =
          atomic_load_explicit(&e->request_hist[i], memory_order_relaxed);
    }
    for (int i = 0; i <= INFERD_METRICS_N_FIRST_BUCKETS; i++)
      o->first_hist[i] =
          atomic_load_explicit(&e->first_hist[i], memory_order_relaxed);
    o->first_sum_ns =
        atomic_load_explicit(&e->first_sum_ns, memory_order_relaxed);
    atomic_store_explicit(&e->seen_gen, gen, memory_order_relaxed);
  }
  pthread_rwlock_unlock(l);
  if (o->pending < 0) /* a completion overtook its accept's increment */
    o->pending = 0;
  /* the reasons add up to the statistics' fail count (one source of
   * truth): what was not classified (a record dropped under memory
   * pressure, an entry swept while its version unloaded) is OTHER */
  uint64_t known = o->fail[INFERD_FAIL_REJECTED] +
                   o->fail[INFERD_FAIL_CANCELED] + o->fail[INFERD_FAIL_BACKEND];
  uint64_t total = o->stats.fail.count;
  if (known > total) { /* a snapshot between the two counters' updates */
    o->fail[INFERD_FAIL_OTHER] = 0;
  } else {
    o->fail[INFERD_FAIL_OTHER] = total - known;
  }
}

/* Frees entries missing from two snapshots in a row, one stripe at a
 * time. */
static void sweep(srv_metrics_t *t, uint64_t gen) {
  for (int s = 0; s < SRV_MM_STRIPES; s++) {
    pthread_rwlock_wrlock(&t->stripes[s]);
    for (uint32_t b = (uint32_t)s; b < SRV_MM_BUCKETS; b += SRV_MM_STRIPES) {
      srv_mm_entry_t **pp = &t->buckets[b];
      while (*pp) {
        srv_mm_entry_t *e = *pp;
        /* gen - 1 too: a concurrent snapshot may have marked it since */
        if (atomic_load_explicit(&e->seen_gen, memory_order_relaxed) + 1 >= gen)
          e->missed = 0;
        else
          e->missed++;
        if (e->missed >= 2) {
          *pp = e->next;
          free(e);
        } else {
          pp = &e->next;
        }
      }
    }
    pthread_rwlock_unlock(&t->stripes[s]);
  }
}

static inferd_status_t *copy_tags(const inferd_model_t *m,
                                  inferd_model_metrics_t *o) {
  const cfg_model_t *c = m->config;
  if (!c || c->n_metric_tags == 0)
    return NULL;
  o->tag_keys = calloc(c->n_metric_tags, sizeof(char *));
  o->tag_values = calloc(c->n_metric_tags, sizeof(char *));
  if (!o->tag_keys || !o->tag_values)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < c->n_metric_tags; i++) {
    const char *k = c->metric_tags[i]->key ? c->metric_tags[i]->key : "";
    const char *v = c->metric_tags[i]->value ? c->metric_tags[i]->value : "";
    o->tag_keys[i] = core_strdup(k);
    o->tag_values[i] = core_strdup(v);
    o->n_tags = i + 1;
    if (!o->tag_keys[i] || !o->tag_values[i])
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  return NULL;
}

inferd_status_t *inferd_server_model_metrics(inferd_server_t *s,
                                             inferd_model_metrics_t **out,
                                             size_t *n) {
  inferd_model_t **models = NULL;
  size_t n_models = 0;
  inferd_status_t *st =
      repo_acquire_ready(s->repo, NULL, 0, &models, &n_models);
  if (st)
    return st;
  srv_metrics_t *t = &s->metrics;
  uint64_t gen = atomic_fetch_add(&t->gen, 1) + 1;
  inferd_model_metrics_t *res = calloc(n_models + 1, sizeof(*res));
  size_t k = 0;
  if (!res)
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; !st && i < n_models; i++, k++) {
    inferd_model_t *m = models[i];
    if (!(st = srv_stats_snapshot(m, &res[i].stats))) {
      res[i].load_ns = m->load_ns;
      read_entry(t, m, gen, &res[i]);
      st = copy_tags(m, &res[i]);
    }
  }
  for (size_t i = 0; i < n_models; i++)
    inferd_model_release(models[i]);
  free(models);
  if (st) {
    inferd_model_metrics_free(res, k);
    return st;
  }
  sweep(t, gen);
  *out = res;
  *n = n_models;
  return NULL;
}

void inferd_model_metrics_free(inferd_model_metrics_t *m, size_t n) {
  if (!m)
    return;
  for (size_t i = 0; i < n; i++) {
    free(m[i].stats.name);
    free(m[i].stats.batch);
    for (size_t j = 0; j < m[i].n_tags; j++) {
      free(m[i].tag_keys[j]);
      free(m[i].tag_values[j]);
    }
    free(m[i].tag_keys);
    free(m[i].tag_values);
  }
  free(m);
}
