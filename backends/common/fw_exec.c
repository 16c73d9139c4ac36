/*
 * fw_exec.c: request validation, batching (concatenate along dim 0), output
 * splitting and response sending for the framework backends (see fw_exec.h).
 *
 * Invariant: every request passed to fw_execute leaves it with exactly one
 * final response sent and request_release called, whether it failed its own
 * checks, its group's run failed, or everything worked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fw_exec.h"

#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bk_util.h"

inferd_status_t *fw_model_io_init(const inferd_backend_model_t *m,
                                  fw_model_io_t *io) {
  memset(io, 0, sizeof(*io));
  const char *model = bk_host->model_name(m);
  io->max_batch_size = bk_host->model_max_batch_size(m);
  io->n_in = bk_host->model_input_count(m);
  io->n_out = bk_host->model_output_count(m);
  if (io->n_in == 0 || io->n_out == 0)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": config has %u inputs and %u "
                               "outputs; this backend needs at least one of "
                               "each",
                               model, io->n_in, io->n_out);
  io->in = calloc(io->n_in, sizeof(*io->in));
  io->out = calloc(io->n_out, sizeof(*io->out));
  if (!io->in || !io->out) {
    fw_model_io_deinit(io);
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate io table", model);
  }
  for (uint32_t i = 0; i < io->n_in; i++)
    bk_host->model_input(m, i, &io->in[i].name, &io->in[i].dt, &io->in[i].dims,
                         &io->in[i].n_dims);
  for (uint32_t i = 0; i < io->n_out; i++)
    bk_host->model_output(m, i, &io->out[i].name, &io->out[i].dt,
                          &io->out[i].dims, &io->out[i].n_dims);
  for (uint32_t i = 0; i < io->n_in; i++)
    if (io->in[i].n_dims + 1 > FW_MAX_DIMS) {
      const char *nm = io->in[i].name;
      fw_model_io_deinit(io);
      return bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": input \"%s\": more than %d "
                                 "dims",
                                 model, nm, FW_MAX_DIMS - 1);
    }
  return NULL;
}

void fw_model_io_deinit(fw_model_io_t *io) {
  free(io->in);
  free(io->out);
  io->in = io->out = NULL;
  io->n_in = io->n_out = 0;
}

int fw_output_index(const fw_model_io_t *io, const char *name) {
  for (uint32_t i = 0; i < io->n_out; i++)
    if (strcmp(io->out[i].name, name) == 0)
      return (int)i;
  return -1;
}

int fw_index_suffix(const char *name) {
  const char *p = strstr(name, "__");
  if (!p)
    return -1;
  /* the last "__" counts: "a__b__2" → 2 */
  for (const char *q; (q = strstr(p + 2, "__"));)
    p = q;
  p += 2;
  if (!*p)
    return -1;
  long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || v > 100000)
      return -1;
    v = v * 10 + (*p - '0');
  }
  return (int)v;
}

int fw_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  return 1;
}

/* ---- execute ---- */

typedef struct fw_req {
  inferd_request_t *r;
  bool done;      /* response sent, request released */
  int64_t batch;  /* rows along dim 0 (1 when the model does not batch) */
  bk_input_t *in; /* n_in entries, config order */
} fw_req_t;

static inferd_status_t *check_request(const inferd_backend_model_t *m,
                                      const fw_model_io_t *io, fw_req_t *q) {
  const char *model = bk_host->model_name(m);
  bool batching = io->max_batch_size > 0;
  for (uint32_t k = 0; k < io->n_in; k++) {
    const fw_io_t *c = &io->in[k];
    bk_input_t *in = &q->in[k];
    inferd_status_t *st = bk_input_get(q->r, c->name, in);
    if (st) {
      bk_host->status_free(st);
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": request has no input \"%s\"",
                                 model, c->name);
    }
    if (in->dt != c->dt)
      return bk_host->status_new(
          INFERD_INVALID_ARG, "model \"%s\": input \"%s\": expected %s, got %s",
          model, c->name, inferd_datatype_name(c->dt),
          inferd_datatype_name(in->dt));
    uint32_t want_rank = c->n_dims + (batching ? 1 : 0);
    bool shape_ok = in->n_dims == want_rank && in->n_dims <= FW_MAX_DIMS;
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
          "model \"%s\": input \"%s\": expected shape %s%s, got %s", model,
          c->name, batching ? "[-1]+" : "",
          bk_shape_str(c->dims, c->n_dims, a, sizeof(a)),
          bk_shape_str(in->shape, in->n_dims, b, sizeof(b)));
    }
    uint64_t count;
    size_t el = inferd_datatype_size(c->dt);
    if (el == 0)
      return bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": input \"%s\": data type %s is "
                                 "not supported",
                                 model, c->name, inferd_datatype_name(c->dt));
    if (!bk_element_count(in->shape, in->n_dims, &count) ||
        count > UINT64_MAX / el || in->byte_size != count * el)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\": expected %" PRIu64
                                 " bytes for its "
                                 "shape, got %" PRIu64,
                                 model, c->name, count * el, in->byte_size);
    if (k == 0)
      q->batch = batching ? in->shape[0] : 1;
    else if (batching && in->shape[0] != q->batch)
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": input \"%s\": batch size %" PRId64
          " differs from input \"%s\" (%" PRId64 ")",
          model, c->name, in->shape[0], io->in[0].name, q->batch);
  }
  return NULL;
}

