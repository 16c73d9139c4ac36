/*
 * prom_text.c: the Prometheus text exposition (format 0.0.4) of inferd's
 * metrics: Triton's nv_* families with its names, types and labels
 * (reference §6) and inferd_* families beyond them. Families are written
 * one after the other, each with its HELP and TYPE once, samples of every
 * model version inside; labels in Triton's order (sorted by name, as its
 * prometheus-cpp writes them: the "_<tag>" labels first).
 *
 * Cost: one snapshot (O(model versions)) and plain appends; each version's
 * label text is escaped once and reused by every family, numbers are
 * formatted without printf on the per-sample path, so a scrape of 1 000
 * models stays within a few milliseconds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "metrics/metrics.h"

void met_options_init(met_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->port = 8002;
  o->cpu_metrics = true;
  o->gpu_metrics = true;
  o->interval_ms = 2000;
  o->counter_latencies = true;
}

static int parse_bool(const char *v) {
  static const char *const t[] = {"true", "1", "yes", "on"};
  static const char *const f[] = {"false", "0", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(v, t[i]) == 0)
      return 1;
    if (strcasecmp(v, f[i]) == 0)
      return 0;
  }
  return -1;
}

static bool valid_quantiles(const char *v) {
  /* "<q>:<err>[,<q>:<err>...]" with 0 <= q <= 1, err >= 0 */
  const char *p = v;
  if (!*p)
    return false;
  for (;;) {
    char *end = NULL;
    double q = strtod(p, &end);
    if (end == p || *end != ':' || q < 0 || q > 1)
      return false;
    p = end + 1;
    double e = strtod(p, &end);
    if (end == p || e < 0)
      return false;
    p = end;
    if (*p == '\0')
      return true;
    if (*p != ',')
      return false;
    p++;
  }
}

inferd_status_t *met_options_parse_config(met_options_t *o, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "--metrics-config: expected <key>=<value>, got "
                             "\"%s\"",
                             kv);
  size_t kl = (size_t)(eq - kv);
  const char *v = eq + 1;
  static const char *const bools[] = {
      "counter_latencies", "histogram_latencies", "summary_latencies"};
  for (int i = 0; i < 3; i++) {
    if (kl == strlen(bools[i]) && memcmp(kv, bools[i], kl) == 0) {
      int b = parse_bool(v);
      if (b < 0)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "--metrics-config: \"%s\": expected true or "
                                 "false, got \"%s\"",
                                 bools[i], v);
      if (i == 0)
        o->counter_latencies = b;
      else if (i == 1)
        o->histogram_latencies = b;
      else
        o->summary_latencies = b;
      return NULL;
    }
  }
  if (kl == strlen("summary_quantiles") &&
      memcmp(kv, "summary_quantiles", kl) == 0) {
    if (!valid_quantiles(v))
      return inferd_status_new(INFERD_INVALID_ARG,
                               "--metrics-config: \"summary_quantiles\": "
                               "expected <quantile>:<error>[,...] with "
                               "quantiles in [0, 1], got \"%s\"",
                               v);
    return NULL;
  }
  return inferd_status_new(INFERD_INVALID_ARG,
                           "--metrics-config: unknown key \"%.*s\" (expected "
                           "counter_latencies, histogram_latencies, "
                           "summary_latencies or summary_quantiles)",
                           (int)kl, kv);
}

/* ---- buffer ------------------------------------------------------------ */

void met_buf_deinit(met_buf_t *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}

static bool reserve(met_buf_t *b, size_t n) {
  if (b->oom)
    return false;
  if (b->len + n + 1 <= b->cap)
    return true;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < b->len + n + 1)
    nc *= 2;
  char *p = realloc(b->p, nc);
  if (!p) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = nc;
  return true;
}

