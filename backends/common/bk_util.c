/*
 * bk_util.c: helpers shared by the shipped backends: registration checks,
 * walking multi-buffer inputs, error responses, parameter parsing and the
 * INPUTn → OUTPUTn identity mapping. Everything here talks to the server only
 * through the host table (bk_host); no server internals.
 */
#include "bk_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const inferd_host_api_t *bk_host;

/* The last host function these backends call: the table must reach it. */
#define BK_HOST_MIN_SIZE                                                       \
  (offsetof(inferd_host_api_t, instance_report_batch_statistics) +             \
   sizeof(((inferd_host_api_t *)0)->instance_report_batch_statistics))

inferd_status_t *bk_register(const char *backend, const inferd_host_api_t *host,
                             const inferd_backend_api_t *api,
                             const inferd_backend_api_t **out) {
  if (!host || !out)
    return NULL; /* cannot even report: the server passed nothing */
  /* status_new is the first function of every version of the table, so it
   * is safe to call even when the major differs. */
  if (host->abi_major != INFERD_BACKEND_ABI_MAJOR)
    return host->status_new(
        INFERD_UNSUPPORTED,
        "backend \"%s\": built for backend ABI %u.%u, server has %u.%u",
        backend, (unsigned)INFERD_BACKEND_ABI_MAJOR,
        (unsigned)INFERD_BACKEND_ABI_MINOR, (unsigned)host->abi_major,
        (unsigned)host->abi_minor);
  if (host->struct_size < BK_HOST_MIN_SIZE)
    return host->status_new(INFERD_UNSUPPORTED,
                            "backend \"%s\": host table too small (%u bytes, "
                            "need %zu)",
                            backend, (unsigned)host->struct_size,
                            (size_t)BK_HOST_MIN_SIZE);
  bk_host = host;
  *out = api;
  return NULL;
}

inferd_status_t *bk_input_get(const inferd_request_t *r, const char *name,
                              bk_input_t *in) {
  uint32_t idx;
  inferd_status_t *st = bk_host->request_input_index(r, name, &idx);
  if (st) {
    bk_host->status_free(st);
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "request has no input \"%s\"", name);
  }
  in->index = idx;
  return bk_host->request_input(r, idx, &in->name, &in->dt, &in->shape,
                                &in->n_dims, &in->byte_size, &in->n_buffers);
}

inferd_status_t *bk_input_copy(const inferd_request_t *r, const bk_input_t *in,
                               void *dst) {
  uint64_t done = 0;
  for (uint32_t b = 0; b < in->n_buffers; b++) {
    const void *base;
    uint64_t size;
    inferd_memtype_t mt;
    int64_t dev;
    inferd_status_t *st =
        bk_host->request_input_buffer(r, in->index, b, &base, &size, &mt, &dev);
    if (st)
      return st;
    if (mt == INFERD_MEM_GPU)
      return bk_host->status_new(
          INFERD_UNSUPPORTED,
          "input \"%s\": buffer %u is in GPU memory; this backend reads CPU "
          "memory only",
          in->name, b);
    if (size > in->byte_size - done)
      return bk_host->status_new(INFERD_INTERNAL,
                                 "input \"%s\": buffers hold more than its "
                                 "byte size %" PRIu64,
                                 in->name, in->byte_size);
    if (size)
      memcpy((char *)dst + done, base, size);
    done += size;
  }
  if (done != in->byte_size)
    return bk_host->status_new(INFERD_INTERNAL,
                               "input \"%s\": buffers hold %" PRIu64
                               " bytes, expected %" PRIu64,
                               in->name, done, in->byte_size);
  return NULL;
}

inferd_status_t *bk_input_contiguous(const inferd_request_t *r,
                                     const bk_input_t *in, const void **data,
                                     void **owned) {
  *owned = NULL;
  if (in->n_buffers == 1) {
    uint64_t size;
    inferd_memtype_t mt;
    int64_t dev;
    inferd_status_t *st =
        bk_host->request_input_buffer(r, in->index, 0, data, &size, &mt, &dev);
    if (st)
      return st;
    if (mt != INFERD_MEM_GPU && size == in->byte_size)
      return NULL;
    /* fall through to the checked copy, which reports the problem */
  }
  if (in->byte_size == 0) {
    static const char empty;
    *data = &empty;
    return NULL;
  }
  if (in->byte_size > SIZE_MAX)
    return bk_host->status_new(INFERD_INVALID_ARG, "input \"%s\": too large",
                               in->name);
  void *copy = malloc((size_t)in->byte_size);
  if (!copy)
    return bk_host->status_new(
        INFERD_NO_MEMORY, "input \"%s\": cannot allocate %" PRIu64 " bytes",
        in->name, in->byte_size);
  inferd_status_t *st = bk_input_copy(r, in, copy);
  if (st) {
    free(copy);
    return st;
  }
  *data = copy;
  *owned = copy;
  return NULL;
}

