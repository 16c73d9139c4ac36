/*
 * add_sub.c: the add_sub backend (Triton's `simple` model): inputs INPUT0 and
 * INPUT1 of equal shape and type give OUTPUT0 = INPUT0 + INPUT1 and
 * OUTPUT1 = INPUT0 - INPUT1, elementwise. Types: INT8/16/32/64, UINT8/16/32/64
 * (integer arithmetic wraps around modulo 2^bits: it is done in the unsigned
 * type of the same width, so signed overflow is defined), FP32 and FP64.
 * Batching or not: the batch dimension is just another dimension here.
 *
 * Inputs may be unaligned (they can point into an HTTP body) and split over
 * several buffers: they are made contiguous first and elements are read with
 * memcpy. State: the model's data type, fixed in model_init.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bk_util.h"

typedef struct add_sub_model {
  inferd_datatype_t dt;
} add_sub_model_t;

static bool type_supported(inferd_datatype_t dt) {
  switch (dt) {
  case INFERD_TYPE_INT8:
  case INFERD_TYPE_INT16:
  case INFERD_TYPE_INT32:
  case INFERD_TYPE_INT64:
  case INFERD_TYPE_UINT8:
  case INFERD_TYPE_UINT16:
  case INFERD_TYPE_UINT32:
  case INFERD_TYPE_UINT64:
  case INFERD_TYPE_FP32:
  case INFERD_TYPE_FP64:
    return true;
  default:
    return false;
  }
}

/* Finds config input/output `name`; false if absent. */
static bool find_io(const inferd_backend_model_t *m, bool output,
                    const char *name, inferd_datatype_t *dt,
                    const int64_t **dims, uint32_t *n_dims) {
  uint32_t n =
      output ? bk_host->model_output_count(m) : bk_host->model_input_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const char *nm;
    if (output)
      bk_host->model_output(m, i, &nm, dt, dims, n_dims);
    else
      bk_host->model_input(m, i, &nm, dt, dims, n_dims);
    if (strcmp(nm, name) == 0)
      return true;
  }
  return false;
}

static bool same_shape(const int64_t *a, uint32_t na, const int64_t *b,
                       uint32_t nb) {
  if (na != nb)
    return false;
  for (uint32_t i = 0; i < na; i++)
    if (a[i] != b[i])
      return false;
  return true;
}

static inferd_status_t *add_sub_model_init(inferd_backend_model_t *m) {
  const char *model = bk_host->model_name(m);
  uint32_t n_in = bk_host->model_input_count(m);
  uint32_t n_out = bk_host->model_output_count(m);
  if (n_in != 2)
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": input: expected 2 inputs (INPUT0, "
        "INPUT1) for backend add_sub, got %u",
        model, n_in);
  if (n_out != 2)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": output: expected 2 outputs "
                               "(OUTPUT0, OUTPUT1) for backend add_sub, got %u",
                               model, n_out);
  inferd_datatype_t dt[4];
  const int64_t *dims[4];
  uint32_t n_dims[4];
  static const char *const names[4] = {"INPUT0", "INPUT1", "OUTPUT0",
                                       "OUTPUT1"};
  for (int k = 0; k < 4; k++) {
    if (!find_io(m, k >= 2, names[k], &dt[k], &dims[k], &n_dims[k]))
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": %s: backend add_sub needs an "
                                 "%s named \"%s\"",
                                 model, k >= 2 ? "output" : "input",
                                 k >= 2 ? "output" : "input", names[k]);
  }
  if (!type_supported(dt[0]))
    return bk_host->status_new(
        INFERD_UNSUPPORTED,
        "model \"%s\": input \"INPUT0\": data type %s is not supported by "
        "backend add_sub (INT8/16/32/64, UINT8/16/32/64, FP32, FP64)",
        model, inferd_datatype_name(dt[0]));
  for (int k = 1; k < 4; k++)
    if (dt[k] != dt[0])
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": %s \"%s\": expected data type %s (as \"INPUT0\"), "
          "got %s",
          model, k >= 2 ? "output" : "input", names[k],
          inferd_datatype_name(dt[0]), inferd_datatype_name(dt[k]));
  for (int k = 1; k < 4; k++)
    if (!same_shape(dims[0], n_dims[0], dims[k], n_dims[k])) {
      char a[128], b[128];
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": %s \"%s\": expected dims %s (as \"INPUT0\"), got %s",
          model, k >= 2 ? "output" : "input", names[k],
          bk_shape_str(dims[0], n_dims[0], a, sizeof(a)),
          bk_shape_str(dims[k], n_dims[k], b, sizeof(b)));
    }
  add_sub_model_t *s = malloc(sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  s->dt = dt[0];
  bk_host->model_set_state(m, s);
  return NULL;
}

