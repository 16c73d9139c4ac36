/*
 * inproc_client.c: see inproc_client.h. Only the public API of libinferd.so
 * is used, so these tools exercise the same host (repository, scheduler,
 * instance threads, backend ABI) as the inferd binary does.
 *
 * ic_infer keeps one wait object per call on its stack; each request's userp
 * points at its slot, and the release callback (a server thread) counts the
 * call down under the object's mutex. The caller returns only after the
 * count reaches zero, so no callback can touch the stack frame afterwards.
 */
#include "inproc_client.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ic_repo {
  char path[PATH_MAX];
};

inferd_status_t *ic_repo_new(ic_repo_t **out) {
  *out = NULL;
  ic_repo_t *r = calloc(1, sizeof(*r));
  if (!r)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !tmp[0])
    tmp = "/tmp";
  int n = snprintf(r->path, sizeof(r->path), "%s/inferd_repo.XXXXXX", tmp);
  if (n < 0 || (size_t)n >= sizeof(r->path) || !mkdtemp(r->path)) {
    inferd_status_t *st = inferd_status_new(
        INFERD_INTERNAL, "cannot create a temporary directory in \"%s\": %s",
        tmp, strerror(errno));
    free(r);
    return st;
  }
  *out = r;
  return NULL;
}

const char *ic_repo_path(const ic_repo_t *r) { return r->path; }

static inferd_status_t *make_dir(const char *p) {
  if (mkdir(p, 0755) != 0 && errno != EEXIST)
    return inferd_status_new(INFERD_INTERNAL, "cannot create \"%s\": %s", p,
                             strerror(errno));
  return NULL;
}