bool bk_element_count(const int64_t *shape, uint32_t n_dims, uint64_t *count) {
  uint64_t c = 1;
  for (uint32_t i = 0; i < n_dims; i++) {
    if (shape[i] < 0)
      return false;
    uint64_t d = (uint64_t)shape[i];
    if (d != 0 && c > UINT64_MAX / d)
      return false;
    c *= d;
  }
  *count = c;
  return true;
}

const char *bk_shape_str(const int64_t *shape, uint32_t n_dims, char *buf,
                         size_t size) {
  size_t used = 0;
  int n = snprintf(buf, size, "[");
  used = n > 0 ? (size_t)n : 0;
  for (uint32_t i = 0; i < n_dims && used < size; i++) {
    n = snprintf(buf + used, size - used, "%s%" PRId64, i ? "," : "", shape[i]);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  if (used < size)
    snprintf(buf + used, size - used, "]");
  return buf;
}

void bk_finish(inferd_request_t *r, inferd_response_t *resp,
               inferd_status_t *error) {
  if (!resp) {
    bk_fail_request(r, error);
    return;
  }
  inferd_status_t *st =
      bk_host->response_send(resp, INFERD_RESPONSE_FLAG_FINAL, error);
  if (st) {
    BK_LOG(BK_LOG_ERROR, "sending response failed: %s",
           bk_host->status_message(st));
    bk_host->status_free(st);
  }
  bk_host->request_release(r);
}

inferd_status_t *bk_param_int(const inferd_backend_model_t *m, const char *key,
                              int64_t lo, int64_t hi, int64_t *out) {
  const char *v = bk_host->model_parameter(m, key);
  if (!v)
    return NULL;
  int64_t x;
  if (!bk_parse_int64(v, &x) || x < lo || x > hi)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": parameter \"%s\": expected an "
                               "integer in [%" PRId64 ", %" PRId64 "], got "
                               "\"%s\"",
                               bk_host->model_name(m), key, lo, hi, v);
  *out = x;
  return NULL;
}

inferd_status_t *bk_param_bool(const inferd_backend_model_t *m, const char *key,
                               bool *out) {
  const char *v = bk_host->model_parameter(m, key);
  if (!v)
    return NULL;
  if (!bk_parse_bool(v, out))
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": parameter \"%s\": expected true "
                               "or false, got \"%s\"",
                               bk_host->model_name(m), key, v);
  return NULL;
}

void bk_execute_each(inferd_backend_instance_t *inst,
                     inferd_request_t *const *requests, uint32_t n,
                     uint64_t batch, uint64_t exec_start_ns,
                     uint64_t compute_start_ns, bk_one_fn one, void *state) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  for (uint32_t i = 0; i < n; i++) {
    inferd_request_t *r = requests[i];
    uint64_t req_start = bk_host->now_ns();
    inferd_response_t *resp = NULL;
    inferd_status_t *st = bk_host->response_new(&resp, r);
    if (!st)
      st = one(state, m, r, resp);
    uint64_t req_end = bk_host->now_ns();
    /* report before the release: the request is ours until then */
    bk_host->instance_report_statistics(inst, r, st == NULL, exec_start_ns,
                                        req_start, req_end, req_end);
    bk_finish(r, resp, st);
  }
  uint64_t exec_end = bk_host->now_ns();
  bk_host->instance_report_batch_statistics(
      inst, batch, exec_start_ns, compute_start_ns, exec_end, exec_end);
}

void bk_fail_request(inferd_request_t *r, inferd_status_t *error) {
  inferd_response_t *resp = NULL;
  inferd_status_t *st = bk_host->response_new(&resp, r);
  if (st) {
    BK_LOG(BK_LOG_ERROR,
           "request \"%s\": cannot create error response (%s): %s",
           bk_host->request_id(r), bk_host->status_message(st),
           error ? bk_host->status_message(error) : "");
    bk_host->status_free(st);
    bk_host->status_free(error);
    st = bk_host->request_send_final(r);
    if (st)
      bk_host->status_free(st);
    bk_host->request_release(r);
    return;
  }
  st = bk_host->response_send(resp, INFERD_RESPONSE_FLAG_FINAL, error);
  if (st) {
    BK_LOG(BK_LOG_ERROR, "sending error response failed: %s",
           bk_host->status_message(st));
    bk_host->status_free(st);
  }
  bk_host->request_release(r);
}

bool bk_parse_int64(const char *s, int64_t *out) {
  if (!s || !*s)
    return false;
  while (*s == ' ' || *s == '\t')
    s++;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s)
    return false;
  while (*end == ' ' || *end == '\t')
    end++;
  if (*end)
    return false;
  *out = (int64_t)v;
  return true;
}

bool bk_parse_bool(const char *s, bool *out) {
  if (!s)
    return false;
  if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") ||
      !strcasecmp(s, "on")) {
    *out = true;
    return true;
  }
  if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") ||
      !strcasecmp(s, "off") || !*s) {
    *out = false;
    return true;
  }
  return false;
}

