/*
 * onnx.c: the onnx backend: ONNX models (model.onnx; Triton's platform
 * `onnxruntime_onnx`, backend `onnxruntime` or `onnx`) run by OpenCV DNN 4.6,
 * the ONNX engine Debian packages (there is no ONNX Runtime in Debian 12).
 * TensorFlow frozen graphs (a model file ending in .graphdef or .pb, e.g.
 * `backend: "onnx"` with `default_model_filename: "model.graphdef"`) go
 * through the same engine.
 *
 * model_init reads the graph (onnx_graph.c) to check the config's inputs and
 * outputs against it by name, rewrites Identity-on-initializer nodes that
 * OpenCV cannot import, and imports the graph once to fail early (an
 * unsupported operator is named); that net goes to the first instance, every
 * other instance imports its own (a cv::dnn::Net is not shared between
 * threads).
 *
 * OpenCV DNN computes in FP32: inputs of other numeric types are converted to
 * FP32 and outputs back to the config's type (exact for integers up to 2^24).
 * Parameters: INTRA_OP_THREAD_COUNT sets OpenCV's thread count (process-wide,
 * last model wins); default: OpenCV's own (all usable cores).
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bk_util.h"
#include "../common/fw_exec.h"
#include "cv_shim.h"
#include "onnx_graph.h"

typedef struct ox_model {
  fw_model_io_t io;
  int format; /* CVS_ONNX / CVS_TENSORFLOW */
  void *buf;  /* model bytes (rewritten) for instance imports */
  size_t len;
  onnx_graph_info_t *graph; /* NULL for TensorFlow */
  int32_t *out_graph;       /* config output i → graph output index, -1 */
  cvs_net_t *spare;         /* imported by model_init, taken by instance 0 */
} ox_model_t;

typedef struct ox_instance {
  ox_model_t *model;
  cvs_net_t *net;
} ox_instance_t;

typedef struct ox_result {
  cvs_result_t *cv;
  uint32_t n;
  void **converted; /* per config output, malloc'd when converted */
} ox_result_t;

static void ox_model_free(ox_model_t *s) {
  if (!s)
    return;
  cvs_free(s->spare);
  free(s->buf);
  free(s->out_graph);
  onnx_graph_free(s->graph);
  fw_model_io_deinit(&s->io);
  free(s);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Turns OpenCV's import error into one that names the operator. */
static inferd_status_t *import_error(const char *model, const char *path,
                                     char *msg) {
  const char *m = msg ? msg : "out of memory";
  const char *p = strstr(m, "of type \"");
  inferd_status_t *st;
  if (p) {
    p += strlen("of type \"");
    const char *q = strchr(p, '"');
    int n = q ? (int)(q - p) : (int)strlen(p);
    st = bk_host->status_new(
        INFERD_UNSUPPORTED,
        "model \"%s\": \"%s\": operator \"%.*s\" is not supported by OpenCV "
        "DNN %s (%s)",
        model, path, n, p, cvs_version(), m);
  } else {
    st = bk_host->status_new(INFERD_INVALID_ARG,
                             "model \"%s\": \"%s\": OpenCV DNN %s cannot "
                             "import the model: %s",
                             model, path, cvs_version(), m);
  }
  free(msg);
  return st;
}

/* Checks config inputs/outputs against the graph by name. */
static inferd_status_t *match_graph(const char *model, ox_model_t *s) {
  const onnx_graph_info_t *g = s->graph;
  char names[512];
  for (uint32_t i = 0; i < s->io.n_in; i++) {
    bool found = false;
    for (uint32_t k = 0; k < g->n_inputs && !found; k++)
      found = strcmp(g->inputs[k].name, s->io.in[i].name) == 0;
    if (!found) {
      size_t used = 0;
      names[0] = '\0';
      for (uint32_t k = 0; k < g->n_inputs && used < sizeof(names); k++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s\"%s\"",
                         k ? ", " : "", g->inputs[k].name);
        if (n < 0)
          break;
        used += (size_t)n;
      }
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\" is not an input "
                                 "of the ONNX graph (graph inputs: %s)",
                                 model, s->io.in[i].name, names);
    }
  }
  for (uint32_t k = 0; k < g->n_inputs; k++) {
    bool found = false;
    for (uint32_t i = 0; i < s->io.n_in && !found; i++)
      found = strcmp(g->inputs[k].name, s->io.in[i].name) == 0;
    if (!found)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": the ONNX graph's input \"%s\" "
                                 "is missing from the config",
                                 model, g->inputs[k].name);
  }
  for (uint32_t i = 0; i < s->io.n_out; i++) {
    s->out_graph[i] = -1;
    for (uint32_t k = 0; k < g->n_outputs; k++)
      if (strcmp(g->outputs[k].name, s->io.out[i].name) == 0)
        s->out_graph[i] = (int32_t)k;
    if (s->out_graph[i] < 0)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": output \"%s\" is not an "
                                 "output of the ONNX graph",
                                 model, s->io.out[i].name);
  }
  return NULL;
}