inferd_status_t *ic_repo_add_model(ic_repo_t *r, const char *name,
                                   const char *config_text,
                                   const char *model_file,
                                   const char *file_name) {
  char dir[PATH_MAX], p[PATH_MAX];
  if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", r->path, name) >= sizeof(dir))
    return inferd_status_new(INFERD_INVALID_ARG, "model \"%s\": path too long",
                             name);
  inferd_status_t *st = make_dir(dir);
  if (st)
    return st;
  if ((size_t)snprintf(p, sizeof(p), "%s/config.pbtxt", dir) >= sizeof(p))
    return inferd_status_new(INFERD_INVALID_ARG, "model \"%s\": path too long",
                             name);
  FILE *f = fopen(p, "w");
  if (!f)
    return inferd_status_new(INFERD_INTERNAL, "cannot create \"%s\": %s", p,
                             strerror(errno));
  size_t len = strlen(config_text);
  bool ok = fwrite(config_text, 1, len, f) == len;
  ok = fclose(f) == 0 && ok;
  if (!ok)
    return inferd_status_new(INFERD_INTERNAL, "cannot write \"%s\"", p);
  if ((size_t)snprintf(p, sizeof(p), "%s/1", dir) >= sizeof(p))
    return inferd_status_new(INFERD_INVALID_ARG, "model \"%s\": path too long",
                             name);
  if ((st = make_dir(p)))
    return st;
  if (!model_file)
    return NULL;
  char target[PATH_MAX];
  if (!realpath(model_file, target))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model \"%s\": model file \"%s\": %s", name,
                             model_file, strerror(errno));
  if ((size_t)snprintf(p, sizeof(p), "%s/1/%s", dir, file_name) >= sizeof(p))
    return inferd_status_new(INFERD_INVALID_ARG, "model \"%s\": path too long",
                             name);
  if (symlink(target, p) != 0)
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot link \"%s\" to \"%s\": %s", p, target,
                             strerror(errno));
  return NULL;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb, (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

void ic_repo_free(ic_repo_t *r) {
  if (!r)
    return;
  nftw(r->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(r);
}

inferd_status_t *ic_server_new(inferd_server_t **out, const char *repo,
                               const char *backend_dir, bool exit_on_error) {
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[1] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = backend_dir;
  o.exit_on_error = exit_on_error;
  o.model_control_mode = INFERD_CONTROL_NONE;
  return inferd_server_new(out, &o);
}

void ic_server_free(inferd_server_t *s) {
  if (!s)
    return;
  inferd_status_t *st = inferd_server_stop(s, 30);
  if (st) {
    fprintf(stderr, "inproc_client: stopping the server: %s\n",
            inferd_status_message(st));
    inferd_status_free(st);
  }
  inferd_server_free(s);
}

inferd_status_t *ic_request_input(inferd_request_t *req, const char *name,
                                  inferd_datatype_t dt, const int64_t *shape,
                                  size_t n_dims, const void *data,
                                  size_t byte_size) {
  uint32_t index = 0;
  inferd_status_t *st = inferd_request_add_input(req, name, strlen(name), dt,
                                                 shape, n_dims, &index);
  if (!st)
    st = inferd_request_append_input_data(req, index, data, byte_size,
                                          INFERD_MEM_CPU, 0);
  return st;
}

typedef struct ic_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t pending;
} ic_wait_t;

typedef struct ic_slot {
  ic_wait_t *w;
  inferd_response_t **resp;
} ic_slot_t;

static void on_response(inferd_response_t *resp, uint32_t flags, void *userp) {
  ic_slot_t *slot = userp;
  if (!(flags & INFERD_RESPONSE_FLAG_FINAL) || !resp) {
    inferd_response_free(resp); /* only the final response is kept */
    return;
  }
  inferd_response_free(*slot->resp);
  *slot->resp = resp;
}

static void on_release(inferd_request_t *req, void *userp) {
  (void)req;
  ic_wait_t *w = ((ic_slot_t *)userp)->w;
  pthread_mutex_lock(&w->mu);
  if (--w->pending == 0)
    pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

inferd_status_t *ic_infer(inferd_server_t *s, inferd_request_t **reqs, size_t n,
                          inferd_response_t **resps) {
  ic_slot_t *slots = calloc(n ? n : 1, sizeof(*slots));
  if (!slots)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  ic_wait_t w = {.pending = 0};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  inferd_status_t *refused = NULL;

  /* pending counts every request first so that an early release cannot
   * reach zero while later ones are still being submitted */
  w.pending = n;
  inferd_thread_defer_wakeups(true);
  size_t i;
  for (i = 0; i < n; i++) {
    resps[i] = NULL;
    slots[i].w = &w;
    slots[i].resp = &resps[i];
    inferd_request_set_callbacks(reqs[i], on_response, on_release, &slots[i]);
    refused = inferd_server_infer_async(s, reqs[i]);
    if (refused)
      break;
  }
  inferd_thread_defer_wakeups(false);
  pthread_mutex_lock(&w.mu);
  w.pending -= n - i; /* the refused request and those never submitted */
  for (size_t k = i + 1; k < n; k++)
    resps[k] = NULL;
  while (w.pending > 0)
    pthread_cond_wait(&w.cv, &w.mu);
  pthread_mutex_unlock(&w.mu);
  pthread_cond_destroy(&w.cv);
  pthread_mutex_destroy(&w.mu);
  free(slots);
  if (refused)
    return inferd_status_prefix(refused, "request %zu", i);
  return NULL;
}

const char *ic_response_error(const inferd_response_t *resp) {
  if (!resp)
    return "no response";
  const inferd_status_t *st = inferd_response_error(resp);
  return st ? inferd_status_message(st) : NULL;
}

bool ic_response_output(const inferd_response_t *resp, const char *name,
                        inferd_datatype_t *dt, const int64_t **shape,
                        size_t *n_dims, const void **data, size_t *byte_size) {
  if (!resp)
    return false;
  for (size_t i = 0; i < inferd_response_output_count(resp); i++) {
    const char *n = NULL;
    inferd_response_output(resp, i, &n, dt, shape, n_dims, data, byte_size);
    if (n && strcmp(n, name) == 0)
      return true;
  }
  return false;
}

inferd_status_t *ic_model_counts(inferd_server_t *s, const char *name,
                                 uint64_t min_executions, uint64_t *inferences,
                                 uint64_t *executions) {
  for (int tries = 0;; tries++) {
    inferd_model_stats_t *st = NULL;
    size_t n = 0;
    inferd_status_t *err =
        inferd_server_model_statistics(s, name, strlen(name), -1, &st, &n);
    if (err)
      return err;
    *inferences = *executions = 0;
    for (size_t i = 0; i < n; i++) {
      *inferences += st[i].inference_count;
      *executions += st[i].execution_count;
    }
    inferd_model_stats_free(st, n);
    if (*executions >= min_executions || tries == 200)
      return NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

bool ic_config_io(char *buf, size_t n, bool output, const char *name,
                  inferd_datatype_t dt, const int64_t *dims, size_t n_dims) {
  size_t o = strlen(buf);
  const char *type =
      dt == INFERD_TYPE_BYTES ? "STRING" : inferd_datatype_name(dt);
  int w = snprintf(buf + o, n - o,
                   "%s [ { name: \"%s\" data_type: TYPE_%s dims: [ ",
                   output ? "output" : "input", name, type);
  if (w < 0 || (size_t)w >= n - o)
    return false;
  o += (size_t)w;
  for (size_t i = 0; i < n_dims; i++) {
    w = snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (w < 0 || (size_t)w >= n - o)
      return false;
    o += (size_t)w;
  }
  /* a config cannot declare a scalar (dims must not be empty; an empty
   * reshape needs max_batch_size > 0): it becomes one element */
  w = snprintf(buf + o, n - o, "%s ] } ]\n", n_dims ? "" : "1");
  return w >= 0 && (size_t)w < n - o;
}
