/*
 * main.c: the inferd executable. Parses the command line (server/cmdline.c),
 * creates the server (which loads the models), starts the HTTP frontend and
 * waits for SIGINT or SIGTERM; then stops accepting connections, lets
 * in-flight requests finish (up to --exit-timeout-secs) and frees everything.
 *
 * Signals: SIGINT and SIGTERM are blocked before any thread exists, so every
 * thread inherits the mask and only sigwait() in the main thread sees them.
 * A second signal during shutdown exits at once (a watcher thread).
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

#include "core/log.h"
#include "http/http_server.h"
#include "inferd/server.h"
#include "inferd/version.h"
#include "server/cmdline.h"

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
    if (inferd_status_code(st) == INFERD_UNSUPPORTED &&
        cl.server.model_control_mode != INFERD_CONTROL_NONE) {
      fprintf(stderr,
              "inferd: --model-control-mode: \"%s\" is not supported yet "
              "(%s)\n",
              cmdline_control_mode_name(cl.server.model_control_mode),
              inferd_status_message(st));
      inferd_status_free(st);
      cmdline_deinit(&cl);
      return 2;
    }
    fprintf(stderr, "error: creating server: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    cmdline_deinit(&cl);
    return 1;
  }

  http_server_t *http = NULL;
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
    LOG_WARNING("HTTP disabled (--allow-http=false): no frontend is serving");
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
  int rc = 0;
  st = inferd_server_stop(server, cl.server.exit_timeout_secs);
  if (st) {
    LOG_ERROR("shutdown: %s", inferd_status_message(st));
    inferd_status_free(st);
    rc = 1;
  }
  http_server_free(http);
  inferd_server_free(server);
  cmdline_deinit(&cl);
  LOG_INFO("inferd exited");
  return rc;
}
