/*
 * warmup.c: the model_warmup samples of a model version (see warmup.h).
 *
 * Invariants: a sample's input buffers are owned here, built once per sample
 * and borrowed by each request until its release callback; the loader thread
 * waits for that callback before it frees the request or the buffers, so no
 * warmup request is ever left queued or executing when model_warmup returns.
 * Only one warmup request is in flight at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/warmup.h"
#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "core/request.h"

/* One input of a sample: the data of a single batch element. */
typedef struct warmup_input {
  const char *name; /* borrowed from the config */
  inferd_datatype_t dt;
  int64_t *shape; /* batch dimension first when the model batches */
  size_t n_dims;
  void *data; /* owned; at least 1 byte so that it is never NULL */
  size_t byte_size;
} warmup_input_t;

/* Completion of one request, shared with the server's threads. */
typedef struct warmup_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool released;
  inferd_status_t *error; /* first response error (owned) */
} warmup_wait_t;

static inferd_status_t *oom(void) {
  return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
}

static const char *type_name(inferd_datatype_t dt) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
      &inference__data_type__descriptor, dt);
  return ev ? ev->name : "TYPE_INVALID";
}

static void dims_text(const int64_t *d, size_t n, char *buf, size_t cap) {
  size_t j = (size_t)snprintf(buf, cap, "[");
  for (size_t i = 0; i < n && j + 24 < cap; i++)
    j += (size_t)snprintf(buf + j, cap - j, "%s%" PRId64, i ? "," : "", d[i]);
  snprintf(buf + j, cap - j, "]");
}

/* splitmix64: random_data needs varied bytes, not good randomness, and
 * rand() would share (and lock) one state with every other thread. */
static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, bool bool_type, uint64_t *seed) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = next_random(seed);
    for (size_t k = 0; k < 8 && i + k < n; k++) {
      uint8_t b = (uint8_t)(r >> (8 * k));
      p[i + k] = bool_type ? (uint8_t)(b & 1u) : b;
    }
  }
}

/* Reads <model_dir>/warmup/<file> whole into a malloc'd buffer (at least 1
 * byte allocated). */
static inferd_status_t *read_data_file(const inferd_model_t *m,
                                       const char *file, void **data,
                                       size_t *len) {
  if (!cfg_warmup_file_path_ok(file)) /* the config layer refused it too */
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input_data_file \"%s\" must be a relative path "
                             "inside the model's warmup/ directory",
                             file ? file : "");
  size_t n = strlen(m->model_dir) + strlen(file) + 16;
  char *path = malloc(n);
  if (!path)
    return oom();
  snprintf(path, n, "%s/warmup/%s", m->model_dir, file);
  inferd_status_t *st = NULL;
  uint8_t *buf = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "input_data_file \"%s\": cannot open %s: %s", file,
                           path, strerror(errno));
    goto out;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "input_data_file \"%s\": %s is not a regular file",
                           file, path);
    goto out;
  }
  size_t size = (size_t)sb.st_size;
  if (!(buf = malloc(size ? size : 1))) {
    st = oom();
    goto out;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      st = inferd_status_new(INFERD_INVALID_ARG,
                             "input_data_file \"%s\": cannot read %s: %s", file,
                             path, r < 0 ? strerror(errno) : "file shrank");
      goto out;
    }
    got += (size_t)r;
  }
  *data = buf;
  *len = size;
  buf = NULL;
out:
  if (fd >= 0)
    close(fd);
  free(buf);
  free(path);
  return st;
}

