/*
 * lifecycle.c: the repository thread, its load workers and the per-model
 * state machine (DESIGN §2.1).
 *
 * The repository thread owns every lc_model_t and is the only writer of
 * the published table. Requests to load or unload, load results, and
 * "last reference released" notices all arrive as events on its queue.
 * A load runs on a worker (config, version policy, model_load of each new
 * version); the thread then swaps the new versions in and the replaced
 * ones out in one table publish (hot swap), and drops the table's
 * reference on the replaced ones only after that publish, so a reader
 * never sees a model it cannot acquire. The last release of a version
 * queues its finalisation (model_unload) to a worker. Completion callbacks
 * run after the publish that made their result visible.
 *
 * Invariants: a model pointer in the published table holds the
 * repository's reference; a model in some lc_model_t's drains[] has not
 * reached its last release yet; one operation per model runs at a time
 * (busy), later ones wait in its pending list.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/gpu.h"
#include "core/log.h"
#include "core/str.h"
#include "repository/model_table.h"
#include "repository/repo_files.h"

#define OOM() inferd_status_new(INFERD_NO_MEMORY, "out of memory")

enum { OP_LOAD, OP_UNLOAD, OP_ENSURE };
enum { EV_OP, EV_JOB_DONE, EV_UNUSED, EV_STOP };
enum { JOB_LOAD, JOB_FINALISE };

struct lc_op;
struct lc_job;
struct lc_model;

typedef struct lc_event {
  int kind;
  void *p; /* lc_op_t, lc_job_t or lc_mref_t */
  struct lc_event *next;
} lc_event_t;

typedef struct lc_op {
  int kind;
  char *name;
  char *config; /* NULL: none */
  size_t config_len;
  inferd_model_file_t *files; /* deep copies */
  size_t n_files;
  bool from_poll;
  bool pinned;
  uint64_t deadline_ns; /* OP_ENSURE: when the waiter gives up */
  inferd_repository_cb cb;
  void *userp;
  lc_event_t ev;
  struct lc_op *next;
} lc_op_t;

/* handed to model_load as the on_unused context of one model object */
typedef struct lc_mref {
  struct repo *r;
  struct lc_model *lm;
  inferd_model_t *model;
  lc_event_t ev;
} lc_mref_t;

typedef struct lc_ver {
  int64_t version;
  int32_t state;
  char *reason;
  inferd_model_t *model; /* the table's reference while READY */
  uint64_t fp;
  bool failed;
} lc_ver_t;

typedef struct lc_drain {
  inferd_model_t *model;
  int64_t version;
  uint64_t deadline_ns;
  bool drained;
} lc_drain_t;

typedef struct lc_model {
  char *name;
  char *dir; /* in a repository; NULL when none has it */
  bool duplicate;
  int32_t state;
  char *reason;
  bool asked;    /* a load was requested: counts for strict readiness */
  bool unloaded; /* explicitly unloaded since */
  lc_ver_t *vers;
  size_t n_vers;
  uint64_t base_fp, tried_fp;
  bool has_tried, overridden;
  char *override_dir;
  char **old_dirs;
  size_t n_old_dirs;
  lc_drain_t *drains;
  size_t n_drains;
  bool busy;
  lc_op_t *pend_head, *pend_tail;
  lc_op_t *waiters;   /* OP_ENSURE requests waiting for READY */
  bool pinned;        /* never evicted by the memory budget */
  bool evicted;       /* the last unload was an eviction */
  uint64_t mem_bytes; /* of the serving versions (last measured) */
  uint64_t n_loads, n_evictions, n_on_demand;
  bool dirty;
  repo_tbl_entry_t *entry; /* published */
} lc_model_t;

typedef struct lc_job {
  int kind;
  struct repo *r;
  lc_model_t *lm;
  lc_op_t *op;
  /* inputs, copied on the repository thread */
  char *name, *dir;
  bool has_serving, overridden, has_tried;
  uint64_t tried_fp, base_fp_old;
  int64_t *cur_v;
  uint64_t *cur_fp;
  size_t n_cur;
  /* results */
  bool noop;
  inferd_status_t *error;
  uint64_t fp, base_fp;
  char *new_dir;
  size_t n_sel;
  int64_t *sel;
  uint64_t *sel_fp;
  inferd_model_t **models;
  bool *kept;
  inferd_status_t **errs;
  /* JOB_FINALISE */
  lc_mref_t *mref;
  lc_event_t ev;
  struct lc_job *next;
} lc_job_t;

typedef struct lc_done {
  inferd_repository_cb cb;
  void *userp;
  inferd_status_t *st;
} lc_done_t;

struct repo {
  repo_tbl_lock_t tbl; /* first: model_table.c reaches it by cast */
  repo_options_t o;
  char **repos;

  pthread_mutex_t mu; /* event queue, done flag */
  pthread_cond_t cv, done_cv;
  lc_event_t *ev_head, *ev_tail;
  lc_event_t stop_ev;
  bool done;
  pthread_t thread;
  bool started;

  pthread_mutex_t jmu; /* job queue */
  pthread_cond_t jcv;
  lc_job_t *job_head, *job_tail;
  bool jstop;
  pthread_t *workers;
  uint32_t n_workers;

  /* repository thread only */
  lc_model_t **models; /* sorted by name */
  size_t n_models, cap_models;
  bool polling;
  uint64_t next_poll_ns;
  bool stopping;
  uint64_t stop_deadline_ns;
  int64_t stop_timeout_ms;
  size_t n_jobs;
  lc_done_t *dones;
  size_t n_dones, cap_dones;
  inferd_model_t **to_release;
  size_t n_release, cap_release;
  bool any_dirty;

  atomic_size_t n_live; /* model objects loaded and not finalised */
  bool shutdown_ok;
};

/* ------------------------------------------------------------- helpers */

static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap * 2 : 8;
  while (nc < need)
    nc *= 2;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return false;
  *arr = p;
  *cap = nc;
  return true;
}

static void set_str(char **slot, const char *s) {
  free(*slot);
  *slot = s ? core_strdup(s) : NULL;
}

static void op_free(lc_op_t *op) {
  if (!op)
    return;
  free(op->name);
  free(op->config);
  for (size_t i = 0; i < op->n_files; i++) {
    free((void *)op->files[i].path);
    free((void *)op->files[i].data);
  }
  free(op->files);
  free(op);
}

