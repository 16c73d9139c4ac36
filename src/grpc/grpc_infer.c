/*
 * grpc_infer.c: ModelInfer and ModelStreamInfer. A job is one inference
 * request: it keeps the received byte buffer (raw inputs are used in place),
 * the decoded header and any converted typed contents alive until inferd's
 * release callback. Replies are started from the response callback, so no
 * polling thread waits for a model.
 *
 * Unary call: a RECV_CLOSE_ON_SERVER batch is started first so a client
 * cancel reaches inferd_request_cancel; the reply is one batch (metadata,
 * message, status). The call object lives until both batches completed and
 * the request is released.
 *
 * Stream: one read is outstanding at a time; responses go through a write
 * queue (the C core allows one SEND_MESSAGE batch per call at a time) in the
 * order they complete. The status is sent when the client has half-closed,
 * no request is in flight and the queue is empty.
 *
 * Load on demand (issue 9): only when a request's model is not READY
 * (inferd_server_model_acquire failed) does the job ask the server to load
 * it; while it waits nothing is blocked (the job holds a reference to its
 * call or stream and counts in grpc_fe_ops_add), and the server's callback
 * builds and submits the request, or answers the load's error. A second
 * acquire failure is answered, never waited for again.
 *
 * Locking: each call/stream has a mutex guarding its flags, counts and queue;
 * gRPC batches are started while holding it (start_batch does not call back
 * synchronously).
 */
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc_internal.h"

typedef struct job job_t;

typedef struct unary {
  grpc_fe_tag_t close_tag, send_tag;
  grpc_frontend_t *fe;
  grpc_call *call;
  pthread_mutex_t mu;
  int refs; /* close batch, send batch, request, wait for a load */
  int cancelled;
  bool closed; /* the close batch completed: cancelled is valid */
  bool replied, released;
  job_t *job;
  grpc_byte_buffer *out;
  grpc_slice details;
} unary_t;

typedef struct wq_item {
  struct wq_item *next;
  grpc_byte_buffer *bb;
} wq_item_t;

typedef struct stream {
  grpc_fe_tag_t read_tag, write_tag, close_tag, status_tag;
  grpc_frontend_t *fe;
  grpc_call *call;
  pthread_mutex_t mu;
  int refs; /* one per outstanding batch and per in-flight job */
  grpc_byte_buffer *recv;
  wq_item_t *head, *tail;
  grpc_byte_buffer *writing_bb;
  bool writing, md_sent, reads_done, status_started, broken;
  size_t n_waiting;       /* jobs waiting for a load on demand (not in jobs) */
  bool error_as_status;   /* client sent triton_grpc_error: true */
  inferd_status_t *error; /* first error when error_as_status */
  int cancelled;
  job_t *jobs; /* in flight, for cancellation */
  grpc_slice details;
} stream_t;

struct job {
  job_t *prev, *next;
  unary_t *u;
  stream_t *st;
  grpc_byte_buffer *bb;
  grpc_byte_buffer_reader rd;
  bool has_reader;
  grpc_fe_piece_t *segs;
  grpc_fe_infer_msg_t msg;
  inferd_request_t *req;
  void **bufs; /* converted typed contents */
  size_t n_bufs;
  bool empty_final; /* triton_enable_empty_final_response */
  int64_t version;  /* requested model version, -1 for the policy's */
  /* system shared memory: the regions the request holds (released in
   * job_free, after the request) and the outputs placed in them */
  inferd_shm_region_t **regions;
  size_t n_regions, cap_regions;
  struct shm_out *shm_outs;
  size_t n_shm_outs;
};

struct shm_out {
  const char *name; /* the requested output's (j->msg.hdr) */
  void *ptr;
  uint64_t byte_size; /* what the client gave for it */
};

static void job_free(job_t *j) {
  if (!j)
    return;
  inferd_request_free(j->req);
  grpc_fe_infer_msg_deinit(&j->msg);
  for (size_t i = 0; i < j->n_bufs; i++)
    free(j->bufs[i]);
  free(j->bufs);
  for (size_t i = 0; i < j->n_regions; i++)
    inferd_shm_region_release(j->regions[i]);
  free(j->regions);
  free(j->shm_outs);
  free(j->segs);
  if (j->has_reader)
    grpc_byte_buffer_reader_destroy(&j->rd);
  if (j->bb)
    grpc_byte_buffer_destroy(j->bb);
  free(j);
}

static void *job_alloc(job_t *j, size_t n) {
  void **nb = realloc(j->bufs, (j->n_bufs + 1) * sizeof(void *));
  if (!nb)
    return NULL;
  j->bufs = nb;
  void *p = malloc(n ? n : 1);
  if (p)
    j->bufs[j->n_bufs++] = p;
  return p;
}

/* ---- request building
 * --------------------------------------------------------- */

static const char *param_type_name(int c) {
  switch (c) {
  case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM:
    return "bool_param";
  case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM:
    return "int64_param";
  case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM:
    return "string_param";
  case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM:
    return "double_param";
  case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM:
    return "uint64_param";
  default:
    return "no value";
  }
}

static inferd_status_t *bad_param(const char *key, const char *expected,
                                  const Inference__InferParameter *v) {
  return inferd_status_new(
      INFERD_INVALID_ARG, "parameter \"%s\": expected %s, got %s", key,
      expected, param_type_name(v ? (int)v->parameter_choice_case : 0));
}

