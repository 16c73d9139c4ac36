/*
 * infer.c: admission of an inference request: validation against the
 * model's config (names, data types, shapes with the batch dimension, byte
 * sizes, BYTES framing, missing inputs, requested outputs), then hand-off to
 * the model's scheduler. Errors name the model, the tensor and expected vs
 * found; the request stays the caller's on any error.
 */
#include <stdio.h>
#include <string.h>

#include "backend/model.h"
#include "core/clock.h"
#include "sched/scheduler.h"
#include "server/server_internal.h"

/* "[-1,16]" into buf */
static const char *fmt_shape(char *buf, size_t len, bool batch,
                             const int64_t *dims, size_t n) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  if (batch)
    o += (size_t)snprintf(buf + o, len - o, n ? "-1," : "-1");
  for (size_t i = 0; i < n && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld",
                          (long long)dims[i]);
  if (o < len)
    snprintf(buf + o, len - o, "]");
  return buf;
}

/* Counts the elements of a BYTES tensor spread over buffers; false if the
 * framing is broken (a length running past the end). */
static bool count_bytes_elements(const core_input_t *in, uint64_t *count) {
  uint64_t n = 0;
  uint32_t b = 0;
  uint64_t off = 0;
  for (;;) {
    /* skip exhausted buffers */
    while (b < in->n_buffers && off == in->buffers[b].size) {
      b++;
      off = 0;
    }
    if (b == in->n_buffers)
      break;
    /* read the 4-byte length, possibly split across buffers */
    uint8_t lenb[4];
    for (int i = 0; i < 4; i++) {
      while (b < in->n_buffers && off == in->buffers[b].size) {
        b++;
        off = 0;
      }
      if (b == in->n_buffers)
        return false;
      lenb[i] = ((const uint8_t *)in->buffers[b].base)[off++];
    }
    uint64_t skip = (uint64_t)lenb[0] | (uint64_t)lenb[1] << 8 |
                    (uint64_t)lenb[2] << 16 | (uint64_t)lenb[3] << 24;
    while (skip > 0) {
      if (b == in->n_buffers)
        return false;
      uint64_t avail = in->buffers[b].size - off;
      uint64_t step = skip < avail ? skip : avail;
      skip -= step;
      off += step;
      if (off == in->buffers[b].size && skip > 0) {
        b++;
        off = 0;
      }
    }
    n++;
  }
  *count = n;
  return true;
}

static const model_io_t *find_io(const model_io_t *ios, uint32_t n,
                                 const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(ios[i].name, name) == 0)
      return &ios[i];
  return NULL;
}

#define FAIL(code, ...)                                                        \
  inferd_status_prefix(inferd_status_new(code, __VA_ARGS__),                   \
                       "model \"%s\" version %lld", m->name,                   \
                       (long long)m->version)