void bk_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                        .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t bk_batch_size(const inferd_backend_model_t *m,
                       inferd_request_t *const *requests, uint32_t n) {
  if (bk_host->model_max_batch_size(m) <= 0)
    return n;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    const int64_t *shape = NULL;
    uint32_t n_dims = 0;
    if (bk_host->request_input_count(requests[i]) == 0) {
      total += 1;
      continue;
    }
    inferd_status_t *st = bk_host->request_input(requests[i], 0, NULL, NULL,
                                                 &shape, &n_dims, NULL, NULL);
    if (st) {
      bk_host->status_free(st);
      total += 1;
    } else {
      total += n_dims > 0 && shape[0] > 0 ? (uint64_t)shape[0] : 1;
    }
  }
  return total;
}

/* ---- identity mapping ---- */

static const bk_io_pair_t *pair_for_output(const bk_io_map_t *map,
                                           const char *output) {
  for (uint32_t i = 0; i < map->n_pairs; i++)
    if (strcmp(map->pairs[i].output, output) == 0)
      return &map->pairs[i];
  return NULL;
}

inferd_status_t *bk_io_map_new(const inferd_backend_model_t *m,
                               bk_io_map_t **out) {
  const char *model = bk_host->model_name(m);
  uint32_t n_in = bk_host->model_input_count(m);
  uint32_t n_out = bk_host->model_output_count(m);
  if (n_in == 0)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": config has no input; this "
                               "backend needs at least one",
                               model);
  bk_io_map_t *map = malloc(sizeof(*map) + n_in * sizeof(map->pairs[0]));
  if (!map)
    return bk_host->status_new(
        INFERD_NO_MEMORY, "model \"%s\": cannot allocate input map", model);
  map->n_pairs = n_in;
  for (uint32_t i = 0; i < n_in; i++) {
    const char *in_name;
    inferd_datatype_t in_dt;
    bk_host->model_input(m, i, &in_name, &in_dt, NULL, NULL);
    bool prefixed = strncmp(in_name, "INPUT", 5) == 0;
    const char *found = NULL;
    inferd_datatype_t out_dt = INFERD_TYPE_INVALID;
    for (uint32_t o = 0; o < n_out && !found; o++) {
      const char *out_name;
      bk_host->model_output(m, o, &out_name, &out_dt, NULL, NULL);
      if (prefixed ? (strncmp(out_name, "OUTPUT", 6) == 0 &&
                      strcmp(out_name + 6, in_name + 5) == 0)
                   : strcmp(out_name, in_name) == 0)
        found = out_name;
    }
    if (!found) {
      inferd_status_t *st = bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": input \"%s\" has no matching output: expected an "
          "output named \"%s%s\"",
          model, in_name, prefixed ? "OUTPUT" : in_name,
          prefixed ? in_name + 5 : "");
      free(map);
      return st;
    }
    if (out_dt != in_dt) {
      inferd_status_t *st = bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": output \"%s\": expected data type %s (as input "
          "\"%s\"), got %s",
          model, found, inferd_datatype_name(in_dt), in_name,
          inferd_datatype_name(out_dt));
      free(map);
      return st;
    }
    map->pairs[i].input = in_name;
    map->pairs[i].output = found;
    map->pairs[i].dt = in_dt;
  }
  /* Every config output must be produced by some input. */
  for (uint32_t o = 0; o < n_out; o++) {
    const char *out_name;
    bk_host->model_output(m, o, &out_name, NULL, NULL, NULL);
    if (!pair_for_output(map, out_name)) {
      inferd_status_t *st = bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": output \"%s\" has no matching input (OUTPUT<n> "
          "copies INPUT<n>, any other output copies the input of the same "
          "name)",
          model, out_name);
      free(map);
      return st;
    }
  }
  *out = map;
  return NULL;
}

inferd_status_t *bk_io_map_fill(const bk_io_map_t *map,
                                const inferd_backend_model_t *m,
                                inferd_request_t *r, inferd_response_t *resp) {
  uint32_t n_req = bk_host->request_output_count(r);
  for (uint32_t k = 0; k < n_req; k++) {
    const char *out_name = bk_host->request_output_name(r, k);
    if (!out_name)
      continue;
    const bk_io_pair_t *p = pair_for_output(map, out_name);
    if (!p)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": unexpected output \"%s\"",
                                 bk_host->model_name(m), out_name);
    bk_input_t in;
    inferd_status_t *st = bk_input_get(r, p->input, &in);
    if (st) {
      bk_host->status_free(st);
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": output \"%s\" needs input \"%s\", which the request "
          "does not have",
          bk_host->model_name(m), out_name, p->input);
    }
    if (in.dt != p->dt)
      return bk_host->status_new(
          INFERD_INVALID_ARG, "model \"%s\": input \"%s\": expected %s, got %s",
          bk_host->model_name(m), in.name, inferd_datatype_name(p->dt),
          inferd_datatype_name(in.dt));
    void *buf = NULL;
    st = bk_host->response_output(resp, out_name, in.dt, in.shape, in.n_dims,
                                  in.byte_size, &buf);
    if (st)
      return st;
    if (in.byte_size) {
      st = bk_input_copy(r, &in, buf);
      if (st)
        return st;
    }
  }
  return NULL;
}
