/*
 * server.c: the server object: options, startup (backends, repository
 * load), health, metadata, the repository API and orderly shutdown.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/gpu.h"
#include "core/log.h"
#include "core/str.h"
#include "repository/repository.h"
#include "server/server_internal.h"
#include "server/shm_registry.h"

/* extensions reported by GET /v2, in Triton's order, only those that work */
static const char *const extensions[] = {
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "logging",
};

void inferd_server_options_init(inferd_server_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->server_id = "inferd";
  o->strict_readiness = true;
  o->exit_on_error = true;
  o->strict_model_config = false;
  o->model_control_mode = INFERD_CONTROL_NONE;
  o->exit_timeout_secs = 30;
  o->repository_poll_secs = 15;
  o->model_load_thread_count = 4;
  o->model_unload_timeout_ms = 30000;
  o->load_on_demand_timeout_ms = 60000;
  o->instance_idle_timeout_ms = 2000;
  o->inline_execution = true;
  o->pinned_memory_pool_byte_size = 268435456; /* tritonserver's default */
}

inferd_status_t *inferd_server_new(inferd_server_t **out,
                                   const inferd_server_options_t *o) {
  if (o->n_model_repositories == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "at least one model repository is required "
                             "(--model-repository)");
  if (o->model_control_mode != INFERD_CONTROL_NONE &&
      o->model_control_mode != INFERD_CONTROL_POLL &&
      o->model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "unknown model control mode %d",
                             (int)o->model_control_mode);
  if (o->n_startup_models && o->model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "models to load at startup (--load-model) need "
                             "the explicit model control mode");
  for (size_t i = 0; i < o->n_startup_models; i++)
    if (strcmp(o->startup_models[i], "*") == 0 && o->n_startup_models > 1)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "--load-model=* must be the only "
                               "--load-model");
  if ((o->load_on_demand || o->memory_budget_bytes) &&
      o->model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "loading on demand and the memory budget need "
                             "the explicit model control mode");
  if (o->model_control_mode == INFERD_CONTROL_POLL &&
      o->repository_poll_secs == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "the repository poll period must be at least "
                             "1 s");
  inferd_server_t *s = calloc(1, sizeof(*s));
  if (!s)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  inferd_status_t *st = NULL;
  /* The GPU layer is process-wide (the CUDA runtime and the memory copy
   * hook are); each server holds one reference, released in
   * inferd_server_free. */
  core_gpu_t *gpu = NULL;
  if ((st = core_gpu_global_acquire(NULL, &gpu))) {
    free(s);
    return st;
  }
  if (core_gpu_device_count(gpu) == 0) {
    if (o->n_cuda_memory_pools > 0 ||
        o->pinned_memory_pool_byte_size != 268435456)
      LOG_INFO("--pinned-memory-pool-byte-size and "
               "--cuda-memory-pool-byte-size are unused: %s",
               core_gpu_unavailable_reason(gpu));
  } else if ((st = core_gpu_alloc_pools(gpu, o->pinned_memory_pool_byte_size,
                                        o->cuda_memory_pool_devices,
                                        o->cuda_memory_pool_byte_sizes,
                                        o->n_cuda_memory_pools))) {
    core_gpu_global_release();
    free(s);
    return st;
  }
  srv_completion_install();
  pthread_mutex_init(&s->inflight_mu, NULL);
  pthread_cond_init(&s->inflight_cv, NULL);
  atomic_init(&s->stopping, false);
  atomic_init(&s->inflight, 0);
  s->strict_readiness = o->strict_readiness;
  s->exit_on_error = o->exit_on_error;
  s->strict_model_config = o->strict_model_config;
  s->control_mode = o->model_control_mode;
  s->exit_timeout_secs = o->exit_timeout_secs;
  s->id = core_strdup(o->server_id ? o->server_id : "inferd");
  s->model_config_name =
      o->model_config_name ? core_strdup(o->model_config_name) : NULL;
  s->repositories = calloc(o->n_model_repositories, sizeof(char *));
  if (!s->id || !s->repositories ||
      (o->model_config_name && !s->model_config_name)) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < o->n_model_repositories; i++) {
    if (!(s->repositories[i] = core_strdup(o->model_repositories[i]))) {
      st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      goto fail;
    }
    s->n_repositories++;
  }
  if ((st = be_registry_init(&s->backends, o->backend_directory)))
    goto fail;
  s->backends.keep_loaded = true;
  repo_options_t ro = {
      .server = s,
      .backends = &s->backends,
      .repositories = (const char *const *)s->repositories,
      .n_repositories = s->n_repositories,
      .model_config_name = s->model_config_name,
      .autocomplete = !s->strict_model_config,
      .control_mode = s->control_mode,
      .poll_secs = o->repository_poll_secs ? o->repository_poll_secs : 15,
      .load_threads =
          o->model_load_thread_count ? o->model_load_thread_count : 1,
      .unload_timeout_ms = o->model_unload_timeout_ms,
      .load_on_demand = o->load_on_demand,
      .load_on_demand_timeout_ms =
          o->load_on_demand_timeout_ms ? o->load_on_demand_timeout_ms : 60000,
      .memory_budget_bytes = o->memory_budget_bytes,
      .instance_idle_timeout_ms = o->instance_idle_timeout_ms,
      .inline_execution = o->inline_execution};
  if ((st = repo_new(&ro, &s->repo)))
    goto fail;
  if ((st = repo_load_startup(s->repo, o->startup_models, o->n_startup_models,
                              s->exit_on_error)))
    goto fail;
  *out = s;
  return NULL;
