/*
 * metrics.h: the Prometheus metrics endpoint (reference §6): its own
 * listener (--metrics-address/--metrics-port, default 8002) serving
 * GET /metrics in the text exposition format 0.0.4, Triton's nv_* families
 * with their names, types and labels, and inferd_* families beyond them.
 * Prefix met_.
 *
 * Everything per model comes from inferd_server_model_metrics (server.h):
 * the statistics extension's counters, so both always agree. A scrape
 * takes that snapshot (O(models), no lock across the model table) and
 * renders it; host figures (CPU, memory, GPUs through NVML when it can be
 * loaded) come from a sampler thread refreshed every interval_ms.
 *
 * Threads: met_server_start/free from one thread (main); scrapes run on the
 * listener's own thread; met_render is thread-safe.
 */
#ifndef INFERD_METRICS_H
#define INFERD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/server.h"

typedef struct met_options {
  const char *address;      /* NULL: 0.0.0.0 (borrowed until start returns) */
  uint16_t port;            /* 0: any free port (tests); default 8002 */
  bool cpu_metrics;         /* nv_cpu_* (true) */
  bool gpu_metrics;         /* nv_gpu_* when NVML loads (true) */
  uint32_t interval_ms;     /* host sampling period (2000) */
  bool counter_latencies;   /* the *_duration_us counters (true) */
  bool histogram_latencies; /* nv_inference_first_response_histogram_ms */
  bool summary_latencies;   /* not implemented: a warning at start */
} met_options_t;

void met_options_init(met_options_t *o);

/* Parses one --metrics-config value "<key>=<value>" into o. Keys as
 * tritonserver: counter_latencies, histogram_latencies, summary_latencies
 * (booleans), summary_quantiles ("<q>:<err>,..."; checked, unused).
 * INVALID_ARG naming the key or value otherwise. */
inferd_status_t *met_options_parse_config(met_options_t *o, const char *kv);

/* A growable text buffer (render output). */
typedef struct met_buf {
  char *p;
  size_t len, cap;
  bool oom; /* an append failed: the contents are incomplete */
} met_buf_t;
void met_buf_deinit(met_buf_t *b);

/* Host figures, as the sampler last read them. */
typedef struct met_gpu {
  char uuid[96];
  bool has_util, has_mem, has_power, has_limit, has_energy;
  double utilization; /* 0..1 */
  uint64_t mem_total, mem_used;
  double power_w, power_limit_w;
  double energy_j; /* since the server started */
} met_gpu_t;

typedef struct met_host {
  bool has_cpu;
  double cpu_utilization; /* 0..1 over the last interval */
  uint64_t mem_total, mem_used;
  size_t n_gpus;
  met_gpu_t gpus[16];
} met_host_t;

typedef struct met_sampler met_sampler_t;
/* Starts the sampler thread (reads once before returning). NVML is looked
 * for only when gpu is true; when it cannot be loaded, the reason is
 * logged once and the GPU families are absent. */
inferd_status_t *met_sampler_start(bool cpu, bool gpu, uint32_t interval_ms,
                                   met_sampler_t **out);
void met_sampler_read(met_sampler_t *s, met_host_t *out);
void met_sampler_free(met_sampler_t *s); /* NULL ignored */
/* One reading of /proc (tests): utilisation needs two readings, so the
 * first is 0. prev holds the last /proc/stat totals between calls. */
bool met_read_proc_cpu(uint64_t prev[2], double *utilization);
bool met_read_proc_meminfo(uint64_t *total, uint64_t *used);

/* Renders the whole exposition into b (appended). host may be NULL (no
 * host families). Thread-safe. */
inferd_status_t *met_render(inferd_server_t *s, const met_options_t *o,
                            const met_host_t *host, met_buf_t *b);

typedef struct met_server met_server_t;
/* Starts the sampler and the listener. Errors: the bind's, naming the
 * address and port. */
inferd_status_t *met_server_start(inferd_server_t *s, const met_options_t *o,
                                  met_server_t **out);
uint16_t met_server_port(const met_server_t *m);
void met_server_free(met_server_t *m); /* NULL ignored */

#endif