static void post(repo_t *r, lc_event_t *ev) {
  pthread_mutex_lock(&r->mu);
  ev->next = NULL;
  if (r->ev_tail)
    r->ev_tail->next = ev;
  else
    r->ev_head = ev;
  r->ev_tail = ev;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Posts a client's operation; false when the repository thread has
 * already ended (the caller answers synchronously instead). */
static bool post_op(repo_t *r, lc_op_t *op) {
  pthread_mutex_lock(&r->mu);
  bool ok = !r->done;
  if (ok) {
    op->ev.next = NULL;
    if (r->ev_tail)
      r->ev_tail->next = &op->ev;
    else
      r->ev_head = &op->ev;
    r->ev_tail = &op->ev;
    pthread_cond_signal(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static void job_post(repo_t *r, lc_job_t *j) {
  r->n_jobs++;
  pthread_mutex_lock(&r->jmu);
  j->next = NULL;
  if (r->job_tail)
    r->job_tail->next = j;
  else
    r->job_head = j;
  r->job_tail = j;
  pthread_cond_signal(&r->jcv);
  pthread_mutex_unlock(&r->jmu);
}

/* a callback to run after the next publish (st transferred) */
static void done_later(repo_t *r, inferd_repository_cb cb, void *userp,
                       inferd_status_t *st) {
  if (!cb) {
    inferd_status_free(st);
    return;
  }
  if (!grow((void **)&r->dones, &r->cap_dones, r->n_dones + 1,
            sizeof(lc_done_t))) {
    cb(st, userp); /* out of memory: run it now rather than lose it */
    return;
  }
  r->dones[r->n_dones++] = (lc_done_t){cb, userp, st};
}

static void release_later(repo_t *r, inferd_model_t *m) {
  if (!grow((void **)&r->to_release, &r->cap_release, r->n_release + 1,
            sizeof(inferd_model_t *))) {
    /* cannot defer: the model stays referenced (leaked) rather than freed
     * under a reader */
    LOG_ERROR("model \"%s\" version %lld: out of memory while unloading; "
              "it stays loaded",
              m->name, (long long)m->version);
    return;
  }
  r->to_release[r->n_release++] = m;
}

static void mark(repo_t *r, lc_model_t *lm) {
  lm->dirty = true;
  r->any_dirty = true;
}

/* --------------------------------------------------------- model table */

static size_t lm_pos(repo_t *r, const char *name, size_t len, bool *found) {
  size_t lo = 0, hi = r->n_models;
  *found = false;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *n = r->models[mid]->name;
    int c = strncmp(n, name, len);
    if (c == 0 && n[len] != '\0')
      c = 1;
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static lc_model_t *lm_find(repo_t *r, const char *name) {
  bool found;
  size_t i = lm_pos(r, name, strlen(name), &found);
  return found ? r->models[i] : NULL;
}

static lc_model_t *lm_add(repo_t *r, const char *name, const char *dir,
                          bool duplicate) {
  bool found;
  size_t pos = lm_pos(r, name, strlen(name), &found);
  if (found)
    return r->models[pos];
  if (!grow((void **)&r->models, &r->cap_models, r->n_models + 1,
            sizeof(lc_model_t *)))
    return NULL;
  lc_model_t *lm = calloc(1, sizeof(*lm));
  if (!lm || !(lm->name = core_strdup(name)) ||
      (dir && !(lm->dir = core_strdup(dir)))) {
    if (lm)
      free(lm->name);
    free(lm);
    return NULL;
  }
  lm->duplicate = duplicate;
  if (duplicate) {
    lm->state = REPO_STATE_UNAVAILABLE;
    set_str(&lm->reason, "model appears in two or more repositories");
  }
  memmove(&r->models[pos + 1], &r->models[pos],
          (r->n_models - pos) * sizeof(lc_model_t *));
  r->models[pos] = lm;
  r->n_models++;
  mark(r, lm);
  return lm;
}

static bool lm_serving(const lc_model_t *lm) {
  for (size_t i = 0; i < lm->n_vers; i++)
    if (lm->vers[i].model)
      return true;
  return false;
}

static repo_tbl_entry_t *entry_build(const lc_model_t *lm) {
  repo_tbl_entry_t *e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  size_t n = lm->n_vers + lm->n_drains;
  e->versions = calloc(n + 1, sizeof(repo_tbl_version_t));
  e->name = core_strdup(lm->name);
  if (!e->versions || !e->name) {
    repo_tbl_entry_free(e);
    return NULL;
  }
  e->state = lm->state;
  e->reason = lm->reason ? core_strdup(lm->reason) : NULL;
  e->mem_bytes = lm_serving(lm) ? lm->mem_bytes : 0;
  e->n_loads = lm->n_loads;
  e->n_evictions = lm->n_evictions;
  e->n_on_demand = lm->n_on_demand;
  e->pinned = lm->pinned;
  size_t k = 0;
  for (size_t i = 0; i < lm->n_vers; i++) {
    const lc_ver_t *v = &lm->vers[i];
    e->versions[k++] = (repo_tbl_version_t){
        v->version, v->state, v->reason ? core_strdup(v->reason) : NULL,
        v->state == REPO_STATE_READY ? v->model : NULL};
  }
  /* replaced versions still draining show as UNLOADING when no live
   * version has their number */
  for (size_t i = 0; i < lm->n_drains; i++) {
    bool shown = false;
    for (size_t j = 0; j < k && !shown; j++)
      shown = e->versions[j].version == lm->drains[i].version;
    if (!shown)
      e->versions[k++] = (repo_tbl_version_t){lm->drains[i].version,
                                              REPO_STATE_UNLOADING, NULL, NULL};
  }
  /* ascending by version (small n: insertion sort) */
  for (size_t i = 1; i < k; i++)
    for (size_t j = i;
         j > 0 && e->versions[j - 1].version > e->versions[j].version; j--) {
      repo_tbl_version_t t = e->versions[j];
      e->versions[j] = e->versions[j - 1];
      e->versions[j - 1] = t;
    }
  e->n_versions = k;
  return e;
}

static bool lm_ready(const lc_model_t *lm) {
  if (!lm->asked || lm->unloaded)
    return true;
  if (lm->state == REPO_STATE_LOADING && !lm_serving(lm))
    return false;
  bool any = false;
  for (size_t i = 0; i < lm->n_vers; i++) {
    if (lm->vers[i].state == REPO_STATE_READY)
      any = true;
    else if (lm->vers[i].failed || lm->vers[i].state == REPO_STATE_LOADING)
      return false;
  }
  return any;
}

/* Builds and swaps in a new table when something changed. */
static void publish(repo_t *r) {
  if (!r->any_dirty)
    return;
  repo_tbl_t *t = calloc(1, sizeof(*t));
  repo_tbl_entry_t **old_entries = calloc(r->n_models + 1, sizeof(void *));
  if (t)
    t->entries = calloc(r->n_models + 1, sizeof(void *));
  if (!t || !t->entries || !old_entries) {
    LOG_ERROR("out of memory while publishing the model table; retrying");
    if (t)
      free(t->entries);
    free(t);
    free(old_entries);
    return;
  }
  size_t n_old = 0;
  bool all_ready = true;
  for (size_t i = 0; i < r->n_models; i++) {
    lc_model_t *lm = r->models[i];
    if (lm->dirty || !lm->entry) {
      repo_tbl_entry_t *e = entry_build(lm);
      if (!e) { /* keep the previous entry; try again next time */
        if (!lm->entry) {
          LOG_ERROR("out of memory while publishing model \"%s\"", lm->name);
          continue;
        }
      } else {
        if (lm->entry)
          old_entries[n_old++] = lm->entry;
        lm->entry = e;
        lm->dirty = false;
      }
    }
    t->entries[t->n++] = lm->entry;
    all_ready = all_ready && lm_ready(lm);
  }
  t->all_ready = all_ready;
  t->figures = r->o.load_on_demand || r->o.memory_budget_bytes;
  repo_tbl_t *old = repo_tbl_swap(&r->tbl, t);
  if (old) {
    free(old->entries);
    free(old);
  }
  for (size_t i = 0; i < n_old; i++)
    repo_tbl_entry_free(old_entries[i]);
  free(old_entries);
  r->any_dirty = false;
  for (size_t i = 0; i < r->n_models && !r->any_dirty; i++)
    r->any_dirty = r->models[i]->dirty;
}

/* ------------------------------------------------------------- workers */

static uint64_t str_print(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void on_unused(inferd_model_t *m, void *ctx) {
  (void)m;
  lc_mref_t *mref = ctx;
  mref->ev.kind = EV_UNUSED;
  mref->ev.p = mref;
  post(mref->r, &mref->ev);
}

static void job_load(lc_job_t *j) {
  repo_t *r = j->r;
  lc_op_t *op = j->op;
  const char *dir = j->dir;
  int64_t *avail = NULL;
  size_t n_avail = 0;
  cfg_model_t *cfg = NULL;
  inferd_status_t *st = NULL;
  if (op->n_files) {
    if ((st =
             repo_write_override(j->name, op->files, op->n_files, &j->new_dir)))
      goto out;
    dir = j->new_dir;
  }
  if (!dir) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "failed to load '%s', failed to poll from model "
                           "repository",
                           j->name);
    goto out;
  }
  j->base_fp = repo_fingerprint_base(dir);
  if (op->config)
    j->base_fp += str_print(op->config, op->config_len);
  if ((st = repo_list_versions(dir, &avail, &n_avail)))
    goto out;
  uint64_t *afp = calloc(n_avail + 1, sizeof(uint64_t));
  if (!afp) {
    st = OOM();
    goto out;
  }
  j->fp = j->base_fp * 31;
  for (size_t i = 0; i < n_avail; i++) {
    afp[i] = repo_fingerprint_version(dir, avail[i]);
    j->fp += afp[i];
  }
  bool plain = !op->config && !op->n_files;
  if (plain && j->has_tried && j->fp == j->tried_fp &&
      (op->from_poll || (j->has_serving && !j->overridden))) {
    j->noop = true;
    free(afp);
    goto out;
  }
  cfg_load_options_t co = {
      .model_dir = dir,
      .model_name = j->name,
      .model_config_name = r->o.model_config_name,
      .autocomplete = r->o.autocomplete,
      .gpu_count = core_gpu_device_count(core_gpu_global()),
      .gpu_unavailable_reason = core_gpu_unavailable_reason(core_gpu_global())};
  if (op->config) {
    ProtobufCMessage *msg = NULL;
    st = cfg_json_parse(&inference__model_config__descriptor, op->config,
                        op->config_len, &msg);
    if (st)
      st = inferd_status_prefix(st, "load parameter \"config\"");
    else if ((st = cfg_complete(&co, (cfg_model_t *)msg)))
      cfg_free((cfg_model_t *)msg);
    else
      cfg = (cfg_model_t *)msg;
  } else {
    st = cfg_load(&co, &cfg);
  }
  if (!st)
    st = repo_apply_policy(j->name, cfg->version_policy, avail, n_avail,
                           &j->sel, &j->n_sel);
  if (st) {
    free(afp);
    goto out;
  }
  j->sel_fp = calloc(j->n_sel + 1, sizeof(uint64_t));
  j->models = calloc(j->n_sel + 1, sizeof(inferd_model_t *));
  j->kept = calloc(j->n_sel + 1, sizeof(bool));
  j->errs = calloc(j->n_sel + 1, sizeof(inferd_status_t *));
  if (!j->sel_fp || !j->models || !j->kept || !j->errs) {
    free(afp);
    st = OOM();
    goto out;
  }
  for (size_t i = 0; i < j->n_sel; i++) {
    for (size_t a = 0; a < n_avail; a++)
      if (avail[a] == j->sel[i])
        j->sel_fp[i] = afp[a];
    if (plain && !j->overridden && j->base_fp == j->base_fp_old)
      for (size_t c = 0; c < j->n_cur; c++)
        if (j->cur_v[c] == j->sel[i] && j->cur_fp[c] == j->sel_fp[i])
          j->kept[i] = true;
    if (j->kept[i])
      continue;
    lc_mref_t *mref = calloc(1, sizeof(*mref));
    if (!mref) {
      j->errs[i] = OOM();
      continue;
    }
    mref->r = r;
    mref->lm = j->lm;
    LOG_INFO("loading model \"%s\" version %lld", j->name,
             (long long)j->sel[i]);
    model_run_opts_t run = {.idle_timeout_ms =
                                r->o.instance_idle_timeout_ms
                                    ? r->o.instance_idle_timeout_ms
                                    : UINT32_MAX,
                            .inline_execution = r->o.inline_execution};
    inferd_status_t *e =
        model_load(r->o.server, r->o.backends, j->name, j->sel[i], dir, cfg,
                   &run, on_unused, mref, &j->models[i]);
    if (e) {
      free(mref);
      LOG_ERROR("failed to load model \"%s\" version %lld: %s", j->name,
                (long long)j->sel[i], inferd_status_message(e));
      j->errs[i] = e;
    } else {
      mref->model = j->models[i];
      j->models[i]->owner_data = mref;
      atomic_fetch_add(&r->n_live, 1);
    }
  }
  free(afp);
out:
  free(avail);
  cfg_free(cfg);
  j->error = st;
}

static void *worker_main(void *p) {
  repo_t *r = p;
  for (;;) {
    pthread_mutex_lock(&r->jmu);
    while (!r->job_head && !r->jstop)
      pthread_cond_wait(&r->jcv, &r->jmu);
    lc_job_t *j = r->job_head;
    if (!j) {
      pthread_mutex_unlock(&r->jmu);
      return NULL;
    }
    r->job_head = j->next;
    if (!r->job_head)
      r->job_tail = NULL;
    pthread_mutex_unlock(&r->jmu);
    if (j->kind == JOB_LOAD) {
      job_load(j);
    } else {
      model_unload(j->mref->model);
      /* hand what the version freed back to the system: a reload cycle
       * must not leave RSS higher (bench/lifecycle_rss.py) */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
      malloc_trim(0); /* the sanitizers' allocators are not glibc's */
#endif
      atomic_fetch_sub(&r->n_live, 1);
    }
    j->ev.kind = EV_JOB_DONE;
    j->ev.p = j;
    post(r, &j->ev);
  }
}

static void job_free(lc_job_t *j) {
  free(j->name);
  free(j->dir);
  free(j->cur_v);
  free(j->cur_fp);
  free(j->new_dir);
  free(j->sel);
  free(j->sel_fp);
  free(j->models);
  free(j->kept);
  if (j->errs)
    for (size_t i = 0; i < j->n_sel; i++)
      inferd_status_free(j->errs[i]);
  free(j->errs);
  inferd_status_free(j->error);
  free(j);
}

/* ------------------------------------------------- the state machine */

static void start_next(repo_t *r, lc_model_t *lm);
static void waiters_check(repo_t *r, lc_model_t *lm,
                          const inferd_status_t *err);

static void drain_add(repo_t *r, lc_model_t *lm, inferd_model_t *m,
                      int64_t version) {
  lc_drain_t *d = realloc(lm->drains, (lm->n_drains + 1) * sizeof(*d));
  if (!d) {
    LOG_ERROR("model \"%s\": out of memory while unloading", lm->name);
    return; /* the model stays loaded: leaked, never freed under a user */
  }
  lm->drains = d;
  uint64_t now = core_now_ns();
  d[lm->n_drains++] = (lc_drain_t){
      m, version,
      r->stopping ? now : now + (uint64_t)r->o.unload_timeout_ms * 1000000u,
      false};
  release_later(r, m);
}

static void old_dir_add(lc_model_t *lm, char *dir) {
  if (!dir)
    return;
  char **p = realloc(lm->old_dirs, (lm->n_old_dirs + 1) * sizeof(char *));
  if (!p) {
    repo_remove_tree(dir);
    free(dir);
    return;
  }
  lm->old_dirs = p;
  lm->old_dirs[lm->n_old_dirs++] = dir;
}

static void old_dirs_clean(lc_model_t *lm) {
  if (lm->n_drains)
    return;
  for (size_t i = 0; i < lm->n_old_dirs; i++) {
    repo_remove_tree(lm->old_dirs[i]);
    free(lm->old_dirs[i]);
  }
  lm->n_old_dirs = 0;
}

static void vers_clear(lc_model_t *lm) {
  for (size_t i = 0; i < lm->n_vers; i++)
    free(lm->vers[i].reason);
  free(lm->vers);
  lm->vers = NULL;
  lm->n_vers = 0;
}

/* Takes every serving version out of the table (they drain and go). */
static void unload_model(repo_t *r, lc_model_t *lm) {
  size_t k = 0;
  for (size_t i = 0; i < lm->n_vers; i++) {
    lc_ver_t *v = &lm->vers[i];
    if (v->model) {
      LOG_INFO("unloading model \"%s\" version %lld", lm->name,
               (long long)v->version);
      drain_add(r, lm, v->model, v->version);
      v->model = NULL;
      v->state = REPO_STATE_UNLOADING;
      set_str(&v->reason, NULL);
      v->failed = false;
      lm->vers[k++] = *v;
    } else {
      free(v->reason);
    }
  }
  lm->n_vers = k;
  if (k == 0)
    vers_clear(lm);
  lm->state = REPO_STATE_UNAVAILABLE;
  set_str(&lm->reason, "unloaded");
  lm->unloaded = true;
  lm->evicted = false; /* make_room sets it after this */
  lm->overridden = false;
  lm->has_tried = false;
  old_dir_add(lm, lm->override_dir);
  lm->override_dir = NULL;
  old_dirs_clean(lm);
  mark(r, lm);
}

/* ---- the memory budget: least recently used idle models make room ---- */

static uint64_t lm_last_used(const lc_model_t *lm) {
  uint64_t t = 0;
  for (size_t i = 0; i < lm->n_vers; i++)
    if (lm->vers[i].model) {
      uint64_t u = atomic_load_explicit(&lm->vers[i].model->last_used_ns,
                                        memory_order_relaxed);
      if (u > t)
        t = u;
    }
  return t;
}

/* no request holds a serving version: only the table's reference is left
 * (requests hold theirs from acquire until their release) */
static bool lm_idle(const lc_model_t *lm) {
  for (size_t i = 0; i < lm->n_vers; i++)
    if (lm->vers[i].model && atomic_load(&lm->vers[i].model->ref.refs) > 1)
      return false;
  return true;
}

static uint64_t used_bytes(repo_t *r, const lc_model_t *except) {
  uint64_t used = 0;
  for (size_t i = 0; i < r->n_models; i++)
    if (r->models[i] != except && lm_serving(r->models[i]))
      used += r->models[i]->mem_bytes;
  return used;
}

/* Evicts least recently used idle, unpinned models (never `keep`) until
 * `need` more bytes fit in the budget; false when they cannot. */
static bool evictable(const lc_model_t *lm, const lc_model_t *keep) {
  return lm != keep && !lm->busy && !lm->pinned && lm->mem_bytes &&
         lm_serving(lm) && lm_idle(lm);
}

/* bytes held by serving models that cannot be evicted now */
static uint64_t fixed_bytes(repo_t *r, const lc_model_t *keep) {
  uint64_t movable = 0;
  for (size_t i = 0; i < r->n_models; i++)
    if (evictable(r->models[i], keep))
      movable += r->models[i]->mem_bytes;
  return used_bytes(r, keep) - movable;
}

static bool make_room(repo_t *r, const lc_model_t *keep, uint64_t need) {
  uint64_t budget = r->o.memory_budget_bytes;
  if (fixed_bytes(r, keep) + need > budget)
    return false; /* never evict for a load that cannot fit anyway */
  for (;;) {
    if (used_bytes(r, keep) + need <= budget)
      return true;
    lc_model_t *victim = NULL;
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < r->n_models; i++) {
      lc_model_t *lm = r->models[i];
      if (!evictable(lm, keep))
        continue;
      uint64_t t = lm_last_used(lm);
      if (t < oldest) {
        oldest = t;
        victim = lm;
      }
    }
    if (!victim)
      return false;
    LOG_INFO("evicting model \"%s\" (%llu bytes, least recently used) to "
             "fit the memory budget of %llu bytes",
             victim->name, (unsigned long long)victim->mem_bytes,
             (unsigned long long)budget);
    unload_model(r, victim);
    victim->evicted = true;
    set_str(&victim->reason, "evicted (memory budget)");
    victim->n_evictions++;
  }
}

static void start_op(repo_t *r, lc_model_t *lm, lc_op_t *op) {
  if (op->kind == OP_UNLOAD) {
    unload_model(r, lm);
    done_later(r, op->cb, op->userp, NULL);
    op_free(op);
    start_next(r, lm);
    waiters_check(r, lm, NULL);
    return;
  }
  if (lm->duplicate && !op->n_files) {
    done_later(r, op->cb, op->userp,
               inferd_status_new(INFERD_INVALID_ARG,
                                 "failed to load '%s': model appears in two "
                                 "or more repositories",
                                 lm->name));
    op_free(op);
    start_next(r, lm);
    return;
  }
  lc_job_t *j = calloc(1, sizeof(*j));
  size_t n = lm->n_vers;
  if (j) {
    j->cur_v = calloc(n + 1, sizeof(int64_t));
    j->cur_fp = calloc(n + 1, sizeof(uint64_t));
    j->name = core_strdup(lm->name);
    j->dir = lm->dir ? core_strdup(lm->dir) : NULL;
  }
  if (!j || !j->cur_v || !j->cur_fp || !j->name || (lm->dir && !j->dir)) {
    if (j)
      job_free(j);
    done_later(r, op->cb, op->userp, OOM());
    op_free(op);
    start_next(r, lm);
    return;
  }
  j->kind = JOB_LOAD;
  j->r = r;
  j->lm = lm;
  j->op = op;
  j->has_serving = lm_serving(lm);
  j->overridden = lm->overridden;
  j->has_tried = lm->has_tried;
  j->tried_fp = lm->tried_fp;
  j->base_fp_old = lm->base_fp;
  for (size_t i = 0; i < n; i++)
    if (lm->vers[i].model) {
      j->cur_v[j->n_cur] = lm->vers[i].version;
      j->cur_fp[j->n_cur++] = lm->vers[i].fp;
    }
  if (r->o.memory_budget_bytes && lm->mem_bytes && !j->has_serving)
    make_room(r, lm, lm->mem_bytes); /* best effort: the load checks again */
  lm->busy = true;
  lm->asked = true;
  lm->unloaded = false;
  if (!j->has_serving) {
    vers_clear(lm); /* history of earlier loads */
    lm->state = REPO_STATE_LOADING;
    set_str(&lm->reason, NULL);
    mark(r, lm);
  }
  job_post(r, j);
}

static void start_next(repo_t *r, lc_model_t *lm) {
  while (!lm->busy && lm->pend_head) {
    lc_op_t *op = lm->pend_head;
    lm->pend_head = op->next;
    if (!lm->pend_head)
      lm->pend_tail = NULL;
    op->next = NULL;
    start_op(r, lm, op);
  }
}

/* a load started for requests waiting on a cold model */
static void start_ensure_load(repo_t *r, lc_model_t *lm) {
  lc_op_t *op = calloc(1, sizeof(*op));
  if (!op || !(op->name = core_strdup(lm->name))) {
    free(op);
    return; /* the waiters time out */
  }
  op->kind = OP_LOAD;
  lm->n_on_demand++;
  LOG_INFO("loading model \"%s\" on demand", lm->name);
  start_op(r, lm, op);
}

/* Answers the requests waiting for lm to be READY once nothing is left to
 * wait for; err (borrowed) is the error of the load that just ended. */
static void waiters_check(repo_t *r, lc_model_t *lm,
                          const inferd_status_t *err) {
  if (!lm->waiters)
    return;
  bool serving = lm_serving(lm);
  if (!serving && (lm->busy || lm->pend_head))
    return; /* another operation ends later and checks again */
  if (!serving && !err) {
    start_ensure_load(r, lm);
    if (lm->busy)
      return;
    err = NULL;
  }
  lc_op_t *w = lm->waiters;
  lm->waiters = NULL;
  while (w) {
    lc_op_t *next = w->next;
    inferd_status_t *st = NULL;
    if (!serving)
      st = err ? inferd_status_new(inferd_status_code(err), "%s",
                                   inferd_status_message(err))
               : inferd_status_new(INFERD_UNAVAILABLE,
                                   "model '%s' could not be loaded", lm->name);
    done_later(r, w->cb, w->userp, st);
    op_free(w);
    w = next;
  }
}

/* A load that will not be served: its new versions go (never published),
 * its files too; the serving versions (if any) stay and carry the reason,
 * else the model is UNAVAILABLE with it. result is borrowed. */
static void reject_load(repo_t *r, lc_model_t *lm, lc_job_t *j,
                        const inferd_status_t *result) {
  for (size_t i = 0; i < j->n_sel; i++)
    if (j->models && j->models[i])
      core_ref_release(&j->models[i]->ref);
  if (lm_serving(lm)) {
    for (size_t i = 0; i < lm->n_vers; i++)
      if (lm->vers[i].model)
        set_str(&lm->vers[i].reason, inferd_status_message(result));
  } else {
    vers_clear(lm);
    lm->state = REPO_STATE_UNAVAILABLE;
    set_str(&lm->reason, inferd_status_message(result));
  }
  if (j->new_dir)
    repo_remove_tree(j->new_dir);
  lm->tried_fp = j->fp;
  lm->has_tried = true;
  mark(r, lm);
}

static void load_done(repo_t *r, lc_job_t *j) {
  lc_model_t *lm = j->lm;
  lc_op_t *op = j->op;
  lm->busy = false;
  bool serving = lm_serving(lm);
  inferd_status_t *result = NULL;
  if (j->noop) {
    LOG_VERBOSE(1, "model \"%s\": unchanged, not reloaded", lm->name);
    if (!serving && lm->state == REPO_STATE_LOADING) {
      lm->state = REPO_STATE_UNAVAILABLE;
      mark(r, lm);
    }
  } else if (j->error) {
    result = j->error;
    j->error = NULL;
    LOG_ERROR("failed to load model \"%s\": %s", lm->name,
              inferd_status_message(result));
    reject_load(r, lm, j, result);
  } else {
    size_t first_err = j->n_sel;
    for (size_t i = 0; i < j->n_sel && first_err == j->n_sel; i++)
      if (j->errs[i])
        first_err = i;
    bool stopping = r->stopping;
    /* the memory budget: what the new version set holds must fit, after
     * evicting least recently used idle models if need be */
    uint64_t need = 0;
    for (size_t i = 0; i < j->n_sel; i++) {
      if (j->models[i])
        need += j->models[i]->memory_bytes;
      else if (j->kept[i])
        for (size_t c = 0; c < lm->n_vers; c++)
          if (lm->vers[c].model && lm->vers[c].version == j->sel[i])
            need += lm->vers[c].model->memory_bytes;
    }
    bool too_big = false;
    if (r->o.memory_budget_bytes && first_err == j->n_sel &&
        !make_room(r, lm, need)) {
      too_big = true;
      uint64_t held = fixed_bytes(r, lm);
      result = inferd_status_new(
          INFERD_UNAVAILABLE,
          "failed to load '%s': it needs %llu bytes; the memory budget is "
          "%llu bytes and %llu bytes are held by models that cannot be "
          "evicted (in use or pinned)",
          lm->name, (unsigned long long)need,
          (unsigned long long)r->o.memory_budget_bytes,
          (unsigned long long)held);
    }
    if (too_big) {
      reject_load(r, lm, j, result);
      LOG_ERROR("%s", inferd_status_message(result));
    } else if (first_err < j->n_sel && serving) {
      /* failed reload: the old versions keep serving */
      result = inferd_status_prefix(j->errs[first_err], "version %lld",
                                    (long long)j->sel[first_err]);
      j->errs[first_err] = NULL;
      reject_load(r, lm, j, result);
      LOG_ERROR("reload of model \"%s\" failed, the serving versions stay: "
                "%s",
                lm->name, inferd_status_message(result));
    } else {
      /* swap: the new version set replaces the old one */
      lc_ver_t *nv = calloc(j->n_sel + 1, sizeof(*nv));
      if (!nv) {
        for (size_t i = 0; i < j->n_sel; i++)
          if (j->models[i])
            core_ref_release(&j->models[i]->ref);
        result = OOM();
      } else {
        for (size_t i = 0; i < j->n_sel; i++) {
          nv[i].version = j->sel[i];
          nv[i].fp = j->sel_fp[i];
          if (j->kept[i]) {
            for (size_t c = 0; c < lm->n_vers; c++)
              if (lm->vers[c].model && lm->vers[c].version == j->sel[i]) {
                nv[i].model = lm->vers[c].model;
                lm->vers[c].model = NULL;
              }
            nv[i].state = REPO_STATE_READY;
          } else if (j->models[i]) {
            nv[i].model = j->models[i];
            nv[i].state = REPO_STATE_READY;
            /* a fresh version counts as just used, not as the LRU */
            atomic_store_explicit(&nv[i].model->last_used_ns, core_now_ns(),
                                  memory_order_relaxed);
          } else {
            nv[i].state = REPO_STATE_UNAVAILABLE;
            nv[i].failed = true;
            nv[i].reason = core_strdup(inferd_status_message(j->errs[i]));
          }
        }
        for (size_t c = 0; c < lm->n_vers; c++)
          if (lm->vers[c].model)
            drain_add(r, lm, lm->vers[c].model, lm->vers[c].version);
        vers_clear(lm);
        lm->vers = nv;
        lm->n_vers = j->n_sel;
        lm->state = REPO_STATE_READY;
        set_str(&lm->reason, NULL);
        lm->base_fp = j->base_fp;
        lm->tried_fp = j->fp;
        lm->has_tried = true;
        lm->overridden = op->config || op->n_files;
        lm->mem_bytes = need;
        lm->n_loads++;
        lm->pinned = op->pinned;
        old_dir_add(lm, lm->override_dir);
        lm->override_dir = j->new_dir;
        j->new_dir = NULL;
        old_dirs_clean(lm);
        if (first_err < j->n_sel) {
          result = inferd_status_prefix(j->errs[first_err], "version %lld",
                                        (long long)j->sel[first_err]);
          j->errs[first_err] = NULL;
        }
      }
    }
    mark(r, lm);
    if (stopping)
      unload_model(r, lm);
  }
  inferd_status_t *werr =
      result ? inferd_status_new(inferd_status_code(result), "%s",
                                 inferd_status_message(result))
             : NULL;
  done_later(r, op->cb, op->userp, result);
  op_free(op);
  j->op = NULL;
  job_free(j);
  start_next(r, lm);
  waiters_check(r, lm, werr);
  inferd_status_free(werr);
}

static void finalised(repo_t *r, lc_job_t *j) {
  lc_mref_t *mref = j->mref;
  lc_model_t *lm = mref->lm;
  free(mref);
  job_free(j);
  if (!lm)
    return;
  /* a version that was unloaded (not replaced) is now UNAVAILABLE */
  for (size_t i = 0; i < lm->n_vers; i++) {
    lc_ver_t *v = &lm->vers[i];
    if (v->state != REPO_STATE_UNLOADING)
      continue;
    bool draining = false;
    for (size_t d = 0; d < lm->n_drains && !draining; d++)
      draining = lm->drains[d].version == v->version;
    if (!draining) {
      v->state = REPO_STATE_UNAVAILABLE;
      set_str(&v->reason, lm->evicted ? "evicted (memory budget)" : "unloaded");
    }
  }
  old_dirs_clean(lm);
  mark(r, lm);
}

static void unused(repo_t *r, lc_mref_t *mref) {
  lc_model_t *lm = mref->lm;
  for (size_t i = 0; lm && i < lm->n_drains; i++)
    if (lm->drains[i].model == mref->model) {
      lm->drains[i] = lm->drains[--lm->n_drains];
      break;
    }
  lc_job_t *j = calloc(1, sizeof(*j));
  if (!j) {
    LOG_ERROR("model \"%s\": out of memory; the version stays loaded",
              mref->model->name);
    return;
  }
  j->kind = JOB_FINALISE;
  j->r = r;
  j->mref = mref;
  job_post(r, j);
}

static void handle_op(repo_t *r, lc_op_t *op) {
  if (r->stopping) {
    done_later(r, op->cb, op->userp,
               inferd_status_new(INFERD_UNAVAILABLE, "server is stopping"));
    op_free(op);
    return;
  }
  lc_model_t *lm = lm_find(r, op->name);
  if (!lm) {
    char *dir = NULL;
    bool dup = false;
    inferd_status_t *st =
        repo_find_dir((const char *const *)r->repos, r->o.n_repositories,
                      op->name, &dir, &dup);
    if (!st && !dir && !dup && !(op->kind == OP_LOAD && op->n_files))
      st = op->kind == OP_LOAD
               ? inferd_status_new(INFERD_INVALID_ARG,
                                   "failed to load '%s', failed to poll from "
                                   "model repository",
                                   op->name)
           : op->kind == OP_UNLOAD
               ? inferd_status_new(INFERD_INVALID_ARG,
                                   "failed to unload '%s', no version is "
                                   "available",
                                   op->name)
               : inferd_status_new(INFERD_NOT_FOUND,
                                   "Request for unknown model: '%s' is not "
                                   "found",
                                   op->name);
    if (!st && !(lm = lm_add(r, op->name, dir, dup)))
      st = OOM();
    free(dir);
    if (st) {
      done_later(r, op->cb, op->userp, st);
      op_free(op);
      return;
    }
  }
  if (op->kind == OP_ENSURE) {
    if (lm_serving(lm)) {
      done_later(r, op->cb, op->userp, NULL);
      op_free(op);
      return;
    }
    op->next = lm->waiters;
    lm->waiters = op;
    if (!lm->busy && !lm->pend_head)
      start_ensure_load(r, lm);
    return;
  }
  if (lm->busy) {
    if (lm->pend_tail)
      lm->pend_tail->next = op;
    else
      lm->pend_head = op;
    lm->pend_tail = op;
    return;
  }
  start_op(r, lm, op);
}

static lc_op_t *op_internal(int kind, const char *name) {
  lc_op_t *op = calloc(1, sizeof(*op));
  if (op && !(op->name = core_strdup(name))) {
    free(op);
    return NULL;
  }
  if (op) {
    op->kind = kind;
    op->from_poll = true;
  }
  return op;
}

static void poll_once(repo_t *r) {
  repo_dir_entry_t *list = NULL;
  size_t n = 0;
  inferd_status_t *st =
      repo_scan((const char *const *)r->repos, r->o.n_repositories, &list, &n);
  if (st) {
    LOG_ERROR("repository poll: %s", inferd_status_message(st));
    inferd_status_free(st);
    return;
  }
  /* models gone from every repository */
  for (size_t i = 0; i < r->n_models; i++) {
    lc_model_t *lm = r->models[i];
    bool present = false;
    for (size_t k = 0; k < n && !present; k++)
      present = strcmp(list[k].name, lm->name) == 0;
    if (!present && lm->dir && !lm->overridden) {
      free(lm->dir);
      lm->dir = NULL;
      if (lm_serving(lm) || lm->busy) {
        lc_op_t *op = op_internal(OP_UNLOAD, lm->name);
        if (op)
          handle_op(r, op);
      }
    }
  }
  for (size_t k = 0; k < n; k++) {
    lc_model_t *lm = lm_find(r, list[k].name);
    if (!lm && !(lm = lm_add(r, list[k].name, list[k].dir, list[k].duplicate)))
      continue;
    if (list[k].duplicate != lm->duplicate) {
      lm->duplicate = list[k].duplicate;
      mark(r, lm);
    }
    if (!lm->dir && list[k].dir)
      lm->dir = core_strdup(list[k].dir);
    if (lm->duplicate) {
      lm->asked = true;
      continue;
    }
    if (lm->busy || lm->pend_head || lm->overridden)
      continue;
    lc_op_t *op = op_internal(OP_LOAD, lm->name);
    if (op)
      handle_op(r, op);
  }
  repo_dir_list_free(list, n);
}

/* drains past their deadline fail what they still have queued */
static void drain_timeouts(repo_t *r, uint64_t now) {
  for (size_t i = 0; i < r->n_models; i++) {
    lc_model_t *lm = r->models[i];
    for (lc_op_t **pw = &lm->waiters; *pw;) {
      lc_op_t *w = *pw;
      if (now < w->deadline_ns) {
        pw = &w->next;
        continue;
      }
      *pw = w->next;
      done_later(r, w->cb, w->userp,
                 inferd_status_new(INFERD_UNAVAILABLE,
                                   "model '%s' did not load within %u ms "
                                   "(--model-load-on-demand-timeout-ms)",
                                   lm->name, r->o.load_on_demand_timeout_ms));
      op_free(w);
    }
    for (size_t d = 0; d < lm->n_drains; d++) {
      lc_drain_t *dr = &lm->drains[d];
      if (dr->drained || now < dr->deadline_ns)
        continue;
      dr->drained = true;
      if (!r->stopping)
        LOG_WARNING("model \"%s\" version %lld: still in use %u ms after it "
                    "was unloaded; failing its queued requests",
                    lm->name, (long long)dr->version, r->o.unload_timeout_ms);
      /* the model is alive: its last release, if it happens now, only
       * queues an event that this thread handles later */
      model_drain(dr->model);
    }
  }
}

static uint64_t next_deadline(repo_t *r) {
  uint64_t dl = UINT64_MAX;
  if (r->polling && !r->stopping)
    dl = r->next_poll_ns;
  if (r->stopping && r->stop_deadline_ns < dl)
    dl = r->stop_deadline_ns;
  for (size_t i = 0; i < r->n_models; i++) {
    for (size_t d = 0; d < r->models[i]->n_drains; d++)
      if (!r->models[i]->drains[d].drained &&
          r->models[i]->drains[d].deadline_ns < dl)
        dl = r->models[i]->drains[d].deadline_ns;
    for (lc_op_t *w = r->models[i]->waiters; w; w = w->next)
      if (w->deadline_ns < dl)
        dl = w->deadline_ns;
  }
  return dl;
}

static void begin_stop(repo_t *r) {
  r->stopping = true;
  r->stop_deadline_ns =
      r->stop_timeout_ms < 0
          ? UINT64_MAX
          : core_now_ns() + (uint64_t)r->stop_timeout_ms * 1000000u;
  for (size_t i = 0; i < r->n_models; i++) {
    lc_model_t *lm = r->models[i];
    while (lm->pend_head) {
      lc_op_t *op = lm->pend_head;
      lm->pend_head = op->next;
      done_later(r, op->cb, op->userp,
                 inferd_status_new(INFERD_UNAVAILABLE, "server is stopping"));
      op_free(op);
    }
    lm->pend_tail = NULL;
    while (lm->waiters) {
      lc_op_t *w = lm->waiters;
      lm->waiters = w->next;
      done_later(r, w->cb, w->userp,
                 inferd_status_new(INFERD_UNAVAILABLE, "server is stopping"));
      op_free(w);
    }
    if (!lm->busy && lm_serving(lm))
      unload_model(r, lm);
  }
}

static void *repo_main(void *p) {
  repo_t *r = p;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->ev_head) {
      if (r->stopping && ((atomic_load(&r->n_live) == 0 && r->n_jobs == 0) ||
                          core_now_ns() >= r->stop_deadline_ns))
        goto out;
      uint64_t dl = next_deadline(r);
      if (dl == UINT64_MAX) {
        pthread_cond_wait(&r->cv, &r->mu);
        continue;
      }
      uint64_t now = core_now_ns();
      if (dl <= now)
        break;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t wait = dl - now;
      ts.tv_sec += (time_t)(wait / 1000000000u);
      ts.tv_nsec += (long)(wait % 1000000000u);
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
        break;
    }
    lc_event_t *ev = r->ev_head;
    r->ev_head = r->ev_tail = NULL;
    pthread_mutex_unlock(&r->mu);
    while (ev) {
      lc_event_t *next = ev->next;
      switch (ev->kind) {
      case EV_OP:
        handle_op(r, ev->p);
        break;
      case EV_JOB_DONE: {
        lc_job_t *j = ev->p;
        r->n_jobs--;
        if (j->kind == JOB_LOAD)
          load_done(r, j);
        else
          finalised(r, j);
        break;
      }
      case EV_UNUSED:
        unused(r, ev->p);
        break;
      case EV_STOP:
        begin_stop(r);
        break;
      }
      ev = next;
    }
    uint64_t now = core_now_ns();
    if (r->polling && !r->stopping && now >= r->next_poll_ns) {
      poll_once(r);
      r->next_poll_ns = core_now_ns() + (uint64_t)r->o.poll_secs * 1000000000u;
    }
    drain_timeouts(r, now);
    publish(r);
    /* the table no longer shows these: drop its references */
    for (size_t i = 0; i < r->n_release; i++)
      core_ref_release(&r->to_release[i]->ref);
    r->n_release = 0;
    for (size_t i = 0; i < r->n_dones; i++)
      r->dones[i].cb(r->dones[i].st, r->dones[i].userp);
    r->n_dones = 0;
    pthread_mutex_lock(&r->mu);
  }
out:
  r->shutdown_ok = atomic_load(&r->n_live) == 0 && r->n_jobs == 0;
  r->done = true;
  pthread_cond_broadcast(&r->done_cv);
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* ------------------------------------------------------------ public */

inferd_status_t *repo_new(const repo_options_t *o, repo_t **out) {
  repo_t *r = calloc(1, sizeof(*r));
  if (!r)
    return OOM();
  r->o = *o;
  if (r->o.load_threads == 0)
    r->o.load_threads = 1;
  pthread_rwlock_init(&r->tbl.lock, NULL);
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->jmu, NULL);
  pthread_cond_init(&r->jcv, NULL);
  pthread_cond_init(&r->done_cv, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&r->n_live, 0);
  r->repos = calloc(o->n_repositories + 1, sizeof(char *));
  r->workers = calloc(r->o.load_threads, sizeof(pthread_t));
  if (!r->repos || !r->workers) {
    repo_free(r);
    return OOM();
  }
  for (size_t i = 0; i < o->n_repositories; i++)
    r->repos[i] = (char *)o->repositories[i];
  *out = r;
  return NULL;
}

typedef struct latch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t left;
  inferd_status_t *first;
} latch_t;

