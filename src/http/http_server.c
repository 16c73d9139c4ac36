/*
 * http_server.c: the libmicrohttpd glue of the KServe v2 REST frontend:
 * daemon setup (address, thread pool, backlog, TCP_NODELAY), the access
 * handler that accumulates bodies and dispatches routes, and the
 * asynchronous infer path.
 *
 * Per-request state (http_req_t) is refcounted: one reference for MHD
 * (dropped in the request-completed callback), one while the server holds
 * the inference request (dropped in the release callback) or a repository
 * load/unload (dropped in its completion callback) and one while a zero-copy
 * response references its buffers (dropped in the response free callback).
 * Whatever order these happen in, nothing is freed early.
 *
 * Asynchrony: an infer, a load/unload or a wait for a load on demand
 * suspends the connection *before* calling the server, so the completion
 * callback (a server thread, possibly before the call has returned) can
 * always resume it; the result is queued when MHD calls the handler again.
 * No frontend thread waits for a load. Responses are never queued on the
 * handler's first call for a request (DESIGN §8: that costs keep-alive),
 * except to refuse an oversized body, where closing is wanted.
 *
 * Load on demand (issue 9): only after inferd_server_model_acquire has
 * failed (a READY model costs nothing more) does a route ask the server to
 * load the model; while it waits the connection is suspended, and once the
 * load has finished the route runs again from the start, at most once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_endpoints.h"
#include "http/http_internal.h"
#include "http/http_server.h"

#define BODY_INLINE_MAX 2048 /* bodies up to this size live in the arena */

struct http_server {
  inferd_server_t *srv;
  struct MHD_Daemon *d;
  http_options_t opts;
  uint16_t port;
  struct MHD_Response *not_found, *not_allowed;
  pthread_mutex_t pool_mu; /* guards pool: states are freed on any thread */
  struct http_req *pool;
  size_t n_pool;
  /* single-thread mode: our own event loop drives the daemon */
  bool own_loop;
  pthread_t loop;
  atomic_bool loop_stop;
  atomic_bool quiesce_req;
  pthread_mutex_t loop_mu; /* with loop_cv: quiesce done */
  pthread_cond_t loop_cv;
  bool quiesced;
  int wake_fd;  /* eventfd: a connection was resumed (external mode) */
  int epoll_fd; /* the loop's: the daemon's epoll fd and wake_fd */
  /* load/unload and load-on-demand callbacks still to come: free waits for
   * them, as they touch h (resume, the state pool) */
  pthread_mutex_t ops_mu;
  pthread_cond_t ops_cv;
  size_t n_ops;
};

/* Object pools compile out under the sanitizers, so that ASan sees every
 * use after free instead of a recycled object (STYLE: tests). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define POOL_MAX 0
#else
#define POOL_MAX 256
#endif
/* binary outputs up to this many bytes in all are copied behind the JSON */
#define SMALL_BLOBS_MAX 16384

enum { ST_NEW, ST_BODY, ST_WAIT, ST_DONE };

struct http_req {
  atomic_int refs;
  http_server_t *h;
  struct MHD_Connection *conn;
  http_route_t route;
  int state;
  bool too_large;
  uint64_t discarded; /* body bytes dropped after too_large */
  bool has_cl;
  uint64_t content_length;
  char *body;
  size_t body_len, body_cap;
  bool body_owned;    /* malloc'd, else arena */
  pthread_mutex_t mu; /* guards ireq against release vs. cancel */
  bool inflight;
  /* under mu: infer_async has not returned yet; a final response that
   * comes meanwhile (inline execution on this thread) sets early_final
   * instead of resuming a connection that was never suspended */
  bool submitting, early_final;
  bool od_tried; /* a load on demand was asked for (never twice) */
  bool od_wait;  /* suspended for it: the resumed call runs the route again */
  bool watching; /* own loop: the socket is watched for a hang-up */
  int watch_fd;
  atomic_bool mhd_done;
  inferd_model_t *model;
  inferd_request_t *ireq;
  inferd_response_t *resp;
  inferd_status_t *async_err; /* result of a failed submit or load/unload */
  json_t *json;               /* parsed body of non-infer POSTs */
  http_infer_t inf;
  http_shm_hold_t shm; /* shared memory regions the request holds */
  http_buf_t out;
  struct http_req *pool_next;
  http_arena_t arena; /* last: large */
};