/* Same non-batch dims on every input: such requests can be concatenated. */
static bool compatible(const fw_model_io_t *io, const fw_req_t *a,
                       const fw_req_t *b) {
  for (uint32_t k = 0; k < io->n_in; k++) {
    if (a->in[k].n_dims != b->in[k].n_dims)
      return false;
    for (uint32_t d = 1; d < a->in[k].n_dims; d++)
      if (a->in[k].shape[d] != b->in[k].shape[d])
        return false;
  }
  return true;
}

static inferd_status_t *status_copy(const inferd_status_t *st) {
  return bk_host->status_new(bk_host->status_code(st), "%s",
                             bk_host->status_message(st));
}

/* Builds the group's input tensors. owned[k] is a malloc'd copy to free. */
static inferd_status_t *gather_inputs(const fw_model_io_t *io, fw_req_t **g,
                                      uint32_t n_g, fw_tensor_t *t,
                                      void **owned) {
  for (uint32_t k = 0; k < io->n_in; k++) {
    const bk_input_t *first = &g[0]->in[k];
    t[k].dt = first->dt;
    t[k].n_dims = first->n_dims;
    memcpy(t[k].shape, first->shape, first->n_dims * sizeof(int64_t));
    if (n_g == 1) {
      inferd_status_t *st =
          bk_input_contiguous(g[0]->r, first, &t[k].data, &owned[k]);
      if (st)
        return st;
      t[k].byte_size = first->byte_size;
      continue;
    }
    uint64_t total = 0;
    int64_t rows = 0;
    for (uint32_t j = 0; j < n_g; j++) {
      total += g[j]->in[k].byte_size;
      rows += g[j]->batch;
    }
    t[k].shape[0] = rows;
    t[k].byte_size = total;
    char *buf = malloc(total ? (size_t)total : 1);
    if (!buf)
      return bk_host->status_new(INFERD_NO_MEMORY,
                                 "input \"%s\": cannot allocate %" PRIu64
                                 " bytes for the batch",
                                 first->name, total);
    owned[k] = buf;
    uint64_t off = 0;
    for (uint32_t j = 0; j < n_g; j++) {
      inferd_status_t *st = bk_input_copy(g[j]->r, &g[j]->in[k], buf + off);
      if (st)
        return st;
      off += g[j]->in[k].byte_size;
    }
    t[k].data = buf;
  }
  return NULL;
}

/* Adds the outputs request q asks for; rows [row0, row0 + q->batch) of each
 * output when the group holds several requests (split), else all of it. */
static inferd_status_t *fill_response(const inferd_backend_model_t *m,
                                      const fw_model_io_t *io, fw_req_t *q,
                                      bool split, int64_t row0, int64_t rows,
                                      const fw_tensor_t *outs,
                                      inferd_response_t *resp) {
  const char *model = bk_host->model_name(m);
  uint32_t n_req = bk_host->request_output_count(q->r);
  for (uint32_t o = 0; o < n_req; o++) {
    const char *name = bk_host->request_output_name(q->r, o);
    if (!name)
      continue;
    int idx = fw_output_index(io, name);
    if (idx < 0)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": unexpected output \"%s\"",
                                 model, name);
    const fw_tensor_t *t = &outs[idx];
    if (!t->data && t->byte_size == 0 && t->n_dims == 0)
      return bk_host->status_new(INFERD_INTERNAL,
                                 "model \"%s\": output \"%s\" was not produced",
                                 model, name);
    if (t->dt != io->out[idx].dt)
      return bk_host->status_new(
          INFERD_INTERNAL,
          "model \"%s\": output \"%s\": the model produced %s, the config "
          "says %s",
          model, name, inferd_datatype_name(t->dt),
          inferd_datatype_name(io->out[idx].dt));
    int64_t shape[FW_MAX_DIMS];
    memcpy(shape, t->shape, t->n_dims * sizeof(int64_t));
    const char *src = t->data;
    uint64_t size = t->byte_size;
    if (split) {
      if (t->n_dims == 0 || t->shape[0] != rows || rows <= 0)
        return bk_host->status_new(
            INFERD_INTERNAL,
            "model \"%s\": output \"%s\": cannot split a batch of %" PRId64
            " rows: the output's first dim is %" PRId64,
            model, name, rows, t->n_dims ? t->shape[0] : (int64_t)-1);
      uint64_t row_bytes = t->byte_size / (uint64_t)rows;
      shape[0] = q->batch;
      src += (uint64_t)row0 * row_bytes;
      size = (uint64_t)q->batch * row_bytes;
    }
    void *buf = NULL;
    inferd_status_t *st = bk_host->response_output(resp, name, t->dt, shape,
                                                   t->n_dims, size, &buf);
    if (st)
      return st;
    if (size)
      memcpy(buf, src, (size_t)size);
  }
  return NULL;
}

