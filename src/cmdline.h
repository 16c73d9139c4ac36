/*
 * cmdline.h: the inferd command line (flag names, defaults and value rules
 * follow tritonserver, reference §5). Parsing only: no side effects beyond
 * filling a cmdline_t, so every rule can be unit-tested. Prefix cmdline_.
 * It lives beside main.c, above the frontends and the server: it fills the
 * HTTP frontend's options as well as the server's, so it belongs to neither
 * (tests: tests/unit/main/).
 *
 * Threads: none of these functions touch shared state; a cmdline_t is used
 * by one thread at a time.
 */
#ifndef INFERD_CMDLINE_H
#define INFERD_CMDLINE_H

#include <stdbool.h>
#include <stdio.h>

#include "http/http_server.h"
#include "inferd/server.h"
#include "metrics/metrics.h"

/* gRPC frontend settings. They are parsed whatever the build; src/main.c
 * uses them when inferd is built with gRPC (INFERD_HAVE_GRPC) and refuses
 * them otherwise. -1 means "not given": the frontend's default applies. */
typedef struct cmdline_grpc {
  bool allow;          /* --allow-grpc (true) */
  bool any_given;      /* some --grpc-* flag was given */
  const char *address; /* --grpc-address; NULL: not given */
  int64_t port;        /* --grpc-port */
  int64_t thread_count, infer_thread_count;
  int64_t keepalive_time_ms, keepalive_timeout_ms;
  int64_t keepalive_permit_without_calls; /* 0/1 */
  int64_t http2_max_pings_without_data;
  int64_t http2_min_recv_ping_interval_without_data_ms;
  int64_t http2_max_ping_strikes;
  int64_t max_connection_age_ms, max_connection_age_grace_ms;
} cmdline_grpc_t;

typedef struct cmdline {
  /* model_repositories/n_model_repositories point at `repos` below after a
   * successful cmdline_parse; the other strings are borrowed from argv. */
  inferd_server_options_t server;
  http_options_t http;
  inferd_log_settings_t log;
  bool allow_http; /* --allow-http (true) */
  /* --allow-metrics (true) and the metrics endpoint's options
   * (--metrics-*, --allow-cpu-metrics, --allow-gpu-metrics); the address
   * defaults to the HTTP address as tritonserver's does */
  bool allow_metrics;
  bool metrics_port_given; /* --metrics-port was on the command line */
  met_options_t metrics;
  cmdline_grpc_t grpc;
  bool show_help;    /* --help given: print help, exit 0 */
  bool show_version; /* --version given: print version, exit 0 */
  /* --model-repository values in order; the array is owned (malloc'd), the
   * strings are borrowed from argv. */
  const char **repos;
  size_t n_repos;
  /* --load-model values in order (server.startup_models points here after
   * a successful cmdline_parse); owned array, strings borrowed from argv */
  const char **startup_models;
  size_t n_startup_models;
  /* --cuda-memory-pool-byte-size values, one entry per device (owned
   * arrays; server.cuda_memory_pool_* point here) */
  int32_t *cuda_pool_devices;
  uint64_t *cuda_pool_bytes;
  size_t n_cuda_pools;
} cmdline_t;

/* Fills c with the defaults: inferd_server_options_init(), the current log
 * settings (inferd_log_get()), allow_http true and a copy of *http_defaults
 * (the caller gets those from http_options_init(), which lives in the HTTP
 * library). Pair with cmdline_deinit. */
void cmdline_init(cmdline_t *c, const http_options_t *http_defaults);

/* Parses argv[1..argc-1] into c (initialised by cmdline_init). Accepts
 * "--flag=value" and "--flag value"; boolean flags take
 * true/false/1/0/yes/no/on/off (any case) and may stand alone for true.
 * --model-repository (alias --model-store) may repeat and is required
 * unless --help or --version is given. --load-model may repeat; it needs
 * --model-control-mode=explicit (checked after every flag, so the order does
 * not matter), and "*" must then be the only one.
 * --model-load-on-demand=true and a non-zero --model-memory-budget (a byte
 * count with an optional K/M/G or Ki/Mi/Gi suffix) need explicit mode too.
 *
 * Errors: INVALID_ARG with one line naming the flag and the value, e.g.
 *   --http-port: invalid value "70000": expected an integer from 0 to 65535
 *   unknown flag "--foo"
 * argv strings are borrowed and must outlive c. Not thread-safe on c. */
inferd_status_t *cmdline_parse(cmdline_t *c, int argc, char **argv);

/* Frees what cmdline_parse allocated (the repos and startup_models arrays).
 * The struct itself is the caller's. */
void cmdline_deinit(cmdline_t *c);

/* Writes the usage text: every flag with its argument, meaning and the
 * default taken from `defaults` (a cmdline_init'ed struct). */
void cmdline_print_help(FILE *out, const char *prog, const cmdline_t *defaults);

/* Name of a control mode value ("none", "poll", "explicit"). */
const char *cmdline_control_mode_name(int32_t mode);

#endif /* INFERD_CMDLINE_H */