static inferd_status_t *set_params(job_t *j, inferd_request_t *req,
                                   const Inference__ModelInferRequest *h) {
  uint32_t flags = 0;
  for (size_t i = 0; i < h->n_parameters; i++) {
    const char *k = h->parameters[i]->key ? h->parameters[i]->key : "";
    const Inference__InferParameter *v = h->parameters[i]->value;
    int c = v ? (int)v->parameter_choice_case : 0;
    inferd_status_t *st = NULL;
    if (strcmp(k, "sequence_id") == 0) {
      if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM)
        inferd_request_set_correlation_id(req, (uint64_t)v->int64_param);
      else if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM)
        st = inferd_request_set_correlation_id_string(req, v->string_param,
                                                      strlen(v->string_param));
      else
        st = bad_param(k, "int64_param or string_param", v);
    } else if (strcmp(k, "sequence_start") == 0 ||
               strcmp(k, "sequence_end") == 0) {
      if (c != INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
        st = bad_param(k, "bool_param", v);
      else if (v->bool_param)
        flags |= k[9] == 's' ? INFERD_REQUEST_FLAG_SEQUENCE_START
                             : INFERD_REQUEST_FLAG_SEQUENCE_END;
    } else if (strcmp(k, "priority") == 0) {
      if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM &&
          v->int64_param >= 0)
        inferd_request_set_priority(req, (uint64_t)v->int64_param);
      else if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM)
        inferd_request_set_priority(req, v->uint64_param);
      else if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM)
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "parameter \"priority\": expected a "
                               "non-negative value, got %lld",
                               (long long)v->int64_param);
      else
        st = bad_param(k, "int64_param or uint64_param", v);
    } else if (strcmp(k, "timeout") == 0) {
      if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM &&
          v->int64_param >= 0)
        inferd_request_set_timeout_us(req, (uint64_t)v->int64_param);
      else if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM)
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "parameter \"timeout\": expected a "
                               "non-negative value, got %lld",
                               (long long)v->int64_param);
      else
        st = bad_param(k, "int64_param (microseconds)", v);
    } else if (strcmp(k, "triton_enable_empty_final_response") == 0) {
      if (c != INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
        st = bad_param(k, "bool_param", v);
      else
        j->empty_final = v->bool_param;
    } else if (strncmp(k, "triton_", 7) == 0) {
      st = inferd_status_new(INFERD_INVALID_ARG,
                             "parameter \"%s\": keys starting with "
                             "\"triton_\" are reserved",
                             k);
    } else {
      switch (c) {
      case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM:
        st = inferd_request_set_param_bool(req, k, strlen(k), v->bool_param);
        break;
      case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM:
        st = inferd_request_set_param_int(req, k, strlen(k), v->int64_param);
        break;
      case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM:
        st = inferd_request_set_param_string(req, k, strlen(k), v->string_param,
                                             strlen(v->string_param));
        break;
      case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM:
        st =
            inferd_request_set_param_double(req, k, strlen(k), v->double_param);
        break;
      default:
        st = bad_param(k,
                       "bool_param, int64_param, string_param or "
                       "double_param",
                       v);
      }
    }
    if (st)
      return st;
  }
  inferd_request_set_flags(req, flags);
  return NULL;
}

static bool shape_count(const int64_t *shape, size_t n, size_t *count) {
  size_t c = 1;
  for (size_t i = 0; i < n; i++) {
    if (shape[i] < 0)
      return false;
    if (shape[i] && c > SIZE_MAX / (size_t)shape[i])
      return false;
    c *= (size_t)shape[i];
  }
  *count = c;
  return true;
}

/* typed contents → wire bytes; in place where the protobuf-c array already
 * has the element layout */
static inferd_status_t *typed_input(job_t *j, const char *name,
                                    inferd_datatype_t dt, size_t count,
                                    const Inference__InferTensorContents *c,
                                    const void **base, size_t *size) {
  size_t got;
  const char *field;
  switch (dt) {
  case INFERD_TYPE_BOOL:
    field = "bool_contents", got = c->n_bool_contents;
    break;
  case INFERD_TYPE_INT8:
  case INFERD_TYPE_INT16:
  case INFERD_TYPE_INT32:
    field = "int_contents", got = c->n_int_contents;
    break;
  case INFERD_TYPE_INT64:
    field = "int64_contents", got = c->n_int64_contents;
    break;
  case INFERD_TYPE_UINT8:
  case INFERD_TYPE_UINT16:
  case INFERD_TYPE_UINT32:
    field = "uint_contents", got = c->n_uint_contents;
    break;
  case INFERD_TYPE_UINT64:
    field = "uint64_contents", got = c->n_uint64_contents;
    break;
  case INFERD_TYPE_FP32:
    field = "fp32_contents", got = c->n_fp32_contents;
    break;
  case INFERD_TYPE_FP64:
    field = "fp64_contents", got = c->n_fp64_contents;
    break;
  case INFERD_TYPE_BYTES:
    field = "bytes_contents", got = c->n_bytes_contents;
    break;
  default:
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%s\": %s data cannot be sent in "
                             "contents, use raw_input_contents",
                             name, inferd_datatype_name(dt));
  }
  size_t total = c->n_bool_contents + c->n_int_contents + c->n_int64_contents +
                 c->n_uint_contents + c->n_uint64_contents +
                 c->n_fp32_contents + c->n_fp64_contents + c->n_bytes_contents;
  if (total != got)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%s\": datatype %s takes its contents "
                             "in %s, other contents fields are set",
                             name, inferd_datatype_name(dt), field);
  if (got != count)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%s\": expected %zu elements in "
                             "contents.%s for the shape, got %zu",
                             name, count, field, got);
  size_t es = inferd_datatype_size(dt);
  uint8_t *p;
  switch (dt) {
  case INFERD_TYPE_INT32:
    *base = c->int_contents, *size = got * 4;
    return NULL;
  case INFERD_TYPE_INT64:
    *base = c->int64_contents, *size = got * 8;
    return NULL;
  case INFERD_TYPE_UINT32:
    *base = c->uint_contents, *size = got * 4;
    return NULL;
  case INFERD_TYPE_UINT64:
    *base = c->uint64_contents, *size = got * 8;
    return NULL;
  case INFERD_TYPE_FP32:
    *base = c->fp32_contents, *size = got * 4;
    return NULL;
  case INFERD_TYPE_FP64:
    *base = c->fp64_contents, *size = got * 8;
    return NULL;
  case INFERD_TYPE_BYTES: {
    size_t n = 0;
    for (size_t i = 0; i < got; i++) {
      if (c->bytes_contents[i].len > UINT32_MAX)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "input \"%s\": element %zu longer than 4 GiB",
                                 name, i);
      n += 4 + c->bytes_contents[i].len;
    }
    p = job_alloc(j, n);
    if (!p)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < got; i++) {
      uint32_t l = (uint32_t)c->bytes_contents[i].len;
      p[o] = (uint8_t)l, p[o + 1] = (uint8_t)(l >> 8);
      p[o + 2] = (uint8_t)(l >> 16), p[o + 3] = (uint8_t)(l >> 24);
      if (l)
        memcpy(p + o + 4, c->bytes_contents[i].data, l);
      o += 4 + l;
    }
    *base = p, *size = n;
    return NULL;
  }
  default:
    break;
  }
  /* narrowing conversions */
  p = job_alloc(j, got * es);
  if (!p)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < got; i++) {
    switch (dt) {
    case INFERD_TYPE_BOOL:
      p[i] = c->bool_contents[i] ? 1 : 0;
      break;
    case INFERD_TYPE_INT8: {
      int8_t v = (int8_t)c->int_contents[i];
      memcpy(p + i, &v, 1);
      break;
    }
    case INFERD_TYPE_INT16: {
      int16_t v = (int16_t)c->int_contents[i];
      memcpy(p + 2 * i, &v, 2);
      break;
    }
    case INFERD_TYPE_UINT8:
      p[i] = (uint8_t)c->uint_contents[i];
      break;
    case INFERD_TYPE_UINT16: {
      uint16_t v = (uint16_t)c->uint_contents[i];
      memcpy(p + 2 * i, &v, 2);
      break;
    }
    default:
      break;
    }
  }
  *base = p, *size = got * es;
  return NULL;
}

