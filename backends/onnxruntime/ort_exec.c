/*
 * ort_exec.c: the onnxruntime backend's execute: checks each request against
 * the config, groups the requests whose non-batch dims agree, hands each
 * group to OrtApi::Run as one tensor per input, and splits the outputs back.
 *
 * Copies: a group of one request runs on the request's own buffer (an
 * OrtValue over it, no copy) when the input arrived in one buffer; a group of
 * several is concatenated once along dim 0. Outputs are copied once, from
 * ONNX Runtime's tensors into the server's response buffers. BYTES travels
 * as ONNX string tensors (the C API takes NUL-terminated strings: an element
 * holding a NUL byte is cut there).
 *
 * Invariant: every request passed to ort_execute leaves with exactly one
 * final response sent and request_release called.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bk_util.h"
#include "ort_backend.h"

typedef struct ort_req {
  inferd_request_t *r;
  bool done;
  int64_t batch;      /* rows along dim 0 (1 when the model does not batch) */
  bk_input_t *in;     /* n_in, config order */
  const void **data;  /* contiguous bytes of each input */
  void **owned;       /* copies made to get them contiguous */
  uint64_t *elements; /* element count of each input */
} ort_req_t;

/* An output of one Run, read once for every request of the group. */
typedef struct ort_out {
  inferd_status_t *err; /* this output cannot be returned */
  inferd_datatype_t dt;
  int64_t shape[ORT_MAX_DIMS];
  uint32_t n_dims;
  uint64_t elements;
  const char *data; /* numeric: the tensor's bytes (owned by the OrtValue) */
  uint64_t byte_size;
  char *chars;     /* BYTES: all strings back to back (malloc'd) */
  size_t *offsets; /* BYTES: elements + 1 offsets into chars (malloc'd) */
} ort_out_t;

static inferd_status_t *status_copy(const inferd_status_t *st) {
  return bk_host->status_new(bk_host->status_code(st), "%s",
                             bk_host->status_message(st));
}

/* Walks n BYTES elements (4-byte little-endian length + bytes each); false
 * if they do not fill size exactly. */
static bool bytes_walk(const unsigned char *p, uint64_t size, uint64_t n,
                       uint64_t *payload) {
  uint64_t off = 0, total = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (size - off < 4)
      return false;
    uint32_t len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                   (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
    off += 4;
    if (size - off < len)
      return false;
    off += len;
    total += len;
  }
  if (payload)
    *payload = total;
  return off == size;
}

static inferd_status_t *check_request(const ort_model_t *s, ort_req_t *q) {
  bool batching = s->max_batch_size > 0;
  q->batch = 1;
  for (uint32_t k = 0; k < s->n_in; k++) {
    const ort_io_t *c = &s->in[k];
    bk_input_t *in = &q->in[k];
    inferd_status_t *st = bk_input_get(q->r, c->name, in);
    if (st) {
      bk_host->status_free(st);
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": request has no input \"%s\"",
                                 s->model, c->name);
    }
    if (in->dt != c->dt)
      return bk_host->status_new(
          INFERD_INVALID_ARG, "model \"%s\": input \"%s\": expected %s, got %s",
          s->model, c->name, inferd_datatype_name(c->dt),
          inferd_datatype_name(in->dt));
    uint32_t want_rank = c->n_dims + (batching ? 1 : 0);
    bool shape_ok = in->n_dims == want_rank && in->n_dims <= ORT_MAX_DIMS;
    for (uint32_t d = 0; shape_ok && d < c->n_dims; d++) {
      int64_t got = in->shape[d + (batching ? 1 : 0)];
      if (got < 0 || (c->dims[d] >= 0 && got != c->dims[d]))
        shape_ok = false;
    }
    if (shape_ok && batching && in->shape[0] < 0)
      shape_ok = false;
    if (!shape_ok) {
      char a[160], b[160];
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": input \"%s\": expected shape %s%s, got %s", s->model,
          c->name, batching ? "[-1]+" : "",
          bk_shape_str(c->dims, c->n_dims, a, sizeof(a)),
          bk_shape_str(in->shape, in->n_dims, b, sizeof(b)));
    }
    uint64_t count;
    if (!bk_element_count(in->shape, in->n_dims, &count))
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\": shape too large",
                                 s->model, c->name);
    q->elements[k] = count;
    st = bk_input_contiguous(q->r, in, &q->data[k], &q->owned[k]);
    if (st)
      return st;
    if (c->dt == INFERD_TYPE_BYTES) {
      if (!bytes_walk(q->data[k], in->byte_size, count, NULL))
        return bk_host->status_new(INFERD_INVALID_ARG,
                                   "model \"%s\": input \"%s\": %" PRIu64
                                   " bytes do not hold %" PRIu64
                                   " length-prefixed BYTES elements",
                                   s->model, c->name, in->byte_size, count);
    } else {
      size_t el = inferd_datatype_size(c->dt);
      if (count > UINT64_MAX / el || in->byte_size != count * el)
        return bk_host->status_new(INFERD_INVALID_ARG,
                                   "model \"%s\": input \"%s\": expected "
                                   "%" PRIu64 " bytes for its shape, got "
                                   "%" PRIu64,
                                   s->model, c->name, count * el,
                                   in->byte_size);
    }
    if (k == 0)
      q->batch = batching ? in->shape[0] : 1;
    else if (batching && in->shape[0] != q->batch)
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": input \"%s\": batch size %" PRId64
          " differs from input \"%s\" (%" PRId64 ")",
          s->model, c->name, in->shape[0], s->in[0].name, q->batch);
  }
  return NULL;
}