/* Builds one input's batch-element data as the config asks. */
static inferd_status_t *
prepare_input(const inferd_model_t *m, const Inference__ModelWarmup *w,
              const Inference__ModelWarmup__InputsEntry *e, uint64_t *seed,
              warmup_input_t *out) {
  const Inference__ModelWarmup__Input *in = e->value;
  const char *name = e->key ? e->key : "";
  if (!in || in->input_data_type_case ==
                 INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE__NOT_SET)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%s\": one of zero_data, random_data or "
                             "input_data_file must be set",
                             name);
  bool batching = m->config->max_batch_size > 0;
  out->name = name;
  out->dt = (inferd_datatype_t)in->data_type;
  out->n_dims = in->n_dims + (batching ? 1 : 0);
  out->shape = calloc(out->n_dims + 1, sizeof(int64_t));
  if (!out->shape)
    return oom();
  if (batching)
    out->shape[0] = w->batch_size;
  char dims[256];
  dims_text(in->dims, in->n_dims, dims, sizeof(dims));
  uint64_t elems = 1;
  for (size_t d = 0; d < in->n_dims; d++) {
    int64_t v = in->dims[d];
    if (v < 0)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "input \"%s\": dims %s: every dimension needs "
                               "a size for warmup (no -1)",
                               name, dims);
    if (v && elems > SIZE_MAX / 16 / (uint64_t)v)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "input \"%s\": dims %s are too large", name,
                               dims);
    elems *= (uint64_t)v;
    out->shape[d + (batching ? 1 : 0)] = v;
  }
  bool bytes = out->dt == INFERD_TYPE_BYTES;
  /* BYTES: every element a 4-byte length 0, i.e. empty strings; Triton does
   * the same for random_data, as random bytes would not be framed */
  size_t size = (size_t)elems * (bytes ? 4u : inferd_datatype_size(out->dt));
  switch (in->input_data_type_case) {
  case INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE_ZERO_DATA:
    if (!(out->data = calloc(size ? size : 1, 1)))
      return oom();
    out->byte_size = size;
    return NULL;
  case INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE_RANDOM_DATA:
    if (!(out->data = calloc(size ? size : 1, 1)))
      return oom();
    if (!bytes)
      fill_random(out->data, size, out->dt == INFERD_TYPE_BOOL, seed);
    out->byte_size = size;
    return NULL;
  default: {
    size_t len = 0;
    inferd_status_t *st =
        read_data_file(m, in->input_data_file, &out->data, &len);
    if (st)
      return inferd_status_prefix(st, "input \"%s\"", name);
    if (bytes) { /* framed elements; the request validation counts them */
      out->byte_size = len;
      return NULL;
    }
    if (len < size)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "input \"%s\": input_data_file \"%s\": "
                               "expected at least %zu bytes for dims %s of "
                               "%s, got %zu",
                               name, in->input_data_file, size, dims,
                               type_name(out->dt), len);
    if (len > size) /* Triton takes the first bytes too */
      LOG_WARNING("model \"%s\" version %lld: warmup sample \"%s\": input "
                  "\"%s\": input_data_file \"%s\" has %zu bytes, %zu more "
                  "than dims %s of %s need; the rest is ignored",
                  m->name, (long long)m->version, w->name, name,
                  in->input_data_file, len, len - size, dims,
                  type_name(out->dt));
    out->byte_size = size;
    return NULL;
  }
  }
}

static void free_inputs(warmup_input_t *ins, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(ins[i].shape);
    free(ins[i].data);
  }
  free(ins);
}

static void on_response(inferd_response_t *resp, uint32_t flags, void *userp) {
  (void)flags;
  warmup_wait_t *w = userp;
  const inferd_status_t *e = resp ? inferd_response_error(resp) : NULL;
  if (e) {
    pthread_mutex_lock(&w->mu);
    if (!w->error)
      w->error = inferd_status_new(inferd_status_code(e), "%s",
                                   inferd_status_message(e));
    pthread_mutex_unlock(&w->mu);
  }
  inferd_response_free(resp);
}

