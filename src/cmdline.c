/*
 * cmdline.c: parser for the inferd command line. One table lists every flag
 * (name, kind of value, limits, help); parsing, the help text and the
 * defaults shown in it all come from that table, so they cannot drift apart.
 * Values are validated here, before anything starts, and every error is one
 * line naming the flag and the offending value.
 */
#include "cmdline.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inferd/version.h"

enum opt_id {
  OPT_MODEL_REPOSITORY,
  OPT_MODEL_STORE,
  OPT_MODEL_CONTROL_MODE,
  OPT_MODEL_CONFIG_NAME,
  OPT_STRICT_MODEL_CONFIG,
  OPT_DISABLE_AUTO_COMPLETE,
  OPT_BACKEND_DIRECTORY,
  OPT_ID,
  OPT_STRICT_READINESS,
  OPT_EXIT_ON_ERROR,
  OPT_EXIT_TIMEOUT_SECS,
  OPT_LOAD_MODEL,
  OPT_REPOSITORY_POLL_SECS,
  OPT_MODEL_LOAD_THREAD_COUNT,
  OPT_MODEL_UNLOAD_TIMEOUT_MS,
  OPT_INSTANCE_IDLE_TIMEOUT_MS,
  OPT_INLINE_EXECUTION,
  OPT_MODEL_LOAD_ON_DEMAND,
  OPT_MODEL_LOAD_ON_DEMAND_TIMEOUT_MS,
  OPT_MODEL_MEMORY_BUDGET,
  OPT_PINNED_MEMORY_POOL_BYTE_SIZE,
  OPT_CUDA_MEMORY_POOL_BYTE_SIZE,
  OPT_ALLOW_HTTP,
  OPT_HTTP_PORT,
  OPT_HTTP_ADDRESS,
  OPT_HTTP_THREAD_COUNT,
  OPT_HTTP_MAX_INPUT_SIZE,
  OPT_LOG_VERBOSE,
  OPT_LOG_INFO,
  OPT_LOG_WARNING,
  OPT_LOG_ERROR,
  OPT_LOG_FORMAT,
  OPT_ALLOW_METRICS,
  OPT_ALLOW_CPU_METRICS,
  OPT_ALLOW_GPU_METRICS,
  OPT_METRICS_PORT,
  OPT_METRICS_ADDRESS,
  OPT_METRICS_INTERVAL_MS,
  OPT_METRICS_CONFIG,
  OPT_ALLOW_GRPC,
  OPT_GRPC_PORT,
  OPT_GRPC_ADDRESS,
  OPT_GRPC_THREAD_COUNT,
  OPT_GRPC_INFER_THREAD_COUNT,
  OPT_GRPC_KEEPALIVE_TIME,
  OPT_GRPC_KEEPALIVE_TIMEOUT,
  OPT_GRPC_KEEPALIVE_PERMIT,
  OPT_GRPC_MAX_PINGS,
  OPT_GRPC_MIN_PING_INTERVAL,
  OPT_GRPC_MAX_PING_STRIKES,
  OPT_GRPC_MAX_CONN_AGE,
  OPT_GRPC_MAX_CONN_AGE_GRACE,
  OPT_HELP,
  OPT_VERSION,
};

enum opt_kind {
  K_PATH,   /* non-empty string */
  K_STRING, /* any string, empty allowed */
  K_BOOL,   /* true/false...; a bare flag means true */
  K_INT,    /* integer in [min, max] */
  K_CHOICE, /* one of `choices` (case-insensitive) */
  K_BYTES,  /* byte count, optional K/M/G/Ki/Mi/Gi suffix */
  K_NONE,   /* takes no value */
};

typedef struct opt_def {
  const char *name; /* without the leading "--" */
  int id;
  int kind;
  int64_t min, max;           /* K_INT */
  const char *const *choices; /* K_CHOICE, NULL-terminated */
  const char *metavar;
  const char *help;
} opt_def_t;

static const char *const control_modes[] = {"none", "poll", "explicit", NULL};
static const char *const log_formats[] = {"default", "ISO8601", NULL};