/* Same non-batch dims on every input: such requests can be concatenated. */
static bool compatible(const ort_model_t *s, const ort_req_t *a,
                       const ort_req_t *b) {
  for (uint32_t k = 0; k < s->n_in; k++) {
    if (a->in[k].n_dims != b->in[k].n_dims)
      return false;
    for (uint32_t d = 1; d < a->in[k].n_dims; d++)
      if (a->in[k].shape[d] != b->in[k].shape[d])
        return false;
  }
  return true;
}

/* A string tensor from the BYTES inputs of the group. */
static inferd_status_t *string_input(const ort_model_t *s, uint32_t k,
                                     ort_req_t **g, uint32_t n_g,
                                     const int64_t *shape, uint32_t n_dims,
                                     OrtValue **out) {
  const ort_api_t *api = &s->b->api;
  uint64_t n = 0, chars = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    uint64_t payload = 0;
    bytes_walk(g[j]->data[k], g[j]->in[k].byte_size, g[j]->elements[k],
               &payload);
    n += g[j]->elements[k];
    chars += payload;
  }
  const char **ptrs = malloc((size_t)(n ? n : 1) * sizeof(*ptrs));
  char *text = malloc((size_t)(chars + n + 1));
  if (!ptrs || !text) {
    free(ptrs);
    free(text);
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": input \"%s\": out of memory",
                               s->model, s->in[k].name);
  }
  uint64_t e = 0, at = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    const unsigned char *p = g[j]->data[k];
    uint64_t off = 0;
    for (uint64_t i = 0; i < g[j]->elements[k]; i++) {
      uint32_t len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                     (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
      off += 4;
      memcpy(text + at, p + off, len);
      text[at + len] = '\0';
      ptrs[e++] = text + at;
      at += len + 1;
      off += len;
    }
  }
  OrtStatus *os = api->CreateTensorAsOrtValue(s->b->alloc, shape, n_dims,
                                              ORT_T_STRING, out);
  if (!os)
    os = api->FillStringTensor(*out, ptrs, (size_t)n);
  free(ptrs);
  free(text);
  if (os)
    return ort_model_fail(s, os, "cannot build a string tensor");
  return NULL;
}