static void put(met_buf_t *b, const char *s, size_t n) {
  if (!reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(met_buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void put_u64(met_buf_t *b, uint64_t v) {
  char tmp[24];
  int i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

static void put_double(met_buf_t *b, double v) {
  char tmp[40];
  int n = snprintf(tmp, sizeof(tmp), "%.10g", v);
  if (n > 0)
    put(b, tmp, (size_t)n);
}

/* label value escaping of the text format: \\, \" and \n */
static void put_escaped(met_buf_t *b, const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '\\')
      put(b, "\\\\", 2);
    else if (*p == '"')
      put(b, "\\\"", 2);
    else if (*p == '\n')
      put(b, "\\n", 2);
    else
      put(b, p, 1);
  }
}

/* label names must match [a-zA-Z_][a-zA-Z0-9_]*: other bytes become '_' */
static void put_label_name(met_buf_t *b, const char *s) {
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (c >= '0' && c <= '9');
    put(b, ok ? p : "_", 1);
  }
}

static void family(met_buf_t *b, const char *name, const char *type,
                   const char *help) {
  puts_(b, "# HELP ");
  puts_(b, name);
  put(b, " ", 1);
  puts_(b, help);
  puts_(b, "\n# TYPE ");
  puts_(b, name);
  put(b, " ", 1);
  puts_(b, type);
  put(b, "\n", 1);
}

/* ---- per model version -------------------------------------------------- */

typedef struct lbl {
  char *tags;  /* `_k="v",` for each metric tag (may be "") */
  char *model; /* `model="m"` */
  char *ver;   /* `version="1"` */
  size_t n_tags, n_model, n_ver;
} lbl_t;

static char *take(met_buf_t *t, size_t *n) {
  char *p = t->oom ? NULL : t->p;
  *n = t->len;
  if (!p) {
    free(t->p);
    *n = 0;
  }
  memset(t, 0, sizeof(*t));
  return p;
}

static bool make_labels(const inferd_model_metrics_t *m, lbl_t *l) {
  met_buf_t t = {0};
  put(&t, "", 0);
  for (size_t i = 0; i < m->n_tags; i++) {
    put(&t, "_", 1);
    put_label_name(&t, m->tag_keys[i]);
    put(&t, "=\"", 2);
    put_escaped(&t, m->tag_values[i]);
    put(&t, "\",", 2);
  }
  l->tags = take(&t, &l->n_tags);
  puts_(&t, "model=\"");
  put_escaped(&t, m->stats.name);
  put(&t, "\"", 1);
  l->model = take(&t, &l->n_model);
  puts_(&t, "version=\"");
  put_u64(&t, (uint64_t)(m->stats.version < 0 ? 0 : m->stats.version));
  put(&t, "\"", 1);
  l->ver = take(&t, &l->n_ver);
  return l->tags && l->model && l->ver;
}

/* name{<tags>model="m"[,extra],version="v"[,le]} */
static void sample_head(met_buf_t *b, const char *name, const lbl_t *l,
                        const char *extra) {
  puts_(b, name);
  put(b, "{", 1);
  put(b, l->tags, l->n_tags);
  put(b, l->model, l->n_model);
  put(b, ",", 1);
  if (extra) {
    puts_(b, extra);
    put(b, ",", 1);
  }
  put(b, l->ver, l->n_ver);
}

static void sample_u64(met_buf_t *b, const char *name, const lbl_t *l,
                       const char *extra, uint64_t v) {
  sample_head(b, name, l, extra);
  put(b, "} ", 2);
  put_u64(b, v);
  put(b, "\n", 1);
}

static void sample_dbl(met_buf_t *b, const char *name, const lbl_t *l,
                       double v) {
  sample_head(b, name, l, NULL);
  put(b, "} ", 2);
  put_double(b, v);
  put(b, "\n", 1);
}

typedef enum {
  F_SUCCESS,
  F_INFER_COUNT,
  F_EXEC_COUNT,
  F_PENDING,
  F_LOAD_SECS,
  F_REQUEST_US,
  F_QUEUE_US,
  F_INPUT_US,
  F_INFER_US,
  F_OUTPUT_US,
  F_CACHE_HITS,
  F_CACHE_MISSES,
  F_CACHE_HIT_US,
  F_CACHE_MISS_US,
  F_MEMORY,
} fam_t;

static const struct {
  fam_t id;
  const char *name, *type, *help;
  bool latency; /* hidden by counter_latencies=false */
} fams[] = {
    {F_SUCCESS, "nv_inference_request_success", "counter",
     "Number of successful inference requests, all batch sizes", false},
    {F_INFER_COUNT, "nv_inference_count", "counter",
     "Number of inferences performed (does not include cached requests)",
     false},
    {F_EXEC_COUNT, "nv_inference_exec_count", "counter",
     "Number of model executions performed (does not include cached "
     "requests)",
     false},
    {F_PENDING, "nv_inference_pending_request_count", "gauge",
     "Instantaneous number of pending requests awaiting execution per-model.",
     false},
    {F_LOAD_SECS, "nv_model_load_duration_secs", "gauge",
     "Model load time in seconds", false},
    {F_REQUEST_US, "nv_inference_request_duration_us", "counter",
     "Cumulative inference request duration in microseconds (includes "
     "cached requests)",
     true},
    {F_QUEUE_US, "nv_inference_queue_duration_us", "counter",
     "Cumulative inference queuing duration in microseconds (includes "
     "cached requests)",
     true},
    {F_INPUT_US, "nv_inference_compute_input_duration_us", "counter",
     "Cumulative compute input duration in microseconds (does not include "
     "cached requests)",
     true},
    {F_INFER_US, "nv_inference_compute_infer_duration_us", "counter",
     "Cumulative compute inference duration in microseconds (does not "
     "include cached requests)",
     true},
    {F_OUTPUT_US, "nv_inference_compute_output_duration_us", "counter",
     "Cumulative inference compute output duration in microseconds (does not "
     "include cached requests)",
     true},
    {F_CACHE_HITS, "nv_cache_num_hits_per_model", "counter",
     "Number of cache hits per model", false},
    {F_CACHE_MISSES, "nv_cache_num_misses_per_model", "counter",
     "Number of cache misses per model", false},
    {F_CACHE_HIT_US, "nv_cache_hit_duration_per_model", "counter",
     "Total cache hit duration per model, in microseconds", false},
    {F_CACHE_MISS_US, "nv_cache_miss_duration_per_model", "counter",
     "Total cache miss (insertion) duration per model, in microseconds", false},
    {F_MEMORY, "inferd_model_memory_bytes", "gauge",
     "inferd: memory measured when the model version loaded (the backend's "
     "figure, else the process's RSS growth), bytes",
     false},
};

static void one(met_buf_t *b, fam_t f, const char *name,
                const inferd_model_metrics_t *m, const lbl_t *l) {
  const inferd_model_stats_t *s = &m->stats;
  switch (f) {
  case F_SUCCESS:
    sample_u64(b, name, l, NULL, s->success.count);
    break;
  case F_INFER_COUNT:
    sample_u64(b, name, l, NULL, s->inference_count);
    break;
  case F_EXEC_COUNT:
    sample_u64(b, name, l, NULL, s->execution_count);
    break;
  case F_PENDING:
    sample_u64(b, name, l, NULL, (uint64_t)m->pending);
    break;
  case F_LOAD_SECS:
    sample_dbl(b, name, l, (double)m->load_ns / 1e9);
    break;
  case F_REQUEST_US:
    sample_u64(b, name, l, NULL, (s->success.ns + s->fail.ns) / 1000);
    break;
  case F_QUEUE_US:
    sample_u64(b, name, l, NULL, s->queue.ns / 1000);
    break;
  case F_INPUT_US:
    sample_u64(b, name, l, NULL, s->compute_input.ns / 1000);
    break;
  case F_INFER_US:
    sample_u64(b, name, l, NULL, s->compute_infer.ns / 1000);
    break;
  case F_OUTPUT_US:
    sample_u64(b, name, l, NULL, s->compute_output.ns / 1000);
    break;
  case F_CACHE_HITS:
    sample_u64(b, name, l, NULL, s->cache_hit.count);
    break;
  case F_CACHE_MISSES:
    sample_u64(b, name, l, NULL, s->cache_miss.count);
    break;
  case F_CACHE_HIT_US:
    sample_u64(b, name, l, NULL, s->cache_hit.ns / 1000);
    break;
  case F_CACHE_MISS_US:
    sample_u64(b, name, l, NULL, s->cache_miss.ns / 1000);
    break;
  case F_MEMORY:
    sample_u64(b, name, l, NULL, s->memory_bytes);
    break;
  }
}

/* histogram samples: cumulative buckets, +Inf, _sum, _count */
static void histogram(met_buf_t *b, const char *name, const lbl_t *l,
                      const uint64_t *counts, const char *const *le,
                      size_t n_bounds, double sum) {
  size_t nl = strlen(name);
  char nm[128];
  if (nl + 8 > sizeof(nm))
    return;
  memcpy(nm, name, nl);
  uint64_t cum = 0;
  memcpy(nm + nl, "_bucket", 8);
  for (size_t i = 0; i <= n_bounds; i++) {
    cum += counts[i];
    sample_head(b, nm, l, NULL);
    puts_(b, ",le=\"");
    puts_(b, i < n_bounds ? le[i] : "+Inf");
    put(b, "\"} ", 3);
    put_u64(b, cum);
    put(b, "\n", 1);
  }
  memcpy(nm + nl, "_sum", 5);
  sample_head(b, nm, l, NULL);
  put(b, "} ", 2);
  put_double(b, sum);
  put(b, "\n", 1);
  memcpy(nm + nl, "_count", 7);
  sample_u64(b, nm, l, NULL, cum);
}

static void host_families(met_buf_t *b, const met_host_t *h) {
  if (h->has_cpu) {
    family(b, "nv_cpu_utilization", "gauge",
           "CPU utilization rate [0.0 - 1.0]");
    puts_(b, "nv_cpu_utilization ");
    put_double(b, h->cpu_utilization);
    put(b, "\n", 1);
    family(b, "nv_cpu_memory_total_bytes", "gauge",
           "CPU total memory (RAM), in bytes");
    puts_(b, "nv_cpu_memory_total_bytes ");
    put_u64(b, h->mem_total);
    put(b, "\n", 1);
    family(b, "nv_cpu_memory_used_bytes", "gauge",
           "CPU used memory (RAM), in bytes");
    puts_(b, "nv_cpu_memory_used_bytes ");
    put_u64(b, h->mem_used);
    put(b, "\n", 1);
  }
  if (!h->n_gpus)
    return;
  static const struct {
    const char *name, *type, *help;
  } g[] = {
      {"nv_gpu_utilization", "gauge", "GPU utilization rate [0.0 - 1.0)"},
      {"nv_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes"},
      {"nv_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes"},
      {"nv_gpu_power_usage", "gauge", "GPU power usage in watts"},
      {"nv_gpu_power_limit", "gauge", "GPU power management limit in watts"},
      {"nv_energy_consumption", "counter",
       "GPU energy consumption in joules since the Triton Server started"},
  };
  for (int f = 0; f < 6; f++) {
    family(b, g[f].name, g[f].type, g[f].help);
    for (size_t i = 0; i < h->n_gpus; i++) {
      const met_gpu_t *d = &h->gpus[i];
      bool has[] = {d->has_util,  d->has_mem,   d->has_mem,
                    d->has_power, d->has_limit, d->has_energy};
      if (!has[f])
        continue;
      double v[] = {d->utilization, (double)d->mem_total, (double)d->mem_used,
                    d->power_w,     d->power_limit_w,     d->energy_j};
      puts_(b, g[f].name);
      puts_(b, "{gpu_uuid=\"");
      put_escaped(b, d->uuid);
      puts_(b, "\"} ");
      put_double(b, v[f]);
      put(b, "\n", 1);
    }
  }
}

static const char *const reasons[INFERD_FAIL_N] = {
    "reason=\"REJECTED\"", "reason=\"CANCELED\"", "reason=\"BACKEND\"",
    "reason=\"OTHER\""};

inferd_status_t *met_render(inferd_server_t *s, const met_options_t *o,
                            const met_host_t *host, met_buf_t *b) {
  inferd_model_metrics_t *mm = NULL;
  size_t n = 0;
  inferd_status_t *st = inferd_server_model_metrics(s, &mm, &n);
  if (st)
    return st;
  inferd_model_index_entry_t *idx = NULL;
  size_t n_idx = 0;
  if ((st = inferd_server_model_index(s, false, &idx, &n_idx))) {
    inferd_model_metrics_free(mm, n);
    return st;
  }
  lbl_t *l = calloc(n + 1, sizeof(*l));
  if (!l)
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; !st && i < n; i++)
    if (!make_labels(&mm[i], &l[i]))
      st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  if (st)
    goto out;

  /* Triton's families, success and failure first as it writes them */
  family(b, "nv_inference_request_success", "counter", fams[0].help);
  for (size_t i = 0; i < n; i++)
    one(b, F_SUCCESS, "nv_inference_request_success", &mm[i], &l[i]);
  family(b, "nv_inference_request_failure", "counter",
         "Number of failed inference requests, all batch sizes");
  for (size_t i = 0; i < n; i++)
    for (int r = 0; r < INFERD_FAIL_N; r++)
      sample_u64(b, "nv_inference_request_failure", &l[i], reasons[r],
                 mm[i].fail[r]);
  for (size_t f = 1; f < sizeof(fams) / sizeof(fams[0]); f++) {
    if (fams[f].latency && !o->counter_latencies)
      continue;
    family(b, fams[f].name, fams[f].type, fams[f].help);
    for (size_t i = 0; i < n; i++)
      one(b, fams[f].id, fams[f].name, &mm[i], &l[i]);
  }

  if (o->histogram_latencies) {
    const uint64_t *fb = inferd_metrics_first_bucket_bounds_ms();
    char lebuf[INFERD_METRICS_N_FIRST_BUCKETS][24];
    const char *le[INFERD_METRICS_N_FIRST_BUCKETS];
    for (int i = 0; i < INFERD_METRICS_N_FIRST_BUCKETS; i++) {
      snprintf(lebuf[i], sizeof(lebuf[i]), "%" PRIu64, fb[i]);
      le[i] = lebuf[i];
    }
    family(b, "nv_inference_first_response_histogram_ms", "histogram",
           "Duration from request to first response in milliseconds");
    for (size_t i = 0; i < n; i++)
      histogram(b, "nv_inference_first_response_histogram_ms", &l[i],
                mm[i].first_hist, le, INFERD_METRICS_N_FIRST_BUCKETS,
                (double)mm[i].first_sum_ns / 1e6);
  }

  /* inferd's histograms, in seconds (Prometheus' base unit) */
  {
    const uint64_t *bu = inferd_metrics_bucket_bounds_us();
    char lebuf[INFERD_METRICS_N_BUCKETS][24];
    const char *le[INFERD_METRICS_N_BUCKETS];
    for (int i = 0; i < INFERD_METRICS_N_BUCKETS; i++) {
      snprintf(lebuf[i], sizeof(lebuf[i]), "%g", (double)bu[i] / 1e6);
      le[i] = lebuf[i];
    }
    family(b, "inferd_request_duration_seconds", "histogram",
           "inferd: end-to-end request time (success and failure), seconds");
    for (size_t i = 0; i < n; i++)
      histogram(b, "inferd_request_duration_seconds", &l[i], mm[i].request_hist,
                le, INFERD_METRICS_N_BUCKETS,
                (double)(mm[i].stats.success.ns + mm[i].stats.fail.ns) / 1e9);
    family(b, "inferd_queue_duration_seconds", "histogram",
           "inferd: time successful requests waited in the queue, seconds");
    for (size_t i = 0; i < n; i++)
      histogram(b, "inferd_queue_duration_seconds", &l[i], mm[i].queue_hist, le,
                INFERD_METRICS_N_BUCKETS, (double)mm[i].stats.queue.ns / 1e9);
  }

  /* per model (every version alike): lifecycle counters from the index */
  {
    static const struct {
      const char *name, *help;
    } lc[] = {
        {"inferd_model_loads_total", "inferd: successful loads and reloads"},
        {"inferd_model_evictions_total",
         "inferd: unloads by the memory budget"},
        {"inferd_model_on_demand_loads_total",
         "inferd: loads started by a request for a model not loaded"},
    };
    for (int f = 0; f < 3; f++) {
      family(b, lc[f].name, "counter", lc[f].help);
      const char *prev = NULL;
      for (size_t i = 0; i < n_idx; i++) {
        if (prev && strcmp(prev, idx[i].name) == 0)
          continue; /* one sample per model, not per version */
        prev = idx[i].name;
        uint64_t v = f == 0   ? idx[i].n_loads
                     : f == 1 ? idx[i].n_evictions
                              : idx[i].n_on_demand;
        puts_(b, lc[f].name);
        puts_(b, "{model=\"");
        put_escaped(b, idx[i].name);
        puts_(b, "\"} ");
        put_u64(b, v);
        put(b, "\n", 1);
      }
    }
    family(b, "inferd_model_state", "gauge",
           "inferd: 1 for each model version's current state (READY, "
           "LOADING, UNLOADING, UNAVAILABLE)");
    for (size_t i = 0; i < n_idx; i++) {
      if (idx[i].version < 0 || !idx[i].state)
        continue;
      puts_(b, "inferd_model_state{model=\"");
      put_escaped(b, idx[i].name);
      puts_(b, "\",state=\"");
      put_escaped(b, idx[i].state);
      puts_(b, "\",version=\"");
      put_u64(b, (uint64_t)idx[i].version);
      puts_(b, "\"} 1\n");
    }
  }
  family(b, "inferd_inflight_requests", "gauge",
         "inferd: requests accepted by the server whose release has not "
         "happened yet, all models");
  puts_(b, "inferd_inflight_requests ");
  put_u64(b, inferd_server_inflight_count(s));
  put(b, "\n", 1);

  /* inferd has no pinned-memory pool: Triton's gauges read 0 */
  family(b, "nv_pinned_memory_pool_total_bytes", "gauge",
         "Pinned memory pool total memory size, in bytes");
  puts_(b, "nv_pinned_memory_pool_total_bytes 0\n");
  family(b, "nv_pinned_memory_pool_used_bytes", "gauge",
         "Pinned memory pool used memory size, in bytes");
  puts_(b, "nv_pinned_memory_pool_used_bytes 0\n");
  if (host)
    host_families(b, host);
  if (b->oom)
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
out:
  if (l)
    for (size_t i = 0; i < n; i++) {
      free(l[i].tags);
      free(l[i].model);
      free(l[i].ver);
    }
  free(l);
  inferd_model_index_free(idx, n_idx);
  inferd_model_metrics_free(mm, n);
  return st;
}