static const opt_def_t opts[] = {
    {"model-repository", OPT_MODEL_REPOSITORY, K_PATH, 0, 0, NULL, "<path>",
     "model repository directory; repeat for several (required)"},
    {"model-store", OPT_MODEL_STORE, K_PATH, 0, 0, NULL, "<path>",
     "alias of --model-repository"},
    {"model-control-mode", OPT_MODEL_CONTROL_MODE, K_CHOICE, 0, 0,
     control_modes, "none|poll|explicit",
     "model management (none: load every model at startup; poll: also "
     "rescan the repositories every --repository-poll-secs; explicit: load "
     "--load-model models at startup, the rest on request)"},
    {"load-model", OPT_LOAD_MODEL, K_PATH, 0, 0, NULL, "<name>",
     "explicit mode: load this model at startup; repeat for several; \"*\" "
     "alone loads every model"},
    {"repository-poll-secs", OPT_REPOSITORY_POLL_SECS, K_INT, 1, UINT32_MAX,
     NULL, "<secs>", "poll mode: seconds between repository rescans"},
    {"model-load-thread-count", OPT_MODEL_LOAD_THREAD_COUNT, K_INT, 1, 1024,
     NULL, "<n>", "models loaded in parallel"},
    {"model-unload-timeout-ms", OPT_MODEL_UNLOAD_TIMEOUT_MS, K_INT, 0,
     UINT32_MAX, NULL, "<ms>",
     "inferd extension: how long an unload lets queued requests wait before "
     "failing them (started executions always finish)"},
    {"instance-idle-timeout-ms", OPT_INSTANCE_IDLE_TIMEOUT_MS, K_INT, 0,
     UINT32_MAX, NULL, "<ms>",
     "inferd extension: a model instance's execution thread exits after "
     "this long without work and starts again on the next request (0: "
     "never exits)"},
    {"inline-execution", OPT_INLINE_EXECUTION, K_BOOL, 0, 0, NULL, "<bool>",
     "inferd extension: backends that declare a non-blocking execute run on "
     "the thread that received the request when an instance is idle"},
    {"model-load-on-demand", OPT_MODEL_LOAD_ON_DEMAND, K_BOOL, 0, 0, NULL,
     "<bool>",
     "inferd extension, explicit mode: an infer, metadata or config request "
     "for a model that is not loaded loads it and waits for it"},
    {"model-load-on-demand-timeout-ms", OPT_MODEL_LOAD_ON_DEMAND_TIMEOUT_MS,
     K_INT, 1, UINT32_MAX, NULL, "<ms>",
     "inferd extension: how long a request waits for its model's load on "
     "demand"},
    {"model-memory-budget", OPT_MODEL_MEMORY_BUDGET, K_BYTES, 0, 0, NULL,
     "<bytes>",
     "inferd extension, explicit mode: memory for loaded models (suffixes "
     "K/M/G = 10^3/10^6/10^9, Ki/Mi/Gi = 2^10/2^20/2^30; 0 = no limit); a "
     "load evicts the least recently used idle, unpinned models to fit"},
    {"pinned-memory-pool-byte-size", OPT_PINNED_MEMORY_POOL_BYTE_SIZE, K_BYTES,
     0, 0, NULL, "<bytes>",
     "pinned host memory allocated with cudaHostAlloc at start when a CUDA "
     "GPU is found; on a CPU-only host accepted and unused (logged)"},
    {"cuda-memory-pool-byte-size", OPT_CUDA_MEMORY_POOL_BYTE_SIZE, K_STRING, 0,
     0, NULL, "<dev>:<bytes>",
     "device memory reserved on CUDA device <dev> at start; may repeat (the "
     "last value for a device wins); on a CPU-only host accepted and unused "
     "(logged)"},
    {"model-config-name", OPT_MODEL_CONFIG_NAME, K_PATH, 0, 0, NULL, "<name>",
     "use <model>/configs/<name>.pbtxt instead of config.pbtxt when present"},
    {"strict-model-config", OPT_STRICT_MODEL_CONFIG, K_BOOL, 0, 0, NULL,
     "<bool>", "deprecated: true = --disable-auto-complete-config"},
    {"disable-auto-complete-config", OPT_DISABLE_AUTO_COMPLETE, K_BOOL, 0, 0,
     NULL, "", "do not auto-complete model configs; they must be complete"},
    {"backend-directory", OPT_BACKEND_DIRECTORY, K_PATH, 0, 0, NULL, "<dir>",
     "where backends are found: <dir>/<name>/libinferd_<name>.so"},
    {"id", OPT_ID, K_STRING, 0, 0, NULL, "<string>",
     "server name reported by GET /v2"},
    {"strict-readiness", OPT_STRICT_READINESS, K_BOOL, 0, 0, NULL, "<bool>",
     "ready only when every model is ready (false: when responsive)"},
    {"exit-on-error", OPT_EXIT_ON_ERROR, K_BOOL, 0, 0, NULL, "<bool>",
     "exit when a model fails to load at startup"},
    {"exit-timeout-secs", OPT_EXIT_TIMEOUT_SECS, K_INT, 0, UINT32_MAX, NULL,
     "<secs>", "how long shutdown waits for in-flight requests"},
    {"allow-http", OPT_ALLOW_HTTP, K_BOOL, 0, 0, NULL, "<bool>",
     "serve HTTP/REST"},
    {"http-port", OPT_HTTP_PORT, K_INT, 0, 65535, NULL, "<port>",
     "HTTP port; 0 picks a free one (logged at startup)"},
    {"http-address", OPT_HTTP_ADDRESS, K_PATH, 0, 0, NULL, "<addr>",
     "HTTP bind address (IPv6 as ipv6:[::1])"},
    {"http-thread-count", OPT_HTTP_THREAD_COUNT, K_INT, 1, 1024, NULL, "<n>",
     "HTTP worker threads"},
    {"http-max-input-size", OPT_HTTP_MAX_INPUT_SIZE, K_INT, 1, INT64_MAX, NULL,
     "<bytes>", "largest accepted input tensor / request body"},
    {"log-verbose", OPT_LOG_VERBOSE, K_INT, 0, INT32_MAX, NULL, "<level>",
     "verbose logging level (0 = off)"},
    {"log-info", OPT_LOG_INFO, K_BOOL, 0, 0, NULL, "<bool>",
     "log info messages"},
    {"log-warning", OPT_LOG_WARNING, K_BOOL, 0, 0, NULL, "<bool>",
     "log warnings"},
    {"log-error", OPT_LOG_ERROR, K_BOOL, 0, 0, NULL, "<bool>", "log errors"},
    {"log-format", OPT_LOG_FORMAT, K_CHOICE, 0, 0, log_formats,
     "default|ISO8601", "log line format"},
    {"allow-grpc", OPT_ALLOW_GRPC, K_BOOL, 0, 0, NULL, "<bool>",
     "serve gRPC (when inferd is built with gRPC)"},
    {"grpc-port", OPT_GRPC_PORT, K_INT, 0, 65535, NULL, "<port>",
     "gRPC port; 0 picks a free one (logged at startup)"},
    {"grpc-address", OPT_GRPC_ADDRESS, K_PATH, 0, 0, NULL, "<addr>",
     "gRPC bind address"},
    {"grpc-thread-count", OPT_GRPC_THREAD_COUNT, K_INT, 1, 1024, NULL, "<n>",
     "gRPC completion queues"},
    {"grpc-infer-thread-count", OPT_GRPC_INFER_THREAD_COUNT, K_INT, 1, 1024,
     NULL, "<n>", "gRPC polling threads per completion queue"},
    {"grpc-keepalive-time", OPT_GRPC_KEEPALIVE_TIME, K_INT, 1, INT32_MAX, NULL,
     "<ms>", "gRPC keepalive ping period"},
    {"grpc-keepalive-timeout", OPT_GRPC_KEEPALIVE_TIMEOUT, K_INT, 1, INT32_MAX,
     NULL, "<ms>", "gRPC keepalive ping timeout"},
    {"grpc-keepalive-permit-without-calls", OPT_GRPC_KEEPALIVE_PERMIT, K_BOOL,
     0, 0, NULL, "<bool>", "allow keepalive pings with no call open"},
    {"grpc-http2-max-pings-without-data", OPT_GRPC_MAX_PINGS, K_INT, 0,
     INT32_MAX, NULL, "<n>", "pings allowed without data"},
    {"grpc-http2-min-recv-ping-interval-without-data",
     OPT_GRPC_MIN_PING_INTERVAL, K_INT, 0, INT32_MAX, NULL, "<ms>",
     "shortest accepted ping interval without data"},
    {"grpc-http2-max-ping-strikes", OPT_GRPC_MAX_PING_STRIKES, K_INT, 0,
     INT32_MAX, NULL, "<n>", "bad pings before the connection is closed"},
    {"grpc-max-connection-age", OPT_GRPC_MAX_CONN_AGE, K_INT, 1, INT32_MAX,
     NULL, "<ms>", "close connections after this age"},
    {"grpc-max-connection-age-grace", OPT_GRPC_MAX_CONN_AGE_GRACE, K_INT, 1,
     INT32_MAX, NULL, "<ms>", "grace period after the maximum age"},
    {"allow-metrics", OPT_ALLOW_METRICS, K_BOOL, 0, 0, NULL, "<bool>",
     "serve Prometheus metrics on --metrics-port"},
    {"allow-cpu-metrics", OPT_ALLOW_CPU_METRICS, K_BOOL, 0, 0, NULL, "<bool>",
     "nv_cpu_* metrics from /proc"},
    {"allow-gpu-metrics", OPT_ALLOW_GPU_METRICS, K_BOOL, 0, 0, NULL, "<bool>",
     "nv_gpu_* metrics through NVML (absent when NVML cannot be loaded)"},
    {"metrics-port", OPT_METRICS_PORT, K_INT, 0, 65535, NULL, "<port>",
     "port of the metrics listener (GET /metrics)"},
    {"metrics-address", OPT_METRICS_ADDRESS, K_PATH, 0, 0, NULL, "<address>",
     "address of the metrics listener"},
    {"metrics-interval-ms", OPT_METRICS_INTERVAL_MS, K_INT, 1, UINT32_MAX, NULL,
     "<ms>", "how often the CPU and GPU metrics are sampled"},
    {"metrics-config", OPT_METRICS_CONFIG, K_PATH, 0, 0, NULL, "<key>=<value>",
     "counter_latencies=<bool> (true), histogram_latencies=<bool> (false: "
     "nv_inference_first_response_histogram_ms), summary_latencies=<bool> "
     "(not implemented), summary_quantiles=<q>:<err>,...; may repeat"},
    {"help", OPT_HELP, K_NONE, 0, 0, NULL, "", "print this help and exit"},
    {"version", OPT_VERSION, K_NONE, 0, 0, NULL, "",
     "print the version and exit"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* tritonserver flags that inferd does not implement yet: named as such
 * rather than as unknown, so a Triton user knows why. */
static const char *const triton_only[] = {
    "model-load-retry-count",
    "model-namespacing",
    "http-header-forward-pattern",
    "http-restricted-api",
    "reuse-http-port",
    "reuse-grpc-port",
    "log-file",
    "backend-config",
    "repoagent-directory",
    "rate-limit",
    "rate-limit-resource",
    "cuda-virtual-address-size",
    "min-supported-compute-capability",
    "buffer-manager-thread-count",
    "host-policy",
    "model-load-gpu-limit",
    "allow-client-shm",
    "cache-config",
    "cache-directory",
    "response-cache-byte-size",
    "trace-config",
    "trace-file",
    "trace-level",
    "trace-rate",
    "trace-count",
    "trace-log-frequency",
    "enable-peer-access",
    "allow-sagemaker",
    "sagemaker-port",
    "allow-vertex-ai",
    "vertex-ai-port",
};

const char *cmdline_control_mode_name(int32_t mode) {
  switch (mode) {
  case INFERD_CONTROL_NONE:
    return "none";
  case INFERD_CONTROL_POLL:
    return "poll";
  case INFERD_CONTROL_EXPLICIT:
    return "explicit";
  default:
    return "?";
  }
}

void cmdline_init(cmdline_t *c, const http_options_t *http_defaults) {
  memset(c, 0, sizeof(*c));
  inferd_server_options_init(&c->server);
  c->http = *http_defaults;
  inferd_log_get(&c->log);
  c->allow_http = true;
  c->allow_metrics = true;
  met_options_init(&c->metrics);
  cmdline_grpc_t *g = &c->grpc;
  g->allow = true;
  g->port = g->thread_count = g->infer_thread_count = -1;
  g->keepalive_time_ms = g->keepalive_timeout_ms = -1;
  g->keepalive_permit_without_calls = -1;
  g->http2_max_pings_without_data = -1;
  g->http2_min_recv_ping_interval_without_data_ms = -1;
  g->http2_max_ping_strikes = -1;
  g->max_connection_age_ms = g->max_connection_age_grace_ms = -1;
}

void cmdline_deinit(cmdline_t *c) {
  free(c->repos);
  c->repos = NULL;
  c->n_repos = 0;
  c->server.model_repositories = NULL;
  c->server.n_model_repositories = 0;
  free(c->startup_models);
  c->startup_models = NULL;
  c->n_startup_models = 0;
  free(c->cuda_pool_devices);
  free(c->cuda_pool_bytes);
  c->cuda_pool_devices = NULL;
  c->cuda_pool_bytes = NULL;
  c->n_cuda_pools = 0;
  c->server.cuda_memory_pool_devices = NULL;
  c->server.cuda_memory_pool_byte_sizes = NULL;
  c->server.n_cuda_memory_pools = 0;
  c->server.startup_models = NULL;
  c->server.n_startup_models = 0;
}

/* Copies s into buf (size n) as a printable, quoted, one-line string:
 * control and non-ASCII bytes become \xNN, long values are cut with "...". */
static const char *quote(char *buf, size_t n, const char *s) {
  size_t o = 0;
  buf[o++] = '"';
  for (; *s && o + 8 < n; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)ch;
    } else if (ch < 0x20 || ch >= 0x7f) {
      o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
    } else {
      buf[o++] = (char)ch;
    }
  }
  if (*s) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

static inferd_status_t *bad_value(const opt_def_t *d, const char *v,
                                  const char *expected) {
  char q[256];
  return inferd_status_new(INFERD_INVALID_ARG,
                           "--%s: invalid value %s: expected %s", d->name,
                           quote(q, sizeof(q), v), expected);
}

/* Returns 1 for true, 0 for false, -1 when v is no boolean. */
static int parse_bool(const char *v) {
  static const char *const t[] = {"true", "1", "yes", "on"};
  static const char *const f[] = {"false", "0", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, t[i]) == 0)
      return 1;
    if (strcasecmp(v, f[i]) == 0)
      return 0;
  }
  return -1;
}

