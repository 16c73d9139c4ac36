/*
 * model_metrics.c: what the Prometheus metrics need beyond the statistics
 * counters: failures by reason, requests pending, latency histograms, kept
 * as relaxed atomics in each model version's own statistics (so they live
 * and go with the version, and the request path takes no lock); and the
 * snapshot the metrics endpoint reads (inferd_server_model_metrics), which
 * copies the READY versions under the repository's short lock and reads
 * the atomics with no lock held. The statistics extension's counters stay
 * the one source of truth for everything both report: failures by reason
 * add up to its fail count (the snapshot derives OTHER so that they do).
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

/* The version's own counters; they live and go with it. */
#define WITH_ENTRY(m, e, body)                                                 \
  do {                                                                         \
    model_stats_t *e = &(m)->stats;                                            \
    body;                                                                      \
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

void srv_metrics_accepted(inferd_model_t *m, int64_t delta) {
  WITH_ENTRY(
      m, e,
      atomic_fetch_add_explicit(&e->pending, delta, memory_order_relaxed));
}

void srv_metrics_rejected(inferd_model_t *m) {
  WITH_ENTRY(m, e, {
    atomic_fetch_sub_explicit(&e->pending, 1, memory_order_relaxed);
    add(&e->fail_reason[INFERD_FAIL_REJECTED], 1);
    add(&e->request_hist[0], 1); /* as in the statistics: a 0 ns failure */
  });
}

void srv_metrics_final(const inferd_request_t *req,
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
  inferd_model_t *m = req->model;
  WITH_ENTRY(m, e, {
    atomic_fetch_sub_explicit(&e->pending, 1, memory_order_relaxed);
    if (reason >= 0)
      add(&e->fail_reason[reason], 1);
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

/* Copies m's metric counters into o. */
static void read_entry(inferd_model_t *m, inferd_model_metrics_t *o) {
  model_stats_t *e = &m->stats;
  for (int i = 0; i < INFERD_FAIL_N; i++)
    o->fail[i] = atomic_load_explicit(&e->fail_reason[i], memory_order_relaxed);
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
  inferd_model_metrics_t *res = calloc(n_models + 1, sizeof(*res));
  size_t k = 0;
  if (!res)
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; !st && i < n_models; i++, k++) {
    inferd_model_t *m = models[i];
    if (!(st = srv_stats_snapshot(m, &res[i].stats))) {
      res[i].load_ns = m->load_ns;
      read_entry(m, &res[i]);
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