static inferd_status_t *validate(inferd_model_t *m, inferd_request_t *r) {
  int32_t mbs = m->config->max_batch_size;
  bool batching = mbs > 0;
  int64_t batch = -1;
  const char *batch_from = NULL;
  char want[512], got[512];

  for (uint32_t i = 0; i < r->n_inputs; i++) {
    const core_input_t *in = &r->inputs[i];
    const model_io_t *io = find_io(m->inputs, m->n_inputs, in->name);
    if (!io)
      return FAIL(INFERD_INVALID_ARG, "unexpected inference input \"%s\"",
                  in->name);
    if (in->dt != io->dt)
      return FAIL(INFERD_INVALID_ARG,
                  "input \"%s\": expected data type %s, got %s", in->name,
                  inferd_datatype_name(io->dt), inferd_datatype_name(in->dt));
    bool shape_ok = in->n_dims == io->n_dims + (batching ? 1 : 0);
    for (uint32_t d = 0; d < in->n_dims && shape_ok; d++)
      if (in->shape[d] < 0)
        shape_ok = false;
    if (shape_ok) {
      const int64_t *s = in->shape + (batching ? 1 : 0);
      for (uint32_t d = 0; d < io->n_dims && shape_ok; d++)
        shape_ok = io->dims[d] == -1 || io->dims[d] == s[d];
    }
    if (!shape_ok)
      return FAIL(INFERD_INVALID_ARG, "input \"%s\": expected shape %s, got %s",
                  in->name,
                  fmt_shape(want, sizeof(want), batching, io->dims, io->n_dims),
                  fmt_shape(got, sizeof(got), false, in->shape, in->n_dims));
    if (batching) {
      int64_t b = in->shape[0];
      if (b < 1 || b > mbs)
        return FAIL(INFERD_INVALID_ARG,
                    "input \"%s\": batch size %lld is out of range: it must "
                    "be between 1 and max_batch_size %d",
                    in->name, (long long)b, mbs);
      if (batch >= 0 && b != batch)
        return FAIL(INFERD_INVALID_ARG,
                    "input \"%s\": batch size %lld differs from the batch "
                    "size %lld of input \"%s\"",
                    in->name, (long long)b, (long long)batch, batch_from);
      batch = b;
      batch_from = in->name;
    }
    /* element count, with overflow check */
    uint64_t elems = 1;
    for (uint32_t d = 0; d < in->n_dims; d++) {
      uint64_t v = (uint64_t)in->shape[d];
      if (v && elems > UINT64_MAX / v)
        return FAIL(INFERD_INVALID_ARG, "input \"%s\": shape %s is too large",
                    in->name,
                    fmt_shape(got, sizeof(got), false, in->shape, in->n_dims));
      elems *= v;
    }
    for (uint32_t k = 0; k < in->n_buffers; k++)
      if (in->buffers[k].mem_type != INFERD_MEM_CPU &&
          in->buffers[k].mem_type != INFERD_MEM_CPU_PINNED)
        return FAIL(INFERD_UNSUPPORTED,
                    "input \"%s\": GPU memory inputs are not supported yet",
                    in->name);
    if (in->dt == INFERD_TYPE_BYTES) {
      uint64_t count = 0;
      if (!count_bytes_elements(in, &count))
        return FAIL(INFERD_INVALID_ARG,
                    "input \"%s\": malformed BYTES data: an element length "
                    "runs past the end of the %llu bytes given",
                    in->name, (unsigned long long)in->byte_size);
      if (count != elems)
        return FAIL(INFERD_INVALID_ARG,
                    "input \"%s\": expected %llu BYTES elements for shape "
                    "%s, got %llu",
                    in->name, (unsigned long long)elems,
                    fmt_shape(got, sizeof(got), false, in->shape, in->n_dims),
                    (unsigned long long)count);
    } else {
      uint64_t es = inferd_datatype_size(in->dt);
      if (elems > UINT64_MAX / es || elems * es != in->byte_size)
        return FAIL(INFERD_INVALID_ARG,
                    "input \"%s\": expected %llu bytes for shape %s of %s, "
                    "got %llu",
                    in->name, (unsigned long long)(elems * es),
                    fmt_shape(got, sizeof(got), false, in->shape, in->n_dims),
                    inferd_datatype_name(in->dt),
                    (unsigned long long)in->byte_size);
    }
  }
  for (uint32_t i = 0; i < m->n_inputs; i++) {
    if (m->inputs[i].optional)
      continue;
    if (core_request_find_input(r, m->inputs[i].name,
                                strlen(m->inputs[i].name)) < 0)
      return FAIL(INFERD_INVALID_ARG,
                  "missing input \"%s\" (expected %u "
                  "inputs, got %u)",
                  m->inputs[i].name, m->n_inputs, r->n_inputs);
  }
  for (uint32_t i = 0; i < r->n_requested; i++)
    if (!find_io(m->outputs, m->n_outputs, r->requested[i]))
      return FAIL(INFERD_INVALID_ARG, "unexpected inference output \"%s\"",
                  r->requested[i]);
  r->batch_size = batching && batch > 0 ? (uint64_t)batch : 1;
  if (r->n_requested) {
    r->out_names = (const char *const *)r->requested;
    r->n_out_names = r->n_requested;
  } else {
    r->out_names = m->output_names;
    r->n_out_names = m->n_outputs;
  }
  return NULL;
}

inferd_status_t *inferd_server_infer_async(inferd_server_t *s,
                                           inferd_request_t *r) {
  if (atomic_load(&s->stopping))
    return inferd_status_new(INFERD_UNAVAILABLE, "server is stopping");
  inferd_model_t *m = r->model;
  inferd_status_t *st = validate(m, r);
  if (st)
    return st;
  r->server = s;
  r->final_sent = false;
  r->t_request_ns = r->t_queue_ns = core_now_ns();
  atomic_fetch_add(&s->inflight, 1);
  /* pending before the enqueue: the completion may come first */
  srv_metrics_accepted(m, 1);
  st = m->sched->ops->enqueue(m->sched, r);
  if (st) {
    /* refused by the scheduler (queue full, unloading): a failed request
     * for the statistics and a REJECTED one for the metrics (Triton's) */
    model_stats_add(&m->stats.fail, 0);
    srv_metrics_rejected(m);
    r->server = NULL;
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->stopping)) {
      pthread_mutex_lock(&s->inflight_mu);
      pthread_cond_broadcast(&s->inflight_cv);
      pthread_mutex_unlock(&s->inflight_mu);
    }
  }
  return st;
}