/* Builds the group's input values. owned[k]: a concatenation to free. */
static inferd_status_t *make_inputs(const ort_model_t *s, ort_req_t **g,
                                    uint32_t n_g, OrtValue **vals,
                                    void **owned) {
  const ort_api_t *api = &s->b->api;
  static char empty; /* ONNX Runtime wants a pointer even for 0 bytes */
  for (uint32_t k = 0; k < s->n_in; k++) {
    const bk_input_t *first = &g[0]->in[k];
    int64_t shape[ORT_MAX_DIMS];
    uint32_t n_dims = first->n_dims;
    memcpy(shape, first->shape, n_dims * sizeof(int64_t));
    uint64_t bytes = 0;
    for (uint32_t j = 0; j < n_g; j++)
      bytes += g[j]->in[k].byte_size;
    if (n_g > 1) {
      shape[0] = 0;
      for (uint32_t j = 0; j < n_g; j++)
        shape[0] += g[j]->batch;
    }
    /* a scalar graph input is [1] in the config (as Triton writes it) */
    if (s->sin[s->in_map[k]].n_dims == 0 && s->max_batch_size == 0)
      n_dims = 0;
    if (s->in[k].dt == INFERD_TYPE_BYTES) {
      inferd_status_t *st = string_input(s, k, g, n_g, shape, n_dims, &vals[k]);
      if (st)
        return st;
      continue;
    }
    const void *data = g[0]->data[k];
    if (n_g > 1) {
      char *buf = malloc(bytes ? (size_t)bytes : 1);
      if (!buf)
        return bk_host->status_new(INFERD_NO_MEMORY,
                                   "model \"%s\": input \"%s\": cannot "
                                   "allocate %" PRIu64 " bytes for the batch",
                                   s->model, s->in[k].name, bytes);
      owned[k] = buf;
      uint64_t off = 0;
      for (uint32_t j = 0; j < n_g; j++) {
        memcpy(buf + off, g[j]->data[k], (size_t)g[j]->in[k].byte_size);
        off += g[j]->in[k].byte_size;
      }
      data = buf;
    }
    /* ONNX Runtime reads but never writes an input; the C API has no const */
    OrtStatus *os = api->CreateTensorWithDataAsOrtValue(
        s->b->cpu, bytes ? (void *)(uintptr_t)data : &empty, (size_t)bytes,
        shape, n_dims, ort_onnx_from_dt(s->in[k].dt), &vals[k]);
    if (os)
      return ort_model_fail(s, os, "cannot wrap an input");
  }
  return NULL;
}

static void out_deinit(ort_out_t *o) {
  if (o->err)
    bk_host->status_free(o->err);
  free(o->chars);
  free(o->offsets);
  memset(o, 0, sizeof(*o));
}

/* Reads Run's output value v (config output idx) into o. */
static void read_output(const ort_model_t *s, uint32_t idx, OrtValue *v,
                        ort_out_t *o) {
  const ort_api_t *api = &s->b->api;
  const char *name = s->out[idx].name;
  int kind = 0;
  OrtStatus *os = api->GetValueType(v, &kind);
  if (!os && kind != ORT_ONNX_TYPE_TENSOR) {
    o->err = bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": output \"%s\" is not a tensor "
                                 "(ONNX type %d)",
                                 s->model, name, kind);
    return;
  }
  OrtTensorTypeAndShapeInfo *info = NULL;
  if (!os)
    os = api->GetTensorTypeAndShape(v, &info);
  int et = 0;
  size_t nd = 0;
  if (!os)
    os = api->GetTensorElementType(info, &et);
  if (!os)
    os = api->GetDimensionsCount(info, &nd);
  if (!os && nd > ORT_MAX_DIMS) {
    api->ReleaseTensorTypeAndShapeInfo(info);
    o->err = bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": output \"%s\" has %zu dims",
                                 s->model, name, nd);
    return;
  }
  if (!os)
    os = api->GetDimensions(info, o->shape, nd);
  if (info)
    api->ReleaseTensorTypeAndShapeInfo(info);
  if (os) {
    o->err = ort_model_fail(s, os, "cannot read an output");
    return;
  }
  o->dt = ort_dt_from_onnx(et);
  o->n_dims = (uint32_t)nd;
  if (o->dt != s->out[idx].dt) {
    o->err = bk_host->status_new(
        INFERD_INTERNAL,
        "model \"%s\": output \"%s\": the model produced %s, the config says "
        "%s",
        s->model, name, inferd_datatype_name(o->dt),
        inferd_datatype_name(s->out[idx].dt));
    return;
  }
  if (!bk_element_count(o->shape, o->n_dims, &o->elements)) {
    o->err = bk_host->status_new(INFERD_INTERNAL,
                                 "model \"%s\": output \"%s\": bad shape",
                                 s->model, name);
    return;
  }
  if (o->n_dims == 0) { /* scalar: [1], as the config writes it */
    o->shape[0] = 1;
    o->n_dims = 1;
  }
  if (o->dt == INFERD_TYPE_BYTES) {
    size_t len = 0;
    os = api->GetStringTensorDataLength(v, &len);
    o->chars = malloc(len ? len : 1);
    o->offsets = malloc((size_t)(o->elements + 1) * sizeof(size_t));
    if (!os && (!o->chars || !o->offsets)) {
      o->err = bk_host->status_new(INFERD_NO_MEMORY,
                                   "model \"%s\": output \"%s\": out of memory",
                                   s->model, name);
      return;
    }
    if (!os && o->elements)
      os = api->GetStringTensorContent(v, o->chars, len, o->offsets,
                                       (size_t)o->elements);
    if (os) {
      o->err = ort_model_fail(s, os, "cannot read a string output");
      return;
    }
    o->offsets[o->elements] = len;
    o->byte_size = 4 * o->elements + len;
    return;
  }
  void *p = NULL;
  os = api->GetTensorMutableData(v, &p);
  if (os) {
    o->err = ort_model_fail(s, os, "cannot read an output");
    return;
  }
  o->data = p;
  o->byte_size = o->elements * inferd_datatype_size(o->dt);
}

