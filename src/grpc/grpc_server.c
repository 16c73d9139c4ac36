/*
 * grpc_server.c: lifecycle of the gRPC frontend on the gRPC C core. Every
 * RPC path is a registered method (unary ones read their payload with the
 * match); each completion queue keeps requests outstanding for every method
 * and re-arms a slot as soon as it matches a call. Unknown methods are
 * matched by a generic request and answered UNIMPLEMENTED.
 *
 * Threads: n_cqs completion queues, each polled by infer_thread_count
 * threads. Handlers never wait for inference or for a model load: ModelInfer
 * and repository load/unload are answered from the server's callbacks (the
 * RPC still completes only when the load has finished, as Triton's does), and
 * so are ModelInfer, ModelMetadata and ModelConfig for a model loaded on
 * demand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc/grpc_internal.h"

static const struct {
  const char *path;
  bool unary;     /* read the payload with the match */
  unsigned slots; /* outstanding requests per completion queue */
} method_table[GRPC_FE_N_METHODS] = {
#define M(e, path, unary, slots) [e] = {path, unary, slots}
    M(GRPC_FE_SERVER_LIVE, "/inference.GRPCInferenceService/ServerLive", 1, 1),
    M(GRPC_FE_SERVER_READY, "/inference.GRPCInferenceService/ServerReady", 1,
      1),
    M(GRPC_FE_MODEL_READY, "/inference.GRPCInferenceService/ModelReady", 1, 1),
    M(GRPC_FE_SERVER_METADATA, "/inference.GRPCInferenceService/ServerMetadata",
      1, 1),
    M(GRPC_FE_MODEL_METADATA, "/inference.GRPCInferenceService/ModelMetadata",
      1, 1),
    M(GRPC_FE_MODEL_INFER, "/inference.GRPCInferenceService/ModelInfer", 1, 16),
    M(GRPC_FE_MODEL_STREAM_INFER,
      "/inference.GRPCInferenceService/ModelStreamInfer", 0, 4),
    M(GRPC_FE_MODEL_CONFIG, "/inference.GRPCInferenceService/ModelConfig", 1,
      1),
    M(GRPC_FE_MODEL_STATISTICS,
      "/inference.GRPCInferenceService/ModelStatistics", 1, 1),
    M(GRPC_FE_REPOSITORY_INDEX,
      "/inference.GRPCInferenceService/RepositoryIndex", 1, 1),
    M(GRPC_FE_REPOSITORY_MODEL_LOAD,
      "/inference.GRPCInferenceService/RepositoryModelLoad", 1, 1),
    M(GRPC_FE_REPOSITORY_MODEL_UNLOAD,
      "/inference.GRPCInferenceService/RepositoryModelUnload", 1, 1),
    M(GRPC_FE_SYSTEM_SHM_STATUS,
      "/inference.GRPCInferenceService/SystemSharedMemoryStatus", 1, 1),
    M(GRPC_FE_SYSTEM_SHM_REGISTER,
      "/inference.GRPCInferenceService/SystemSharedMemoryRegister", 1, 1),
    M(GRPC_FE_SYSTEM_SHM_UNREGISTER,
      "/inference.GRPCInferenceService/SystemSharedMemoryUnregister", 1, 1),
    M(GRPC_FE_CUDA_SHM_STATUS,
      "/inference.GRPCInferenceService/CudaSharedMemoryStatus", 1, 1),
    M(GRPC_FE_CUDA_SHM_REGISTER,
      "/inference.GRPCInferenceService/CudaSharedMemoryRegister", 1, 1),
    M(GRPC_FE_CUDA_SHM_UNREGISTER,
      "/inference.GRPCInferenceService/CudaSharedMemoryUnregister", 1, 1),
    M(GRPC_FE_TRACE_SETTING, "/inference.GRPCInferenceService/TraceSetting", 1,
      1),
    M(GRPC_FE_LOG_SETTINGS, "/inference.GRPCInferenceService/LogSettings", 1,
      1),
    M(GRPC_FE_HEALTH_CHECK, "/grpc.health.v1.Health/Check", 1, 1),
#undef M
};

/* one outstanding request for a call of one method on one queue */
typedef struct slot {
  grpc_fe_tag_t tag;
  grpc_frontend_t *fe;
  int method; /* -1: generic (unknown methods) */
  size_t cq;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  grpc_call_details details;
} slot_t;

static void slot_done(grpc_fe_tag_t *t, bool ok);