static bool type_ok(inferd_datatype_t dt) {
  return dt != INFERD_TYPE_BYTES && dt != INFERD_TYPE_INVALID &&
         dt != INFERD_TYPE_FP16 && dt != INFERD_TYPE_BF16 &&
         inferd_datatype_size(dt) > 0;
}

static inferd_status_t *ox_model_init(inferd_backend_model_t *m) {
  const char *model = bk_host->model_name(m);
  const char *path = bk_host->model_file_path(m);
  ox_model_t *s = calloc(1, sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  s->format = ends_with(path, ".graphdef") || ends_with(path, ".pb")
                  ? CVS_TENSORFLOW
                  : CVS_ONNX;
  char err[512];
  inferd_status_t *st = NULL;
  if (!onnx_read_file(path, &s->buf, &s->len, err, sizeof(err))) {
    ox_model_free(s);
    return bk_host->status_new(INFERD_INVALID_ARG, "model \"%s\": %s", model,
                               err);
  }
  if (s->format == CVS_ONNX &&
      !onnx_graph_read(s->buf, s->len, &s->graph, err, sizeof(err))) {
    ox_model_free(s);
    return bk_host->status_new(INFERD_INVALID_ARG, "model \"%s\": \"%s\": %s",
                               model, path, err);
  }
  if (s->graph && bk_host->model_input_count(m) == 0) {
    /* complete the config from the graph (reference §3.6), batching with
     * Triton's default max_batch_size 4 when every dim 0 is dynamic */
    char *json = NULL;
    if (!onnx_autocomplete_json(s->graph, 4, &json, err, sizeof(err)))
      st = bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": cannot complete the config "
                               "from the graph: %s",
                               model, err);
    else if (bk_host->struct_size <
             offsetof(inferd_host_api_t, model_set_config_json) +
                 sizeof(void *))
      st = bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": config has no inputs/outputs and this server "
          "cannot complete them; from the graph they would be: %s",
          model, json);
    else
      st = bk_host->model_set_config_json(m, json);
    free(json);
    if (st) {
      ox_model_free(s);
      return st;
    }
  }
  st = fw_model_io_init(m, &s->io);
  if (st) {
    ox_model_free(s);
    return st;
  }
  for (uint32_t i = 0; i < s->io.n_in + s->io.n_out && !st; i++) {
    bool out = i >= s->io.n_in;
    const fw_io_t *c = out ? &s->io.out[i - s->io.n_in] : &s->io.in[i];
    if (!type_ok(c->dt))
      st = bk_host->status_new(
          INFERD_UNSUPPORTED,
          "model \"%s\": %s \"%s\": data type %s is not supported by the onnx "
          "backend (OpenCV DNN computes in FP32; BOOL, integer, FP32 and FP64 "
          "are converted)",
          model, out ? "output" : "input", c->name,
          inferd_datatype_name(c->dt));
  }
  s->out_graph = calloc(s->io.n_out, sizeof(*s->out_graph));
  if (!st && !s->out_graph)
    st = bk_host->status_new(INFERD_NO_MEMORY, "model \"%s\": out of memory",
                             model);
  if (!st && s->graph)
    st = match_graph(model, s);
  int64_t threads = 0;
  if (!st)
    st = bk_param_int(m, "INTRA_OP_THREAD_COUNT", 0, 1024, &threads);
  if (st) {
    ox_model_free(s);
    return st;
  }
  if (threads > 0)
    cvs_set_threads((int)threads);
  uint32_t removed = 0;
  if (s->graph && s->graph->n_identity_on_initializer) {
    void *nb;
    size_t nl;
    if (!onnx_strip_identity(s->buf, s->len, &nb, &nl, &removed, err,
                             sizeof(err))) {
      ox_model_free(s);
      return bk_host->status_new(INFERD_INVALID_ARG, "model \"%s\": \"%s\": %s",
                                 model, path, err);
    }
    free(s->buf);
    s->buf = nb;
    s->len = nl;
  }
  uint64_t t0 = bk_host->now_ns();
  char *msg = cvs_load(s->buf, s->len, s->format, &s->spare);
  if (msg) {
    ox_model_free(s);
    return import_error(model, path, msg);
  }
  BK_LOG(BK_LOG_INFO,
         "model \"%s\": %s \"%s\" run by OpenCV DNN %s (CPU, %d threads); "
         "Identity nodes on initializers removed: %u; loaded in %.0f ms",
         model, s->format == CVS_ONNX ? "ONNX graph" : "TensorFlow graph", path,
         cvs_version(), cvs_get_threads(), removed,
         (double)(bk_host->now_ns() - t0) / 1e6);
  bk_host->model_set_state(m, s);
  return NULL;
}