static void add_sub_model_fini(inferd_backend_model_t *m) {
  free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

#define ADD_SUB_LOOP(T)                                                        \
  for (uint64_t i = 0; i < n; i++) {                                           \
    T x, y, z;                                                                 \
    memcpy(&x, (const char *)a + i * sizeof(T), sizeof(T));                    \
    memcpy(&y, (const char *)b + i * sizeof(T), sizeof(T));                    \
    z = sub ? (T)(x - y) : (T)(x + y);                                         \
    memcpy((char *)out + i * sizeof(T), &z, sizeof(T));                        \
  }                                                                            \
  break

/* out[i] = a[i] ± b[i] for n elements of type dt (signed types through their
 * unsigned twin: same bits, defined wrap-around). */
static void add_sub_compute(inferd_datatype_t dt, bool sub, const void *a,
                            const void *b, void *out, uint64_t n) {
  switch (dt) {
  case INFERD_TYPE_INT8:
  case INFERD_TYPE_UINT8:
    ADD_SUB_LOOP(uint8_t);
  case INFERD_TYPE_INT16:
  case INFERD_TYPE_UINT16:
    ADD_SUB_LOOP(uint16_t);
  case INFERD_TYPE_INT32:
  case INFERD_TYPE_UINT32:
    ADD_SUB_LOOP(uint32_t);
  case INFERD_TYPE_INT64:
  case INFERD_TYPE_UINT64:
    ADD_SUB_LOOP(uint64_t);
  case INFERD_TYPE_FP32:
    ADD_SUB_LOOP(float);
  case INFERD_TYPE_FP64:
    ADD_SUB_LOOP(double);
  default:
    break; /* excluded by model_init */
  }
}

/* Fills resp for one request; errors name the model and the mismatch. */
static inferd_status_t *add_sub_one(const inferd_backend_model_t *m,
                                    inferd_datatype_t dt, inferd_request_t *r,
                                    inferd_response_t *resp) {
  const char *model = bk_host->model_name(m);
  bk_input_t in[2];
  static const char *const in_names[2] = {"INPUT0", "INPUT1"};
  for (int k = 0; k < 2; k++) {
    inferd_status_t *st = bk_input_get(r, in_names[k], &in[k]);
    if (st) {
      bk_host->status_free(st);
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": request has no input \"%s\"",
                                 model, in_names[k]);
    }
    if (in[k].dt != dt)
      return bk_host->status_new(
          INFERD_INVALID_ARG, "model \"%s\": input \"%s\": expected %s, got %s",
          model, in_names[k], inferd_datatype_name(dt),
          inferd_datatype_name(in[k].dt));
  }
  if (!same_shape(in[0].shape, in[0].n_dims, in[1].shape, in[1].n_dims)) {
    char a[128], b[128];
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": input shapes differ: \"INPUT0\" has shape %s, "
        "\"INPUT1\" has shape %s",
        model, bk_shape_str(in[0].shape, in[0].n_dims, a, sizeof(a)),
        bk_shape_str(in[1].shape, in[1].n_dims, b, sizeof(b)));
  }
  uint64_t count;
  size_t el = inferd_datatype_size(dt);
  if (!bk_element_count(in[0].shape, in[0].n_dims, &count) ||
      count > UINT64_MAX / el)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": input \"INPUT0\": invalid shape",
                               model);
  for (int k = 0; k < 2; k++)
    if (in[k].byte_size != count * el)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\": expected %" PRIu64
                                 " bytes for %" PRIu64
                                 " %s elements, got %" PRIu64,
                                 model, in_names[k], count * el, count,
                                 inferd_datatype_name(dt), in[k].byte_size);

  const void *data[2];
  void *owned[2] = {NULL, NULL};
  inferd_status_t *st = NULL;
  for (int k = 0; k < 2 && !st; k++)
    st = bk_input_contiguous(r, &in[k], &data[k], &owned[k]);

  uint32_t n_req = bk_host->request_output_count(r);
  for (uint32_t o = 0; o < n_req && !st; o++) {
    const char *name = bk_host->request_output_name(r, o);
    if (!name)
      continue;
    bool sub;
    if (strcmp(name, "OUTPUT0") == 0)
      sub = false;
    else if (strcmp(name, "OUTPUT1") == 0)
      sub = true;
    else {
      st = bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": unexpected output \"%s\"", model,
                               name);
      break;
    }
    void *buf = NULL;
    st = bk_host->response_output(resp, name, dt, in[0].shape, in[0].n_dims,
                                  count * el, &buf);
    if (!st && count)
      add_sub_compute(dt, sub, data[0], data[1], buf, count);
  }
  free(owned[0]);
  free(owned[1]);
  return st;
}

static inferd_status_t *add_sub_fill(void *state, inferd_backend_model_t *m,
                                     inferd_request_t *r,
                                     inferd_response_t *resp) {
  const add_sub_model_t *s = state;
  return add_sub_one(m, s->dt, r, resp);
}

static inferd_status_t *add_sub_execute(inferd_backend_instance_t *inst,
                                        inferd_request_t *const *requests,
                                        uint32_t n) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  uint64_t start = bk_host->now_ns();
  bk_execute_each(inst, requests, n, bk_batch_size(m, requests, n), start,
                  start, add_sub_fill, bk_host->model_state(m));
  return NULL;
}

static const inferd_backend_api_t add_sub_api = {
    INFERD_BACKEND_API_HEADER,
    .model_init = add_sub_model_init,
    .model_fini = add_sub_model_fini,
    .execute = add_sub_execute,
    .flags = INFERD_BACKEND_FLAG_NONBLOCKING, /* pure memory work */
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("add_sub", host, &add_sub_api, api);
}