/* ---- system shared memory -------------------------------------------------
 * Inputs and outputs with parameters shared_memory_region (string_param),
 * shared_memory_byte_size and shared_memory_offset (int64_param, or
 * uint64_param): an input's buffer is a pointer into the region, an output
 * is written there by the backend through the request's response
 * allocator. The job holds a reference on each region until job_free. */

typedef struct shm_ref {
  const char *region; /* NULL: not in shared memory */
  bool has_size, has_offset;
  uint64_t byte_size, offset;
} shm_ref_t;

/* Records parameter key/v of tensor `name` if it is a shared_memory_ one. */
static inferd_status_t *shm_take(shm_ref_t *r, const char *what,
                                 const char *name, const char *key,
                                 const Inference__InferParameter *v) {
  if (strncmp(key, "shared_memory_", 14) != 0)
    return NULL;
  int c = v ? (int)v->parameter_choice_case : 0;
  if (strcmp(key, "shared_memory_region") == 0) {
    if (c != INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM ||
        !*v->string_param)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "%s \"%s\": parameter \"%s\": expected a "
                               "non-empty string_param, got %s",
                               what, name, key, param_type_name(c));
    r->region = v->string_param;
    return NULL;
  }
  bool size = strcmp(key, "shared_memory_byte_size") == 0;
  if (!size && strcmp(key, "shared_memory_offset") != 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "%s \"%s\": unknown shared memory parameter "
                             "\"%s\"",
                             what, name, key);
  uint64_t x;
  if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM &&
      v->int64_param >= 0)
    x = (uint64_t)v->int64_param;
  else if (c == INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM)
    x = v->uint64_param;
  else
    return inferd_status_new(INFERD_INVALID_ARG,
                             "%s \"%s\": parameter \"%s\": expected a "
                             "non-negative int64_param, got %s",
                             what, name, key, param_type_name(c));
  if (size) {
    r->byte_size = x;
    r->has_size = true;
  } else {
    r->offset = x;
    r->has_offset = true;
  }
  return NULL;
}

static inferd_status_t *shm_check(const shm_ref_t *r, const char *what,
                                  const char *name) {
  if (!r->region && (r->has_size || r->has_offset))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "%s \"%s\": parameter \"%s\" needs "
                             "\"shared_memory_region\"",
                             what, name,
                             r->has_size ? "shared_memory_byte_size"
                                         : "shared_memory_offset");
  if (r->region && !r->has_size)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "%s \"%s\": parameter \"shared_memory_byte_size\" "
                             "is required with \"shared_memory_region\"",
                             what, name);
  return NULL;
}

/* Takes a reference on r's region for the job; *ptr into it. */
static inferd_status_t *shm_hold(grpc_frontend_t *fe, job_t *j,
                                 const shm_ref_t *r, void **ptr) {
  if (j->n_regions == j->cap_regions) {
    size_t nc = j->cap_regions ? 2 * j->cap_regions : 4;
    inferd_shm_region_t **nr = realloc(j->regions, nc * sizeof(*nr));
    if (!nr)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    j->regions = nr;
    j->cap_regions = nc;
  }
  inferd_shm_region_t *reg = NULL;
  inferd_status_t *st =
      inferd_server_shm_acquire(fe->server, r->region, strlen(r->region),
                                r->offset, r->byte_size, &reg, ptr);
  if (st)
    return st;
  j->regions[j->n_regions++] = reg;
  return NULL;
}

/* The response allocator (an instance thread): outputs asked for in shared
 * memory go there, the others to server memory. The table is read-only once
 * the request is submitted. */