static void req_unref(http_req_t *q) {
  if (atomic_fetch_sub(&q->refs, 1) != 1)
    return;
  http_infer_deinit(&q->inf);
  if (q->ireq)
    inferd_request_free(q->ireq);
  inferd_response_free(q->resp);
  http_shm_hold_release(&q->shm); /* after every buffer in a region */
  inferd_status_free(q->async_err);
  inferd_model_release(q->model);
  if (q->json)
    json_decref(q->json);
  if (q->body_owned)
    free(q->body);
  http_arena_deinit(&q->arena);
  http_server_t *h = q->h;
  /* Recycle the state (and its response buffer) for the next request:
   * these blocks are larger than malloc's per-thread caches. */
  pthread_mutex_lock(&h->pool_mu);
  static const size_t pool_max = POOL_MAX; /* no "always false" warning */
  if (h->n_pool < pool_max && q->out.cap <= 65536 && !q->out.oom) {
    q->pool_next = h->pool;
    h->pool = q;
    h->n_pool++;
    q = NULL;
  }
  pthread_mutex_unlock(&h->pool_mu);
  if (q) {
    http_buf_deinit(&q->out);
    pthread_mutex_destroy(&q->mu);
    free(q);
  }
}

static http_req_t *req_get(http_server_t *h) {
  pthread_mutex_lock(&h->pool_mu);
  http_req_t *q = h->pool;
  if (q) {
    h->pool = q->pool_next;
    h->n_pool--;
  }
  pthread_mutex_unlock(&h->pool_mu);
  if (q) {
    http_buf_t out = q->out;
    out.len = 0;
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, offsetof(http_req_t, arena));
    q->out = out;
    pthread_mutex_init(&q->mu, NULL);
    return q;
  }
  q = malloc(sizeof(*q));
  if (!q)
    return NULL;
  memset(q, 0, offsetof(http_req_t, arena));
  pthread_mutex_init(&q->mu, NULL);
  return q;
}

/* ---- responses ----------------------------------------------------------- */

enum MHD_Result http_queue_buf(http_req_t *q, unsigned status, char *data,
                               size_t len, const char *content_type) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(data);
    return MHD_NO;
  }
  if (content_type)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
  MHD_destroy_response(r);
  q->state = ST_DONE;
  return ret;
}

enum MHD_Result http_queue_json(http_req_t *q, unsigned status, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s)
    return http_queue_error(
        q, inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
  return http_queue_buf(q, status, s, strlen(s), "application/json");
}

enum MHD_Result http_queue_empty(http_req_t *q, unsigned status) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
  MHD_destroy_response(r);
  q->state = ST_DONE;
  return ret;
}

enum MHD_Result http_queue_error(http_req_t *q, inferd_status_t *st) {
  unsigned status = (unsigned)inferd_code_http_status(inferd_status_code(st));
  http_buf_t b;
  http_buf_init(&b);
  http_buf_error_json(&b, inferd_status_message(st));
  inferd_status_free(st);
  size_t len;
  char *data = http_buf_take(&b, &len);
  if (!data)
    return MHD_NO;
  return http_queue_buf(q, status, data, len, "application/json");
}

static enum MHD_Result queue_static(http_req_t *q, unsigned status,
                                    struct MHD_Response *r) {
  q->state = ST_DONE;
  return MHD_queue_response(q->conn, status, r);
}

/* ---- accessors for the endpoint handlers --------------------------------- */

inferd_server_t *http_req_server(http_req_t *q) { return q->h->srv; }
const http_route_t *http_req_route(http_req_t *q) { return &q->route; }
http_arena_t *http_req_arena(http_req_t *q) { return &q->arena; }

/* The request body parsed as JSON; *out NULL for an empty body. */
inferd_status_t *http_req_body_json(http_req_t *q, json_t **out) {
  *out = NULL;
  if (q->body_len == 0)
    return NULL;
  json_error_t err;
  json_t *j = json_loadb(q->body, q->body_len, 0, &err);
  if (!j)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "failed to parse the request JSON: %s at line %d "
                             "column %d",
                             err.text, err.line, err.column);
  if (!json_is_object(j)) {
    json_decref(j);
    return inferd_status_new(INFERD_INVALID_ARG,
                             "the request JSON must be an object");
  }
  q->json = j; /* kept until the request ends: strings borrowed from it */
  *out = j;
  return NULL;
}

/* ---- asynchronous work (infer, load/unload) -------------------------------
 */

static void suspend(http_req_t *q) {
  q->state = ST_WAIT;
  MHD_suspend_connection(q->conn);
}

static void resume(http_req_t *q) {
  if (!atomic_load(&q->mhd_done)) {
    MHD_resume_connection(q->conn);
    /* in external mode the daemon does not wake itself for a resume */
    if (q->h->own_loop) {
      uint64_t one = 1;
      ssize_t w = write(q->h->wake_fd, &one, sizeof(one));
      (void)w; /* a full counter already means "wake" */
    }
  }
}

/* A suspended connection is not polled by libmicrohttpd, so a client that
 * goes away while its request waits would only be noticed at the answer.
 * In own-loop mode the loop watches the socket for a hang-up meanwhile and
 * cancels the request (a queued request is then answered CANCELLED at once
 * and never executed). Loop thread only; the watch holds a reference. */
