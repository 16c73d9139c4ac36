/*
 * repository.h: the model repositories and the lifecycle of the model
 * versions they hold (DESIGN §2.1): scanning, version directories and
 * policies, the control modes (none, poll, explicit), asynchronous load,
 * reload (hot swap) and unload, lifecycle states, and lookup of READY
 * versions for requests. Prefix repo_.
 *
 * Threads: one repository thread owns every model's state machine and is
 * the only writer of the name → versions table, which it replaces as a
 * whole under a short lock; loads and finalisations run on
 * `load_threads` worker threads. Lookups (repo_acquire, repo_index, ...)
 * are thread-safe and take the read lock only. The load/unload calls are
 * thread-safe and never block on a load.
 */
#ifndef INFERD_REPOSITORY_H
#define INFERD_REPOSITORY_H

#include "backend/model.h"

typedef struct repo repo_t;

enum {
  REPO_STATE_UNKNOWN = 0,
  REPO_STATE_READY,
  REPO_STATE_UNAVAILABLE,
  REPO_STATE_LOADING,
  REPO_STATE_UNLOADING,
};
const char *repo_state_name(int32_t state);

typedef struct repo_options {
  inferd_server_t *server; /* handed to model_load */
  be_registry_t *backends;
  /* borrowed for the repository's life */
  const char *const *repositories;
  size_t n_repositories;
  const char *model_config_name; /* NULL: config.pbtxt */
  bool autocomplete;
  int32_t control_mode;       /* INFERD_CONTROL_* */
  uint32_t poll_secs;         /* poll mode */
  uint32_t load_threads;      /* >= 1 */
  uint32_t unload_timeout_ms; /* queued requests fail after this */
  bool load_on_demand;
  uint32_t load_on_demand_timeout_ms;
  uint64_t memory_budget_bytes;      /* 0: none */
  uint32_t instance_idle_timeout_ms; /* 0: threads never exit */
  bool inline_execution;
} repo_options_t;

/* Creates the repository and starts its threads (nothing is loaded). */
inferd_status_t *repo_new(const repo_options_t *o, repo_t **out);
/* Startup loading, blocking until those loads finished: control modes none
 * and poll load every model; explicit loads `names` ("*" alone: every
 * model). Returns the first load error (prefixed with the model) when
 * exit_on_error, else NULL (failed models stay UNAVAILABLE with their
 * reason). Poll mode starts polling afterwards. */
inferd_status_t *repo_load_startup(repo_t *r, const char *const *names,
                                   size_t n_names, bool exit_on_error);
/* See inferd_server_model_load_async / unload_async (same errors; the
 * control mode is checked by the caller). */
inferd_status_t *repo_load_async(repo_t *r, const char *name, size_t len,
                                 const inferd_model_load_options_t *opts,
                                 inferd_repository_cb cb, void *userp);
inferd_status_t *repo_unload_async(repo_t *r, const char *name, size_t len,
                                   bool unload_dependents,
                                   inferd_repository_cb cb, void *userp);

/* See inferd_server_model_load_on_demand_async. */
inferd_status_t *repo_load_on_demand_async(repo_t *r, const char *name,
                                           size_t len, inferd_repository_cb cb,
                                           void *userp, bool *waiting);

/* See inferd_server_model_acquire. */
inferd_status_t *repo_acquire(repo_t *r, const char *name, size_t len,
                              int64_t version, inferd_model_t **out);
/* References on the READY versions of every model (name NULL) or of one
 * model; *models is malloc'd and each entry must be released. */
inferd_status_t *repo_acquire_ready(repo_t *r, const char *name, size_t len,
                                    inferd_model_t ***models, size_t *n);
inferd_status_t *repo_ready_versions(repo_t *r, const char *name, size_t len,
                                     int64_t **versions, size_t *n);
inferd_status_t *repo_index(repo_t *r, bool ready_only,
                            inferd_model_index_entry_t **entries, size_t *n);
/* Strict readiness: every model that was asked to load (and not unloaded
 * since) has a READY version and no version that failed or is loading. */
bool repo_all_ready(repo_t *r);

/* Unloads every model and waits up to timeout_ms for every version to be
 * finalised, then stops the threads. Returns false when some version was
 * still held at the timeout (it is then left loaded; the process is
 * expected to exit). Call once. */
bool repo_shutdown(repo_t *r, int64_t timeout_ms);
/* Frees a repository after repo_shutdown returned true (or one whose
 * repo_new failed half-way). NULL ignored. */
void repo_free(repo_t *r);

/* Model names and override file paths are checked before any path is
 * joined (INVALID_ARG naming the problem). */
inferd_status_t *repo_check_model_name(const char *name, size_t len);
inferd_status_t *repo_check_file_path(const char *path, size_t len);

/* Version directory names → versions (reference §4.1 rules). Exposed for
 * unit tests. *versions is malloc'd, sorted ascending. */
inferd_status_t *repo_list_versions(const char *model_dir, int64_t **versions,
                                    size_t *n);
/* Applies the version policy to the available versions; *selected is
 * malloc'd. Versions named by a specific policy that are missing are logged
 * and skipped. Error when none is selected. */
inferd_status_t *repo_apply_policy(const char *model,
                                   const Inference__ModelVersionPolicy *p,
                                   const int64_t *avail, size_t n_avail,
                                   int64_t **selected, size_t *n_selected);
#endif
