/*
 * model_table.c: readers of the published model table (lookup for
 * requests, statistics, readiness, the repository index). Every function
 * here holds the read lock only for the lookup itself.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/str.h"
#include "repository/model_table.h"

#define OOM() inferd_status_new(INFERD_NO_MEMORY, "out of memory")

const char *repo_state_name(int32_t state) {
  switch (state) {
  case REPO_STATE_READY:
    return "READY";
  case REPO_STATE_UNAVAILABLE:
    return "UNAVAILABLE";
  case REPO_STATE_LOADING:
    return "LOADING";
  case REPO_STATE_UNLOADING:
    return "UNLOADING";
  default:
    return "UNKNOWN";
  }
}

void repo_tbl_entry_free(repo_tbl_entry_t *e) {
  if (!e)
    return;
  for (size_t i = 0; i < e->n_versions; i++)
    free(e->versions[i].reason);
  free(e->versions);
  free(e->name);
  free(e->reason);
  free(e);
}

repo_tbl_t *repo_tbl_swap(repo_tbl_lock_t *l, repo_tbl_t *t) {
  pthread_rwlock_wrlock(&l->lock);
  repo_tbl_t *old = l->cur;
  l->cur = t;
  pthread_rwlock_unlock(&l->lock);
  return old;
}

/* the repository keeps its repo_tbl_lock_t first, so the readers below can
 * reach the table without the repository's private layout */
static repo_tbl_lock_t *tl(repo_t *r) { return (repo_tbl_lock_t *)r; }

static repo_tbl_entry_t *find(const repo_tbl_t *t, const char *name,
                              size_t len) {
  size_t lo = 0, hi = t ? t->n : 0;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *n = t->entries[mid]->name;
    int c = strncmp(n, name, len);
    if (c == 0 && n[len] != '\0')
      c = 1;
    if (c == 0)
      return t->entries[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static inferd_status_t *unknown(const char *name, size_t len) {
  return inferd_status_new(INFERD_NOT_FOUND,
                           "Request for unknown model: '%.*s' is not found",
                           (int)len, name);
}

inferd_status_t *repo_acquire(repo_t *r, const char *name, size_t len,
                              int64_t version, inferd_model_t **out) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  repo_tbl_entry_t *e = find(tl(r)->cur, name, len);
  inferd_status_t *st = NULL;
  if (!e) {
    st = unknown(name, len);
  } else if (version < 0) {
    repo_tbl_version_t *best = NULL;
    for (size_t i = 0; i < e->n_versions; i++)
      if (e->versions[i].state == REPO_STATE_READY)
        best = &e->versions[i];
    if (!best)
      st = inferd_status_new(INFERD_NOT_FOUND,
                             "Request for unknown model: '%s' has no "
                             "available versions",
                             e->name);
    else {
      core_ref_acquire(&best->model->ref);
      atomic_store_explicit(&best->model->last_used_ns, core_now_ns(),
                            memory_order_relaxed);
      *out = best->model;
    }
  } else {
    repo_tbl_version_t *v = NULL;
    for (size_t i = 0; i < e->n_versions && !v; i++)
      if (e->versions[i].version == version)
        v = &e->versions[i];
    if (!v)
      st = inferd_status_new(INFERD_NOT_FOUND,
                             "Request for unknown model: '%s' version %lld "
                             "is not found",
                             e->name, (long long)version);
    else if (v->state != REPO_STATE_READY)
      st = inferd_status_new(INFERD_UNAVAILABLE,
                             "Request for unknown model: '%s' version %lld "
                             "is not at ready state",
                             e->name, (long long)version);
    else {
      core_ref_acquire(&v->model->ref);
      atomic_store_explicit(&v->model->last_used_ns, core_now_ns(),
                            memory_order_relaxed);
      *out = v->model;
    }
  }
  pthread_rwlock_unlock(&tl(r)->lock);
  return st;
}

inferd_status_t *repo_acquire_ready(repo_t *r, const char *name, size_t len,
                                    inferd_model_t ***models, size_t *n) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  const repo_tbl_t *t = tl(r)->cur;
  size_t first = 0, last = t ? t->n : 0;
  if (name) {
    repo_tbl_entry_t *e = find(t, name, len);
    if (!e) {
      pthread_rwlock_unlock(&tl(r)->lock);
      return unknown(name, len);
    }
    for (first = 0; t->entries[first] != e; first++)
      ;
    last = first + 1;
  }
  size_t total = 0;
  for (size_t i = first; i < last; i++)
    total += t->entries[i]->n_versions;
  *models = malloc((total + 1) * sizeof(inferd_model_t *));
  *n = 0;
  if (!*models) {
    pthread_rwlock_unlock(&tl(r)->lock);
    return OOM();
  }
  for (size_t i = first; i < last; i++)
    for (size_t j = 0; j < t->entries[i]->n_versions; j++) {
      repo_tbl_version_t *v = &t->entries[i]->versions[j];
      if (v->state == REPO_STATE_READY) {
        core_ref_acquire(&v->model->ref);
        (*models)[(*n)++] = v->model;
      }
    }
  pthread_rwlock_unlock(&tl(r)->lock);
  return NULL;
}