static void watch_hangup(http_req_t *q) {
  if (!q->h->own_loop)
    return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci)
    return;
  struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT, .data.ptr = q};
  if (epoll_ctl(q->h->epoll_fd, EPOLL_CTL_ADD, ci->connect_fd, &ev) != 0)
    return; /* best effort: the request is then cancelled at the answer */
  q->watch_fd = ci->connect_fd;
  q->watching = true;
  atomic_fetch_add(&q->refs, 1);
}

static void unwatch_hangup(http_req_t *q) {
  if (!q->watching)
    return;
  q->watching = false;
  epoll_ctl(q->h->epoll_fd, EPOLL_CTL_DEL, q->watch_fd, NULL);
  req_unref(q);
}

static void on_hangup(http_req_t *q) {
  pthread_mutex_lock(&q->mu);
  if (q->inflight && q->ireq)
    inferd_request_cancel(q->ireq);
  pthread_mutex_unlock(&q->mu);
}

static void ops_done(http_server_t *h) {
  pthread_mutex_lock(&h->ops_mu);
  if (--h->n_ops == 0)
    pthread_cond_broadcast(&h->ops_cv);
  pthread_mutex_unlock(&h->ops_mu);
}

/* The server's repository thread, once per started load/unload or wait for
 * a load on demand, possibly before the starting call has returned: the
 * connection is suspended already. The result is published by the resume
 * (MHD takes a lock there) and read on the MHD thread when the handler runs
 * again. */
static void repo_cb(inferd_status_t *st, void *userp) {
  http_req_t *q = userp;
  http_server_t *h = q->h;
  q->async_err = st;
  resume(q);
  req_unref(q);
  ops_done(h);
}

enum MHD_Result http_req_start_repo_op(http_req_t *q, const char *model_name,
                                       size_t name_len,
                                       const inferd_model_load_options_t *opts,
                                       bool unload_dependents) {
  http_server_t *h = q->h;
  atomic_fetch_add(&q->refs, 1);
  pthread_mutex_lock(&h->ops_mu);
  h->n_ops++;
  pthread_mutex_unlock(&h->ops_mu);
  suspend(q);
  inferd_status_t *st =
      q->route.id == HTTP_ROUTE_REPO_LOAD
          ? inferd_server_model_load_async(h->srv, model_name, name_len, opts,
                                           repo_cb, q)
          : inferd_server_model_unload_async(h->srv, model_name, name_len,
                                             unload_dependents, repo_cb, q);
  if (st) { /* the callback will not run: answer on the resumed call */
    atomic_fetch_sub(&q->refs, 1);
    ops_done(h);
    q->async_err = st;
    resume(q);
  }
  return MHD_YES;
}

enum MHD_Result http_req_wait_model(http_req_t *q, inferd_status_t *st) {
  http_server_t *h = q->h;
  if (q->od_tried) /* the route runs again after a load: no second wait */
    return http_queue_error(q, st);
  q->od_tried = true;
  /* the server may keep the name until its callback: the arena lives as
   * long as the request state, which the callback holds */
  char *name =
      core_arena_strndup(&q->arena.a, q->route.model, q->route.model_len);
  if (!name)
    return http_queue_error(q, st);
  atomic_fetch_add(&q->refs, 1);
  pthread_mutex_lock(&h->ops_mu);
  h->n_ops++;
  pthread_mutex_unlock(&h->ops_mu);
  q->od_wait = true;
  suspend(q);
  bool waiting = false;
  inferd_status_t *e = inferd_server_model_load_on_demand_async(
      h->srv, name, q->route.model_len, repo_cb, q, &waiting);
  if (!e && waiting) { /* repo_cb resumes; q belongs to it until then */
    inferd_status_free(st);
    return MHD_YES;
  }
  /* the callback will not run: answer on the resumed call, with the
   * original error when there was nothing to wait for */
  atomic_fetch_sub(&q->refs, 1);
  ops_done(h);
  if (e) {
    inferd_status_free(st);
    st = e;
  }
  q->async_err = st;
  resume(q);
  return MHD_YES;
}

static void response_cb(inferd_response_t *resp, uint32_t flags, void *userp) {
  http_req_t *q = userp;
  if (resp) {
    if (!q->resp)
      q->resp = resp;
    else
      inferd_response_free(resp); /* HTTP carries one response */
  }
  if (flags & INFERD_RESPONSE_FLAG_FINAL) {
    pthread_mutex_lock(&q->mu);
    bool early = q->submitting;
    if (early)
      q->early_final = true;
    else
      resume(q); /* under mu: start_infer suspended the call under it */
    pthread_mutex_unlock(&q->mu);
  }
}