static void on_release(inferd_request_t *req, void *userp) {
  (void)req;
  warmup_wait_t *w = userp;
  /* signal under the lock: the waiter may destroy w as soon as it sees
   * `released`, which it cannot before this thread unlocks */
  pthread_mutex_lock(&w->mu);
  w->released = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Sends one request with the sample's inputs and waits for its release. */
static inferd_status_t *run_once(inferd_model_t *m, const warmup_input_t *ins,
                                 size_t n, uint32_t batch_size) {
  inferd_request_t *r = NULL;
  core_ref_acquire(&m->ref); /* the request's reference */
  inferd_status_t *st = core_request_alloc(m, &m->ref, &r);
  if (st) {
    core_ref_release(&m->ref);
    return st;
  }
  r->model_name = m->name;
  r->model_version = m->version;
  /* a non-batching model takes the sample's data once (batch_size is 1) */
  uint32_t copies = m->config->max_batch_size > 0 ? batch_size : 1;
  for (size_t i = 0; i < n && !st; i++) {
    uint32_t idx = 0;
    st = inferd_request_add_input(r, ins[i].name, strlen(ins[i].name),
                                  ins[i].dt, ins[i].shape, ins[i].n_dims, &idx);
    /* the same buffer once per batch element: no copies */
    for (uint32_t b = 0; b < copies && !st; b++)
      st = inferd_request_append_input_data(
          r, idx, ins[i].data, ins[i].byte_size, INFERD_MEM_CPU, 0);
  }
  if (st) {
    core_request_destroy(r);
    return st;
  }
  warmup_wait_t w = {.released = false, .error = NULL};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  inferd_request_set_callbacks(r, on_response, on_release, &w);
  st = core_request_submit(m->server, r);
  if (!st) {
    pthread_mutex_lock(&w.mu);
    while (!w.released)
      pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    st = w.error;
  }
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cv);
  core_request_destroy(r);
  return st;
}

/* "model "m" version 1: warmup sample "s": <msg>", without repeating the
 * model and version when msg (e.g. a request validation error) names them
 * already. The code is INVALID_ARG whatever failed (out of memory aside), as
 * Triton reports a failed warmup sample. Consumes st. */
static inferd_status_t *sample_error(const inferd_model_t *m,
                                     const char *sample, inferd_status_t *st) {
  char prefix[512];
  snprintf(prefix, sizeof(prefix), "model \"%s\" version %lld: ", m->name,
           (long long)m->version);
  const char *msg = inferd_status_message(st);
  size_t pl = strlen(prefix);
  if (strncmp(msg, prefix, pl) == 0)
    msg += pl;
  inferd_code_t code = inferd_status_code(st) == INFERD_NO_MEMORY
                           ? INFERD_NO_MEMORY
                           : INFERD_INVALID_ARG;
  inferd_status_t *out =
      inferd_status_new(code,
                        "model \"%s\" version %lld: warmup sample "
                        "\"%s\": %s",
                        m->name, (long long)m->version, sample, msg);
  inferd_status_free(st);
  return out;
}

static inferd_status_t *
run_sample(inferd_model_t *m, const Inference__ModelWarmup *w, uint64_t *seed) {
  warmup_input_t *ins = calloc(w->n_inputs + 1, sizeof(*ins));
  if (!ins)
    return oom();
  inferd_status_t *st = NULL;
  for (size_t i = 0; i < w->n_inputs && !st; i++)
    st = prepare_input(m, w, w->inputs[i], seed, &ins[i]);
  uint32_t count = w->count ? w->count : 1; /* as Triton: 0 runs once */
  uint64_t t0 = core_now_ns();
  for (uint32_t k = 0; k < count && !st; k++) {
    LOG_VERBOSE(1,
                "model \"%s\" version %lld: running warmup sample \"%s\" "
                "(iteration %u of %u)",
                m->name, (long long)m->version, w->name, k + 1, count);
    st = run_once(m, ins, w->n_inputs, w->batch_size);
  }
  free_inputs(ins, w->n_inputs);
  if (st)
    return st;
  LOG_INFO("model \"%s\" version %lld: warmup sample \"%s\" (count %u) done "
           "in %.1f ms",
           m->name, (long long)m->version, w->name, count,
           (double)(core_now_ns() - t0) / 1e6);
  return NULL;
}

inferd_status_t *model_warmup(inferd_model_t *m) {
  const cfg_model_t *c = m->config;
  uint64_t seed = core_now_ns() ^ (uint64_t)(uintptr_t)m;
  for (size_t i = 0; i < c->n_model_warmup; i++) {
    const Inference__ModelWarmup *w = c->model_warmup[i];
    const char *sample = w->name ? w->name : "";
    if (w->batch_size == 0) { /* as Triton */
      LOG_VERBOSE(1,
                  "model \"%s\" version %lld: skipping warmup sample \"%s\" "
                  "with batch_size 0",
                  m->name, (long long)m->version, sample);
      continue;
    }
    inferd_status_t *st = run_sample(m, w, &seed);
    if (st)
      return sample_error(m, sample, st);
  }
  return NULL;
}