/* Strict decimal integer: optional '-', digits only, no spaces, in range. */
static bool parse_int(const char *v, int64_t min, int64_t max, int64_t *out) {
  const char *p = v[0] == '-' ? v + 1 : v;
  if (!isdigit((unsigned char)*p))
    return false;
  errno = 0;
  char *end = NULL;
  long long x = strtoll(v, &end, 10);
  if (errno == ERANGE || *end != '\0' || x < min || x > max)
    return false;
  *out = (int64_t)x;
  return true;
}

/* Byte count: decimal digits and an optional suffix K, M, G (powers of 10)
 * or Ki, Mi, Gi (powers of 2); no sign, no spaces, no overflow. */
static bool parse_bytes(const char *v, uint64_t *out) {
  static const struct {
    const char *suffix;
    uint64_t mult;
  } units[] = {{"", 1},
               {"K", 1000},
               {"M", 1000 * 1000},
               {"G", 1000 * 1000 * 1000},
               {"Ki", (uint64_t)1 << 10},
               {"Mi", (uint64_t)1 << 20},
               {"Gi", (uint64_t)1 << 30}};
  if (!isdigit((unsigned char)v[0]))
    return false;
  errno = 0;
  char *end = NULL;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno == ERANGE)
    return false;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(end, units[i].suffix) != 0)
      continue;
    if (x > UINT64_MAX / units[i].mult)
      return false;
    *out = (uint64_t)x * units[i].mult;
    return true;
  }
  return false;
}

