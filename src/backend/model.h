/*
 * model.h: a loaded model version (struct inferd_model, which backends see as
 * inferd_backend_model_t) and its instances. Prefix model_.
 *
 * Lifetime: created by model_load with one reference, the caller's (the
 * repository). Every request, response and statistics reader holding the
 * version holds a reference. The release that drops the last one calls the
 * owner's on_unused hook (given to model_load), from whatever thread it
 * happens on; the owner then calls model_unload from a thread of its own
 * (never from the releasing thread, which may be one of the model's
 * execution threads). Nobody waits for the count to fall. model_drain may
 * be called by the owner at any time before model_unload, to fail what is
 * still queued. Everything but `ref`, `stats` and the instances' backend
 * state is immutable after model_load returns.
 */
#ifndef INFERD_MODEL_H
#define INFERD_MODEL_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend_loader.h"
#include "config/config.h"
#include "core/refcount.h"
#include "sched/scheduler.h"

typedef struct model_io {
  const char *name; /* borrowed from the config */
  inferd_datatype_t dt;
  const int64_t *dims; /* borrowed from the config; without batch dim */
  uint32_t n_dims;
  bool optional;
  bool allow_ragged_batch;
  bool has_reshape;
} model_io_t;

/* Statistics (reference §1.11), updated with atomics. Durations in ns. */
typedef struct model_duration {
  atomic_uint_fast64_t count, ns;
} model_duration_t;

typedef struct model_batch_stat {
  uint64_t batch_size;
  model_duration_t compute_input, compute_infer, compute_output;
} model_batch_stat_t;

typedef struct model_stats {
  model_duration_t success, fail, queue, compute_input, compute_infer,
      compute_output;
  atomic_uint_fast64_t inference_count, execution_count, last_inference_ms;
  /* for the metrics endpoint (src/server/model_metrics.c) */
  atomic_uint_fast64_t fail_reason[INFERD_FAIL_N];
  atomic_int_fast64_t pending; /* accepted, final response not sent */
  atomic_uint_fast64_t queue_hist[INFERD_METRICS_N_BUCKETS + 1];
  atomic_uint_fast64_t request_hist[INFERD_METRICS_N_BUCKETS + 1];
  atomic_uint_fast64_t first_hist[INFERD_METRICS_N_FIRST_BUCKETS + 1];
  atomic_uint_fast64_t first_sum_ns;
  pthread_mutex_t batch_mu; /* guards batch[] growth */
  model_batch_stat_t *batch;
  uint32_t n_batch, cap_batch;
} model_stats_t;

struct inferd_backend_instance {
  inferd_model_t *model;
  char *name;
  int32_t kind;
  int32_t device_id;
  uint32_t index;
  void *state;
  bool initialised;
};

struct sched;

/* Called once when the last reference on m is released (any thread); must
 * not block or free m. */
typedef void (*model_unused_cb)(inferd_model_t *m, void *ctx);

struct inferd_model {
  core_ref_t ref; /* first member: requests release it as a core_ref_t */
  inferd_server_t *server;
  char *name;
  int64_t version;
  char *model_dir, *version_dir, *file_path;
  cfg_model_t *config; /* owned */
  char *config_json;
  size_t config_json_len;
  const char *platform; /* config platform, else backend name */
  model_io_t *inputs, *outputs;
  uint32_t n_inputs, n_outputs;
  const char **output_names; /* all config outputs, in order */
  bool decoupled;
  bool in_model_init; /* the backend may complete the config now */

  be_backend_t *backend;
  void *backend_state;
  inferd_backend_instance_t *instances;
  uint32_t n_instances;
  sched_instance_set_t iset; /* what the scheduler sees of this version */
  struct sched *sched;
  model_stats_t stats;
  uint64_t load_ns;
  uint64_t memory_bytes;         /* reported by the backend, else RSS growth */
  _Atomic uint64_t last_used_ns; /* last acquire for a request (LRU) */

  model_unused_cb on_unused; /* the owner's hook, with its context */
  void *owner_ctx;
  void *owner_data; /* the owner's bookkeeping; model.c never reads it */
};

static inline inferd_backend_model_t *model_to_be(inferd_model_t *m) {
  return (inferd_backend_model_t *)m;
}
static inline inferd_model_t *model_from_be(const inferd_backend_model_t *m) {
  return (inferd_model_t *)m;
}

/* How a model version's instances run (see sched_instance_set_t). */
typedef struct model_run_opts {
  uint32_t idle_timeout_ms; /* threads exit after this; UINT32_MAX: never */
  bool inline_execution;    /* for backends that declare NONBLOCKING */
} model_run_opts_t;

/* Loads version `version` of a model whose complete config is cfg (copied),
 * its instances running as `run` says:
 * acquires the backend, runs model_init and instance_init for every
 * instance, starts the scheduler. On failure everything done is undone and
 * the error names the model and version. on_unused(m, ctx) is called when
 * the last reference goes (see above). */
inferd_status_t *model_load(inferd_server_t *s, be_registry_t *reg,
                            const char *name, int64_t version,
                            const char *model_dir, const cfg_model_t *cfg,
                            const struct model_run_opts *run,
                            model_unused_cb on_unused, void *ctx,
                            inferd_model_t **out);
/* Completes the config from a backend's partial JSON during model_init
 * (host function model_set_config_json). */
inferd_status_t *model_complete_config(inferd_model_t *m, const char *json);

/* Stops admitting requests and fails the queued ones with UNAVAILABLE;
 * returns at once (running executions go on). The caller must know that m
 * has not been unloaded yet (the repository thread does). */
void model_drain(inferd_model_t *m);
/* Stops the scheduler, finalises instances and the backend model, releases
 * the backend and frees m. Only after on_unused was called; never from one
 * of m's own threads. */
void model_unload(inferd_model_t *m);

/* Runs one batch on instance `instance` (model_execute.c): the
 * sched_instance_set_t run function of every model version. */
void model_execute(void *model, uint32_t instance, inferd_request_t **reqs,
                   uint32_t n);

/* statistics recording (stats.c) */
void model_stats_init(model_stats_t *s);
void model_stats_deinit(model_stats_t *s);
void model_stats_add(model_duration_t *d, uint64_t ns);
void model_stats_batch(model_stats_t *s, uint64_t batch_size, uint64_t input_ns,
                       uint64_t infer_ns, uint64_t output_ns);
#endif