static inferd_status_t *shm_alloc(void *userp, const char *name,
                                  size_t byte_size, inferd_memtype_t pref,
                                  int64_t pref_dev, void **buffer,
                                  void **buffer_userp,
                                  inferd_memtype_t *actual_type,
                                  int64_t *actual_dev) {
  (void)pref, (void)pref_dev;
  job_t *j = userp;
  for (size_t i = 0; i < j->n_shm_outs; i++) {
    struct shm_out *o = &j->shm_outs[i];
    if (strcmp(o->name, name) != 0)
      continue;
    if (byte_size > o->byte_size)
      return inferd_status_new(INFERD_INTERNAL,
                               "shared memory size specified with the request "
                               "for output '%s' (%llu bytes) should be at "
                               "least %zu bytes to hold the results",
                               name, (unsigned long long)o->byte_size,
                               byte_size);
    *buffer = o->ptr;
    *buffer_userp = o; /* non-NULL: grpc_fe_encode_response sends no data */
    *actual_type = INFERD_MEM_CPU;
    *actual_dev = 0;
    return NULL;
  }
  return NULL; /* *buffer stays NULL: server memory */
}

/* Never looks at userp: a response may outlive its job (gRPC may still be
 * sending its other outputs), and the regions are the job's to release. */
static void shm_release(void *userp, void *buffer, void *buffer_userp,
                        size_t byte_size, inferd_memtype_t type,
                        int64_t device) {
  (void)userp, (void)buffer, (void)buffer_userp, (void)byte_size, (void)type,
      (void)device;
}

static inferd_status_t *set_inputs(grpc_frontend_t *fe, job_t *j,
                                   inferd_request_t *req, const char *model) {
  const Inference__ModelInferRequest *h = j->msg.hdr;
  size_t next_raw = 0;
  for (size_t i = 0; i < h->n_inputs; i++) {
    const Inference__ModelInferRequest__InferInputTensor *in = h->inputs[i];
    const char *name = in->name ? in->name : "";
    const char *dts = in->datatype ? in->datatype : "";
    inferd_datatype_t dt = inferd_datatype_from_name(dts, strlen(dts));
    if (dt == INFERD_TYPE_INVALID)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "model \"%s\": input \"%s\": unknown datatype "
                               "\"%s\"",
                               model, name, dts);
    shm_ref_t shm = {0};
    inferd_status_t *st = NULL;
    for (size_t k = 0; k < in->n_parameters && !st; k++)
      st = shm_take(&shm, "input", name,
                    in->parameters[k]->key ? in->parameters[k]->key : "",
                    in->parameters[k]->value);
    if (!st)
      st = shm_check(&shm, "input", name);
    if (!st && shm.region && in->contents)
      st = inferd_status_new(INFERD_INVALID_ARG,
                             "input \"%s\": contents must not be set for an "
                             "input in shared memory",
                             name);
    if (st)
      return inferd_status_prefix(st, "model \"%s\"", model);
    if (shm.region) { /* a pointer into the region; no raw entry used */
      uint32_t idx;
      void *p = NULL;
      st = inferd_request_add_input(req, name, strlen(name), dt, in->shape,
                                    in->n_shape, &idx);
      if (!st && (st = shm_hold(fe, j, &shm, &p)))
        st = inferd_status_prefix(st, "input \"%s\"", name);
      if (!st)
        st = inferd_request_append_input_data(req, idx, p, shm.byte_size,
                                              INFERD_MEM_CPU, 0);
      if (st)
        return st;
      continue;
    }
    if (in->contents && j->msg.n_raw > 0)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "model \"%s\": input \"%s\": contents must not "
                               "be set when the request uses "
                               "raw_input_contents",
                               model, name);
    uint32_t idx;
    st = inferd_request_add_input(req, name, strlen(name), dt, in->shape,
                                  in->n_shape, &idx);
    if (st)
      return st;
    if (in->contents) {
      size_t count;
      if (!shape_count(in->shape, in->n_shape, &count))
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\": invalid shape",
                                 model, name);
      const void *base = NULL;
      size_t size = 0;
      st = typed_input(j, name, dt, count, in->contents, &base, &size);
      if (st)
        return inferd_status_prefix(st, "model \"%s\"", model);
      st = inferd_request_append_input_data(req, idx, base, size,
                                            INFERD_MEM_CPU, 0);
    } else {
      if (next_raw >= j->msg.n_raw)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": unable to find data for input "
                                 "tensor \"%s\" (no contents and no "
                                 "raw_input_contents entry %zu)",
                                 model, name, next_raw);
      const grpc_fe_raw_t *rw = &j->msg.raw[next_raw++];
      if (rw->n_pieces == 0)
        st = inferd_request_append_input_data(req, idx, "", 0, INFERD_MEM_CPU,
                                              0);
      for (size_t p = 0; p < rw->n_pieces && !st; p++)
        st = inferd_request_append_input_data(
            req, idx, j->msg.pieces[rw->first + p].p,
            j->msg.pieces[rw->first + p].n, INFERD_MEM_CPU, 0);
    }
    if (st)
      return st;
  }
  if (next_raw != j->msg.n_raw)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model \"%s\": expected %zu raw_input_contents "
                             "entries (one per input without contents), got "
                             "%zu",
                             model, next_raw, j->msg.n_raw);
  for (size_t i = 0; i < h->n_outputs; i++) {
    const Inference__ModelInferRequest__InferRequestedOutputTensor *o =
        h->outputs[i];
    const char *name = o->name ? o->name : "";
    shm_ref_t shm = {0};
    bool classification = false;
    inferd_status_t *st = NULL;
    for (size_t k = 0; k < o->n_parameters && !st; k++) {
      const char *key = o->parameters[k]->key ? o->parameters[k]->key : "";
      classification |= strcmp(key, "classification") == 0;
      st = shm_take(&shm, "output", name, key, o->parameters[k]->value);
    }
    if (!st)
      st = shm_check(&shm, "output", name);
    if (!st && shm.region && classification)
      st = inferd_status_new(INFERD_INVALID_ARG,
                             "Output can't set both 'shared_memory_region' "
                             "and 'classification' (output \"%s\")",
                             name);
    if (!st && classification)
      st = inferd_status_new(INFERD_UNSUPPORTED,
                             "output \"%s\": parameter \"classification\" is "
                             "not supported by this server",
                             name);
    if (st)
      return inferd_status_prefix(st, "model \"%s\"", model);
    st = inferd_request_add_requested_output(req, name, strlen(name));
    if (st)
      return st;
    if (!shm.region)
      continue;
    if (!j->shm_outs) {
      j->shm_outs = calloc(h->n_outputs, sizeof(*j->shm_outs));
      if (!j->shm_outs)
        return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    }
    void *p = NULL;
    if ((st = shm_hold(fe, j, &shm, &p)))
      return inferd_status_prefix(st, "output \"%s\"", name);
    j->shm_outs[j->n_shm_outs++] =
        (struct shm_out){.name = name, .ptr = p, .byte_size = shm.byte_size};
  }
  if (j->n_shm_outs)
    inferd_request_set_response_allocator(req, shm_alloc, shm_release, j);
  return NULL;
}

