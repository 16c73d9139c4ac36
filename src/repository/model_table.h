/*
 * model_table.h: the published name → versions table, private to
 * src/repository/. The repository thread builds a new table for every
 * batch of changes and swaps it in under a write lock; readers look up
 * under the read lock and take a model reference before they let go.
 * A table entry and everything in it is immutable once published.
 * Prefix repo_tbl_.
 */
#ifndef INFERD_REPO_MODEL_TABLE_H
#define INFERD_REPO_MODEL_TABLE_H

#include <pthread.h>

#include "repository/repository.h"

typedef struct repo_tbl_version {
  int64_t version;
  int32_t state;         /* REPO_STATE_* */
  char *reason;          /* NULL: none */
  inferd_model_t *model; /* READY only: valid while this table is published
                            (the repository holds a reference) */
} repo_tbl_version_t;

typedef struct repo_tbl_entry {
  char *name;
  int32_t state; /* model-level state, shown when n_versions is 0 */
  char *reason;
  repo_tbl_version_t *versions; /* ascending */
  size_t n_versions;
  uint64_t mem_bytes, n_loads, n_evictions, n_on_demand;
  bool pinned;
} repo_tbl_entry_t;

typedef struct repo_tbl {
  repo_tbl_entry_t **entries; /* sorted by name */
  size_t n;
  bool all_ready;
  bool figures; /* the index reports memory and load figures (on when the
                   many-models features are: load on demand, a budget) */
} repo_tbl_t;

typedef struct repo_tbl_lock {
  pthread_rwlock_t lock;
  repo_tbl_t *cur;
} repo_tbl_lock_t;

void repo_tbl_entry_free(repo_tbl_entry_t *e);
/* Installs t (transferred) and returns the previous table, whose array the
 * caller frees (its entries may live on in t). */
repo_tbl_t *repo_tbl_swap(repo_tbl_lock_t *l, repo_tbl_t *t);
/* Whether the table has the model (*known) and a READY version of it. */
bool repo_tbl_has_ready(repo_t *r, const char *name, size_t len, bool *known);
#endif