/* Adds the outputs request q asks for: rows [row0, row0 + q->batch) of each
 * when the group holds several requests, else all of it. */
static inferd_status_t *fill_response(const ort_model_t *s, ort_req_t *q,
                                      bool split, int64_t row0, int64_t rows,
                                      ort_out_t *outs,
                                      inferd_response_t *resp) {
  uint32_t n_req = bk_host->request_output_count(q->r);
  for (uint32_t i = 0; i < n_req; i++) {
    const char *name = bk_host->request_output_name(q->r, i);
    if (!name)
      continue;
    int idx = -1;
    for (uint32_t k = 0; k < s->n_out && idx < 0; k++)
      if (strcmp(s->out[k].name, name) == 0)
        idx = (int)k;
    if (idx < 0)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": unexpected output \"%s\"",
                                 s->model, name);
    ort_out_t *o = &outs[idx];
    if (o->err)
      return status_copy(o->err);
    int64_t shape[ORT_MAX_DIMS];
    memcpy(shape, o->shape, o->n_dims * sizeof(int64_t));
    uint64_t e0 = 0, n_el = o->elements;
    if (split) {
      if (o->shape[0] != rows || rows <= 0)
        return bk_host->status_new(
            INFERD_INTERNAL,
            "model \"%s\": output \"%s\": cannot split a batch of %" PRId64
            " rows: the output's first dim is %" PRId64,
            s->model, name, rows, o->shape[0]);
      uint64_t per_row = o->elements / (uint64_t)rows;
      shape[0] = q->batch;
      e0 = (uint64_t)row0 * per_row;
      n_el = (uint64_t)q->batch * per_row;
    }
    uint64_t size;
    if (o->dt == INFERD_TYPE_BYTES)
      size = 4 * n_el + (o->offsets[e0 + n_el] - o->offsets[e0]);
    else
      size = n_el * inferd_datatype_size(o->dt);
    void *buf = NULL;
    inferd_status_t *st = bk_host->response_output(resp, name, o->dt, shape,
                                                   o->n_dims, size, &buf);
    if (st)
      return st;
    if (o->dt != INFERD_TYPE_BYTES) {
      if (size)
        memcpy(buf, o->data + e0 * inferd_datatype_size(o->dt), (size_t)size);
      continue;
    }
    unsigned char *w = buf;
    for (uint64_t e = e0; e < e0 + n_el; e++) {
      size_t len = o->offsets[e + 1] - o->offsets[e];
      w[0] = (unsigned char)len;
      w[1] = (unsigned char)(len >> 8);
      w[2] = (unsigned char)(len >> 16);
      w[3] = (unsigned char)(len >> 24);
      memcpy(w + 4, o->chars + o->offsets[e], len);
      w += 4 + len;
    }
  }
  return NULL;
}

