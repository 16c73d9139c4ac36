/*
 * repository.c: the table of known models and their versions, startup
 * loading (control mode none), lookup for requests, index and unloading.
 *
 * Invariant: a version in state READY has a model; the table's reference on
 * it is dropped only by unloading, after the version left the READY state
 * under the write lock (so no new request can acquire it).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/str.h"
#include "repository/repository.h"
#include "sched/scheduler.h"

typedef struct repo_version {
  int64_t version;
  int32_t state;
  char *reason;
  inferd_model_t *model; /* the table's reference, when READY */
} repo_version_t;

typedef struct repo_model {
  char *name;
  char *dir;
  bool duplicate;
  int32_t state; /* model-level state when no version is known */
  char *reason;
  repo_version_t *versions;
  size_t n_versions;
} repo_model_t;

struct repo {
  inferd_server_t *server;
  pthread_rwlock_t lock;
  repo_model_t *models; /* sorted by name */
  size_t n_models;
};

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

inferd_status_t *repo_new(inferd_server_t *s, repo_t **out) {
  repo_t *r = calloc(1, sizeof(*r));
  if (!r)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  r->server = s;
  pthread_rwlock_init(&r->lock, NULL);
  *out = r;
  return NULL;
}

static int cmp_model(const void *a, const void *b) {
  return strcmp(((const repo_model_t *)a)->name,
                ((const repo_model_t *)b)->name);
}

/* Finds the model directories of every repository. */
static inferd_status_t *scan(repo_t *r) {
  inferd_server_t *s = r->server;
  size_t cap = 0;
  for (size_t i = 0; i < s->n_repositories; i++) {
    const char *root = s->repositories[i];
    DIR *d = opendir(root);
    if (!d)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "model repository \"%s\": %s", root,
                               strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char path[4096];
      int len = snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
      struct stat sb;
      if (len <= 0 || (size_t)len >= sizeof(path) || stat(path, &sb) != 0 ||
          !S_ISDIR(sb.st_mode))
        continue;
      repo_model_t *dup = NULL;
      for (size_t j = 0; j < r->n_models && !dup; j++)
        if (strcmp(r->models[j].name, e->d_name) == 0)
          dup = &r->models[j];
      if (dup) {
        LOG_ERROR("model \"%s\" appears in two or more repositories (\"%s\" "
                  "and \"%s\"); it will not be loaded",
                  e->d_name, dup->dir, path);
        dup->duplicate = true;
        continue;
      }
      if (r->n_models == cap) {
        cap = cap ? cap * 2 : 16;
        repo_model_t *p = realloc(r->models, cap * sizeof(*p));
        if (!p) {
          closedir(d);
          return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
        }
        r->models = p;
      }
      repo_model_t *m = &r->models[r->n_models];
      memset(m, 0, sizeof(*m));
      m->name = core_strdup(e->d_name);
      m->dir = core_strdup(path);
      if (!m->name || !m->dir) {
        free(m->name);
        free(m->dir);
        closedir(d);
        return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      }
      r->n_models++;
    }
    closedir(d);
  }
  if (r->n_models)
    qsort(r->models, r->n_models, sizeof(repo_model_t), cmp_model);
  return NULL;
}

static void set_reason(char **slot, const char *reason) {
  free(*slot);
  *slot = reason ? core_strdup(reason) : NULL;
}

