/*
 * frameworks_host.c: the in-process host table of frameworks_host.h. It
 * implements every function of inferd_host_api_t with plain malloc'd
 * objects, keeping just enough state to check the backend's side of the
 * contract (one final response per request, then request_release).
 */
#include "frameworks_host.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FH_MAX_DIMS 16

struct inferd_status {
  inferd_code_t code;
  char msg[];
};

static inferd_status_t fh_oom = {INFERD_NO_MEMORY};

static void *xcalloc(size_t n, size_t s) {
  void *p = calloc(n ? n : 1, s ? s : 1);
  if (!p) {
    fputs("frameworks_host: out of memory\n", stderr);
    abort(); /* test tool: no way to continue meaningfully */
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xcalloc(1, n);
  memcpy(p, s, n);
  return p;
}

static inferd_status_t *h_status_new(inferd_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  inferd_status_t *st = malloc(sizeof(*st) + (size_t)n + 1);
  if (!st)
    return &fh_oom;
  st->code = code;
  va_start(ap, fmt);
  vsnprintf(st->msg, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return st;
}
static inferd_code_t h_status_code(const inferd_status_t *st) {
  return st ? st->code : INFERD_OK;
}
static const char *h_status_message(const inferd_status_t *st) {
  return st ? st->msg : "ok";
}
static void h_status_free(inferd_status_t *st) {
  if (st && st != &fh_oom)
    free(st);
}

static int fh_log_level = -1;
static bool h_log_enabled(int32_t level) {
  if (fh_log_level < 0) {
    const char *e = getenv("FH_LOG_LEVEL");
    fh_log_level = e ? (int)strtol(e, NULL, 10) : 1;
  }
  return level <= fh_log_level;
}
static void h_log(int32_t level, const char *file, int line, const char *fmt,
                  ...) {
  if (!h_log_enabled(level))
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%d] %s:%d: ", (int)level, file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
static uint64_t h_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- objects ---- */

struct inferd_backend {
  char *name;
  void *state;
};

typedef struct fh_io {
  char *name;
  inferd_datatype_t dt;
  int64_t dims[FH_MAX_DIMS];
  uint32_t n_dims;
} fh_io_t;

struct inferd_backend_instance {
  inferd_backend_model_t *model;
  char name[128];
  void *state;
};

struct inferd_backend_model {
  inferd_backend_t *backend;
  char *name, *file_path, *dir;
  int32_t max_batch_size;
  fh_io_t in[32], out[32];
  uint32_t n_in, n_out;
  char *keys[32], *values[32];
  uint32_t n_params;
  void *state;
};

struct fh_backend {
  void *dl;
  const inferd_backend_api_t *api;
  inferd_backend_t b;
};

struct fh_model {
  fh_backend_t *fb;
  inferd_backend_model_t m;
  inferd_backend_instance_t *inst;
  uint32_t n_inst;
  bool loaded;
};

typedef struct fh_tensor {
  char *name;
  inferd_datatype_t dt;
  int64_t shape[FH_MAX_DIMS];
  uint32_t n_dims;
  const void *data; /* input: borrowed; output: owned (malloc) */
  uint64_t byte_size;
} fh_tensor_t;

struct inferd_response {
  inferd_request_t *req;
  fh_tensor_t out[32];
  uint32_t n_out;
};

struct inferd_request {
  fh_tensor_t in[32];
  uint32_t n_in;
  char *want[32];
  uint32_t n_want;
  /* results */
  int n_final, released;
  char *error;
  fh_tensor_t out[32];
  uint32_t n_out;
};

/* ---- host functions ---- */

static const char *h_backend_name(const inferd_backend_t *b) { return b->name; }
static const char *h_backend_config(const inferd_backend_t *b, const char *k) {
  (void)b;
  (void)k;
  return NULL;
}
static void h_backend_set_state(inferd_backend_t *b, void *s) { b->state = s; }
static void *h_backend_state(const inferd_backend_t *b) { return b->state; }

static inferd_backend_t *h_model_backend(const inferd_backend_model_t *m) {
  return m->backend;
}
static const char *h_model_name(const inferd_backend_model_t *m) {
  return m->name;
}
static int64_t h_model_version(const inferd_backend_model_t *m) {
  (void)m;
  return 1;
}
static const char *h_model_dir(const inferd_backend_model_t *m) {
  return m->dir;
}
static const char *h_model_file_path(const inferd_backend_model_t *m) {
  return m->file_path;
}
static const char *h_model_config_json(const inferd_backend_model_t *m) {
  (void)m;
  return "{}";
}
static const char *h_model_parameter(const inferd_backend_model_t *m,
                                     const char *key) {
  for (uint32_t i = 0; i < m->n_params; i++)
    if (strcmp(m->keys[i], key) == 0)
      return m->values[i];
  return NULL;
}
static int32_t h_model_max_batch_size(const inferd_backend_model_t *m) {
  return m->max_batch_size;
}
static uint32_t h_model_input_count(const inferd_backend_model_t *m) {
  return m->n_in;
}
static uint32_t h_model_output_count(const inferd_backend_model_t *m) {
  return m->n_out;
}
static void io_get(const fh_io_t *io, const char **name, inferd_datatype_t *dt,
                   const int64_t **dims, uint32_t *n_dims) {
  if (name)
    *name = io->name;
  if (dt)
    *dt = io->dt;
  if (dims)
    *dims = io->dims;
  if (n_dims)
    *n_dims = io->n_dims;
}
static void h_model_input(const inferd_backend_model_t *m, uint32_t i,
                          const char **name, inferd_datatype_t *dt,
                          const int64_t **dims, uint32_t *n_dims) {
  io_get(&m->in[i], name, dt, dims, n_dims);
}
static void h_model_output(const inferd_backend_model_t *m, uint32_t i,
                           const char **name, inferd_datatype_t *dt,
                           const int64_t **dims, uint32_t *n_dims) {
  io_get(&m->out[i], name, dt, dims, n_dims);
}
static void h_model_set_state(inferd_backend_model_t *m, void *s) {
  m->state = s;
}
static void *h_model_state(const inferd_backend_model_t *m) { return m->state; }

static inferd_backend_model_t *
h_instance_model(const inferd_backend_instance_t *i) {
  return i->model;
}
static const char *h_instance_name(const inferd_backend_instance_t *i) {
  return i->name;
}
static int32_t h_instance_kind(const inferd_backend_instance_t *i) {
  (void)i;
  return INFERD_INSTANCE_KIND_CPU;
}
static int32_t h_instance_device_id(const inferd_backend_instance_t *i) {
  (void)i;
  return 0;
}
static void h_instance_set_state(inferd_backend_instance_t *i, void *s) {
  i->state = s;
}
static void *h_instance_state(const inferd_backend_instance_t *i) {
  return i->state;
}

static const char *h_request_id(const inferd_request_t *r) {
  (void)r;
  return "";
}
static uint64_t h_request_correlation_id(const inferd_request_t *r) {
  (void)r;
  return 0;
}
static const char *h_request_correlation_id_string(const inferd_request_t *r) {
  (void)r;
  return "";
}
static uint32_t h_request_flags(const inferd_request_t *r) {
  (void)r;
  return 0;
}
static uint32_t h_request_input_count(const inferd_request_t *r) {
  return r->n_in;
}
static inferd_status_t *
h_request_input(const inferd_request_t *r, uint32_t i, const char **name,
                inferd_datatype_t *dt, const int64_t **shape, uint32_t *n_dims,
                uint64_t *byte_size, uint32_t *n_buffers) {
  if (i >= r->n_in)
    return h_status_new(INFERD_INVALID_ARG, "input index %u out of range", i);
  const fh_tensor_t *t = &r->in[i];
  if (name)
    *name = t->name;
  if (dt)
    *dt = t->dt;
  if (shape)
    *shape = t->shape;
  if (n_dims)
    *n_dims = t->n_dims;
  if (byte_size)
    *byte_size = t->byte_size;
  if (n_buffers)
    *n_buffers = 1;
  return NULL;
}
static inferd_status_t *h_request_input_index(const inferd_request_t *r,
                                              const char *name, uint32_t *i) {
  for (uint32_t k = 0; k < r->n_in; k++)
    if (strcmp(r->in[k].name, name) == 0) {
      *i = k;
      return NULL;
    }
  return h_status_new(INFERD_NOT_FOUND, "no input \"%s\"", name);
}
static inferd_status_t *
h_request_input_buffer(const inferd_request_t *r, uint32_t input,
                       uint32_t buffer, const void **base, uint64_t *size,
                       inferd_memtype_t *mem_type, int64_t *device_id) {
  if (input >= r->n_in || buffer != 0)
    return h_status_new(INFERD_INVALID_ARG, "no buffer %u of input %u", buffer,
                        input);
  *base = r->in[input].data;
  *size = r->in[input].byte_size;
  *mem_type = INFERD_MEM_CPU;
  *device_id = 0;
  return NULL;
}
static uint32_t h_request_output_count(const inferd_request_t *r) {
  return r->n_want;
}
static const char *h_request_output_name(const inferd_request_t *r,
                                         uint32_t i) {
  return i < r->n_want ? r->want[i] : NULL;
}
static uint32_t h_request_parameter_count(const inferd_request_t *r) {
  (void)r;
  return 0;
}
static inferd_status_t *h_request_parameter(const inferd_request_t *r,
                                            uint32_t i, const char **key,
                                            inferd_param_type_t *type,
                                            const void **value) {
  (void)r;
  (void)key;
  (void)type;
  (void)value;
  return h_status_new(INFERD_INVALID_ARG, "no parameter %u", i);
}
static bool h_request_is_cancelled(const inferd_request_t *r) {
  (void)r;
  return false;
}
static void h_request_release(inferd_request_t *r) { r->released++; }

static inferd_status_t *h_response_new(inferd_response_t **out,
                                       inferd_request_t *r) {
  inferd_response_t *resp = xcalloc(1, sizeof(*resp));
  resp->req = r;
  *out = resp;
  return NULL;
}
static inferd_status_t *h_response_output(inferd_response_t *resp,
                                          const char *name,
                                          inferd_datatype_t dt,
                                          const int64_t *shape, uint32_t n_dims,
                                          uint64_t byte_size, void **buffer) {
  if (resp->n_out >= 32 || n_dims > FH_MAX_DIMS)
    return h_status_new(INFERD_INVALID_ARG, "output \"%s\": too many", name);
  fh_tensor_t *t = &resp->out[resp->n_out++];
  t->name = xstrdup(name);
  t->dt = dt;
  t->n_dims = n_dims;
  memcpy(t->shape, shape, n_dims * sizeof(int64_t));
  t->byte_size = byte_size;
  void *p = xcalloc(1, (size_t)byte_size);
  t->data = p;
  *buffer = p;
  return NULL;
}
static inferd_status_t *h_set_param_string(inferd_response_t *r, const char *k,
                                           const char *v) {
  (void)r, (void)k, (void)v;
  return NULL;
}
static inferd_status_t *h_set_param_int(inferd_response_t *r, const char *k,
                                        int64_t v) {
  (void)r, (void)k, (void)v;
  return NULL;
}
static inferd_status_t *h_set_param_bool(inferd_response_t *r, const char *k,
                                         bool v) {
  (void)r, (void)k, (void)v;
  return NULL;
}
static inferd_status_t *h_set_param_double(inferd_response_t *r, const char *k,
                                           double v) {
  (void)r, (void)k, (void)v;
  return NULL;
}
static void free_tensors(fh_tensor_t *t, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    free(t[i].name);
    free((void *)t[i].data);
  }
}
static void h_response_free(inferd_response_t *resp) {
  if (!resp)
    return;
  free_tensors(resp->out, resp->n_out);
  free(resp);
}
static inferd_status_t *h_response_send(inferd_response_t *resp, uint32_t flags,
                                        inferd_status_t *error) {
  inferd_request_t *r = resp->req;
  if (flags & INFERD_RESPONSE_FLAG_FINAL)
    r->n_final++;
  if (error) {
    free(r->error);
    r->error = xstrdup(error->msg);
    h_status_free(error);
    h_response_free(resp);
    return NULL;
  }
  memcpy(r->out, resp->out, resp->n_out * sizeof(fh_tensor_t));
  r->n_out = resp->n_out;
  free(resp);
  return NULL;
}
static inferd_status_t *h_request_send_final(inferd_request_t *r) {
  r->n_final++;
  return NULL;
}
static void h_report(inferd_backend_instance_t *i, inferd_request_t *r, bool ok,
                     uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  (void)i, (void)r, (void)ok, (void)a, (void)b, (void)c, (void)d;
}
static void h_report_batch(inferd_backend_instance_t *i, uint64_t n, uint64_t a,
                           uint64_t b, uint64_t c, uint64_t d) {
  (void)i, (void)n, (void)a, (void)b, (void)c, (void)d;
}

/* An ABI 1.0 host: it has no model_set_config_json, which also exercises
 * the backends' path for older servers. */
static const inferd_host_api_t fh_host = {
    INFERD_BACKEND_ABI_MAJOR,
    0,
    (uint32_t)offsetof(inferd_host_api_t, model_set_config_json),
    .status_new = h_status_new,
    .status_code = h_status_code,
    .status_message = h_status_message,
    .status_free = h_status_free,
    .log = h_log,
    .log_enabled = h_log_enabled,
    .now_ns = h_now_ns,
    .backend_name = h_backend_name,
    .backend_config = h_backend_config,
    .backend_set_state = h_backend_set_state,
    .backend_state = h_backend_state,
    .model_backend = h_model_backend,
    .model_name = h_model_name,
    .model_version = h_model_version,
    .model_dir = h_model_dir,
    .model_file_path = h_model_file_path,
    .model_config_json = h_model_config_json,
    .model_parameter = h_model_parameter,
    .model_max_batch_size = h_model_max_batch_size,
    .model_input_count = h_model_input_count,
    .model_output_count = h_model_output_count,
    .model_input = h_model_input,
    .model_output = h_model_output,
    .model_set_state = h_model_set_state,
    .model_state = h_model_state,
    .instance_model = h_instance_model,
    .instance_name = h_instance_name,
    .instance_kind = h_instance_kind,
    .instance_device_id = h_instance_device_id,
    .instance_set_state = h_instance_set_state,
    .instance_state = h_instance_state,
    .request_id = h_request_id,
    .request_correlation_id = h_request_correlation_id,
    .request_correlation_id_string = h_request_correlation_id_string,
    .request_flags = h_request_flags,
    .request_input_count = h_request_input_count,
    .request_input = h_request_input,
    .request_input_index = h_request_input_index,
    .request_input_buffer = h_request_input_buffer,
    .request_output_count = h_request_output_count,
    .request_output_name = h_request_output_name,
    .request_parameter_count = h_request_parameter_count,
    .request_parameter = h_request_parameter,
    .request_is_cancelled = h_request_is_cancelled,
    .request_release = h_request_release,
    .response_new = h_response_new,
    .response_output = h_response_output,
    .response_set_param_string = h_set_param_string,
    .response_set_param_int = h_set_param_int,
    .response_set_param_bool = h_set_param_bool,
    .response_set_param_double = h_set_param_double,
    .response_send = h_response_send,
    .response_free = h_response_free,
    .request_send_final = h_request_send_final,
    .instance_report_statistics = h_report,
    .instance_report_batch_statistics = h_report_batch,
};

/* ---- driver API ---- */

fh_backend_t *fh_backend_open(const char *lib, const char *name, char *err,
                              size_t err_size) {
  void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    snprintf(err, err_size, "dlopen \"%s\": %s", lib, dlerror());
    return NULL;
  }
  inferd_backend_register_fn fn;
  *(void **)&fn = dlsym(dl, INFERD_BACKEND_REGISTER_SYMBOL);
  const inferd_backend_api_t *api = NULL;
  inferd_status_t *st = fn ? fn(&fh_host, &api) : NULL;
  if (!fn || st || !api) {
    snprintf(err, err_size, "register: %s",
             st ? st->msg : "no symbol or no table");
    h_status_free(st);
    dlclose(dl);
    return NULL;
  }
  fh_backend_t *b = xcalloc(1, sizeof(*b));
  b->dl = dl;
  b->api = api;
  b->b.name = xstrdup(name);
  if (api->backend_init && (st = api->backend_init(&b->b))) {
    snprintf(err, err_size, "backend_init: %s", st->msg);
    h_status_free(st);
    free(b->b.name);
    free(b);
    dlclose(dl);
    return NULL;
  }
  return b;
}