/* Decodes j->bb (the header, and where the raw inputs lie). */
static inferd_status_t *job_decode(job_t *j) {
  if (!grpc_byte_buffer_reader_init(&j->rd, j->bb))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "cannot read the request message (bad "
                             "compression?)");
  j->has_reader = true;
  size_t n = 0, cap = 4;
  j->segs = malloc(cap * sizeof(*j->segs));
  if (!j->segs)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  grpc_slice *sl;
  while (grpc_byte_buffer_reader_peek(&j->rd, &sl)) {
    if (n == cap) {
      grpc_fe_piece_t *ns = realloc(j->segs, 2 * cap * sizeof(*ns));
      if (!ns)
        return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      j->segs = ns, cap *= 2;
    }
    j->segs[n++] =
        (grpc_fe_piece_t){GRPC_SLICE_START_PTR(*sl), GRPC_SLICE_LENGTH(*sl)};
  }
  inferd_status_t *st = grpc_fe_infer_msg_parse(&j->msg, j->segs, n);
  if (st)
    return st;
  return grpc_fe_parse_version(j->msg.hdr->model_version, &j->version);
}

/* Builds j->req (not yet submitted) from the decoded j. *not_ready: the
 * model version could not be acquired (the error returned). */
static inferd_status_t *job_request(grpc_frontend_t *fe, job_t *j, bool stream,
                                    bool *not_ready) {
  const Inference__ModelInferRequest *h = j->msg.hdr;
  inferd_model_t *m;
  inferd_status_t *st = inferd_server_model_acquire(
      fe->server, h->model_name, strlen(h->model_name), j->version, &m);
  if (st) {
    *not_ready = true;
    return st;
  }
  if (!stream && inferd_model_is_decoupled(m)) {
    inferd_model_release(m);
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "ModelInfer RPC doesn't support models with "
                             "decoupled transaction policy");
  }
  st = inferd_request_new(&j->req, m);
  inferd_model_release(m);
  if (st)
    return st;
  if (h->id && *h->id)
    st = inferd_request_set_id(j->req, h->id, strlen(h->id));
  if (!st)
    st = set_params(j, j->req, h);
  if (!st)
    st = set_inputs(fe, j, j->req, h->model_name);
  return st;
}

/* Decodes j->bb and builds j->req (not yet submitted). */
static inferd_status_t *job_build(grpc_frontend_t *fe, job_t *j, bool stream,
                                  bool *not_ready) {
  *not_ready = false;
  inferd_status_t *st = job_decode(j);
  return st ? st : job_request(fe, j, stream, not_ready);
}

/* Asks the server to load j's model on demand, with cb(userp) to run when
 * it has finished. True: the server waits for a load and cb will run; *st
 * (the acquire failure) is freed. False: cb will not run; *st is what to
 * answer (the acquire failure, or the server's error). */
static bool job_wait_model(grpc_frontend_t *fe, job_t *j, inferd_status_t **st,
                           inferd_repository_cb cb, void *userp) {
  const char *name = j->msg.hdr->model_name;
  grpc_fe_ops_add(fe, 1);
  bool waiting = false;
  inferd_status_t *e = inferd_server_model_load_on_demand_async(
      fe->server, name, strlen(name), cb, userp, &waiting);
  if (!e && waiting) {
    inferd_status_free(*st);
    *st = NULL;
    return true;
  }
  grpc_fe_ops_add(fe, -1);
  if (e) {
    inferd_status_free(*st);
    *st = e;
  }
  return false;
}

/* ---- unary ModelInfer
 * ---------------------------------------------------------- */

static void unary_unref_locked(unary_t *u) {
  if (--u->refs > 0) {
    pthread_mutex_unlock(&u->mu);
    return;
  }
  pthread_mutex_unlock(&u->mu);
  job_free(u->job);
  if (u->out)
    grpc_byte_buffer_destroy(u->out);
  grpc_slice_unref(u->details);
  grpc_call_unref(u->call);
  pthread_mutex_destroy(&u->mu);
  free(u);
}

static void unary_close_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  unary_t *u = (unary_t *)((char *)t - offsetof(unary_t, close_tag));
  pthread_mutex_lock(&u->mu);
  u->closed = true;
  if (u->cancelled && !u->released && u->job && u->job->req)
    inferd_request_cancel(u->job->req);
  unary_unref_locked(u);
}

static void unary_send_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  unary_t *u = (unary_t *)((char *)t - offsetof(unary_t, send_tag));
  pthread_mutex_lock(&u->mu);
  unary_unref_locked(u);
}

/* starts the reply batch; called with u->mu held */
static void unary_send_locked(unary_t *u, grpc_byte_buffer *msg,
                              inferd_status_t *st) {
  u->replied = true;
  u->out = msg;
  grpc_op ops[3];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (msg) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = msg;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  if (st) {
    ops[n].data.send_status_from_server.status =
        (grpc_status_code)inferd_code_grpc_status(inferd_status_code(st));
    grpc_slice_unref(u->details);
    u->details = grpc_slice_from_copied_string(inferd_status_message(st));
  } else {
    ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
  }
  ops[n++].data.send_status_from_server.status_details = &u->details;
  inferd_status_free(st);
  u->refs++;
  if (grpc_call_start_batch(u->call, ops, n, &u->send_tag, NULL) !=
      GRPC_CALL_OK)
    u->refs--;
}