/* Appends s to the owned array *arr of *n borrowed strings. */
static inferd_status_t *append(const char ***arr, size_t *n, const char *s) {
  const char **r = realloc(*arr, (*n + 1) * sizeof(*r));
  if (!r)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  r[(*n)++] = s;
  *arr = r;
  return NULL;
}

/* --cuda-memory-pool-byte-size=<dev>:<bytes>: a device id from 0 and a
 * byte count; a device given twice keeps the last value (tritonserver's). */
static inferd_status_t *add_cuda_pool(cmdline_t *c, const opt_def_t *d,
                                      const char *v) {
  const char *colon = strchr(v, ':');
  char dev_text[16];
  int64_t dev = 0;
  uint64_t bytes = 0;
  size_t dlen = colon ? (size_t)(colon - v) : 0;
  if (!colon || dlen == 0 || dlen >= sizeof(dev_text))
    return bad_value(d, v, "<device id>:<bytes>, e.g. 0:67108864");
  memcpy(dev_text, v, dlen);
  dev_text[dlen] = '\0';
  if (!parse_int(dev_text, 0, INT32_MAX, &dev))
    return bad_value(d, v, "a device id from 0 before the ':'");
  if (!parse_bytes(colon + 1, &bytes))
    return bad_value(d, v,
                     "a byte count after the ':' (an integer with an "
                     "optional suffix K, M, G, Ki, Mi or Gi)");
  for (size_t i = 0; i < c->n_cuda_pools; i++)
    if (c->cuda_pool_devices[i] == (int32_t)dev) {
      c->cuda_pool_bytes[i] = bytes;
      return NULL;
    }
  int32_t *devs =
      realloc(c->cuda_pool_devices, (c->n_cuda_pools + 1) * sizeof(*devs));
  if (!devs)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  c->cuda_pool_devices = devs;
  uint64_t *sizes =
      realloc(c->cuda_pool_bytes, (c->n_cuda_pools + 1) * sizeof(*sizes));
  if (!sizes)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  c->cuda_pool_bytes = sizes;
  devs[c->n_cuda_pools] = (int32_t)dev;
  sizes[c->n_cuda_pools] = bytes;
  c->n_cuda_pools++;
  c->server.cuda_memory_pool_devices = c->cuda_pool_devices;
  c->server.cuda_memory_pool_byte_sizes = c->cuda_pool_bytes;
  c->server.n_cuda_memory_pools = c->n_cuda_pools;
  return NULL;
}