static void release_cb(inferd_request_t *req, void *userp) {
  http_req_t *q = userp;
  pthread_mutex_lock(&q->mu);
  q->inflight = false;
  q->ireq = NULL;
  pthread_mutex_unlock(&q->mu);
  inferd_request_free(req);
  req_unref(q);
}

static inferd_status_t *build_request(http_req_t *q, inferd_request_t *r) {
  http_infer_t *inf = &q->inf;
  inferd_status_t *st = NULL;
  if (inf->id_len && (st = inferd_request_set_id(r, inf->id, inf->id_len)))
    return st;
  if (inf->has_seq_id) {
    if (inf->seq_id_str)
      st = inferd_request_set_correlation_id_string(r, inf->seq_id_str,
                                                    inf->seq_id_str_len);
    else
      inferd_request_set_correlation_id(r, inf->seq_id);
    if (st)
      return st;
  }
  if (inf->flags)
    inferd_request_set_flags(r, inf->flags);
  if (inf->has_priority)
    inferd_request_set_priority(r, inf->priority);
  if (inf->has_timeout)
    inferd_request_set_timeout_us(r, inf->timeout_us);
  for (size_t i = 0; i < inf->n_params; i++) {
    const http_param_t *p = &inf->params[i];
    json_t *v = p->value;
    if (json_is_string(v))
      st = inferd_request_set_param_string(
          r, p->key, p->key_len, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
      st = inferd_request_set_param_int(r, p->key, p->key_len,
                                        json_integer_value(v));
    else if (json_is_boolean(v))
      st =
          inferd_request_set_param_bool(r, p->key, p->key_len, json_is_true(v));
    else
      st = inferd_request_set_param_double(r, p->key, p->key_len,
                                           json_real_value(v));
    if (st)
      return st;
  }
  for (size_t i = 0; i < inf->n_inputs; i++) {
    const http_input_t *in = &inf->inputs[i];
    uint32_t idx;
    st = inferd_request_add_input(r, in->name, in->name_len, in->dt, in->shape,
                                  in->n_dims, &idx);
    if (st)
      return st;
    const void *data = in->data;
    size_t size = in->byte_size;
    if (in->shm.region) { /* a pointer into the client's region */
      if ((st = http_shm_input(q->h->srv, &q->arena, &q->shm, in, &data)))
        return st;
      size = (size_t)in->shm.byte_size;
    }
    st =
        inferd_request_append_input_data(r, idx, data, size, INFERD_MEM_CPU, 0);
    if (st)
      return st;
  }
  for (size_t i = 0; i < inf->n_outputs; i++) {
    st = inferd_request_add_requested_output(r, inf->outputs[i].name,
                                             inf->outputs[i].name_len);
    if (st)
      return st;
  }
  return http_shm_outputs(q->h->srv, &q->arena, &q->shm, inf, r);
}

static enum MHD_Result finish_infer(http_req_t *q);

static enum MHD_Result start_infer(http_req_t *q) {
  http_server_t *h = q->h;
  inferd_status_t *st = NULL;
  if (q->route.version_overflow)
    return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                 "model version is out of "
                                                 "range"));
  st = inferd_server_model_acquire(h->srv, q->route.model, q->route.model_len,
                                   q->route.version, &q->model);
  if (st)
    return http_req_wait_model(q, st);
  if (inferd_model_is_decoupled(q->model))
    return http_queue_error(
        q, inferd_status_new(INFERD_UNSUPPORTED,
                             "model \"%s\" is decoupled: HTTP infer needs "
                             "exactly one response (use gRPC streaming)",
                             inferd_model_name(q->model)));
  size_t header_len = SIZE_MAX;
  const char *hl = MHD_lookup_connection_value(
      q->conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
  if (hl && (st = http_parse_header_length(hl, q->body_len, &header_len)))
    return http_queue_error(q, st);
  if (header_len == 0) {
    size_t n_in = inferd_model_input_count(q->model);
    if (n_in != 1)
      return http_queue_error(
          q, inferd_status_new(INFERD_INVALID_ARG,
                               "raw binary request (Inference-Header-Content-"
                               "Length: 0) needs a model with exactly one "
                               "input; model \"%s\" has %zu",
                               inferd_model_name(q->model), n_in));
    const char *name;
    inferd_datatype_t dt;
    const int64_t *dims;
    size_t n_dims;
    inferd_model_input(q->model, 0, &name, &dt, &dims, &n_dims);
    st = http_infer_parse_raw(&q->arena, q->body, q->body_len, name, dt, dims,
                              n_dims, inferd_model_max_batch_size(q->model),
                              &q->inf);
  } else {
    st = http_infer_parse(&q->arena, q->body, q->body_len, header_len,
                          h->opts.max_input_size, &q->inf);
  }
  if (st)
    return http_queue_error(q, st);

  inferd_request_t *r = NULL;
  if ((st = inferd_request_new(&r, q->model)))
    return http_queue_error(q, st);
  if ((st = build_request(q, r))) {
    inferd_request_free(r);
    return http_queue_error(q, st);
  }
  inferd_request_set_callbacks(r, response_cb, release_cb, q);
  q->ireq = r;
  q->inflight = true;
  atomic_fetch_add(&q->refs, 1);
  pthread_mutex_lock(&q->mu);
  q->submitting = true;
  q->early_final = false;
  pthread_mutex_unlock(&q->mu);
  st = inferd_server_infer_async(h->srv, r);
  /* The answer may be here already (a non-blocking backend ran on this
   * thread): then it goes out now, with no suspend/resume round. Else the
   * call is suspended under mu, which response_cb takes before resuming,
   * so a response from another thread always finds it suspended. */
  pthread_mutex_lock(&q->mu);
  q->submitting = false;
  bool early = q->early_final;
  if (!st && !early)
    suspend(q);
  pthread_mutex_unlock(&q->mu);
  if (st) { /* callbacks will not run */
    q->inflight = false;
    atomic_fetch_sub(&q->refs, 1);
    return http_queue_error(q, st);
  }
  if (early)
    return finish_infer(q);
  watch_hangup(q);
  return MHD_YES;
}