static void unary_response_cb(inferd_response_t *resp, uint32_t flags,
                              void *userp) {
  unary_t *u = userp;
  pthread_mutex_lock(&u->mu);
  if (u->replied) { /* a second response cannot be sent on a unary call */
    pthread_mutex_unlock(&u->mu);
    inferd_response_free(resp);
    return;
  }
  if (!resp) {
    if (flags & INFERD_RESPONSE_FLAG_FINAL)
      unary_send_locked(u, NULL,
                        inferd_status_new(INFERD_INTERNAL,
                                          "the model completed the request "
                                          "without a response"));
    pthread_mutex_unlock(&u->mu);
    return;
  }
  const inferd_status_t *err = inferd_response_error(resp);
  if (err) {
    inferd_status_t *st = inferd_status_new(inferd_status_code(err), "%s",
                                            inferd_status_message(err));
    inferd_response_free(resp);
    unary_send_locked(u, NULL, st);
  } else {
    grpc_byte_buffer *bb = NULL;
    inferd_status_t *st = grpc_fe_encode_response(
        resp, inferd_request_id(u->job->req), false, true, &bb);
    unary_send_locked(u, bb, st);
  }
  pthread_mutex_unlock(&u->mu);
}

static void unary_release_cb(inferd_request_t *req, void *userp) {
  (void)req;
  unary_t *u = userp;
  pthread_mutex_lock(&u->mu);
  u->released = true;
  if (!u->replied)
    unary_send_locked(u, NULL,
                      inferd_status_new(INFERD_INTERNAL,
                                        "request released without a "
                                        "response"));
  unary_unref_locked(u);
}

/* Submits u's built request, or answers st (taken); then drops the
 * caller's reference to u. No lock held on entry: a successful
 * infer_async may call back at once. */
static void unary_submit(grpc_frontend_t *fe, unary_t *u, inferd_status_t *st) {
  job_t *j = u->job;
  if (!st) {
    inferd_request_set_callbacks(j->req, unary_response_cb, unary_release_cb,
                                 u);
    pthread_mutex_lock(&u->mu);
    u->refs++; /* the request, until release */
    pthread_mutex_unlock(&u->mu);
    st = inferd_server_infer_async(fe->server, j->req);
    if (st) {
      pthread_mutex_lock(&u->mu);
      u->refs--;
      pthread_mutex_unlock(&u->mu);
    }
  }
  pthread_mutex_lock(&u->mu);
  if (st)
    unary_send_locked(u, NULL, st);
  unary_unref_locked(u);
}

/* The server's callback of a load on demand (a repository thread): builds
 * and submits the request, unless the load failed or the client went away
 * meanwhile. Holds the wait's reference to u. */
static void unary_loaded_cb(inferd_status_t *st, void *userp) {
  unary_t *u = userp;
  grpc_frontend_t *fe = u->fe;
  if (!st) {
    pthread_mutex_lock(&u->mu);
    bool gone = u->closed && u->cancelled;
    pthread_mutex_unlock(&u->mu);
    if (gone)
      st = inferd_status_new(INFERD_CANCELLED,
                             "the call was cancelled while its model was "
                             "loading");
  }
  bool not_ready = false;
  if (!st) /* a second failure is answered: not_ready is not looked at */
    st = job_request(fe, u->job, false, &not_ready);
  unary_submit(fe, u, st);
  grpc_fe_ops_add(fe, -1); /* last: grpc_frontend_free may be waiting */
}