static void run_group(inferd_backend_instance_t *inst, ort_instance_t *oi,
                      ort_req_t **g, uint32_t n_g, uint64_t exec_start) {
  const ort_model_t *s = oi->m;
  const ort_api_t *api = &s->b->api;
  uint32_t n_in = s->n_in, n_out = s->n_out;
  OrtValue *vals[n_in ? n_in : 1];
  void *owned[n_in ? n_in : 1];
  const char *in_names[n_in ? n_in : 1];
  bool want[n_out];
  const char *out_names[n_out];
  uint32_t out_idx[n_out];
  OrtValue *results[n_out];
  ort_out_t outs[n_out];
  memset(vals, 0, sizeof(vals));
  memset(owned, 0, sizeof(owned));
  memset(want, 0, sizeof(want));
  memset(results, 0, sizeof(results));
  memset(outs, 0, sizeof(outs));
  for (uint32_t k = 0; k < n_in; k++)
    in_names[k] = s->in[k].name;
  int64_t rows = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    rows += g[j]->batch;
    uint32_t n_req = bk_host->request_output_count(g[j]->r);
    for (uint32_t o = 0; o < n_req; o++) {
      const char *name = bk_host->request_output_name(g[j]->r, o);
      for (uint32_t k = 0; name && k < n_out; k++)
        if (strcmp(s->out[k].name, name) == 0)
          want[k] = true;
    }
  }
  uint32_t n_want = 0;
  for (uint32_t k = 0; k < n_out; k++)
    if (want[k]) {
      out_idx[n_want] = k;
      out_names[n_want++] = s->out[k].name;
    }
  inferd_status_t *st = make_inputs(s, g, n_g, vals, owned);
  uint64_t compute_start = bk_host->now_ns();
  if (!st && n_want) {
    OrtStatus *os = api->Run(oi->session, oi->run_opts, in_names,
                             (const OrtValue *const *)vals, n_in, out_names,
                             n_want, results);
    if (os)
      st = ort_model_fail(s, os, "failed to run the model");
  }
  uint64_t compute_end = bk_host->now_ns();
  for (uint32_t k = 0; k < n_in; k++) {
    if (vals[k])
      api->ReleaseValue(vals[k]);
    free(owned[k]);
  }
  for (uint32_t w = 0; !st && w < n_want; w++)
    read_output(s, out_idx[w], results[w], &outs[out_idx[w]]);

  int64_t row0 = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    ort_req_t *q = g[j];
    inferd_status_t *err = st ? status_copy(st) : NULL;
    inferd_response_t *resp = NULL;
    if (!err)
      err = bk_host->response_new(&resp, q->r);
    if (!err)
      err = fill_response(s, q, n_g > 1, row0, rows, outs, resp);
    row0 += q->batch;
    bk_host->instance_report_statistics(inst, q->r, err == NULL, exec_start,
                                        compute_start, compute_end,
                                        bk_host->now_ns());
    bk_finish(q->r, resp, err);
    q->done = true;
  }
  for (uint32_t w = 0; w < n_want; w++)
    if (results[w])
      api->ReleaseValue(results[w]);
  for (uint32_t k = 0; k < n_out; k++)
    out_deinit(&outs[k]);
  if (st)
    bk_host->status_free(st);
  bk_host->instance_report_batch_statistics(
      inst, s->max_batch_size > 0 ? (uint64_t)rows : n_g, exec_start,
      compute_start, compute_end, bk_host->now_ns());
}

inferd_status_t *ort_execute(inferd_backend_instance_t *inst,
                             ort_instance_t *oi,
                             inferd_request_t *const *requests, uint32_t n) {
  const ort_model_t *s = oi->m;
  uint64_t exec_start = bk_host->now_ns();
  size_t n_in = s->n_in ? s->n_in : 1, nn = n ? n : 1;
  ort_req_t *qs = calloc(nn, sizeof(*qs));
  bk_input_t *ins = calloc(nn * n_in, sizeof(*ins));
  const void **data = calloc(nn * n_in, sizeof(*data));
  void **owned = calloc(nn * n_in, sizeof(*owned));
  uint64_t *elements = calloc(nn * n_in, sizeof(*elements));
  ort_req_t **group = calloc(nn, sizeof(*group));
  if (!qs || !ins || !data || !owned || !elements || !group) {
    free(qs);
    free(ins);
    free(data);
    free(owned);
    free(elements);
    free(group);
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate batch state",
                               s->model);
  }
  for (uint32_t i = 0; i < n; i++) {
    qs[i].r = requests[i];
    qs[i].in = ins + (size_t)i * n_in;
    qs[i].data = data + (size_t)i * n_in;
    qs[i].owned = owned + (size_t)i * n_in;
    qs[i].elements = elements + (size_t)i * n_in;
    inferd_status_t *st = check_request(s, &qs[i]);
    if (st) {
      uint64_t now = bk_host->now_ns();
      bk_host->instance_report_statistics(inst, qs[i].r, false, exec_start, now,
                                          now, now);
      bk_fail_request(qs[i].r, st);
      qs[i].done = true;
    }
  }
  bool batching = s->max_batch_size > 0;
  for (uint32_t i = 0; i < n; i++) {
    if (qs[i].done)
      continue;
    uint32_t n_g = 0;
    group[n_g++] = &qs[i];
    for (uint32_t j = i + 1; batching && j < n; j++)
      if (!qs[j].done && compatible(s, &qs[i], &qs[j])) {
        group[n_g++] = &qs[j];
        qs[j].done = true; /* claimed; run_group sends its response */
      }
    run_group(inst, oi, group, n_g, exec_start);
  }
  /* the input copies outlive the responses only as long as needed */
  for (size_t i = 0; i < nn * n_in; i++)
    free(owned[i]);
  free(group);
  free(elements);
  free(owned);
  free(data);
  free(ins);
  free(qs);
  return NULL;
}