/* Applies one flag whose value (NULL for K_NONE) has been found. */
static inferd_status_t *apply(cmdline_t *c, const opt_def_t *d, const char *v) {
  int64_t n = 0;
  uint64_t bytes = 0;
  int b = 0;
  int choice = 0;
  char expect[96];

  switch (d->kind) {
  case K_PATH:
    if (v[0] == '\0')
      return bad_value(d, v, "a non-empty value");
    break;
  case K_STRING:
  case K_NONE:
    break;
  case K_BOOL:
    if ((b = parse_bool(v)) < 0)
      return bad_value(d, v, "true or false (also 1/0, yes/no, on/off)");
    break;
  case K_INT:
    if (!parse_int(v, d->min, d->max, &n)) {
      snprintf(expect, sizeof(expect),
               "an integer from %" PRId64 " to %" PRId64, d->min, d->max);
      return bad_value(d, v, expect);
    }
    break;
  case K_BYTES:
    if (!parse_bytes(v, &bytes))
      return bad_value(d, v,
                       "a byte count: an integer with an optional suffix K, "
                       "M, G (10^3, 10^6, 10^9), Ki, Mi or Gi (2^10, 2^20, "
                       "2^30)");
    break;
  case K_CHOICE:
    for (choice = 0; d->choices[choice]; choice++)
      if (strcasecmp(v, d->choices[choice]) == 0)
        break;
    if (!d->choices[choice]) {
      size_t o = 0;
      for (int i = 0; d->choices[i] && o < sizeof(expect); i++)
        o += (size_t)snprintf(expect + o, sizeof(expect) - o, "%s%s",
                              i == 0              ? ""
                              : d->choices[i + 1] ? ", "
                                                  : " or ",
                              d->choices[i]);
      return bad_value(d, v, expect);
    }
    break;
  }

  switch (d->id) {
  case OPT_MODEL_REPOSITORY:
  case OPT_MODEL_STORE:
    return append(&c->repos, &c->n_repos, v);
  case OPT_LOAD_MODEL:
    return append(&c->startup_models, &c->n_startup_models, v);
  case OPT_REPOSITORY_POLL_SECS:
    c->server.repository_poll_secs = (uint32_t)n;
    break;
  case OPT_MODEL_LOAD_THREAD_COUNT:
    c->server.model_load_thread_count = (uint32_t)n;
    break;
  case OPT_MODEL_UNLOAD_TIMEOUT_MS:
    c->server.model_unload_timeout_ms = (uint32_t)n;
    break;
  case OPT_INSTANCE_IDLE_TIMEOUT_MS:
    c->server.instance_idle_timeout_ms = (uint32_t)n;
    break;
  case OPT_INLINE_EXECUTION:
    c->server.inline_execution = b;
    break;
  case OPT_MODEL_LOAD_ON_DEMAND:
    c->server.load_on_demand = b;
    break;
  case OPT_MODEL_LOAD_ON_DEMAND_TIMEOUT_MS:
    c->server.load_on_demand_timeout_ms = (uint32_t)n;
    break;
  case OPT_MODEL_MEMORY_BUDGET:
    c->server.memory_budget_bytes = bytes;
    break;
  case OPT_PINNED_MEMORY_POOL_BYTE_SIZE:
    c->server.pinned_memory_pool_byte_size = bytes;
    break;
  case OPT_CUDA_MEMORY_POOL_BYTE_SIZE:
    return add_cuda_pool(c, d, v);
  case OPT_MODEL_CONTROL_MODE:
    c->server.model_control_mode = choice == 0   ? INFERD_CONTROL_NONE
                                   : choice == 1 ? INFERD_CONTROL_POLL
                                                 : INFERD_CONTROL_EXPLICIT;
    break;
  case OPT_MODEL_CONFIG_NAME:
    c->server.model_config_name = v;
    break;
  case OPT_STRICT_MODEL_CONFIG:
  case OPT_DISABLE_AUTO_COMPLETE:
    c->server.strict_model_config = b;
    break;
  case OPT_BACKEND_DIRECTORY:
    c->server.backend_directory = v;
    break;
  case OPT_ID:
    c->server.server_id = v;
    break;
  case OPT_STRICT_READINESS:
    c->server.strict_readiness = b;
    break;
  case OPT_EXIT_ON_ERROR:
    c->server.exit_on_error = b;
    break;
  case OPT_EXIT_TIMEOUT_SECS:
    c->server.exit_timeout_secs = (uint32_t)n;
    break;
  case OPT_ALLOW_HTTP:
    c->allow_http = b;
    break;
  case OPT_HTTP_PORT:
    c->http.port = (uint16_t)n;
    break;
  case OPT_HTTP_ADDRESS:
    c->http.address = v;
    break;
  case OPT_HTTP_THREAD_COUNT:
    c->http.thread_count = (uint32_t)n;
    break;
  case OPT_HTTP_MAX_INPUT_SIZE:
    c->http.max_input_size = (uint64_t)n;
    break;
  case OPT_LOG_VERBOSE:
    c->log.verbose_level = (int32_t)n;
    break;
  case OPT_LOG_INFO:
    c->log.log_info = b;
    break;
  case OPT_LOG_WARNING:
    c->log.log_warning = b;
    break;
  case OPT_LOG_ERROR:
    c->log.log_error = b;
    break;
  case OPT_LOG_FORMAT:
    c->log.format =
        choice == 0 ? INFERD_LOG_FORMAT_DEFAULT : INFERD_LOG_FORMAT_ISO8601;
    break;
  case OPT_ALLOW_METRICS:
    c->allow_metrics = b;
    break;
  case OPT_ALLOW_CPU_METRICS:
    c->metrics.cpu_metrics = b;
    break;
  case OPT_ALLOW_GPU_METRICS:
    c->metrics.gpu_metrics = b;
    break;
  case OPT_METRICS_PORT:
    c->metrics.port = (uint16_t)n;
    c->metrics_port_given = true;
    break;
  case OPT_METRICS_ADDRESS:
    c->metrics.address = v;
    break;
  case OPT_METRICS_INTERVAL_MS:
    c->metrics.interval_ms = (uint32_t)n;
    break;
  case OPT_METRICS_CONFIG:
    return met_options_parse_config(&c->metrics, v);
  case OPT_ALLOW_GRPC:
    c->grpc.allow = b;
    break;
  case OPT_GRPC_PORT:
    c->grpc.port = n;
    break;
  case OPT_GRPC_ADDRESS:
    c->grpc.address = v;
    break;
  case OPT_GRPC_THREAD_COUNT:
    c->grpc.thread_count = n;
    break;
  case OPT_GRPC_INFER_THREAD_COUNT:
    c->grpc.infer_thread_count = n;
    break;
  case OPT_GRPC_KEEPALIVE_TIME:
    c->grpc.keepalive_time_ms = n;
    break;
  case OPT_GRPC_KEEPALIVE_TIMEOUT:
    c->grpc.keepalive_timeout_ms = n;
    break;
  case OPT_GRPC_KEEPALIVE_PERMIT:
    c->grpc.keepalive_permit_without_calls = b;
    break;
  case OPT_GRPC_MAX_PINGS:
    c->grpc.http2_max_pings_without_data = n;
    break;
  case OPT_GRPC_MIN_PING_INTERVAL:
    c->grpc.http2_min_recv_ping_interval_without_data_ms = n;
    break;
  case OPT_GRPC_MAX_PING_STRIKES:
    c->grpc.http2_max_ping_strikes = n;
    break;
  case OPT_GRPC_MAX_CONN_AGE:
    c->grpc.max_connection_age_ms = n;
    break;
  case OPT_GRPC_MAX_CONN_AGE_GRACE:
    c->grpc.max_connection_age_grace_ms = n;
    break;
  case OPT_HELP:
    c->show_help = true;
    break;
  case OPT_VERSION:
    c->show_version = true;
    break;
  }
  return NULL;
}