fail:
  atomic_store(&s->stopping, true);
  if (s->repo && !repo_shutdown(s->repo, 30000)) {
    LOG_ERROR("model versions still in use after a failed start");
    s->abandoned = true; /* leak rather than free under a user */
  }
  s->repo_down = true;
  inferd_server_free(s);
  return st;
}

inferd_status_t *inferd_server_stop(inferd_server_t *s, uint32_t timeout_secs) {
  atomic_store(&s->stopping, true);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_secs;
  pthread_mutex_lock(&s->inflight_mu);
  while (atomic_load(&s->inflight) > 0)
    if (pthread_cond_timedwait(&s->inflight_cv, &s->inflight_mu, &deadline) ==
        ETIMEDOUT)
      break;
  size_t left = atomic_load(&s->inflight);
  pthread_mutex_unlock(&s->inflight_mu);
  if (left) {
    /* Instances are still executing: unloading would wait for them (or
     * unload code under their feet). Leave everything loaded; the caller
     * exits the process. */
    s->abandoned = true;
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "%zu request%s still in flight at the exit "
                             "timeout of %u s",
                             left, left == 1 ? " was" : "s were", timeout_secs);
  }
  /* nothing is in flight: what still holds a version now (a frontend
   * freeing a response) lets go within moments */
  s->repo_down = true;
  if (!repo_shutdown(s->repo, 10000)) {
    s->abandoned = true;
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "model versions still in use 10 s after the "
                             "last request ended");
  }
  return NULL;
}

void inferd_server_free(inferd_server_t *s) {
  if (!s || s->abandoned)
    return; /* abandoned: threads may still run; the process is exiting */
  if (s->repo && !s->repo_down && !repo_shutdown(s->repo, 10000))
    return; /* freed without a stop and still in use: leave it */
  repo_free(s->repo);
  srv_shm_forget_server(s); /* regions still registered are unmapped */
  if (s->backends.backend_dir)
    be_registry_deinit(&s->backends);
  for (size_t i = 0; i < s->n_repositories; i++)
    free(s->repositories[i]);
  free(s->repositories);
  free(s->id);
  free(s->model_config_name);
  pthread_mutex_destroy(&s->inflight_mu);
  pthread_cond_destroy(&s->inflight_cv);
  free(s);
  core_gpu_global_release();
}

