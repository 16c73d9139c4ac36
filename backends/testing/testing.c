/*
 * testing.c: a backend for scheduler and fault tests. It behaves like
 * identity (INPUT<s> → OUTPUT<s>, X → X) and is steered by the config's
 * `parameters` (string values) and by request parameters:
 *
 *   execute_delay_ms, execute_delay_per_request_ms, fail_execute,
 *   fail_every_n, crash_on_execute, fail_model_init, fail_instance_init,
 *   model_init_delay_ms, record_batches_file, model_init_alloc_bytes
 *   (memory held and reported through model_memory_bytes, ABI 1.2); per
 *   request: delay_ms, fail.
 *
 * backends/README.md documents each one. State: the model's settings are
 * fixed in model_init; the only mutable model state is the request counter
 * of fail_every_n (atomic, shared by the model's instances). Batch records
 * are appended with one write() on an O_APPEND descriptor, so lines from
 * instances running in parallel never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/bk_util.h"

typedef struct testing_model {
  bk_io_map_t *map;
  int64_t execute_delay_ms;
  int64_t execute_delay_per_request_ms;
  int64_t fail_every_n; /* 0: never */
  bool fail_execute;
  bool crash_on_execute;
  char *fail_instance_init; /* NULL: instances initialise */
  int record_fd;            /* -1: no record file */
  atomic_uint_least64_t n_requests;
  void *ballast; /* model_init_alloc_bytes, touched so that it is resident */
  uint64_t ballast_bytes;
} testing_model_t;

static void testing_model_free(testing_model_t *s) {
  if (!s)
    return;
  if (s->record_fd >= 0)
    close(s->record_fd);
  free(s->fail_instance_init);
  free(s->map);
  free(s->ballast);
  free(s);
}

/* Opens the record file; a relative path is taken from the model directory. */
static inferd_status_t *open_record_file(const inferd_backend_model_t *m,
                                         const char *path, int *fd) {
  char buf[4096];
  const char *full = path;
  if (path[0] != '/') {
    int n = snprintf(buf, sizeof(buf), "%s/%s", bk_host->model_dir(m), path);
    if (n < 0 || (size_t)n >= sizeof(buf))
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": parameters "
                                 "\"record_batches_file\": path too long",
                                 bk_host->model_name(m));
    full = buf;
  }
  *fd = open(full, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (*fd < 0)
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": parameters "
        "\"record_batches_file\": cannot open \"%s\": %s",
        bk_host->model_name(m), full, strerror(errno));
  return NULL;
}

static inferd_status_t *testing_model_init(inferd_backend_model_t *m) {
  const char *model = bk_host->model_name(m);
  int64_t init_delay = 0;
  inferd_status_t *st =
      bk_param_int(m, "model_init_delay_ms", 0, INT64_MAX, &init_delay);
  if (st)
    return st;
  bk_sleep_ms(init_delay);
  const char *fail = bk_host->model_parameter(m, "fail_model_init");
  if (fail && *fail)
    return bk_host->status_new(
        INFERD_INTERNAL, "model \"%s\": %s (fail_model_init)", model, fail);

  testing_model_t *s = calloc(1, sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  s->record_fd = -1;
  atomic_init(&s->n_requests, 0);
  st = bk_io_map_new(m, &s->map);
  if (!st)
    st =
        bk_param_int(m, "execute_delay_ms", 0, INT64_MAX, &s->execute_delay_ms);
  if (!st)
    st = bk_param_int(m, "execute_delay_per_request_ms", 0, INT64_MAX,
                      &s->execute_delay_per_request_ms);
  if (!st)
    st = bk_param_int(m, "fail_every_n", 0, INT64_MAX, &s->fail_every_n);
  if (!st)
    st = bk_param_bool(m, "fail_execute", &s->fail_execute);
  if (!st)
    st = bk_param_bool(m, "crash_on_execute", &s->crash_on_execute);
  if (!st) {
    const char *v = bk_host->model_parameter(m, "fail_instance_init");
    if (v && *v && !(s->fail_instance_init = strdup(v)))
      st = bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  }
  if (!st) {
    const char *v = bk_host->model_parameter(m, "record_batches_file");
    if (v && *v)
      st = open_record_file(m, v, &s->record_fd);
  }
  int64_t ballast = 0;
  if (!st)
    st = bk_param_int(m, "model_init_alloc_bytes", 0, INT64_MAX, &ballast);
  if (!st && ballast > 0) {
    if (!(s->ballast = malloc((size_t)ballast)))
      st = bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate %" PRId64
                               " bytes (model_init_alloc_bytes)",
                               model, ballast);
    else {
      memset(s->ballast, 0xa5, (size_t)ballast);
      s->ballast_bytes = (uint64_t)ballast;
    }
  }
  if (st) {
    testing_model_free(s);
    return st;
  }
  bk_host->model_set_state(m, s);
  return NULL;
}

