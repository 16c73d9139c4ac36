/*
 * request_flow.c: creating and freeing requests, and the completion path:
 * responses to the frontend's callback, release of the request, the
 * in-flight count that shutdown waits on, success/failure statistics.
 */
#include <stdlib.h>

#include "backend/model.h"
#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "server/server_internal.h"

inferd_status_t *inferd_request_new(inferd_request_t **out, inferd_model_t *m) {
  if (!m)
    return inferd_status_new(INFERD_INVALID_ARG, "request without a model");
  core_ref_acquire(&m->ref);
  inferd_status_t *st = core_request_alloc(m, &m->ref, out);
  if (st) {
    core_ref_release(&m->ref);
    return st;
  }
  (*out)->model_name = m->name;
  (*out)->model_version = m->version;
  return NULL;
}

void inferd_request_free(inferd_request_t *req) { core_request_destroy(req); }

/* error: NULL on success, else the final response's error (borrowed) */
static void record_final(inferd_request_t *req, const inferd_status_t *error) {
  inferd_model_t *m = req->model;
  bool success = error == NULL;
  uint64_t now = core_now_ns();
  uint64_t ns = req->t_request_ns && now > req->t_request_ns
                    ? now - req->t_request_ns
                    : 0;
  uint64_t queue_ns =
      req->t_exec_ns > req->t_queue_ns ? req->t_exec_ns - req->t_queue_ns : 0;
  model_stats_add(success ? &m->stats.success : &m->stats.fail, ns);
  /* as Triton: queue time and inference_count (each batch element once)
   * for successful requests only */
  if (success) {
    atomic_fetch_add_explicit(&m->stats.inference_count, req->batch_size,
                              memory_order_relaxed);
    if (req->t_exec_ns)
      model_stats_add(&m->stats.queue, queue_ns);
  }
  /* the metrics' reason, histograms and pending count; a decoupled
   * model's first response is not known here, so only the others feed the
   * first-response histogram */
  if (req->server)
    srv_metrics_final(req, error, ns, queue_ns, !m->decoupled);
}

static void response_send(inferd_response_t *resp, uint32_t flags) {
  inferd_request_t *req = resp->request;
  resp->request = NULL;
  if (!req) { /* sent twice: a backend bug; never crash the server on it */
    LOG_ERROR("a response was sent twice; dropping it");
    inferd_response_free(resp);
    return;
  }
  if (req->final_sent) {
    LOG_ERROR("model \"%s\": response sent after the final one; dropping it",
              req->model->name);
    inferd_response_free(resp);
    return;
  }
  if (!resp->error)
    resp->error = core_response_commit_outputs(resp); /* staged copies */
  if (resp->error) {
    core_response_drop_outputs(resp); /* an error response has no outputs */
  } else {
    core_response_filter_outputs(resp, req);
  }
  if (flags & INFERD_RESPONSE_FLAG_FINAL) {
    req->final_sent = true;
    record_final(req, resp->error);
  }
  if (req->response_cb)
    req->response_cb(resp, flags, req->userp);
  else
    inferd_response_free(resp);
}

static void request_send_final(inferd_request_t *req) {
  if (req->final_sent)
    return;
  req->final_sent = true;
  record_final(req, NULL);
  if (req->response_cb)
    req->response_cb(NULL, INFERD_RESPONSE_FLAG_FINAL, req->userp);
}

static void request_release(inferd_request_t *req) {
  if (!req->final_sent) {
    /* a backend released a request without answering it: answer for it so
     * the client is not left waiting */
    inferd_response_t *resp = NULL;
    inferd_status_t *e = core_response_alloc(req, &resp);
    if (!e) {
      resp->error = inferd_status_new(
          INFERD_INTERNAL,
          "model \"%s\": the backend released the request without sending "
          "a final response",
          req->model->name);
      response_send(resp, INFERD_RESPONSE_FLAG_FINAL);
    } else {
      inferd_status_free(e);
      request_send_final(req);
    }
  }
  inferd_server_t *s = req->server;
  inferd_release_cb cb = req->release_cb;
  void *userp = req->userp;
  if (s && atomic_fetch_sub(&s->inflight, 1) == 1 &&
      atomic_load(&s->stopping)) {
    pthread_mutex_lock(&s->inflight_mu);
    pthread_cond_broadcast(&s->inflight_cv);
    pthread_mutex_unlock(&s->inflight_mu);
  }
  if (cb)
    cb(req, userp);
}

static const core_completion_hooks_t hooks = {
    .response_send = response_send,
    .request_send_final = request_send_final,
    .request_release = request_release,
    .request_submit = inferd_server_infer_async,
};

void srv_completion_install(void) { core_completion_install(&hooks); }
