/*
 * main.c: the inferd executable. Parses the command line (cmdline.c),
 * creates the server (which loads the models), starts the HTTP frontend and
 * waits for SIGINT or SIGTERM; then stops accepting connections, lets
 * in-flight requests finish (up to --exit-timeout-secs) and frees everything.
 *
 * Signals: SIGINT and SIGTERM are blocked before any thread exists, so every
 * thread inherits the mask and only sigwait() in the main thread sees them.
 * A second signal during shutdown exits at once (a watcher thread).
 *
 * The gRPC frontend is started when the build has it (INFERD_HAVE_GRPC, set
 * by src/grpc/CMakeLists.txt); without it --grpc-* flags are refused.
 *
 * Exit codes: 0 clean shutdown; 1 the server or the frontend failed (or
 * shutdown timed out with requests still running); 2 bad command line.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "core/log.h"
#include "http/http_server.h"
#include "inferd/server.h"
#include "inferd/version.h"
#include "metrics/metrics.h"
#ifdef INFERD_HAVE_GRPC
#include "grpc/grpc_server.h"
#endif

/* Exits the process when a second SIGINT/SIGTERM arrives during shutdown. */
static void *second_signal_watch(void *arg) {
  const sigset_t *set = arg;
  int sig = 0;
  if (sigwait(set, &sig) == 0) {
    static const char msg[] = "inferd: second signal, exiting immediately\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
  }
  return NULL;
}

#ifdef INFERD_HAVE_GRPC
/* The frontend's defaults, overridden by the flags that were given. */
static void grpc_options_from(const cmdline_grpc_t *g,
                              grpc_frontend_options_t *o) {
  grpc_frontend_options_init(o);
  if (g->address)
    o->address = g->address;
  if (g->port >= 0)
    o->port = (uint16_t)g->port;
  if (g->thread_count >= 0)
    o->thread_count = (uint32_t)g->thread_count;
  if (g->infer_thread_count >= 0)
    o->infer_thread_count = (uint32_t)g->infer_thread_count;
  if (g->keepalive_time_ms >= 0)
    o->keepalive_time_ms = (int32_t)g->keepalive_time_ms;
  if (g->keepalive_timeout_ms >= 0)
    o->keepalive_timeout_ms = (int32_t)g->keepalive_timeout_ms;
  if (g->keepalive_permit_without_calls >= 0)
    o->keepalive_permit_without_calls = g->keepalive_permit_without_calls;
  if (g->http2_max_pings_without_data >= 0)
    o->http2_max_pings_without_data = (int32_t)g->http2_max_pings_without_data;
  if (g->http2_min_recv_ping_interval_without_data_ms >= 0)
    o->http2_min_recv_ping_interval_without_data_ms =
        (int32_t)g->http2_min_recv_ping_interval_without_data_ms;
  if (g->http2_max_ping_strikes >= 0)
    o->http2_max_ping_strikes = (int32_t)g->http2_max_ping_strikes;
  if (g->max_connection_age_ms >= 0)
    o->max_connection_age_ms = (int32_t)g->max_connection_age_ms;
  if (g->max_connection_age_grace_ms >= 0)
    o->max_connection_age_grace_ms = (int32_t)g->max_connection_age_grace_ms;
}
#endif