static bool slot_arm(slot_t *s) {
  grpc_frontend_t *fe = s->fe;
  grpc_completion_queue *cq = fe->cqs[s->cq];
  s->call = NULL;
  s->payload = NULL;
  grpc_metadata_array_init(&s->md);
  grpc_call_error e;
  if (s->method < 0) {
    grpc_call_details_init(&s->details);
    e = grpc_server_request_call(fe->gs, &s->call, &s->details, &s->md, cq, cq,
                                 &s->tag);
  } else {
    e = grpc_server_request_registered_call(
        fe->gs, fe->methods[s->method], &s->call, &s->deadline, &s->md,
        method_table[s->method].unary ? &s->payload : NULL, cq, cq, &s->tag);
  }
  if (e != GRPC_CALL_OK) {
    grpc_metadata_array_destroy(&s->md);
    if (s->method < 0)
      grpc_call_details_destroy(&s->details);
    return false;
  }
  return true;
}

/* ---- unary replies
 * ------------------------------------------------------------ */

typedef struct reply {
  grpc_fe_tag_t tag;
  grpc_call *call;
  grpc_byte_buffer *msg;
  grpc_slice details;
  int cancelled;
} reply_t;

static void reply_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  reply_t *r = (reply_t *)t;
  if (r->msg)
    grpc_byte_buffer_destroy(r->msg);
  grpc_slice_unref(r->details);
  grpc_call_unref(r->call);
  free(r);
}

void grpc_fe_reply(grpc_call *call, grpc_byte_buffer *msg,
                   inferd_status_t *st) {
  reply_t *r = malloc(sizeof(*r));
  if (!r) {
    /* nothing to send with: cancelling still tells the client */
    grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                 "out of memory", NULL);
    if (msg)
      grpc_byte_buffer_destroy(msg);
    inferd_status_free(st);
    grpc_call_unref(call);
    return;
  }
  r->tag.fn = reply_done;
  r->call = call;
  r->msg = st ? NULL : msg;
  if (st && msg)
    grpc_byte_buffer_destroy(msg);
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  n++;
  if (r->msg) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = r->msg;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  if (st) {
    ops[n].data.send_status_from_server.status =
        (grpc_status_code)inferd_code_grpc_status(inferd_status_code(st));
    r->details = grpc_slice_from_copied_string(inferd_status_message(st));
    ops[n].data.send_status_from_server.status_details = &r->details;
  } else {
    ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
    r->details = grpc_empty_slice();
  }
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &r->cancelled;
  n++;
  inferd_status_free(st);
  if (grpc_call_start_batch(call, ops, n, &r->tag, NULL) != GRPC_CALL_OK)
    reply_done(&r->tag, false);
}

/* contiguous copy of a small unary payload */
static uint8_t *payload_bytes(grpc_byte_buffer *bb, size_t *len) {
  grpc_byte_buffer_reader rd;
  *len = 0;
  if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
    return calloc(1, 1);
  grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
  grpc_byte_buffer_reader_destroy(&rd);
  *len = GRPC_SLICE_LENGTH(s);
  uint8_t *p = malloc(*len ? *len : 1);
  if (p && *len)
    memcpy(p, GRPC_SLICE_START_PTR(s), *len);
  grpc_slice_unref(s);
  return p;
}

static void handle_unary(grpc_frontend_t *fe, grpc_fe_method_t m,
                         grpc_call *call, grpc_byte_buffer *payload) {
  size_t len;
  uint8_t *bytes = payload_bytes(payload, &len);
  if (payload)
    grpc_byte_buffer_destroy(payload);
  if (!bytes) {
    grpc_fe_reply(call, NULL,
                  inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    return;
  }
  if (m == GRPC_FE_REPOSITORY_MODEL_LOAD ||
      m == GRPC_FE_REPOSITORY_MODEL_UNLOAD) {
    grpc_fe_repository_start(fe, call, m == GRPC_FE_REPOSITORY_MODEL_LOAD,
                             bytes, len);
    free(bytes);
    return;
  }
  if (m == GRPC_FE_MODEL_METADATA || m == GRPC_FE_MODEL_CONFIG) {
    grpc_fe_model_info_start(fe, call, m == GRPC_FE_MODEL_CONFIG, bytes, len);
    free(bytes);
    return;
  }
  grpc_fe_buf_t out = {0};
  inferd_status_t *st = grpc_fe_unary_handler(m)(fe, bytes, len, &out);
  free(bytes);
  grpc_byte_buffer *bb = NULL;
  if (!st) {
    grpc_slice s = grpc_slice_new(out.data, out.len, free);
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
  } else {
    free(out.data);
  }
  grpc_fe_reply(call, bb, st);
}

static void slot_done(grpc_fe_tag_t *t, bool ok) {
  slot_t *s = (slot_t *)t;
  grpc_frontend_t *fe = s->fe;
  if (!ok) { /* server shutting down: the slot is not re-armed */
    grpc_metadata_array_destroy(&s->md);
    if (s->method < 0)
      grpc_call_details_destroy(&s->details);
    free(s);
    return;
  }
  grpc_call *call = s->call;
  grpc_byte_buffer *payload = s->payload;
  int m = s->method;
  if (m < 0) {
    char *path = grpc_slice_to_c_string(s->details.method);
    inferd_status_t *st = inferd_status_new(
        INFERD_UNSUPPORTED, "unknown method \"%s\"", path ? path : "");
    gpr_free(path);
    grpc_call_details_destroy(&s->details);
    grpc_fe_reply(call, NULL, st);
  } else if (m == GRPC_FE_MODEL_INFER) {
    grpc_fe_infer_start(fe, call, payload);
  } else if (m == GRPC_FE_MODEL_STREAM_INFER) {
    grpc_fe_stream_start(fe, call, &s->md);
  } else {
    handle_unary(fe, (grpc_fe_method_t)m, call, payload);
  }
  grpc_metadata_array_destroy(&s->md);
  if (!slot_arm(s))
    free(s);
}

/* ---- threads and lifecycle
 * ------------------------------------------------------ */

static void *cq_thread(void *arg) {
  grpc_completion_queue *cq = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type == GRPC_OP_COMPLETE) {
      grpc_fe_tag_t *t = ev.tag;
      t->fn(t, ev.success != 0);
    }
  }
  return NULL;
}