void fh_backend_close(fh_backend_t *b) {
  if (!b)
    return;
  if (b->api->backend_fini)
    b->api->backend_fini(&b->b);
  /* Keep libtorch/OpenCV mapped when FH_NO_DLCLOSE is set: their static
   * destructors at dlclose are not what the tests measure. */
  if (!getenv("FH_NO_DLCLOSE"))
    dlclose(b->dl);
  free(b->b.name);
  free(b);
}

fh_model_t *fh_model_new(fh_backend_t *b, const char *name,
                         const char *file_path, int32_t max_batch_size) {
  fh_model_t *m = xcalloc(1, sizeof(*m));
  m->fb = b;
  m->m.backend = &b->b;
  m->m.name = xstrdup(name);
  m->m.file_path = xstrdup(file_path);
  m->m.dir = xstrdup(file_path);
  char *slash = strrchr(m->m.dir, '/');
  if (slash)
    *slash = '\0';
  m->m.max_batch_size = max_batch_size;
  return m;
}

void fh_model_add_io(fh_model_t *m, bool output, const char *name,
                     inferd_datatype_t dt, const int64_t *dims,
                     uint32_t n_dims) {
  uint32_t *n = output ? &m->m.n_out : &m->m.n_in;
  if (*n >= 32 || n_dims > FH_MAX_DIMS)
    return;
  fh_io_t *io = output ? &m->m.out[*n] : &m->m.in[*n];
  (*n)++;
  io->name = xstrdup(name);
  io->dt = dt;
  io->n_dims = n_dims;
  memcpy(io->dims, dims, n_dims * sizeof(int64_t));
}