typedef struct latch_arg {
  latch_t *l;
  char *name;
} latch_arg_t;

static void latch_cb(inferd_status_t *st, void *userp) {
  latch_arg_t *a = userp;
  latch_t *l = a->l;
  pthread_mutex_lock(&l->mu);
  if (st && !l->first)
    l->first = inferd_status_prefix(st, "failed to load '%s'", a->name);
  else
    inferd_status_free(st);
  if (--l->left == 0)
    pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  free(a->name);
  free(a);
}

static inferd_status_t *start_threads(repo_t *r) {
  for (uint32_t i = 0; i < r->o.load_threads; i++) {
    if (pthread_create(&r->workers[i], NULL, worker_main, r) != 0)
      return inferd_status_new(INFERD_INTERNAL,
                               "cannot start the model load threads");
    r->n_workers++;
  }
  if (pthread_create(&r->thread, NULL, repo_main, r) != 0)
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot start the repository thread");
  r->started = true;
  return NULL;
}

static lc_op_t *op_new(int kind, const char *name, size_t len,
                       inferd_repository_cb cb, void *userp) {
  lc_op_t *op = calloc(1, sizeof(*op));
  if (!op)
    return NULL;
  if (!(op->name = malloc(len + 1))) {
    free(op);
    return NULL;
  }
  memcpy(op->name, name, len);
  op->name[len] = '\0';
  op->kind = kind;
  op->cb = cb;
  op->userp = userp;
  op->ev.kind = EV_OP;
  op->ev.p = op;
  return op;
}