static void shutdown_done(grpc_fe_tag_t *t, bool ok) {
  (void)ok;
  grpc_frontend_t *fe =
      (grpc_frontend_t *)((char *)t - offsetof(grpc_frontend_t, shutdown_tag));
  pthread_mutex_lock(&fe->mu);
  fe->shutdown_done = true;
  pthread_cond_broadcast(&fe->cv);
  pthread_mutex_unlock(&fe->mu);
}

void grpc_frontend_options_init(grpc_frontend_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->address = "0.0.0.0";
  o->port = 8001;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  o->thread_count = n > 0 ? (uint32_t)n : 1;
  o->infer_thread_count = 1;
  o->keepalive_time_ms = 7200000;
  o->keepalive_timeout_ms = 20000;
  o->keepalive_permit_without_calls = false;
  o->http2_max_pings_without_data = 2;
  o->http2_min_recv_ping_interval_without_data_ms = 300000;
  o->http2_max_ping_strikes = 2;
  o->max_connection_age_ms = -1;
  o->max_connection_age_grace_ms = -1;
}

static int g_grpc_inits; /* grpc_init/shutdown pairs; main thread only */

inferd_status_t *grpc_frontend_start(inferd_server_t *s,
                                     const grpc_frontend_options_t *o,
                                     grpc_frontend_t **out) {
  *out = NULL;
  if (o->thread_count == 0 || o->thread_count > 1024)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "--grpc-thread-count: invalid value %u: expected "
                             "1 to 1024",
                             o->thread_count);
  if (o->infer_thread_count == 0 || o->infer_thread_count > 64)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "--grpc-infer-thread-count: invalid value %u: "
                             "expected 1 to 64",
                             o->infer_thread_count);
  grpc_frontend_t *fe = calloc(1, sizeof(*fe));
  if (!fe)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  fe->server = s;
  fe->shutdown_tag.fn = shutdown_done;
  pthread_mutex_init(&fe->mu, NULL);
  pthread_cond_init(&fe->cv, NULL);
  grpc_init();
  g_grpc_inits++;

  grpc_arg args[12];
  size_t na = 0;
#define INT_ARG(k, v)                                                          \
  do {                                                                         \
    args[na].type = GRPC_ARG_INTEGER;                                          \
    args[na].key = (char *)(k);                                                \
    args[na].value.integer = (v);                                              \
    na++;                                                                      \
  } while (0)
  INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, INT32_MAX);
  INT_ARG(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, INT32_MAX);
  INT_ARG(GRPC_ARG_ALLOW_REUSEPORT, 0); /* a busy port must fail */
  INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, o->keepalive_time_ms);
  INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o->keepalive_timeout_ms);
  INT_ARG(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
          o->keepalive_permit_without_calls ? 1 : 0);
  INT_ARG(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA,
          o->http2_max_pings_without_data);
  INT_ARG(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
          o->http2_min_recv_ping_interval_without_data_ms);
  INT_ARG(GRPC_ARG_HTTP2_MAX_PING_STRIKES, o->http2_max_ping_strikes);
  if (o->max_connection_age_ms >= 0)
    INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_MS, o->max_connection_age_ms);
  if (o->max_connection_age_grace_ms >= 0)
    INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
            o->max_connection_age_grace_ms);