void fh_model_set_param(fh_model_t *m, const char *key, const char *value) {
  if (m->m.n_params >= 32)
    return;
  m->m.keys[m->m.n_params] = xstrdup(key);
  m->m.values[m->m.n_params++] = xstrdup(value);
}

bool fh_model_load(fh_model_t *m, uint32_t n_instances, char *err,
                   size_t err_size) {
  const inferd_backend_api_t *api = m->fb->api;
  inferd_status_t *st = api->model_init ? api->model_init(&m->m) : NULL;
  if (st) {
    snprintf(err, err_size, "%s", st->msg);
    h_status_free(st);
    return false;
  }
  m->inst = xcalloc(n_instances, sizeof(*m->inst));
  for (uint32_t i = 0; i < n_instances; i++) {
    inferd_backend_instance_t *in = &m->inst[i];
    in->model = &m->m;
    snprintf(in->name, sizeof(in->name), "%s_%u", m->m.name, i);
    st = api->instance_init ? api->instance_init(in) : NULL;
    if (st) {
      snprintf(err, err_size, "%s", st->msg);
      h_status_free(st);
      m->n_inst = i;
      m->loaded = true;
      fh_model_unload(m);
      return false;
    }
  }
  m->n_inst = n_instances;
  m->loaded = true;
  return true;
}