static const opt_def_t *find_opt(const char *name, size_t len) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
      return &opts[i];
  return NULL;
}

static bool is_triton_only(const char *name, size_t len) {
  if (len > 5 && memcmp(name, "grpc-", 5) == 0)
    return true;
  for (size_t i = 0; i < sizeof(triton_only) / sizeof(triton_only[0]); i++)
    if (strlen(triton_only[i]) == len && memcmp(triton_only[i], name, len) == 0)
      return true;
  return false;
}

inferd_status_t *cmdline_parse(cmdline_t *c, int argc, char **argv) {
  char q[256];
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
      return inferd_status_new(INFERD_INVALID_ARG,
                               "unexpected argument %s (flags start with "
                               "\"--\"; see --help)",
                               quote(q, sizeof(q), arg));
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    const opt_def_t *d = find_opt(name, name_len);
    if (!d) {
      char flag[128];
      snprintf(flag, sizeof(flag), "--%.*s",
               (int)(name_len < 100 ? name_len : 100), name);
      if (is_triton_only(name, name_len))
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "flag %s of tritonserver is not supported by "
                                 "inferd yet",
                                 quote(q, sizeof(q), flag));
      return inferd_status_new(INFERD_INVALID_ARG,
                               "unknown flag %s (see --help)",
                               quote(q, sizeof(q), flag));
    }

    const char *v = eq ? eq + 1 : NULL;
    if (d->kind == K_NONE) {
      if (v)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "--%s: takes no value, got %s", d->name,
                                 quote(q, sizeof(q), v));
    } else if (!v && d->kind == K_BOOL) {
      /* "--flag false" or a bare "--flag" meaning true; a following word
       * that is not a flag is the flag's value (and an error if it is not
       * a boolean), so "--strict-readiness maybe" names the flag */
      if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
        v = argv[++i];
      else
        v = "true";
    } else if (!v) {
      if (i + 1 >= argc)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "--%s: missing value (expected %s)", d->name,
                                 d->metavar);
      v = argv[++i];
    }
    if (strncmp(d->name, "grpc-", 5) == 0)
      c->grpc.any_given = true;
    inferd_status_t *st = apply(c, d, v);
    if (st)
      return st;
  }

  if (c->show_help || c->show_version)
    return NULL;
  if (c->n_repos == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "--model-repository: missing; give at least one "
                             "model repository (see --help)");
  /* rules between flags, checked once all are known (order-free) */
  if (c->n_startup_models > 0 &&
      c->server.model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(
        INFERD_INVALID_ARG,
        "--load-model requires --model-control-mode=explicit (the mode is "
        "\"%s\")",
        cmdline_control_mode_name(c->server.model_control_mode));
  if (c->server.load_on_demand &&
      c->server.model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(
        INFERD_INVALID_ARG,
        "--model-load-on-demand requires --model-control-mode=explicit (the "
        "mode is \"%s\")",
        cmdline_control_mode_name(c->server.model_control_mode));
  if (c->server.memory_budget_bytes > 0 &&
      c->server.model_control_mode != INFERD_CONTROL_EXPLICIT)
    return inferd_status_new(
        INFERD_INVALID_ARG,
        "--model-memory-budget requires --model-control-mode=explicit (the "
        "mode is \"%s\")",
        cmdline_control_mode_name(c->server.model_control_mode));
  for (size_t i = 0; i < c->n_startup_models; i++)
    if (strcmp(c->startup_models[i], "*") == 0 && c->n_startup_models > 1)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "--load-model: \"*\" loads every model and "
                               "must be the only --load-model, got %zu",
                               c->n_startup_models);
  c->server.model_repositories = c->repos;
  c->server.n_model_repositories = c->n_repos;
  c->server.startup_models = c->startup_models;
  c->server.n_startup_models = c->n_startup_models;
  return NULL;
}