int main(int argc, char **argv) {
  http_options_t http_defaults;
  http_options_init(&http_defaults);
  cmdline_t cl;
  cmdline_init(&cl, &http_defaults);

  inferd_status_t *st = cmdline_parse(&cl, argc, argv);
  if (st) {
    fprintf(stderr, "inferd: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    cmdline_deinit(&cl);
    return 2;
  }
  if (cl.show_help) {
    cmdline_t defaults;
    cmdline_init(&defaults, &http_defaults);
    cmdline_print_help(stdout, "inferd", &defaults);
    cmdline_deinit(&defaults);
    cmdline_deinit(&cl);
    return 0;
  }
  if (cl.show_version) {
    printf("inferd %s\n", INFERD_VERSION_STRING);
    cmdline_deinit(&cl);
    return 0;
  }
#ifndef INFERD_HAVE_GRPC
  if (cl.grpc.any_given && cl.grpc.allow) {
    fprintf(stderr, "inferd: --grpc-* flags given, but this inferd was built "
                    "without gRPC (libgrpc-dev missing at build time)\n");
    cmdline_deinit(&cl);
    return 2;
  }
#endif
  inferd_log_set(&cl.log);

  /* Block the shutdown signals before the server starts any thread. */
  static sigset_t sigs; /* static: the watcher thread reads it */
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN); /* a client that goes away is not fatal */

  inferd_server_t *server = NULL;
  st = inferd_server_new(&server, &cl.server);
  if (st) {
    fprintf(stderr, "error: creating server: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    cmdline_deinit(&cl);
    return 1;
  }

  http_server_t *http = NULL;
  void *grpc = NULL; /* grpc_frontend_t * when built with gRPC */
  if (cl.allow_http) {
    st = http_server_start(server, &cl.http, &http);
    if (st) {
      fprintf(stderr, "error: starting HTTP service at %s:%u: %s\n",
              cl.http.address ? cl.http.address : "0.0.0.0",
              (unsigned)cl.http.port, inferd_status_message(st));
      inferd_status_free(st);
      inferd_status_t *stop = inferd_server_stop(server, 0);
      inferd_status_free(stop);
      inferd_server_free(server);
      cmdline_deinit(&cl);
      return 1;
    }
    LOG_INFO("Started HTTPService at %s:%u",
             cl.http.address ? cl.http.address : "0.0.0.0",
             (unsigned)http_server_port(http));
  } else {
    LOG_WARNING("HTTP disabled (--allow-http=false)");
  }

#ifdef INFERD_HAVE_GRPC
  if (cl.grpc.allow) {
    grpc_frontend_options_t go;
    grpc_options_from(&cl.grpc, &go);
    grpc_frontend_t *g = NULL;
    st = grpc_frontend_start(server, &go, &g);
    if (st) {
      fprintf(stderr, "error: starting GRPC service at %s:%u: %s\n",
              go.address ? go.address : "0.0.0.0", (unsigned)go.port,
              inferd_status_message(st));
      inferd_status_free(st);
      if (http)
        http_server_quiesce(http);
      inferd_status_free(inferd_server_stop(server, 0));
      http_server_free(http);
      inferd_server_free(server);
      cmdline_deinit(&cl);
      return 1;
    }
    grpc = g;
    LOG_INFO("Started GRPCInferenceService at %s:%u",
             go.address ? go.address : "0.0.0.0",
             (unsigned)grpc_frontend_port(g));
  }
#endif
  if (!http && !grpc)
    LOG_WARNING("no frontend is serving (HTTP and gRPC are off)");

  /* The metrics listener (default on, port 8002, the HTTP address). When
   * the default port is taken, inferd serves on without metrics (several
   * servers on one host); a port that was asked for must be had. */
  met_server_t *metrics = NULL;
  if (cl.allow_metrics) {
    met_options_t mo = cl.metrics;
    if (!mo.address)
      mo.address = cl.http.address;
    st = met_server_start(server, &mo, &metrics);
    if (st && cl.metrics_port_given) {
      fprintf(stderr, "error: starting metrics service at %s:%u: %s\n",
              mo.address ? mo.address : "0.0.0.0", (unsigned)mo.port,
              inferd_status_message(st));
      inferd_status_free(st);
      if (http)
        http_server_quiesce(http);
#ifdef INFERD_HAVE_GRPC
      if (grpc)
        grpc_frontend_quiesce(grpc);
#endif
      inferd_status_free(inferd_server_stop(server, 0));
      http_server_free(http);
#ifdef INFERD_HAVE_GRPC
      grpc_frontend_free(grpc);
#endif
      inferd_server_free(server);
      cmdline_deinit(&cl);
      return 1;
    }
    if (st) {
      LOG_WARNING("metrics off: cannot serve them at %s:%u (%s); give "
                  "--metrics-port or --allow-metrics=false",
                  mo.address ? mo.address : "0.0.0.0", (unsigned)mo.port,
                  inferd_status_message(st));
      inferd_status_free(st);
    } else {
      LOG_INFO("Started Metrics Service at %s:%u",
               mo.address ? mo.address : "0.0.0.0",
               (unsigned)met_server_port(metrics));
    }
  }

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0)
    ;
  LOG_INFO("Received %s, shutting down (waiting up to %u s for in-flight "
           "requests)",
           sig == SIGINT ? "SIGINT" : "SIGTERM",
           (unsigned)cl.server.exit_timeout_secs);

  pthread_t watcher;
  if (pthread_create(&watcher, NULL, second_signal_watch, &sigs) == 0)
    pthread_detach(watcher);

  if (http)
    http_server_quiesce(http);
#ifdef INFERD_HAVE_GRPC
  if (grpc)
    grpc_frontend_quiesce(grpc);
#endif

  met_server_free(metrics); /* no scrape runs past this */
  st = inferd_server_stop(server, cl.server.exit_timeout_secs);
  if (st) {
    /* requests are still executing: the frontends and models cannot be
     * torn down under them; end the process here */
    LOG_ERROR("shutdown: %s; exiting without waiting for them",
              inferd_status_message(st));
    inferd_status_free(st);
    fflush(stdout);
    fflush(stderr);
    _exit(1);
  }
  http_server_free(http);
#ifdef INFERD_HAVE_GRPC
  grpc_frontend_free(grpc);
#endif
  inferd_server_free(server);
  cmdline_deinit(&cl);
  LOG_INFO("inferd exited");
  return 0;
}