inferd_status_t *repo_load_startup(repo_t *r, const char *const *names,
                                   size_t n_names, bool exit_on_error) {
  repo_dir_entry_t *list = NULL;
  size_t n = 0;
  inferd_status_t *st =
      repo_scan((const char *const *)r->repos, r->o.n_repositories, &list, &n);
  if (st)
    return st;
  bool all = r->o.control_mode != INFERD_CONTROL_EXPLICIT ||
             (n_names == 1 && strcmp(names[0], "*") == 0);
  for (size_t i = 0; i < n; i++) {
    lc_model_t *lm = lm_add(r, list[i].name, list[i].dir, list[i].duplicate);
    if (!lm) {
      repo_dir_list_free(list, n);
      return OOM();
    }
    if (all && lm->duplicate)
      lm->asked = true;
  }
  if (n == 0)
    LOG_WARNING("no models found in the model repositories");
  inferd_status_t *dup_err = NULL;
  for (size_t i = 0; i < n && all; i++)
    if (list[i].duplicate && !dup_err)
      dup_err = inferd_status_new(INFERD_INVALID_ARG,
                                  "failed to load '%s': model appears in two "
                                  "or more repositories",
                                  list[i].name);
  publish(r);
  if ((st = start_threads(r))) {
    repo_dir_list_free(list, n);
    inferd_status_free(dup_err);
    return st;
  }
  latch_t l = {.left = 1};
  pthread_mutex_init(&l.mu, NULL);
  pthread_cond_init(&l.cv, NULL);
  size_t count = all ? n : n_names;
  for (size_t i = 0; i < count; i++) {
    const char *name = all ? list[i].name : names[i];
    if (all && list[i].duplicate)
      continue;
    latch_arg_t *a = calloc(1, sizeof(*a));
    lc_op_t *op = a ? op_new(OP_LOAD, name, strlen(name), latch_cb, a) : NULL;
    if (!op || !(a->name = core_strdup(name))) {
      free(a);
      op_free(op);
      pthread_mutex_lock(&l.mu);
      if (!l.first)
        l.first = OOM();
      pthread_mutex_unlock(&l.mu);
      break;
    }
    a->l = &l;
    op->pinned = !all || r->o.control_mode == INFERD_CONTROL_EXPLICIT;
    pthread_mutex_lock(&l.mu);
    l.left++;
    pthread_mutex_unlock(&l.mu);
    post(r, &op->ev);
  }
  repo_dir_list_free(list, n);
  pthread_mutex_lock(&l.mu);
  l.left--;
  while (l.left > 0)
    pthread_cond_wait(&l.cv, &l.mu);
  pthread_mutex_unlock(&l.mu);
  pthread_mutex_destroy(&l.mu);
  pthread_cond_destroy(&l.cv);
  if (!l.first)
    l.first = dup_err;
  else
    inferd_status_free(dup_err);
  if (r->o.control_mode == INFERD_CONTROL_POLL) {
    /* the repository thread reads these: hand them over through its queue
     * lock */
    pthread_mutex_lock(&r->mu);
    r->polling = true;
    r->next_poll_ns = core_now_ns() + (uint64_t)r->o.poll_secs * 1000000000u;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  if (exit_on_error)
    return l.first;
  inferd_status_free(l.first);
  return NULL;
}

static inferd_status_t *copy_files(lc_op_t *op,
                                   const inferd_model_load_options_t *o) {
  op->files = calloc(o->n_files + 1, sizeof(inferd_model_file_t));
  if (!op->files)
    return OOM();
  for (size_t i = 0; i < o->n_files; i++) {
    const inferd_model_file_t *f = &o->files[i];
    char *path = malloc(f->path_len + 1);
    void *data = malloc(f->byte_size ? f->byte_size : 1);
    if (!path || !data) {
      free(path);
      free(data);
      return OOM();
    }
    memcpy(path, f->path, f->path_len);
    path[f->path_len] = '\0';
    if (f->byte_size)
      memcpy(data, f->data, f->byte_size);
    op->files[i] = (inferd_model_file_t){path, f->path_len, data, f->byte_size};
    op->n_files++;
  }
  return NULL;
}

inferd_status_t *repo_load_async(repo_t *r, const char *name, size_t len,
                                 const inferd_model_load_options_t *o,
                                 inferd_repository_cb cb, void *userp) {
  inferd_status_t *st = repo_check_model_name(name, len);
  if (st)
    return st;
  if (o && o->n_files && !o->config_json)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "failed to load '%.*s': load parameter "
                             "\"file:\" requires the \"config\" parameter",
                             (int)len, name);
  for (size_t i = 0; o && i < o->n_files; i++)
    if ((st = repo_check_file_path(o->files[i].path, o->files[i].path_len)))
      return st;
  lc_op_t *op = op_new(OP_LOAD, name, len, cb, userp);
  if (!op)
    return OOM();
  if (o && o->config_json) {
    size_t cl =
        o->config_json_len ? o->config_json_len : strlen(o->config_json);
    if (!(op->config = malloc(cl + 1))) {
      op_free(op);
      return OOM();
    }
    memcpy(op->config, o->config_json, cl);
    op->config[cl] = '\0';
    op->config_len = cl;
  }
  if (o && o->n_files && (st = copy_files(op, o))) {
    op_free(op);
    return st;
  }
  op->pinned = o && o->pinned;
  if (!post_op(r, op)) {
    op_free(op);
    return inferd_status_new(INFERD_UNAVAILABLE, "server is stopping");
  }
  return NULL;
}

