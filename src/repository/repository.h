/*
 * repository.h: the model repositories: scanning model directories and
 * version directories, version policies, loading and unloading model
 * versions, lifecycle states, and lookup of READY versions for requests.
 * Prefix repo_.
 *
 * Threads: lookups (repo_acquire, repo_index, ...) are thread-safe and take
 * a read lock only. Loading and unloading run on the caller's thread
 * (startup, the repository API) and take the write lock only to change
 * states, never while a backend hook runs.
 */
#ifndef INFERD_REPOSITORY_H
#define INFERD_REPOSITORY_H

#include "backend/model.h"
#include "server/server_internal.h"

typedef struct repo repo_t;

enum {
  REPO_STATE_UNKNOWN = 0,
  REPO_STATE_READY,
  REPO_STATE_UNAVAILABLE,
  REPO_STATE_LOADING,
  REPO_STATE_UNLOADING,
};
const char *repo_state_name(int32_t state);

inferd_status_t *repo_new(inferd_server_t *s, repo_t **out);
/* Scans the repositories and loads every model (control mode none). With
 * exit_on_error, returns the first load error (prefixed with the model). */
inferd_status_t *repo_load_all(repo_t *r, bool exit_on_error);
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
/* Every known model has at least one version and all are READY. */
bool repo_all_ready(repo_t *r);
/* Unloads everything, waiting up to timeout_ms per model for its users. */
void repo_unload_all(repo_t *r, int64_t timeout_ms);
void repo_free(repo_t *r);

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