void fh_model_unload(fh_model_t *m) {
  if (!m->loaded)
    return;
  const inferd_backend_api_t *api = m->fb->api;
  for (uint32_t i = 0; i < m->n_inst; i++)
    if (api->instance_fini)
      api->instance_fini(&m->inst[i]);
  if (api->model_fini)
    api->model_fini(&m->m);
  free(m->inst);
  m->inst = NULL;
  m->n_inst = 0;
  m->loaded = false;
}

void fh_model_free(fh_model_t *m) {
  if (!m)
    return;
  fh_model_unload(m);
  for (uint32_t i = 0; i < m->m.n_in; i++)
    free(m->m.in[i].name);
  for (uint32_t i = 0; i < m->m.n_out; i++)
    free(m->m.out[i].name);
  for (uint32_t i = 0; i < m->m.n_params; i++) {
    free(m->m.keys[i]);
    free(m->m.values[i]);
  }
  free(m->m.name);
  free(m->m.file_path);
  free(m->m.dir);
  free(m);
}

inferd_request_t *fh_request_new(void) {
  return xcalloc(1, sizeof(inferd_request_t));
}

void fh_request_add_input(inferd_request_t *r, const char *name,
                          inferd_datatype_t dt, const int64_t *shape,
                          uint32_t n_dims, const void *data,
                          uint64_t byte_size) {
  if (r->n_in >= 32 || n_dims > FH_MAX_DIMS)
    return;
  fh_tensor_t *t = &r->in[r->n_in++];
  t->name = xstrdup(name);
  t->dt = dt;
  t->n_dims = n_dims;
  memcpy(t->shape, shape, n_dims * sizeof(int64_t));
  t->data = data;
  t->byte_size = byte_size;
}