static void resp_free_cb(void *cls) { req_unref(cls); }

static enum MHD_Result finish_infer(http_req_t *q) {
  if (q->async_err) {
    inferd_status_t *st = q->async_err;
    q->async_err = NULL;
    return http_queue_error(q, st);
  }
  inferd_response_t *resp = q->resp;
  if (!resp)
    return http_queue_error(q, inferd_status_new(INFERD_INTERNAL,
                                                 "the model sent no "
                                                 "response"));
  const inferd_status_t *err = inferd_response_error(resp);
  if (err)
    return http_queue_error(q, inferd_status_new(inferd_status_code(err), "%s",
                                                 inferd_status_message(err)));
  size_t n_outs = inferd_response_output_count(resp);
  size_t n_params = inferd_response_param_count(resp);
  http_out_tensor_t *outs =
      http_arena_alloc(&q->arena, (n_outs + 1) * sizeof(*outs));
  http_out_param_t *params =
      http_arena_alloc(&q->arena, (n_params + 1) * sizeof(*params));
  struct MHD_IoVec *iov =
      http_arena_alloc(&q->arena, (n_outs + 1) * sizeof(*iov));
  bool *in_shm = http_arena_alloc(&q->arena, (n_outs + 1) * sizeof(bool));
  if (!outs || !params || !iov || !in_shm)
    return http_queue_error(
        q, inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
  for (size_t i = 0; i < n_params; i++)
    inferd_response_param(resp, i, &params[i].key, &params[i].type,
                          &params[i].value);
  unsigned n_iov = 1;
  for (size_t i = 0; i < n_outs; i++) {
    http_out_tensor_t *o = &outs[i];
    inferd_response_output(resp, i, &o->name, &o->dt, &o->shape, &o->n_dims,
                           &o->base, &o->byte_size);
    in_shm[i] = http_output_is_shm(&q->inf, o->name);
    o->binary = !in_shm[i] && http_output_is_binary(&q->inf, o->name);
    if (o->binary && o->byte_size) {
      iov[n_iov].iov_base = o->base;
      iov[n_iov].iov_len = o->byte_size;
      n_iov++;
    }
  }
  char *idz = NULL;
  if (q->inf.id_len) {
    idz = http_arena_alloc(&q->arena, q->inf.id_len + 1);
    if (idz) {
      memcpy(idz, q->inf.id, q->inf.id_len);
      idz[q->inf.id_len] = '\0';
    }
  }
  inferd_status_t *st =
      http_infer_write_shm(&q->out, inferd_response_model_name(resp),
                           inferd_response_model_version(resp), idz, params,
                           n_params, outs, in_shm, n_outs);
  if (st)
    return http_queue_error(q, st);
  size_t header_len = q->out.len;
  /* Small binary outputs go into the same buffer as the JSON: one
   * contiguous reply is cheaper than a scatter list at these sizes. Large
   * ones are sent from the response's own buffers, without a copy. */
  size_t blob_bytes = 0;
  for (unsigned i = 1; i < n_iov; i++)
    blob_bytes += iov[i].iov_len;
  bool binary = n_iov > 1;
  if (binary && blob_bytes <= SMALL_BLOBS_MAX) {
    for (unsigned i = 1; i < n_iov; i++)
      http_buf_append(&q->out, iov[i].iov_base, iov[i].iov_len);
    if (q->out.oom)
      return http_queue_error(
          q, inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    n_iov = 1;
  }
  iov[0].iov_base = q->out.data;
  iov[0].iov_len = q->out.len;
  atomic_fetch_add(&q->refs, 1);
  struct MHD_Response *r =
      MHD_create_response_from_iovec(iov, n_iov, resp_free_cb, q);
  if (!r) {
    atomic_fetch_sub(&q->refs, 1);
    return MHD_NO;
  }
  if (binary) {
    char len[24];
    snprintf(len, sizeof(len), "%zu", header_len);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/octet-stream");
    MHD_add_response_header(r, "Inference-Header-Content-Length", len);
  } else {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
  }
  enum MHD_Result ret = MHD_queue_response(q->conn, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  q->state = ST_DONE;
  return ret;
}

/* ---- the access handler ---------------------------------------------------
 */

static enum MHD_Result refuse_too_large(http_req_t *q, uint64_t size,
                                        bool exact) {
  q->too_large = true;
  return http_queue_error(
      q, inferd_status_new(
             INFERD_INVALID_ARG,
             "request body %s%" PRIu64 " bytes exceeds the "
             "maximum input size of %" PRIu64 " bytes (--http-max-input-size)",
             exact ? "of " : "of more than ", size, q->h->opts.max_input_size));
}

static enum MHD_Result append_body(http_req_t *q, const char *data, size_t n) {
  uint64_t max = q->h->opts.max_input_size;
  if (q->too_large || n > max - q->body_len) {
    /* Without Content-Length the client cannot stop sending: discard the
     * rest (nothing is kept) and refuse once the body has ended. */
    q->too_large = true;
    q->discarded += n;
    return MHD_YES;
  }
  if (q->body_cap - q->body_len < n) {
    size_t cap = q->body_cap ? q->body_cap * 2 : 4096;
    while (cap - q->body_len < n)
      cap *= 2;
    if (cap > max)
      cap = (size_t)max;
    char *b = q->body_owned ? realloc(q->body, cap) : malloc(cap);
    if (!b)
      return http_queue_error(q, inferd_status_new(INFERD_NO_MEMORY,
                                                   "out of memory reading "
                                                   "the request body"));
    if (!q->body_owned && q->body_len)
      memcpy(b, q->body, q->body_len);
    q->body = b;
    q->body_cap = cap;
    q->body_owned = true;
  }
  memcpy(q->body + q->body_len, data, n);
  q->body_len += n;
  return MHD_YES;
}

static enum MHD_Result first_call(http_server_t *h, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  void **con_cls) {
  http_req_t *q = req_get(h);
  if (!q)
    return MHD_NO;
  http_arena_init(&q->arena);
  atomic_init(&q->refs, 1);
  atomic_init(&q->mhd_done, false);
  q->h = h;
  q->conn = c;
  q->state = ST_BODY;
  http_route_match(method, url, &q->route);
  *con_cls = q;
  if (!http_route_takes_body(&q->route))
    return MHD_YES;
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno == 0 && end != cl && *end == '\0') {
      q->has_cl = true;
      q->content_length = v;
    }
  }
  if (q->has_cl) {
    if (q->content_length > h->opts.max_input_size)
      return refuse_too_large(q, q->content_length, true);
    size_t n = (size_t)q->content_length;
    if (n <= BODY_INLINE_MAX) {
      q->body = http_arena_alloc(&q->arena, n);
    } else {
      q->body = malloc(n);
      q->body_owned = q->body != NULL;
    }
    if (!q->body)
      return MHD_NO;
    q->body_cap = n;
  }
  return MHD_YES;
}

static enum MHD_Result dispatch(http_req_t *q) {
  switch (q->route.id) {
  case HTTP_ROUTE_NOT_FOUND:
    return queue_static(q, MHD_HTTP_NOT_FOUND, q->h->not_found);
  case HTTP_ROUTE_METHOD_NOT_ALLOWED:
    return queue_static(q, MHD_HTTP_METHOD_NOT_ALLOWED, q->h->not_allowed);
  case HTTP_ROUTE_INFER:
    return start_infer(q);
  default:
    return http_endpoint_handle(q);
  }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
  (void)version;
  http_server_t *h = cls;
  http_req_t *q = *con_cls;
  if (!q)
    return first_call(h, c, url, method, con_cls);
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (q->state != ST_BODY || !http_route_takes_body(&q->route))
      return MHD_YES; /* refused already, or a body nobody reads */
    return append_body(q, upload_data, n);
  }
  switch (q->state) {
  case ST_BODY:
    if (q->too_large)
      return refuse_too_large(q, (uint64_t)q->body_len + q->discarded, true);
    return dispatch(q);
  case ST_WAIT:
    unwatch_hangup(q);
    if (q->od_wait) {
      q->od_wait = false;
      if (q->async_err) {
        inferd_status_t *st = q->async_err;
        q->async_err = NULL;
        return http_queue_error(q, st);
      }
      return dispatch(q); /* the model is loaded: the route from the start */
    }
    if (q->route.id == HTTP_ROUTE_INFER)
      return finish_infer(q);
    return http_endpoint_finish(q, &q->async_err);
  default:
    return MHD_YES; /* answered already */
  }
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  http_req_t *q = *con_cls;
  if (!q)
    return;
  *con_cls = NULL;
  atomic_store(&q->mhd_done, true);
  unwatch_hangup(q);
  pthread_mutex_lock(&q->mu);
  if (q->inflight && q->ireq)
    inferd_request_cancel(q->ireq); /* client gone before the answer */
  pthread_mutex_unlock(&q->mu);
  req_unref(q);
}