void grpc_fe_infer_start(grpc_frontend_t *fe, grpc_call *call,
                         grpc_byte_buffer *payload) {
  unary_t *u = calloc(1, sizeof(*u));
  job_t *j = calloc(1, sizeof(*j));
  if (!u || !j) {
    free(u), free(j);
    if (payload)
      grpc_byte_buffer_destroy(payload);
    grpc_fe_reply(call, NULL,
                  inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    return;
  }
  u->close_tag.fn = unary_close_done;
  u->send_tag.fn = unary_send_done;
  u->fe = fe;
  u->call = call;
  u->details = grpc_empty_slice();
  u->job = j;
  j->u = u;
  j->bb = payload;
  pthread_mutex_init(&u->mu, NULL);
  u->refs = 1; /* this function until it returns */

  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &u->cancelled;
  pthread_mutex_lock(&u->mu);
  u->refs++;
  if (grpc_call_start_batch(call, &op, 1, &u->close_tag, NULL) != GRPC_CALL_OK)
    u->refs--;
  pthread_mutex_unlock(&u->mu);

  /* no lock held from here: a successful infer_async may call back at once */
  bool not_ready = false;
  inferd_status_t *st =
      payload ? job_build(fe, j, false, &not_ready)
              : inferd_status_new(INFERD_INVALID_ARG,
                                  "ModelInfer: no request message");
  if (st && not_ready) {
    pthread_mutex_lock(&u->mu);
    u->refs++; /* the wait, until unary_loaded_cb */
    pthread_mutex_unlock(&u->mu);
    if (job_wait_model(fe, j, &st, unary_loaded_cb, u)) {
      pthread_mutex_lock(&u->mu);
      unary_unref_locked(u); /* this function's */
      return;
    }
    pthread_mutex_lock(&u->mu);
    u->refs--;
    pthread_mutex_unlock(&u->mu);
  }
  unary_submit(fe, u, st);
}

/* ---- ModelStreamInfer
 * ------------------------------------------------------------ */

static void stream_unref_locked(stream_t *s) {
  if (--s->refs > 0) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  pthread_mutex_unlock(&s->mu);
  while (s->head) {
    wq_item_t *w = s->head;
    s->head = w->next;
    grpc_byte_buffer_destroy(w->bb);
    free(w);
  }
  if (s->writing_bb)
    grpc_byte_buffer_destroy(s->writing_bb);
  if (s->recv)
    grpc_byte_buffer_destroy(s->recv);
  inferd_status_free(s->error);
  grpc_slice_unref(s->details);
  grpc_call_unref(s->call);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void stream_write_next_locked(stream_t *s);

/* sends the final status once the client is done and nothing is pending */
static void stream_maybe_finish_locked(stream_t *s) {
  if (s->status_started || s->broken || !s->reads_done || s->jobs ||
      s->n_waiting || s->writing || s->head)
    return;
  s->status_started = true;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (!s->md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    s->md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  if (s->error) {
    ops[n].data.send_status_from_server.status =
        (grpc_status_code)inferd_code_grpc_status(inferd_status_code(s->error));
    s->details = grpc_slice_from_copied_string(inferd_status_message(s->error));
  } else {
    ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
  }
  ops[n++].data.send_status_from_server.status_details = &s->details;
  s->refs++;
  if (grpc_call_start_batch(s->call, ops, n, &s->status_tag, NULL) !=
      GRPC_CALL_OK)
    s->refs--;
}

static void stream_write_next_locked(stream_t *s) {
  if (s->writing || !s->head || s->broken)
    return;
  wq_item_t *w = s->head;
  s->head = w->next;
  if (!s->head)
    s->tail = NULL;
  s->writing_bb = w->bb;
  free(w);
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (!s->md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    s->md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = s->writing_bb;
  s->writing = true;
  s->refs++;
  if (grpc_call_start_batch(s->call, ops, n, &s->write_tag, NULL) !=
      GRPC_CALL_OK) {
    s->refs--;
    s->writing = false;
    s->broken = true;
  }
}

static void stream_enqueue_locked(stream_t *s, grpc_byte_buffer *bb) {
  if (s->broken) {
    grpc_byte_buffer_destroy(bb);
    return;
  }
  wq_item_t *w = malloc(sizeof(*w));
  if (!w) {
    grpc_byte_buffer_destroy(bb);
    return;
  }
  w->next = NULL;
  w->bb = bb;
  if (s->tail)
    s->tail->next = w;
  else
    s->head = w;
  s->tail = w;
  stream_write_next_locked(s);
}

/* reports an error on the stream: a response with error_message, or with
 * triton_grpc_error the final status (in-flight requests are cancelled) */
static void stream_error_locked(stream_t *s, inferd_status_t *st,
                                const char *model, int64_t version,
                                const char *id) {
  if (s->error_as_status) {
    if (!s->error)
      s->error = st;
    else
      inferd_status_free(st);
    s->reads_done = true; /* no more requests are taken */
    for (job_t *j = s->jobs; j; j = j->next)
      inferd_request_cancel(j->req);
    stream_maybe_finish_locked(s);
    return;
  }
  grpc_byte_buffer *bb;
  grpc_fe_encode_stream_note(inferd_status_message(st), model, version, id,
                             &bb);
  inferd_status_free(st);
  stream_enqueue_locked(s, bb);
}

static void stream_write_done(grpc_fe_tag_t *t, bool ok) {
  stream_t *s = (stream_t *)((char *)t - offsetof(stream_t, write_tag));
  pthread_mutex_lock(&s->mu);
  s->writing = false;
  grpc_byte_buffer_destroy(s->writing_bb);
  s->writing_bb = NULL;
  if (!ok)
    s->broken = true;
  stream_write_next_locked(s);
  stream_maybe_finish_locked(s);
  stream_unref_locked(s);
}

static void stream_status_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  stream_t *s = (stream_t *)((char *)t - offsetof(stream_t, status_tag));
  pthread_mutex_lock(&s->mu);
  stream_unref_locked(s);
}

static void stream_close_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  stream_t *s = (stream_t *)((char *)t - offsetof(stream_t, close_tag));
  pthread_mutex_lock(&s->mu);
  if (s->cancelled) {
    s->broken = true;
    for (job_t *j = s->jobs; j; j = j->next)
      inferd_request_cancel(j->req);
  }
  stream_unref_locked(s);
}

static void stream_response_cb(inferd_response_t *resp, uint32_t flags,
                               void *userp) {
  job_t *j = userp;
  stream_t *s = j->st;
  bool final = (flags & INFERD_RESPONSE_FLAG_FINAL) != 0;
  inferd_model_t *m = inferd_request_model(j->req);
  const char *id = inferd_request_id(j->req);
  pthread_mutex_lock(&s->mu);
  if (!resp) {
    if (final && j->empty_final) {
      grpc_byte_buffer *bb;
      grpc_fe_encode_stream_note(NULL, inferd_model_name(m),
                                 inferd_model_version(m), id, &bb);
      stream_enqueue_locked(s, bb);
    }
  } else if (inferd_response_error(resp)) {
    const inferd_status_t *e = inferd_response_error(resp);
    inferd_status_t *st = inferd_status_new(inferd_status_code(e), "%s",
                                            inferd_status_message(e));
    stream_error_locked(s, st, inferd_response_model_name(resp),
                        inferd_response_model_version(resp), id);
    inferd_response_free(resp);
  } else {
    grpc_byte_buffer *bb = NULL;
    inferd_status_t *st = grpc_fe_encode_response(resp, id, true, final, &bb);
    if (st)
      stream_error_locked(s, st, inferd_model_name(m), inferd_model_version(m),
                          id);
    else
      stream_enqueue_locked(s, bb);
  }
  pthread_mutex_unlock(&s->mu);
}

static void stream_release_cb(inferd_request_t *req, void *userp) {
  (void)req;
  job_t *j = userp;
  stream_t *s = j->st;
  pthread_mutex_lock(&s->mu);
  if (j->prev)
    j->prev->next = j->next;
  else
    s->jobs = j->next;
  if (j->next)
    j->next->prev = j->prev;
  job_free(j);
  stream_maybe_finish_locked(s);
  stream_unref_locked(s);
}

static void stream_read_next_locked(stream_t *s);

/* Submits j (built with status st, taken) on s, or reports st on the stream
 * and frees j. late: j waited for a load on demand, so a closed read side is
 * no reason to refuse it, only an error or a broken call is. Returns with
 * s->mu held. */
static void stream_submit(stream_t *s, job_t *j, inferd_status_t *st,
                          bool late) {
  pthread_mutex_lock(&s->mu);
  if (!st && (late ? s->broken || s->error : s->reads_done))
    st = inferd_status_new(INFERD_CANCELLED, "stream is closing");
  if (!st) {
    inferd_request_set_callbacks(j->req, stream_response_cb, stream_release_cb,
                                 j);
    /* linked before submission: the callbacks may run at once */
    j->next = s->jobs;
    if (s->jobs)
      s->jobs->prev = j;
    s->jobs = j;
    s->refs++;
    pthread_mutex_unlock(&s->mu);
    st = inferd_server_infer_async(s->fe->server, j->req);
    pthread_mutex_lock(&s->mu);
    if (st) { /* callbacks never ran: unlink */
      s->refs--;
      if (j->prev)
        j->prev->next = j->next;
      else
        s->jobs = j->next;
      if (j->next)
        j->next->prev = j->prev;
      j->next = j->prev = NULL;
    }
  }
  if (st) {
    const Inference__ModelInferRequest *h = j ? j->msg.hdr : NULL;
    int64_t v = -1;
    if (h && h->model_version && *h->model_version) {
      inferd_status_t *vs = grpc_fe_parse_version(h->model_version, &v);
      inferd_status_free(vs);
    }
    stream_error_locked(s, st, h ? h->model_name : NULL, v, h ? h->id : NULL);
    job_free(j);
  }
}

/* The server's callback of a load on demand for one request of a stream (a
 * repository thread): builds and submits it, or reports the load's error.
 * Holds the wait's reference to the stream. */
static void stream_loaded_cb(inferd_status_t *st, void *userp) {
  job_t *j = userp;
  stream_t *s = j->st;
  grpc_frontend_t *fe = s->fe;
  bool not_ready = false;
  if (!st) /* a second failure is reported, never waited for */
    st = job_request(fe, j, true, &not_ready);
  stream_submit(s, j, st, true);
  s->n_waiting--;
  stream_maybe_finish_locked(s);
  stream_unref_locked(s);
  grpc_fe_ops_add(fe, -1); /* last: grpc_frontend_free may be waiting */
}

static void stream_read_done(grpc_fe_tag_t *t, bool ok) {
  stream_t *s = (stream_t *)((char *)t - offsetof(stream_t, read_tag));
  grpc_byte_buffer *bb = s->recv;
  s->recv = NULL;
  if (!ok || !bb) { /* half-close or broken call */
    if (bb)
      grpc_byte_buffer_destroy(bb);
    pthread_mutex_lock(&s->mu);
    s->reads_done = true;
    stream_maybe_finish_locked(s);
    stream_unref_locked(s);
    return;
  }
  job_t *j = calloc(1, sizeof(*j));
  inferd_status_t *st;
  bool not_ready = false;
  if (!j) {
    grpc_byte_buffer_destroy(bb);
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  } else {
    j->st = s;
    j->bb = bb;
    st = job_build(s->fe, j, true, &not_ready);
  }
  bool waiting = false;
  if (st && not_ready) {
    /* counted before the call: the callback may run at once */
    pthread_mutex_lock(&s->mu);
    s->refs++;
    s->n_waiting++;
    pthread_mutex_unlock(&s->mu);
    waiting = job_wait_model(s->fe, j, &st, stream_loaded_cb, j);
    if (!waiting) {
      pthread_mutex_lock(&s->mu);
      s->refs--; /* the read batch's reference is still held */
      s->n_waiting--;
      pthread_mutex_unlock(&s->mu);
    }
  }
  if (waiting) /* j belongs to stream_loaded_cb */
    pthread_mutex_lock(&s->mu);
  else
    stream_submit(s, j, st, false); /* an earlier error may have closed it */
  if (!s->reads_done)
    stream_read_next_locked(s);
  stream_unref_locked(s); /* the read batch */
}

static void stream_read_next_locked(stream_t *s) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &s->recv;
  s->refs++;
  if (grpc_call_start_batch(s->call, &op, 1, &s->read_tag, NULL) !=
      GRPC_CALL_OK) {
    s->refs--;
    s->reads_done = true;
    stream_maybe_finish_locked(s);
  }
}

void grpc_fe_stream_start(grpc_frontend_t *fe, grpc_call *call,
                          const grpc_metadata_array *md) {
  stream_t *s = calloc(1, sizeof(*s));
  if (!s) {
    grpc_fe_reply(call, NULL,
                  inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    return;
  }
  s->read_tag.fn = stream_read_done;
  s->write_tag.fn = stream_write_done;
  s->close_tag.fn = stream_close_done;
  s->status_tag.fn = stream_status_done;
  s->fe = fe;
  s->call = call;
  s->details = grpc_empty_slice();
  pthread_mutex_init(&s->mu, NULL);
  for (size_t i = 0; i < md->count; i++) {
    if (grpc_slice_str_cmp(md->metadata[i].key, "triton_grpc_error") == 0 &&
        grpc_slice_str_cmp(md->metadata[i].value, "true") == 0)
      s->error_as_status = true;
  }
  pthread_mutex_lock(&s->mu);
  s->refs = 1;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &s->cancelled;
  s->refs++;
  if (grpc_call_start_batch(call, &op, 1, &s->close_tag, NULL) != GRPC_CALL_OK)
    s->refs--;
  stream_read_next_locked(s);
  stream_unref_locked(s);
}