static void ox_model_fini(inferd_backend_model_t *m) {
  ox_model_free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

/* ---- conversions ---- */

static void to_float(inferd_datatype_t dt, const void *src, float *dst,
                     uint64_t n) {
  const char *p = src;
  for (uint64_t i = 0; i < n; i++) {
    switch (dt) {
#define CONV(T, DT)                                                            \
  case DT: {                                                                   \
    T v;                                                                       \
    memcpy(&v, p + i * sizeof(T), sizeof(T));                                  \
    dst[i] = (float)v;                                                         \
    break;                                                                     \
  }
      CONV(uint8_t, INFERD_TYPE_UINT8)
      CONV(uint16_t, INFERD_TYPE_UINT16)
      CONV(uint32_t, INFERD_TYPE_UINT32)
      CONV(uint64_t, INFERD_TYPE_UINT64)
      CONV(int8_t, INFERD_TYPE_INT8)
      CONV(int16_t, INFERD_TYPE_INT16)
      CONV(int32_t, INFERD_TYPE_INT32)
      CONV(int64_t, INFERD_TYPE_INT64)
      CONV(double, INFERD_TYPE_FP64)
      CONV(float, INFERD_TYPE_FP32)
#undef CONV
    case INFERD_TYPE_BOOL:
      dst[i] = p[i] ? 1.0f : 0.0f;
      break;
    default:
      dst[i] = 0.0f;
    }
  }
}

static void from_float(inferd_datatype_t dt, const float *src, void *dst,
                       uint64_t n) {
  char *p = dst;
  for (uint64_t i = 0; i < n; i++) {
    float f = src[i];
    double r = isfinite(f) ? nearbyint((double)f) : 0.0;
    switch (dt) {
#define CONV(T, DT, VAL)                                                       \
  case DT: {                                                                   \
    T v = (T)(VAL);                                                            \
    memcpy(p + i * sizeof(T), &v, sizeof(T));                                  \
    break;                                                                     \
  }
      CONV(uint8_t, INFERD_TYPE_UINT8, r < 0 ? 0 : r > 255 ? 255 : r)
      CONV(uint16_t, INFERD_TYPE_UINT16, r < 0 ? 0 : r > 65535 ? 65535 : r)
      CONV(uint32_t, INFERD_TYPE_UINT32,
           r < 0              ? 0
           : r > 4294967295.0 ? 4294967295.0
                              : r)
      CONV(uint64_t, INFERD_TYPE_UINT64, r < 0 ? 0 : r > 1.8e19 ? 1.8e19 : r)
      CONV(int8_t, INFERD_TYPE_INT8, r < -128 ? -128 : r > 127 ? 127 : r)
      CONV(int16_t, INFERD_TYPE_INT16,
           r < -32768  ? -32768
           : r > 32767 ? 32767
                       : r)
      CONV(int32_t, INFERD_TYPE_INT32,
           r < -2147483648.0  ? -2147483648.0
           : r > 2147483647.0 ? 2147483647.0
                              : r)
      CONV(int64_t, INFERD_TYPE_INT64,
           r < -9.2e18  ? -9.2e18
           : r > 9.2e18 ? 9.2e18
                        : r)
      CONV(double, INFERD_TYPE_FP64, (double)f)
#undef CONV
    case INFERD_TYPE_BOOL:
      p[i] = f != 0.0f;
      break;
    default:
      break;
    }
  }
}

/* The shape a client expects for output k, reconciled with OpenCV's (which
 * keeps 1-D tensors as 2-D matrices): config dims (plus the batch), holes
 * filled from the graph, a single unknown solved from the element count. */
static void output_shape(const ox_model_t *s, uint32_t k, int64_t rows,
                         const int64_t *cv_shape, uint32_t cv_dims,
                         uint64_t count, fw_tensor_t *t) {
  const fw_io_t *c = &s->io.out[k];
  bool batching = s->io.max_batch_size > 0;
  int64_t want[FW_MAX_DIMS];
  uint32_t n = 0;
  if (batching)
    want[n++] = rows;
  for (uint32_t d = 0; d < c->n_dims && n < FW_MAX_DIMS; d++)
    want[n++] = c->dims[d];
  const onnx_value_t *gv = s->graph && s->out_graph[k] >= 0
                               ? &s->graph->outputs[s->out_graph[k]]
                               : NULL;
  if (gv && gv->has_shape && gv->n_dims == n)
    for (uint32_t d = 0; d < n; d++)
      if (want[d] < 0 && gv->dims[d] >= 0)
        want[d] = gv->dims[d];
  uint64_t known = 1;
  int unknown = -1, n_unknown = 0;
  for (uint32_t d = 0; d < n; d++) {
    if (want[d] < 0) {
      unknown = (int)d;
      n_unknown++;
    } else
      known *= (uint64_t)want[d];
  }
  if (n_unknown == 1 && known && count % known == 0) {
    want[unknown] = (int64_t)(count / known);
    n_unknown = 0;
    known = count;
  }
  if (n_unknown == 0 && known == count) {
    memcpy(t->shape, want, n * sizeof(int64_t));
    t->n_dims = n;
  } else {
    uint32_t m = cv_dims < FW_MAX_DIMS ? cv_dims : FW_MAX_DIMS;
    memcpy(t->shape, cv_shape, m * sizeof(int64_t));
    t->n_dims = m;
  }
}

static void ox_release(void *ctx, void *result) {
  (void)ctx;
  ox_result_t *r = result;
  if (!r)
    return;
  for (uint32_t i = 0; i < r->n; i++)
    free(r->converted[i]);
  free(r->converted);
  cvs_result_free(r->cv);
  free(r);
}

static inferd_status_t *ox_run(void *ctx, const fw_tensor_t *inputs,
                               uint32_t n_in, const bool *want,
                               fw_tensor_t *outputs, void **result) {
  ox_instance_t *oi = ctx;
  ox_model_t *s = oi->model;
  cvs_input_t in[n_in];
  float *conv[n_in];
  memset(conv, 0, sizeof(conv));
  inferd_status_t *st = NULL;
  for (uint32_t i = 0; i < n_in && !st; i++) {
    in[i].name = s->io.in[i].name;
    in[i].shape = inputs[i].shape;
    in[i].n_dims = inputs[i].n_dims;
    if (inputs[i].dt == INFERD_TYPE_FP32) {
      in[i].data = inputs[i].data;
      continue;
    }
    uint64_t n = inputs[i].byte_size / inferd_datatype_size(inputs[i].dt);
    conv[i] = malloc(n ? (size_t)n * sizeof(float) : 1);
    if (!conv[i])
      st = bk_host->status_new(INFERD_NO_MEMORY, "input \"%s\": out of memory",
                               in[i].name);
    else
      to_float(inputs[i].dt, inputs[i].data, conv[i], n);
    in[i].data = conv[i];
  }
  const char *names[s->io.n_out];
  uint32_t idx[s->io.n_out];
  uint32_t n_want = 0;
  for (uint32_t k = 0; k < s->io.n_out; k++)
    if (want[k]) {
      idx[n_want] = k;
      names[n_want++] = s->io.out[k].name;
    }
  ox_result_t *r = NULL;
  if (!st) {
    r = calloc(1, sizeof(*r));
    if (r)
      r->converted = calloc(s->io.n_out, sizeof(void *));
    if (!r || !r->converted) {
      free(r);
      r = NULL;
      st = bk_host->status_new(INFERD_NO_MEMORY, "out of memory");
    } else
      r->n = s->io.n_out;
  }
  if (!st && n_want) {
    char *msg = cvs_forward(oi->net, in, n_in, names, n_want, &r->cv);
    if (msg) {
      st = bk_host->status_new(INFERD_INTERNAL, "OpenCV DNN forward failed: %s",
                               msg);
      free(msg);
    }
  }
  for (uint32_t i = 0; i < n_in; i++)
    free(conv[i]);
  int64_t rows = n_in && inputs[0].n_dims ? inputs[0].shape[0] : 1;
  for (uint32_t j = 0; j < n_want && !st; j++) {
    uint32_t k = idx[j];
    const int64_t *cv_shape;
    uint32_t cv_dims;
    const float *data;
    uint64_t count;
    cvs_result_tensor(r->cv, j, &cv_shape, &cv_dims, &data, &count);
    fw_tensor_t *t = &outputs[k];
    output_shape(s, k, rows, cv_shape, cv_dims, count, t);
    t->dt = s->io.out[k].dt;
    t->byte_size = count * inferd_datatype_size(t->dt);
    if (t->dt == INFERD_TYPE_FP32) {
      t->data = data;
      continue;
    }
    r->converted[k] = malloc(t->byte_size ? (size_t)t->byte_size : 1);
    if (!r->converted[k]) {
      st = bk_host->status_new(INFERD_NO_MEMORY, "output \"%s\": out of memory",
                               s->io.out[k].name);
      break;
    }
    from_float(t->dt, data, r->converted[k], count);
    t->data = r->converted[k];
  }
  if (st) {
    ox_release(NULL, r);
    return st;
  }
  *result = r;
  return NULL;
}

static inferd_status_t *ox_instance_init(inferd_backend_instance_t *inst) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  const char *model = bk_host->model_name(m);
  ox_model_t *s = bk_host->model_state(m);
  if (bk_host->instance_kind(inst) == INFERD_INSTANCE_KIND_GPU)
    return bk_host->status_new(
        INFERD_UNSUPPORTED,
        "model \"%s\": instance \"%s\": KIND_GPU is not supported by the onnx "
        "backend: Debian's OpenCV DNN %s is built without CUDA; use KIND_CPU",
        model, bk_host->instance_name(inst), cvs_version());
  ox_instance_t *oi = calloc(1, sizeof(*oi));
  if (!oi)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate instance", model);
  oi->model = s;
  if (s->spare) {
    oi->net = s->spare;
    s->spare = NULL;
  } else {
    char *msg = cvs_load(s->buf, s->len, s->format, &oi->net);
    if (msg) {
      free(oi);
      return import_error(model, bk_host->model_file_path(m), msg);
    }
  }
  bk_host->instance_set_state(inst, oi);
  return NULL;
}

static void ox_instance_fini(inferd_backend_instance_t *inst) {
  ox_instance_t *oi = bk_host->instance_state(inst);
  if (!oi)
    return;
  cvs_free(oi->net);
  free(oi);
  bk_host->instance_set_state(inst, NULL);
}

static inferd_status_t *ox_execute(inferd_backend_instance_t *inst,
                                   inferd_request_t *const *requests,
                                   uint32_t n) {
  ox_instance_t *oi = bk_host->instance_state(inst);
  return fw_execute(inst, &oi->model->io, requests, n, ox_run, ox_release, oi);
}

static const inferd_backend_api_t ox_api = {
    INFERD_BACKEND_API_HEADER,         .model_init = ox_model_init,
    .model_fini = ox_model_fini,       .instance_init = ox_instance_init,
    .instance_fini = ox_instance_fini, .execute = ox_execute,
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("onnx", host, &ox_api, api);
}