static void connection_cb(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  (void)cls;
  (void)socket_context;
  if (toe != MHD_CONNECTION_NOTIFY_STARTED)
    return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) {
    int one = 1;
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
}

/* ---- lifecycle ------------------------------------------------------------
 */

void http_options_init(http_options_t *o) {
  o->address = NULL;
  o->port = 8000;
  o->thread_count = 1;
  o->max_input_size = (uint64_t)1 << 26;
}

/* "0.0.0.0", "127.0.0.1", "ipv6:[::1]", "[::1]", "::1" or a host name. */
static inferd_status_t *parse_address(const char *addr, uint16_t port,
                                      struct sockaddr_storage *ss, bool *ipv6) {
  char host[256];
  const char *a = addr ? addr : "0.0.0.0";
  int family = AF_UNSPEC;
  if (strncmp(a, "ipv6:", 5) == 0) {
    a += 5;
    family = AF_INET6;
  }
  size_t n = strlen(a);
  if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
    a++;
    n -= 2;
    family = AF_INET6;
  }
  if (n == 0 || n >= sizeof(host))
    return inferd_status_new(INFERD_INVALID_ARG, "invalid HTTP address \"%s\"",
                             addr);
  memcpy(host, a, n);
  host[n] = '\0';
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid HTTP address \"%s\": %s", addr,
                             gai_strerror(rc));
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *ipv6 = res->ai_family == AF_INET6;
  freeaddrinfo(res);
  if (*ipv6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
  return NULL;
}