static void testing_model_fini(inferd_backend_model_t *m) {
  testing_model_free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

static inferd_status_t *testing_instance_init(inferd_backend_instance_t *i) {
  inferd_backend_model_t *m = bk_host->instance_model(i);
  const testing_model_t *s = bk_host->model_state(m);
  if (s->fail_instance_init)
    return bk_host->status_new(INFERD_INTERNAL,
                               "model \"%s\": instance \"%s\": %s "
                               "(fail_instance_init)",
                               bk_host->model_name(m),
                               bk_host->instance_name(i),
                               s->fail_instance_init);
  return NULL;
}

/* Growable line buffer for the batch record. */
typedef struct line {
  char *p;
  size_t len, cap;
  bool oom;
} line_t;

static void line_add(line_t *l, const char *s, size_t n) {
  if (l->oom)
    return;
  if (l->len + n + 1 > l->cap) {
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + n + 1)
      cap *= 2;
    char *p = realloc(l->p, cap);
    if (!p) {
      l->oom = true;
      return;
    }
    l->p = p;
    l->cap = cap;
  }
  memcpy(l->p + l->len, s, n);
  l->len += n;
  l->p[l->len] = '\0';
}

static void line_str(line_t *l, const char *s) { line_add(l, s, strlen(s)); }

/* Appends s as a JSON string literal. */
static void line_json(line_t *l, const char *s) {
  line_add(l, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      line_add(l, esc, 2);
    } else if (*c < 0x20) {
      int n = snprintf(esc, sizeof(esc), "\\u%04x", *c);
      line_add(l, esc, (size_t)n);
    } else {
      line_add(l, (const char *)c, 1);
    }
  }
  line_add(l, "\"", 1);
}

/* One JSON line per execute:
 * {"batch_size":B,"requests":N,"instance":"name","ids":["a","b"]} */
static void record_batch(const testing_model_t *s,
                         inferd_backend_instance_t *inst,
                         inferd_request_t *const *requests, uint32_t n,
                         uint64_t batch) {
  line_t l = {0};
  char num[64];
  snprintf(num, sizeof(num), "{\"batch_size\":%" PRIu64 ",\"requests\":%u,",
           batch, n);
  line_str(&l, num);
  line_str(&l, "\"instance\":");
  line_json(&l, bk_host->instance_name(inst));
  line_str(&l, ",\"ids\":[");
  for (uint32_t i = 0; i < n; i++) {
    if (i)
      line_str(&l, ",");
    line_json(&l, bk_host->request_id(requests[i]));
  }
  line_str(&l, "]}\n");
  if (l.oom) {
    BK_LOG(BK_LOG_ERROR, "testing: record_batches_file: out of memory");
  } else {
    ssize_t w = write(s->record_fd, l.p, l.len);
    if (w != (ssize_t)l.len)
      BK_LOG(BK_LOG_ERROR, "testing: record_batches_file: write failed: %s",
             w < 0 ? strerror(errno) : "short write");
  }
  free(l.p);
}

/* Per-request overrides: delay_ms (int) and fail (bool). */
typedef struct overrides {
  int64_t delay_ms; /* -1: not given */
  int fail;         /* -1: not given, else 0/1 */
} overrides_t;

