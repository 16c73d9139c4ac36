/*
 * server_internal.h: the server object and the request completion path
 * shared by the server, the schedulers and the backend host functions.
 * Prefix srv_.
 */
#ifndef INFERD_SERVER_INTERNAL_H
#define INFERD_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/backend_loader.h"
#include "core/request.h"

struct repo;

struct inferd_server {
  char **repositories;
  size_t n_repositories;
  char *id;
  bool strict_readiness, exit_on_error, strict_model_config;
  int32_t control_mode;
  char *model_config_name;
  uint32_t exit_timeout_secs;

  atomic_bool stopping;
  bool abandoned; /* stop timed out: models left loaded */
  bool repo_down; /* repo_shutdown was called */
  atomic_size_t inflight;
  pthread_mutex_t inflight_mu;
  pthread_cond_t inflight_cv;

  be_registry_t backends;
  struct repo *repo;
};

/* Installs the completion path (request_flow.c) as the core's completion
 * hooks; called by inferd_server_new. */
void srv_completion_install(void);

/* Statistics snapshot of one version (statistics.c); o is zeroed first and
 * owns what it gets even on failure (free with inferd_model_stats_free
 * semantics). */
inferd_status_t *srv_stats_snapshot(inferd_model_t *m, inferd_model_stats_t *o);

/* model_metrics.c. Thread-safe, lock-free (relaxed atomics in the model
 * version's own statistics); called on the request path. */
/* a request was accepted (+1) or its enqueue failed after all (-1) */
void srv_metrics_accepted(inferd_model_t *m, int64_t delta);
/* the scheduler refused a request at enqueue (queue full, unloading):
 * undoes its pending count and counts a REJECTED failure */
void srv_metrics_rejected(inferd_model_t *m);
/* the final response of an accepted request: error NULL on success (the
 * failure's reason is read from its code and whether it executed);
 * first: this final is also the request's first response */
void srv_metrics_final(const inferd_request_t *req,
                       const inferd_status_t *error, uint64_t request_ns,
                       uint64_t queue_ns, bool first);
#endif