inferd_status_t *repo_ready_versions(repo_t *r, const char *name, size_t len,
                                     int64_t **versions, size_t *n) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  repo_tbl_entry_t *e = find(tl(r)->cur, name, len);
  if (!e) {
    pthread_rwlock_unlock(&tl(r)->lock);
    return unknown(name, len);
  }
  *versions = malloc((e->n_versions + 1) * sizeof(int64_t));
  *n = 0;
  if (!*versions) {
    pthread_rwlock_unlock(&tl(r)->lock);
    return OOM();
  }
  for (size_t i = 0; i < e->n_versions; i++)
    if (e->versions[i].state == REPO_STATE_READY)
      (*versions)[(*n)++] = e->versions[i].version;
  pthread_rwlock_unlock(&tl(r)->lock);
  return NULL;
}

bool repo_tbl_has_ready(repo_t *r, const char *name, size_t len, bool *known) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  repo_tbl_entry_t *e = find(tl(r)->cur, name, len);
  bool ready = false;
  *known = e != NULL;
  for (size_t i = 0; e && i < e->n_versions && !ready; i++)
    ready = e->versions[i].state == REPO_STATE_READY;
  pthread_rwlock_unlock(&tl(r)->lock);
  return ready;
}

static void entry_figures(inferd_model_index_entry_t *o,
                          const repo_tbl_entry_t *e, bool on) {
  o->extended = on;
  o->memory_bytes = e->mem_bytes;
  o->n_loads = e->n_loads;
  o->n_evictions = e->n_evictions;
  o->n_on_demand = e->n_on_demand;
  o->pinned = e->pinned;
}

static bool entry_set(inferd_model_index_entry_t *e, const char *name,
                      int64_t version, const char *state, const char *reason) {
  e->name = core_strdup(name);
  e->version = version;
  e->state = state ? core_strdup(state) : NULL;
  e->reason = reason && *reason ? core_strdup(reason) : NULL;
  return e->name && (!state || e->state) && (!reason || !*reason || e->reason);
}

inferd_status_t *repo_index(repo_t *r, bool ready_only,
                            inferd_model_index_entry_t **entries, size_t *n) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  const repo_tbl_t *t = tl(r)->cur;
  size_t total = 0, nt = t ? t->n : 0;
  for (size_t i = 0; i < nt; i++)
    total += t->entries[i]->n_versions ? t->entries[i]->n_versions : 1;
  inferd_model_index_entry_t *es = calloc(total + 1, sizeof(*es));
  size_t k = 0;
  bool ok = es != NULL;
  for (size_t i = 0; ok && i < nt; i++) {
    const repo_tbl_entry_t *e = t->entries[i];
    if (e->n_versions == 0) {
      if (ready_only)
        continue;
      entry_figures(&es[k], e, t->figures);
      ok = entry_set(&es[k++], e->name, -1,
                     e->state ? repo_state_name(e->state) : NULL, e->reason);
      continue;
    }
    for (size_t j = 0; ok && j < e->n_versions; j++) {
      const repo_tbl_version_t *v = &e->versions[j];
      if (ready_only && v->state != REPO_STATE_READY)
        continue;
      entry_figures(&es[k], e, t->figures);
      ok = entry_set(&es[k++], e->name, v->version, repo_state_name(v->state),
                     v->reason);
    }
  }
  pthread_rwlock_unlock(&tl(r)->lock);
  if (!ok) {
    inferd_model_index_free(es, k);
    return OOM();
  }
  *entries = es;
  *n = k;
  return NULL;
}

void inferd_model_index_free(inferd_model_index_entry_t *entries, size_t n) {
  if (!entries)
    return;
  for (size_t i = 0; i < n; i++) {
    free(entries[i].name);
    free(entries[i].state);
    free(entries[i].reason);
  }
  free(entries);
}

bool repo_all_ready(repo_t *r) {
  pthread_rwlock_rdlock(&tl(r)->lock);
  bool ready = tl(r)->cur && tl(r)->cur->all_ready;
  pthread_rwlock_unlock(&tl(r)->lock);
  return ready;
}