static struct MHD_Response *static_json(const char *s) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(s), (void *)s, MHD_RESPMEM_PERSISTENT);
  if (r)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
  return r;
}

static void quiesce_now(http_server_t *h) {
  MHD_socket fd = MHD_quiesce_daemon(h->d);
  if (fd != MHD_INVALID_SOCKET)
    close(fd);
}

/* The event loop of single-thread mode. Each iteration runs the daemon
 * once (all ready connections) with the server's wake-ups deferred, so the
 * requests of one iteration reach the model's execution thread with one
 * wake-up instead of one each. Resumed connections wake the loop through
 * the daemon's inter-thread channel. */
static void *loop_main(void *arg) {
  http_server_t *h = arg;
  while (!atomic_load(&h->loop_stop)) {
    if (atomic_load(&h->quiesce_req)) {
      atomic_store(&h->quiesce_req, false);
      quiesce_now(h);
      pthread_mutex_lock(&h->loop_mu);
      h->quiesced = true;
      pthread_cond_broadcast(&h->loop_cv);
      pthread_mutex_unlock(&h->loop_mu);
    }
    MHD_UNSIGNED_LONG_LONG to = 0;
    int timeout_ms = 50; /* also bounds the reaction to stop/quiesce */
    if (MHD_get_timeout(h->d, &to) == MHD_YES && to < (unsigned)timeout_ms)
      timeout_ms = (int)to;
    struct epoll_event ev[16];
    int n = epoll_wait(h->epoll_fd, ev, 16, timeout_ms);
    for (int i = 0; i < n; i++) {
      if (ev[i].data.ptr == &h->wake_fd) {
        uint64_t v;
        ssize_t r = read(h->wake_fd, &v, sizeof(v));
        (void)r;
      } else if (ev[i].data.ptr != h) { /* a watched connection hung up */
        on_hangup(ev[i].data.ptr);
      }
    }
    inferd_thread_defer_wakeups(true);
    MHD_run(h->d);
    inferd_thread_defer_wakeups(false);
  }
  return NULL;
}

static inferd_status_t *loop_setup(http_server_t *h) {
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
  h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  h->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (!di || h->wake_fd < 0 || h->epoll_fd < 0)
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot set up the HTTP event loop: %s",
                             strerror(errno));
  /* data.ptr tells events apart: h = the daemon, &wake_fd = a resume,
   * anything else = a watched connection (watch_hangup) */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
  if (epoll_ctl(h->epoll_fd, EPOLL_CTL_ADD, di->epoll_fd, &ev) != 0)
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot set up the HTTP event loop: %s",
                             strerror(errno));
  ev.data.ptr = &h->wake_fd;
  if (epoll_ctl(h->epoll_fd, EPOLL_CTL_ADD, h->wake_fd, &ev) != 0)
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot set up the HTTP event loop: %s",
                             strerror(errno));
  return NULL;
}