inferd_status_t *repo_unload_async(repo_t *r, const char *name, size_t len,
                                   bool unload_dependents,
                                   inferd_repository_cb cb, void *userp) {
  (void)unload_dependents; /* no model has dependents before ensembles */
  inferd_status_t *st = repo_check_model_name(name, len);
  if (st)
    return st;
  lc_op_t *op = op_new(OP_UNLOAD, name, len, cb, userp);
  if (!op)
    return OOM();
  if (!post_op(r, op)) {
    op_free(op);
    return inferd_status_new(INFERD_UNAVAILABLE, "server is stopping");
  }
  return NULL;
}

inferd_status_t *repo_load_on_demand_async(repo_t *r, const char *name,
                                           size_t len, inferd_repository_cb cb,
                                           void *userp, bool *waiting) {
  *waiting = false;
  if (!r->o.load_on_demand)
    return NULL;
  inferd_status_t *st = repo_check_model_name(name, len);
  if (st) { /* the caller answers its own error for such a name */
    inferd_status_free(st);
    return NULL;
  }
  bool known = false;
  if (repo_tbl_has_ready(r, name, len, &known))
    return NULL;
  lc_op_t *op = op_new(OP_ENSURE, name, len, cb, userp);
  if (!op)
    return OOM();
  if (!known) { /* a directory added since the last scan counts too */
    char *dir = NULL;
    bool dup = false;
    st = repo_find_dir((const char *const *)r->repos, r->o.n_repositories,
                       op->name, &dir, &dup);
    bool found = dir || dup;
    free(dir);
    if (st || !found) {
      op_free(op);
      return st;
    }
  }
  op->deadline_ns =
      core_now_ns() + (uint64_t)r->o.load_on_demand_timeout_ms * 1000000u;
  if (!post_op(r, op)) {
    op_free(op);
    return inferd_status_new(INFERD_UNAVAILABLE, "server is stopping");
  }
  *waiting = true;
  return NULL;
}