/* Loads every version the policy selects. Returns the first error. */
static inferd_status_t *load_model(repo_t *r, size_t idx) {
  inferd_server_t *s = r->server;
  repo_model_t *rm = &r->models[idx];
  if (rm->duplicate) {
    rm->state = REPO_STATE_UNAVAILABLE;
    set_reason(&rm->reason, "model appears in two or more repositories");
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model \"%s\" appears in two or more "
                             "repositories",
                             rm->name);
  }
  cfg_load_options_t opts = {.model_dir = rm->dir,
                             .model_name = rm->name,
                             .model_config_name = s->model_config_name,
                             .autocomplete = !s->strict_model_config,
                             .gpu_count = 0};
  cfg_model_t *cfg = NULL;
  int64_t *avail = NULL, *sel = NULL;
  size_t n_avail = 0, n_sel = 0;
  inferd_status_t *st = cfg_load(&opts, &cfg);
  if (!st)
    st = repo_list_versions(rm->dir, &avail, &n_avail);
  if (!st)
    st = repo_apply_policy(rm->name, cfg->version_policy, avail, n_avail, &sel,
                           &n_sel);
  free(avail);
  if (st) {
    pthread_rwlock_wrlock(&r->lock);
    rm->state = REPO_STATE_UNAVAILABLE;
    set_reason(&rm->reason, inferd_status_message(st));
    pthread_rwlock_unlock(&r->lock);
    LOG_ERROR("failed to load model \"%s\": %s", rm->name,
              inferd_status_message(st));
    cfg_free(cfg);
    return st;
  }
  repo_version_t *vs = calloc(n_sel, sizeof(*vs));
  if (!vs) {
    free(sel);
    cfg_free(cfg);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < n_sel; i++) {
    vs[i].version = sel[i];
    vs[i].state = REPO_STATE_LOADING;
  }
  free(sel);
  pthread_rwlock_wrlock(&r->lock);
  rm->versions = vs;
  rm->n_versions = n_sel;
  rm->state = REPO_STATE_LOADING;
  pthread_rwlock_unlock(&r->lock);

  inferd_status_t *first = NULL;
  for (size_t i = 0; i < n_sel; i++) {
    inferd_model_t *m = NULL;
    LOG_INFO("loading model \"%s\" version %lld", rm->name,
             (long long)vs[i].version);
    inferd_status_t *e =
        model_load(s, &s->backends, rm->name, vs[i].version, rm->dir, cfg, &m);
    pthread_rwlock_wrlock(&r->lock);
    if (e) {
      vs[i].state = REPO_STATE_UNAVAILABLE;
      set_reason(&vs[i].reason, inferd_status_message(e));
    } else {
      vs[i].state = REPO_STATE_READY;
      vs[i].model = m;
    }
    pthread_rwlock_unlock(&r->lock);
    if (e) {
      LOG_ERROR("failed to load model \"%s\" version %lld: %s", rm->name,
                (long long)vs[i].version, inferd_status_message(e));
      if (!first)
        first = inferd_status_prefix(e, "model \"%s\" version %lld", rm->name,
                                     (long long)vs[i].version);
      else
        inferd_status_free(e);
    }
  }
  rm->state = REPO_STATE_READY;
  cfg_free(cfg);
  return first;
}

inferd_status_t *repo_load_all(repo_t *r, bool exit_on_error) {
  inferd_status_t *st = scan(r);
  if (st)
    return st;
  if (r->n_models == 0)
    LOG_WARNING("no models found in the model repositories");
  inferd_status_t *first = NULL;
  for (size_t i = 0; i < r->n_models; i++) {
    inferd_status_t *e = load_model(r, i);
    if (!e)
      continue;
    if (!first)
      first =
          inferd_status_prefix(e, "failed to load \"%s\"", r->models[i].name);
    else
      inferd_status_free(e);
    if (exit_on_error)
      break;
  }
  if (exit_on_error)
    return first;
  inferd_status_free(first);
  return NULL;
}