#undef INT_ARG
  grpc_channel_args ca = {na, args};
  fe->gs = grpc_server_create(&ca, NULL);

  for (int m = 0; m < GRPC_FE_N_METHODS; m++)
    fe->methods[m] = grpc_server_register_method(
        fe->gs, method_table[m].path, NULL,
        method_table[m].unary ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                              : GRPC_SRM_PAYLOAD_NONE,
        0);
  fe->n_cqs = o->thread_count;
  fe->cqs = calloc(fe->n_cqs, sizeof(*fe->cqs));
  fe->n_threads = fe->n_cqs * o->infer_thread_count;
  fe->threads = calloc(fe->n_threads, sizeof(*fe->threads));
  if (!fe->cqs || !fe->threads) {
    grpc_server_destroy(fe->gs);
    free(fe->cqs), free(fe->threads), free(fe);
    grpc_shutdown();
    g_grpc_inits--;
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < fe->n_cqs; i++) {
    fe->cqs[i] = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(fe->gs, fe->cqs[i], NULL);
  }

  /* address: "ipv6:[::1]" and bare IPv6 literals become "[::1]:port" */
  const char *a = o->address ? o->address : "0.0.0.0";
  if (strncmp(a, "ipv6:", 5) == 0)
    a += 5;
  char addr[300];
  if (strchr(a, ':') && a[0] != '[')
    snprintf(addr, sizeof(addr), "[%s]:%u", a, (unsigned)o->port);
  else
    snprintf(addr, sizeof(addr), "%s:%u", a, (unsigned)o->port);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(fe->gs, addr, creds);
  grpc_server_credentials_release(creds);
  if (port <= 0) {
    grpc_server_destroy(fe->gs);
    for (size_t i = 0; i < fe->n_cqs; i++) {
      grpc_completion_queue_shutdown(fe->cqs[i]);
      while (grpc_completion_queue_next(
                 fe->cqs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                 .type != GRPC_QUEUE_SHUTDOWN)
        ;
      grpc_completion_queue_destroy(fe->cqs[i]);
    }
    free(fe->cqs), free(fe->threads);
    pthread_mutex_destroy(&fe->mu);
    pthread_cond_destroy(&fe->cv);
    free(fe);
    grpc_shutdown();
    g_grpc_inits--;
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "gRPC: cannot bind to address \"%s\" (in use or "
                             "invalid)",
                             addr);
  }
  fe->port = (uint16_t)port;
  grpc_server_start(fe->gs);

  for (size_t c = 0; c < fe->n_cqs; c++) {
    for (int m = -1; m < GRPC_FE_N_METHODS; m++) {
      unsigned k = m < 0 ? 1 : method_table[m].slots;
      for (unsigned j = 0; j < k; j++) {
        slot_t *sl = calloc(1, sizeof(*sl));
        if (!sl)
          break;
        sl->tag.fn = slot_done;
        sl->fe = fe;
        sl->method = m;
        sl->cq = c;
        if (!slot_arm(sl))
          free(sl);
      }
    }
  }
  for (size_t i = 0; i < fe->n_threads; i++)
    pthread_create(&fe->threads[i], NULL, cq_thread, fe->cqs[i % fe->n_cqs]);
  *out = fe;
  return NULL;
}

uint16_t grpc_frontend_port(const grpc_frontend_t *g) { return g->port; }

void grpc_frontend_quiesce(grpc_frontend_t *g) {
  if (!g || g->quiesced)
    return;
  g->quiesced = true;
  grpc_server_shutdown_and_notify(g->gs, g->cqs[0], &g->shutdown_tag);
}

void grpc_frontend_free(grpc_frontend_t *g) {
  if (!g)
    return;
  grpc_frontend_quiesce(g);
  /* a load/unload or load-on-demand callback still to come would reply on
   * a call of this server: let it, before anything is cancelled or torn
   * down (after inferd_server_stop none should be left) */
  pthread_mutex_lock(&g->mu);
  while (g->n_repo_ops)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
  /* whatever is still open (idle streams, unanswered calls) is cancelled */
  grpc_server_cancel_all_calls(g->gs);
  pthread_mutex_lock(&g->mu);
  while (!g->shutdown_done)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
  for (size_t i = 0; i < g->n_cqs; i++)
    grpc_completion_queue_shutdown(g->cqs[i]);
  for (size_t i = 0; i < g->n_threads; i++)
    pthread_join(g->threads[i], NULL);
  grpc_server_destroy(g->gs);
  for (size_t i = 0; i < g->n_cqs; i++)
    grpc_completion_queue_destroy(g->cqs[i]);
  free(g->cqs);
  free(g->threads);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
  free(g);
  grpc_shutdown();
  g_grpc_inits--;
}

/* Started load/unload/on-demand operations whose callback has not run
 * yet; grpc_frontend_free waits for none to be left. */
void grpc_fe_ops_add(grpc_frontend_t *fe, int d) {
  pthread_mutex_lock(&fe->mu);
  fe->n_repo_ops += (size_t)d; /* d is +1 or -1 */
  if (fe->n_repo_ops == 0)
    pthread_cond_broadcast(&fe->cv);
  pthread_mutex_unlock(&fe->mu);
}