bool repo_shutdown(repo_t *r, int64_t timeout_ms) {
  if (!r->started) {
    r->shutdown_ok = true;
  } else {
    pthread_mutex_lock(&r->mu);
    r->stop_timeout_ms = timeout_ms;
    pthread_mutex_unlock(&r->mu);
    r->stop_ev.kind = EV_STOP;
    post(r, &r->stop_ev);
    pthread_mutex_lock(&r->mu);
    while (!r->done)
      pthread_cond_wait(&r->done_cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    r->started = false;
    if (!r->shutdown_ok)
      return false; /* versions still held: leave the workers and models */
  }
  pthread_mutex_lock(&r->jmu);
  r->jstop = true;
  pthread_cond_broadcast(&r->jcv);
  pthread_mutex_unlock(&r->jmu);
  for (uint32_t i = 0; i < r->n_workers; i++)
    pthread_join(r->workers[i], NULL);
  r->n_workers = 0;
  return true;
}

void repo_free(repo_t *r) {
  if (!r)
    return;
  repo_tbl_t *t = r->tbl.cur;
  if (t) {
    free(t->entries);
    free(t);
  }
  for (size_t i = 0; i < r->n_models; i++) {
    lc_model_t *lm = r->models[i];
    repo_tbl_entry_free(lm->entry);
    vers_clear(lm);
    free(lm->drains);
    for (size_t k = 0; k < lm->n_old_dirs; k++) {
      repo_remove_tree(lm->old_dirs[k]);
      free(lm->old_dirs[k]);
    }
    free(lm->old_dirs);
    repo_remove_tree(lm->override_dir);
    free(lm->override_dir);
    free(lm->name);
    free(lm->dir);
    free(lm->reason);
    free(lm);
  }
  free(r->models);
  free(r->dones);
  free(r->to_release);
  free(r->repos);
  free(r->workers);
  pthread_rwlock_destroy(&r->tbl.lock);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  pthread_cond_destroy(&r->done_cv);
  pthread_mutex_destroy(&r->jmu);
  pthread_cond_destroy(&r->jcv);
  free(r);
}