void fh_request_add_output(inferd_request_t *r, const char *name) {
  if (r->n_want < 32)
    r->want[r->n_want++] = xstrdup(name);
}

void fh_request_reset(inferd_request_t *r) {
  free_tensors(r->out, r->n_out);
  r->n_out = 0;
  free(r->error);
  r->error = NULL;
  r->n_final = r->released = 0;
}

void fh_request_free(inferd_request_t *r) {
  if (!r)
    return;
  fh_request_reset(r);
  for (uint32_t i = 0; i < r->n_in; i++)
    free(r->in[i].name);
  for (uint32_t i = 0; i < r->n_want; i++)
    free(r->want[i]);
  free(r);
}

bool fh_execute(fh_model_t *m, uint32_t instance, inferd_request_t **reqs,
                uint32_t n, char *err, size_t err_size) {
  if (instance >= m->n_inst) {
    snprintf(err, err_size, "no instance %u", instance);
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    fh_request_reset(reqs[i]);
    /* as the server: no requested output means every config output */
    if (reqs[i]->n_want == 0)
      for (uint32_t k = 0; k < m->m.n_out; k++)
        fh_request_add_output(reqs[i], m->m.out[k].name);
  }
  inferd_status_t *st = m->fb->api->execute(&m->inst[instance], reqs, n);
  if (st) {
    snprintf(err, err_size, "execute: %s", st->msg);
    h_status_free(st);
    return false;
  }
  for (uint32_t i = 0; i < n; i++)
    if (reqs[i]->n_final != 1 || reqs[i]->released != 1) {
      snprintf(err, err_size,
               "request %u: %d final responses, %d releases (expected 1, 1)", i,
               reqs[i]->n_final, reqs[i]->released);
      return false;
    }
  return true;
}

const char *fh_request_error(const inferd_request_t *r) { return r->error; }

uint32_t fh_request_output_count(const inferd_request_t *r) { return r->n_out; }

bool fh_request_output(const inferd_request_t *r, const char *name,
                       inferd_datatype_t *dt, const int64_t **shape,
                       uint32_t *n_dims, const void **data,
                       uint64_t *byte_size) {
  for (uint32_t i = 0; i < r->n_out; i++)
    if (strcmp(r->out[i].name, name) == 0) {
      *dt = r->out[i].dt;
      *shape = r->out[i].shape;
      *n_dims = r->out[i].n_dims;
      *data = r->out[i].data;
      *byte_size = r->out[i].byte_size;
      return true;
    }
  return false;
}