/* The default of one flag as shown in --help; "" when there is none. */
static void default_text(const cmdline_t *c, int id, char *buf, size_t n) {
  const char *s = NULL;
  buf[0] = '\0';
  switch (id) {
  case OPT_MODEL_CONTROL_MODE:
    s = cmdline_control_mode_name(c->server.model_control_mode);
    break;
  case OPT_STRICT_MODEL_CONFIG:
    s = c->server.strict_model_config ? "true" : "false";
    break;
  case OPT_DISABLE_AUTO_COMPLETE:
    s = c->server.strict_model_config ? "on" : "off";
    break;
  case OPT_BACKEND_DIRECTORY:
    s = c->server.backend_directory ? c->server.backend_directory
                                    : "<directory of the inferd binary>"
                                      "/backends";
    break;
  case OPT_ID:
    s = c->server.server_id ? c->server.server_id : "inferd";
    break;
  case OPT_STRICT_READINESS:
    s = c->server.strict_readiness ? "true" : "false";
    break;
  case OPT_EXIT_ON_ERROR:
    s = c->server.exit_on_error ? "true" : "false";
    break;
  case OPT_EXIT_TIMEOUT_SECS:
    snprintf(buf, n, "%" PRIu32, c->server.exit_timeout_secs);
    return;
  case OPT_LOAD_MODEL:
    s = "none";
    break;
  case OPT_REPOSITORY_POLL_SECS:
    snprintf(buf, n, "%" PRIu32, c->server.repository_poll_secs);
    return;
  case OPT_MODEL_LOAD_THREAD_COUNT:
    snprintf(buf, n, "%" PRIu32, c->server.model_load_thread_count);
    return;
  case OPT_MODEL_UNLOAD_TIMEOUT_MS:
    snprintf(buf, n, "%" PRIu32, c->server.model_unload_timeout_ms);
    return;
  case OPT_INSTANCE_IDLE_TIMEOUT_MS:
    snprintf(buf, n, "%" PRIu32, c->server.instance_idle_timeout_ms);
    return;
  case OPT_INLINE_EXECUTION:
    s = c->server.inline_execution ? "true" : "false";
    break;
  case OPT_MODEL_LOAD_ON_DEMAND:
    s = c->server.load_on_demand ? "true" : "false";
    break;
  case OPT_MODEL_LOAD_ON_DEMAND_TIMEOUT_MS:
    snprintf(buf, n, "%" PRIu32, c->server.load_on_demand_timeout_ms);
    return;
  case OPT_PINNED_MEMORY_POOL_BYTE_SIZE:
    snprintf(buf, n, "%" PRIu64, c->server.pinned_memory_pool_byte_size);
    return;
  case OPT_CUDA_MEMORY_POOL_BYTE_SIZE:
    s = "none";
    break;
  case OPT_MODEL_MEMORY_BUDGET:
    if (c->server.memory_budget_bytes == 0) {
      s = "0 (no limit)";
      break;
    }
    snprintf(buf, n, "%" PRIu64, c->server.memory_budget_bytes);
    return;
  case OPT_ALLOW_HTTP:
    s = c->allow_http ? "true" : "false";
    break;
  case OPT_HTTP_PORT:
    snprintf(buf, n, "%u", (unsigned)c->http.port);
    return;
  case OPT_HTTP_ADDRESS:
    s = c->http.address ? c->http.address : "0.0.0.0";
    break;
  case OPT_HTTP_THREAD_COUNT:
    snprintf(buf, n, "%" PRIu32, c->http.thread_count);
    return;
  case OPT_HTTP_MAX_INPUT_SIZE:
    snprintf(buf, n, "%" PRIu64, c->http.max_input_size);
    return;
  case OPT_LOG_VERBOSE:
    snprintf(buf, n, "%" PRId32, c->log.verbose_level);
    return;
  case OPT_LOG_INFO:
    s = c->log.log_info ? "true" : "false";
    break;
  case OPT_LOG_WARNING:
    s = c->log.log_warning ? "true" : "false";
    break;
  case OPT_LOG_ERROR:
    s = c->log.log_error ? "true" : "false";
    break;
  case OPT_LOG_FORMAT:
    s = c->log.format == INFERD_LOG_FORMAT_ISO8601 ? "ISO8601" : "default";
    break;
  case OPT_MODEL_CONFIG_NAME:
    s = "none (config.pbtxt)";
    break;
  case OPT_ALLOW_METRICS:
    s = c->allow_metrics ? "true" : "false";
    break;
  case OPT_ALLOW_CPU_METRICS:
    s = c->metrics.cpu_metrics ? "true" : "false";
    break;
  case OPT_ALLOW_GPU_METRICS:
    s = c->metrics.gpu_metrics ? "true" : "false";
    break;
  case OPT_METRICS_PORT:
    snprintf(buf, n, "%u", (unsigned)c->metrics.port);
    return;
  case OPT_METRICS_ADDRESS:
    s = "the HTTP address";
    break;
  case OPT_METRICS_INTERVAL_MS:
    snprintf(buf, n, "%" PRIu32, c->metrics.interval_ms);
    return;
  case OPT_METRICS_CONFIG:
    s = "none";
    break;
  case OPT_ALLOW_GRPC:
    s = c->grpc.allow ? "true" : "false";
    break;
  case OPT_GRPC_PORT:
    s = "8001";
    break;
  case OPT_GRPC_ADDRESS:
    s = "0.0.0.0";
    break;
  case OPT_GRPC_THREAD_COUNT:
    s = "number of CPUs";
    break;
  case OPT_GRPC_INFER_THREAD_COUNT:
    s = "1";
    break;
  case OPT_GRPC_KEEPALIVE_TIME:
    s = "7200000";
    break;
  case OPT_GRPC_KEEPALIVE_TIMEOUT:
    s = "20000";
    break;
  case OPT_GRPC_KEEPALIVE_PERMIT:
    s = "false";
    break;
  case OPT_GRPC_MAX_PINGS:
    s = "2";
    break;
  case OPT_GRPC_MIN_PING_INTERVAL:
    s = "300000";
    break;
  case OPT_GRPC_MAX_PING_STRIKES:
    s = "2";
    break;
  case OPT_GRPC_MAX_CONN_AGE:
  case OPT_GRPC_MAX_CONN_AGE_GRACE:
    s = "unset";
    break;
  default:
    return;
  }
  snprintf(buf, n, "%s", s);
}

void cmdline_print_help(FILE *out, const char *prog,
                        const cmdline_t *defaults) {
  fprintf(out,
          "Usage: %s --model-repository=<path> [flags]\n"
          "inferd %s: an inference server speaking the KServe v2 / Triton "
          "HTTP protocol.\n"
          "Flags take --flag=value or --flag value; <bool> is true/false "
          "(1/0, yes/no, on/off)\nand a bare boolean flag means true.\n\n",
          prog, INFERD_VERSION_STRING);
  for (size_t i = 0; i < N_OPTS; i++) {
    const opt_def_t *d = &opts[i];
    char head[96], def[160];
    snprintf(head, sizeof(head), "--%s%s%s", d->name, d->metavar[0] ? "=" : "",
             d->metavar);
    default_text(defaults, d->id, def, sizeof(def));
    fprintf(out, "  %-36s %s", head, d->help);
    if (def[0])
      fprintf(out, " [default: %s]", def);
    fputc('\n', out);
  }
}