inferd_status_t *http_server_start(inferd_server_t *s, const http_options_t *o,
                                   http_server_t **out) {
  http_server_t *h = calloc(1, sizeof(*h));
  if (!h)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  h->srv = s;
  h->opts = *o;
  h->wake_fd = h->epoll_fd = -1;
  pthread_mutex_init(&h->pool_mu, NULL);
  pthread_mutex_init(&h->ops_mu, NULL);
  pthread_cond_init(&h->ops_cv, NULL);
  pthread_mutex_init(&h->loop_mu, NULL);
  pthread_cond_init(&h->loop_cv, NULL);
  if (h->opts.thread_count == 0)
    h->opts.thread_count = 1;
  if (h->opts.max_input_size == 0)
    h->opts.max_input_size = (uint64_t)1 << 26;
  struct sockaddr_storage ss;
  bool ipv6 = false;
  inferd_status_t *st = parse_address(o->address, o->port, &ss, &ipv6);
  if (st) {
    free(h);
    return st;
  }
  h->not_found = static_json("{\"error\":\"Not Found\"}");
  h->not_allowed = static_json("{\"error\":\"Method Not Allowed\"}");
  if (!h->not_found || !h->not_allowed) {
    http_server_free(h);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  /* one thread: our own loop (see loop_main); several: MHD's pool */
  h->own_loop = h->opts.thread_count == 1;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
  if (!h->own_loop)
    flags |= MHD_USE_INTERNAL_POLLING_THREAD;
  if (ipv6)
    flags |= MHD_USE_IPv6;
  unsigned pool = h->opts.thread_count > 1 ? h->opts.thread_count : 0;
  errno = 0;
  h->d = MHD_start_daemon(flags, o->port, NULL, NULL, access_cb, h,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                          MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
                          MHD_OPTION_NOTIFY_CONNECTION, connection_cb, h,
                          MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_END);
  if (!h->d) {
    int e = errno;
    http_server_free(h);
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "cannot start the HTTP daemon: %s",
                             e ? strerror(e) : "libmicrohttpd refused");
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = di ? di->port : o->port;
  if (h->own_loop) {
    st = loop_setup(h);
    if (!st && pthread_create(&h->loop, NULL, loop_main, h) != 0)
      st = inferd_status_new(INFERD_INTERNAL,
                             "cannot start the HTTP event loop thread");
    if (st) {
      h->own_loop = false; /* nothing to join */
      http_server_free(h);
      return st;
    }
  }
  *out = h;
  return NULL;
}

uint16_t http_server_port(const http_server_t *h) { return h->port; }

void http_server_quiesce(http_server_t *h) {
  if (!h || !h->d)
    return;
  if (!h->own_loop) {
    quiesce_now(h);
    return;
  }
  /* the daemon belongs to the loop thread: ask it, wait for it */
  atomic_store(&h->quiesce_req, true);
  pthread_mutex_lock(&h->loop_mu);
  while (!h->quiesced)
    pthread_cond_wait(&h->loop_cv, &h->loop_mu);
  pthread_mutex_unlock(&h->loop_mu);
}

void http_server_free(http_server_t *h) {
  if (!h)
    return;
  /* inferd_server_stop has run: every started load/unload has called back
   * or is about to; its callback still touches h */
  pthread_mutex_lock(&h->ops_mu);
  while (h->n_ops)
    pthread_cond_wait(&h->ops_cv, &h->ops_mu);
  pthread_mutex_unlock(&h->ops_mu);
  if (h->own_loop) {
    atomic_store(&h->loop_stop, true);
    pthread_join(h->loop, NULL);
  }
  if (h->d)
    MHD_stop_daemon(h->d);
  if (h->not_found)
    MHD_destroy_response(h->not_found);
  if (h->not_allowed)
    MHD_destroy_response(h->not_allowed);
  while (h->pool) {
    http_req_t *q = h->pool;
    h->pool = q->pool_next;
    http_buf_deinit(&q->out);
    pthread_mutex_destroy(&q->mu);
    free(q);
  }
  pthread_mutex_destroy(&h->pool_mu);
  pthread_mutex_destroy(&h->ops_mu);
  pthread_cond_destroy(&h->ops_cv);
  pthread_mutex_destroy(&h->loop_mu);
  pthread_cond_destroy(&h->loop_cv);
  if (h->wake_fd >= 0)
    close(h->wake_fd);
  if (h->epoll_fd >= 0)
    close(h->epoll_fd);
  free(h);
}