const char *inferd_server_id(const inferd_server_t *s) { return s->id; }

size_t inferd_server_extension_count(const inferd_server_t *s) {
  (void)s;
  return sizeof(extensions) / sizeof(extensions[0]);
}

const char *inferd_server_extension(const inferd_server_t *s, size_t i) {
  return i < inferd_server_extension_count(s) ? extensions[i] : NULL;
}

bool inferd_server_is_live(const inferd_server_t *s) {
  return !atomic_load(&s->stopping);
}

bool inferd_server_is_ready(inferd_server_t *s) {
  if (atomic_load(&s->stopping))
    return false;
  return !s->strict_readiness || repo_all_ready(s->repo);
}

size_t inferd_server_inflight_count(const inferd_server_t *s) {
  return atomic_load(&((inferd_server_t *)s)->inflight);
}

inferd_status_t *inferd_server_model_index(inferd_server_t *s, bool ready_only,
                                           inferd_model_index_entry_t **e,
                                           size_t *n) {
  return repo_index(s->repo, ready_only, e, n);
}

static inferd_status_t *check_mode(inferd_server_t *s) {
  if (s->control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "explicit model load / unload is not allowed if "
                             "polling is enabled");
  if (atomic_load(&s->stopping))
    return inferd_status_new(INFERD_UNAVAILABLE, "server is stopping");
  return NULL;
}

inferd_status_t *
inferd_server_model_load_async(inferd_server_t *s, const char *name,
                               size_t name_len,
                               const inferd_model_load_options_t *opts,
                               inferd_repository_cb cb, void *userp) {
  inferd_status_t *st = check_mode(s);
  if (st)
    return st;
  return repo_load_async(s->repo, name, name_len, opts, cb, userp);
}

inferd_status_t *
inferd_server_model_unload_async(inferd_server_t *s, const char *name,
                                 size_t name_len, bool unload_dependents,
                                 inferd_repository_cb cb, void *userp) {
  inferd_status_t *st = check_mode(s);
  if (st)
    return st;
  return repo_unload_async(s->repo, name, name_len, unload_dependents, cb,
                           userp);
}

inferd_status_t *inferd_server_model_load_on_demand_async(
    inferd_server_t *s, const char *name, size_t name_len,
    inferd_repository_cb cb, void *userp, bool *waiting) {
  *waiting = false;
  if (atomic_load(&s->stopping))
    return NULL;
  return repo_load_on_demand_async(s->repo, name, name_len, cb, userp, waiting);
}

/* the blocking forms wait on one of these */
typedef struct sync_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  inferd_status_t *st;
} sync_wait_t;

static void sync_cb(inferd_status_t *st, void *userp) {
  sync_wait_t *w = userp;
  pthread_mutex_lock(&w->mu);
  w->st = st;
  w->done = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static inferd_status_t *sync_wait(sync_wait_t *w, inferd_status_t *st) {
  if (!st) {
    pthread_mutex_lock(&w->mu);
    while (!w->done)
      pthread_cond_wait(&w->cv, &w->mu);
    st = w->st;
    pthread_mutex_unlock(&w->mu);
  }
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  return st;
}

inferd_status_t *inferd_server_model_load(inferd_server_t *s, const char *name,
                                          const char *config_json) {
  sync_wait_t w = {.done = false};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  inferd_model_load_options_t o = {.config_json = config_json,
                                   .config_json_len =
                                       config_json ? strlen(config_json) : 0};
  return sync_wait(&w, inferd_server_model_load_async(s, name, strlen(name), &o,
                                                      sync_cb, &w));
}

inferd_status_t *inferd_server_model_unload(inferd_server_t *s,
                                            const char *name,
                                            bool unload_dependents) {
  sync_wait_t w = {.done = false};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  return sync_wait(&w, inferd_server_model_unload_async(s, name, strlen(name),
                                                        unload_dependents,
                                                        sync_cb, &w));
}