static inferd_status_t *read_overrides(const inferd_backend_model_t *m,
                                       const inferd_request_t *r,
                                       overrides_t *o) {
  o->delay_ms = -1;
  o->fail = -1;
  uint32_t n = bk_host->request_parameter_count(r);
  for (uint32_t i = 0; i < n; i++) {
    const char *key;
    inferd_param_type_t type;
    const void *value;
    inferd_status_t *st = bk_host->request_parameter(r, i, &key, &type, &value);
    if (st)
      return st;
    if (strcmp(key, "delay_ms") == 0) {
      bool ok = false;
      int64_t v = -1;
      if (type == INFERD_PARAM_INT) {
        memcpy(&v, value, sizeof(v));
        ok = true;
      } else if (type == INFERD_PARAM_STRING) {
        ok = bk_parse_int64(value, &v);
      } else if (type == INFERD_PARAM_DOUBLE) {
        double d;
        memcpy(&d, value, sizeof(d));
        ok = d >= 0 && d < 1e12;
        v = (int64_t)d;
      }
      if (!ok || v < 0)
        return bk_host->status_new(INFERD_INVALID_ARG,
                                   "model \"%s\": request parameter "
                                   "\"delay_ms\": expected a non-negative "
                                   "integer",
                                   bk_host->model_name(m));
      o->delay_ms = v;
    } else if (strcmp(key, "fail") == 0) {
      bool ok = false, v = false;
      if (type == INFERD_PARAM_BOOL) {
        memcpy(&v, value, sizeof(v));
        ok = true;
      } else if (type == INFERD_PARAM_STRING) {
        ok = bk_parse_bool(value, &v);
      } else if (type == INFERD_PARAM_INT) {
        int64_t iv;
        memcpy(&iv, value, sizeof(iv));
        ok = iv == 0 || iv == 1;
        v = iv == 1;
      }
      if (!ok)
        return bk_host->status_new(INFERD_INVALID_ARG,
                                   "model \"%s\": request parameter \"fail\": "
                                   "expected a boolean",
                                   bk_host->model_name(m));
      o->fail = v;
    }
  }
  return NULL;
}

static inferd_status_t *testing_one(testing_model_t *s,
                                    const inferd_backend_model_t *m,
                                    inferd_request_t *r,
                                    inferd_response_t *resp) {
  overrides_t o;
  inferd_status_t *st = read_overrides(m, r, &o);
  if (st)
    return st;
  bk_sleep_ms(o.delay_ms >= 0 ? o.delay_ms : s->execute_delay_per_request_ms);
  uint64_t k = atomic_fetch_add(&s->n_requests, 1) + 1;
  bool fail = o.fail >= 0
                  ? o.fail == 1
                  : s->fail_every_n > 0 && k % (uint64_t)s->fail_every_n == 0;
  if (fail) {
    if (o.fail == 1)
      return bk_host->status_new(INFERD_INTERNAL,
                                 "model \"%s\": request failed on purpose "
                                 "(request parameter \"fail\")",
                                 bk_host->model_name(m));
    return bk_host->status_new(INFERD_INTERNAL,
                               "model \"%s\": request %" PRIu64
                               " failed on purpose (fail_every_n=%" PRId64 ")",
                               bk_host->model_name(m), k, s->fail_every_n);
  }
  if (bk_host->request_is_cancelled(r))
    return bk_host->status_new(INFERD_CANCELLED,
                               "model \"%s\": request cancelled",
                               bk_host->model_name(m));
  return bk_io_map_fill(s->map, m, r, resp);
}

static inferd_status_t *testing_fill(void *state, inferd_backend_model_t *m,
                                     inferd_request_t *r,
                                     inferd_response_t *resp) {
  return testing_one(state, m, r, resp);
}

static inferd_status_t *testing_execute(inferd_backend_instance_t *inst,
                                        inferd_request_t *const *requests,
                                        uint32_t n) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  testing_model_t *s = bk_host->model_state(m);
  uint64_t exec_start = bk_host->now_ns();
  uint64_t batch = bk_batch_size(m, requests, n);
  if (s->record_fd >= 0)
    record_batch(s, inst, requests, n, batch);
  if (s->crash_on_execute) {
    BK_LOG(BK_LOG_ERROR,
           "model \"%s\": crash_on_execute is set: aborting the process",
           bk_host->model_name(m));
    fflush(NULL); /* abort() does not flush stdio: keep the log line */
    abort();
  }
  if (s->fail_execute)
    return bk_host->status_new(INFERD_INTERNAL,
                               "model \"%s\": execute failed on purpose "
                               "(fail_execute)",
                               bk_host->model_name(m));
  bk_sleep_ms(s->execute_delay_ms);
  bk_execute_each(inst, requests, n, batch, exec_start, bk_host->now_ns(),
                  testing_fill, s);
  return NULL;
}

/* ABI 1.2: the memory budget counts what model_init_alloc_bytes took */
static uint64_t testing_model_memory_bytes(inferd_backend_model_t *m) {
  const testing_model_t *s = bk_host->model_state(m);
  return s ? s->ballast_bytes : 0;
}

static const inferd_backend_api_t testing_api = {
    INFERD_BACKEND_API_HEADER,        .model_init = testing_model_init,
    .model_fini = testing_model_fini, .instance_init = testing_instance_init,
    .execute = testing_execute,
    .model_memory_bytes = testing_model_memory_bytes,
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("testing", host, &testing_api, api);
}