static repo_model_t *find(repo_t *r, const char *name, size_t len) {
  size_t lo = 0, hi = r->n_models;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *n = r->models[mid].name;
    int c = strncmp(n, name, len);
    if (c == 0 && n[len] != '\0')
      c = 1;
    if (c == 0)
      return &r->models[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

inferd_status_t *repo_acquire(repo_t *r, const char *name, size_t len,
                              int64_t version, inferd_model_t **out) {
  pthread_rwlock_rdlock(&r->lock);
  repo_model_t *rm = find(r, name, len);
  inferd_status_t *st = NULL;
  if (!rm) {
    st = inferd_status_new(INFERD_NOT_FOUND,
                           "Request for unknown model: '%.*s' is not found",
                           (int)len, name);
  } else if (version < 0) {
    repo_version_t *best = NULL;
    for (size_t i = 0; i < rm->n_versions; i++)
      if (rm->versions[i].state == REPO_STATE_READY)
        best = &rm->versions[i];
    if (!best)
      st = inferd_status_new(INFERD_NOT_FOUND,
                             "Request for unknown model: '%s' has no "
                             "available versions",
                             rm->name);
    else {
      core_ref_acquire(&best->model->ref);
      *out = best->model;
    }
  } else {
    repo_version_t *v = NULL;
    for (size_t i = 0; i < rm->n_versions && !v; i++)
      if (rm->versions[i].version == version)
        v = &rm->versions[i];
    if (!v)
      st = inferd_status_new(INFERD_NOT_FOUND,
                             "Request for unknown model: '%s' version %lld "
                             "is not found",
                             rm->name, (long long)version);
    else if (v->state != REPO_STATE_READY)
      st = inferd_status_new(INFERD_UNAVAILABLE,
                             "Request for unknown model: '%s' version %lld "
                             "is not at ready state",
                             rm->name, (long long)version);
    else {
      core_ref_acquire(&v->model->ref);
      *out = v->model;
    }
  }
  pthread_rwlock_unlock(&r->lock);
  return st;
}

inferd_status_t *repo_acquire_ready(repo_t *r, const char *name, size_t len,
                                    inferd_model_t ***models, size_t *n) {
  pthread_rwlock_rdlock(&r->lock);
  size_t first = 0, last = r->n_models;
  if (name) {
    repo_model_t *rm = find(r, name, len);
    if (!rm) {
      pthread_rwlock_unlock(&r->lock);
      return inferd_status_new(INFERD_NOT_FOUND,
                               "Request for unknown model: '%.*s' is not "
                               "found",
                               (int)len, name);
    }
    first = (size_t)(rm - r->models);
    last = first + 1;
  }
  size_t total = 0;
  for (size_t i = first; i < last; i++)
    total += r->models[i].n_versions;
  *models = malloc((total + 1) * sizeof(inferd_model_t *));
  *n = 0;
  if (!*models) {
    pthread_rwlock_unlock(&r->lock);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = first; i < last; i++)
    for (size_t j = 0; j < r->models[i].n_versions; j++) {
      repo_version_t *v = &r->models[i].versions[j];
      if (v->state == REPO_STATE_READY) {
        core_ref_acquire(&v->model->ref);
        (*models)[(*n)++] = v->model;
      }
    }
  pthread_rwlock_unlock(&r->lock);
  return NULL;
}

inferd_status_t *repo_ready_versions(repo_t *r, const char *name, size_t len,
                                     int64_t **versions, size_t *n) {
  pthread_rwlock_rdlock(&r->lock);
  repo_model_t *rm = find(r, name, len);
  if (!rm) {
    pthread_rwlock_unlock(&r->lock);
    return inferd_status_new(INFERD_NOT_FOUND,
                             "Request for unknown model: '%.*s' is not found",
                             (int)len, name);
  }
  *versions = malloc((rm->n_versions + 1) * sizeof(int64_t));
  *n = 0;
  if (!*versions) {
    pthread_rwlock_unlock(&r->lock);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < rm->n_versions; i++)
    if (rm->versions[i].state == REPO_STATE_READY)
      (*versions)[(*n)++] = rm->versions[i].version;
  pthread_rwlock_unlock(&r->lock);
  return NULL;
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
  pthread_rwlock_rdlock(&r->lock);
  size_t total = 0;
  for (size_t i = 0; i < r->n_models; i++)
    total += r->models[i].n_versions ? r->models[i].n_versions : 1;
  inferd_model_index_entry_t *es = calloc(total + 1, sizeof(*es));
  size_t k = 0;
  bool ok = es != NULL;
  for (size_t i = 0; ok && i < r->n_models; i++) {
    const repo_model_t *rm = &r->models[i];
    if (rm->n_versions == 0) {
      if (ready_only)
        continue;
      ok = entry_set(&es[k++], rm->name, -1,
                     rm->state ? repo_state_name(rm->state) : NULL, rm->reason);
      continue;
    }
    for (size_t j = 0; ok && j < rm->n_versions; j++) {
      const repo_version_t *v = &rm->versions[j];
      if (ready_only && v->state != REPO_STATE_READY)
        continue;
      ok = entry_set(&es[k++], rm->name, v->version, repo_state_name(v->state),
                     v->reason);
    }
  }
  pthread_rwlock_unlock(&r->lock);
  if (!ok) {
    inferd_model_index_free(es, k);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
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
  pthread_rwlock_rdlock(&r->lock);
  bool ready = true;
  for (size_t i = 0; i < r->n_models && ready; i++) {
    const repo_model_t *rm = &r->models[i];
    if (rm->n_versions == 0)
      ready = false;
    for (size_t j = 0; j < rm->n_versions && ready; j++)
      ready = rm->versions[j].state == REPO_STATE_READY;
  }
  pthread_rwlock_unlock(&r->lock);
  return ready;
}

static void unload_version(repo_t *r, repo_version_t *v, const char *name,
                           int64_t timeout_ms) {
  pthread_rwlock_wrlock(&r->lock);
  inferd_model_t *m = v->model;
  v->model = NULL;
  if (m)
    v->state = REPO_STATE_UNLOADING;
  pthread_rwlock_unlock(&r->lock);
  if (!m)
    return;
  if (!model_wait_unused(m, timeout_ms)) {
    /* queued requests hold references: fail them, then wait a little for
     * the frontends to let go of their responses */
    m->sched->ops->stop(m->sched);
    if (!model_wait_unused(m, 5000)) {
      LOG_ERROR("model \"%s\" version %lld is still in use; not unloading "
                "it",
                name, (long long)v->version);
      return;
    }
  }
  model_unload(m);
  pthread_rwlock_wrlock(&r->lock);
  v->state = REPO_STATE_UNAVAILABLE;
  set_reason(&v->reason, "unloaded");
  pthread_rwlock_unlock(&r->lock);
}

void repo_unload_all(repo_t *r, int64_t timeout_ms) {
  for (size_t i = 0; i < r->n_models; i++)
    for (size_t j = 0; j < r->models[i].n_versions; j++)
      unload_version(r, &r->models[i].versions[j], r->models[i].name,
                     timeout_ms);
}

void repo_free(repo_t *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n_models; i++) {
    repo_model_t *rm = &r->models[i];
    for (size_t j = 0; j < rm->n_versions; j++)
      free(rm->versions[j].reason);
    free(rm->versions);
    free(rm->name);
    free(rm->dir);
    free(rm->reason);
  }
  free(r->models);
  pthread_rwlock_destroy(&r->lock);
  free(r);
}