static void run_group(inferd_backend_instance_t *inst,
                      const inferd_backend_model_t *m, const fw_model_io_t *io,
                      fw_req_t **g, uint32_t n_g, uint64_t exec_start,
                      fw_run_fn run, fw_release_fn release, void *ctx) {
  fw_tensor_t ins[io->n_in];
  void *owned[io->n_in];
  fw_tensor_t outs[io->n_out];
  bool want[io->n_out];
  memset(ins, 0, sizeof(ins));
  memset(owned, 0, sizeof(owned));
  memset(outs, 0, sizeof(outs));
  memset(want, 0, sizeof(want));
  int64_t rows = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    rows += g[j]->batch;
    uint32_t n_req = bk_host->request_output_count(g[j]->r);
    for (uint32_t o = 0; o < n_req; o++) {
      const char *name = bk_host->request_output_name(g[j]->r, o);
      int idx = name ? fw_output_index(io, name) : -1;
      if (idx >= 0)
        want[idx] = true;
    }
  }
  void *result = NULL;
  inferd_status_t *st = gather_inputs(io, g, n_g, ins, owned);
  uint64_t compute_start = bk_host->now_ns();
  if (!st)
    st = run(ctx, ins, io->n_in, want, outs, &result);
  uint64_t compute_end = bk_host->now_ns();
  for (uint32_t k = 0; k < io->n_in; k++)
    free(owned[k]);

  int64_t row0 = 0;
  for (uint32_t j = 0; j < n_g; j++) {
    fw_req_t *q = g[j];
    inferd_status_t *err = st ? status_copy(st) : NULL;
    inferd_response_t *resp = NULL;
    if (!err)
      err = bk_host->response_new(&resp, q->r);
    if (!err)
      err = fill_response(m, io, q, n_g > 1, row0, rows, outs, resp);
    row0 += q->batch;
    uint64_t now = bk_host->now_ns();
    bk_host->instance_report_statistics(inst, q->r, err == NULL, exec_start,
                                        compute_start, compute_end, now);
    bk_finish(q->r, resp, err);
    q->done = true;
  }
  if (result)
    release(ctx, result);
  if (st)
    bk_host->status_free(st);
  bk_host->instance_report_batch_statistics(
      inst, io->max_batch_size > 0 ? (uint64_t)rows : n_g, exec_start,
      compute_start, compute_end, bk_host->now_ns());
}

inferd_status_t *fw_execute(inferd_backend_instance_t *inst,
                            const fw_model_io_t *io,
                            inferd_request_t *const *requests, uint32_t n,
                            fw_run_fn run, fw_release_fn release, void *ctx) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  uint64_t exec_start = bk_host->now_ns();
  fw_req_t *qs = calloc(n ? n : 1, sizeof(*qs));
  bk_input_t *ins = calloc((size_t)(n ? n : 1) * io->n_in, sizeof(*ins));
  fw_req_t **group = calloc(n ? n : 1, sizeof(*group));
  if (!qs || !ins || !group) {
    free(qs);
    free(ins);
    free(group);
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate batch state",
                               bk_host->model_name(m));
  }
  for (uint32_t i = 0; i < n; i++) {
    qs[i].r = requests[i];
    qs[i].in = ins + (size_t)i * io->n_in;
    inferd_status_t *st = check_request(m, io, &qs[i]);
    if (st) {
      uint64_t now = bk_host->now_ns();
      bk_host->instance_report_statistics(inst, qs[i].r, false, exec_start, now,
                                          now, now);
      bk_fail_request(qs[i].r, st);
      qs[i].done = true;
    }
  }
  bool batching = io->max_batch_size > 0;
  for (uint32_t i = 0; i < n; i++) {
    if (qs[i].done)
      continue;
    uint32_t n_g = 0;
    group[n_g++] = &qs[i];
    for (uint32_t j = i + 1; batching && j < n; j++)
      if (!qs[j].done && compatible(io, &qs[i], &qs[j])) {
        group[n_g++] = &qs[j];
        qs[j].done = true; /* claimed; run_group sends its response */
      }
    run_group(inst, m, io, group, n_g, exec_start, run, release, ctx);
  }
  free(group);
  free(ins);
  free(qs);
  return NULL;
}
