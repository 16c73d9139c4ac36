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
#endif
