/* test_cmdline.c: the command-line parser: both value forms, booleans,
 * repeatable repositories and startup models, byte counts, defaults, rules
 * between flags (--load-model, --model-load-on-demand and
 * --model-memory-budget need explicit mode), and one test per bad-input path
 * that checks the message names the flag and the value. */
#include <stdlib.h>

#include "cmdline.h"
#include "unit.h"

static http_options_t http_defaults(void) {
  http_options_t h;
  memset(&h, 0, sizeof(h));
  h.address = "0.0.0.0";
  h.port = 8000;
  h.thread_count = 8;
  h.max_input_size = 64u << 20;
  return h;
}

/* Parses a NULL-terminated list; returns the status (NULL on success). */
static inferd_status_t *parse(cmdline_t *c, const char *const *args) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = "inferd";
  for (; *args; args++)
    argv[argc++] = (char *)*args;
  http_options_t h = http_defaults();
  cmdline_init(c, &h);
  return cmdline_parse(c, argc, argv);
}

/* Expects failure whose message contains every given fragment. */
static void expect_error(const char *const *args, const char *frag1,
                         const char *frag2) {
  cmdline_t c;
  inferd_status_t *st = parse(&c, args);
  CHECK(st != NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st), frag1);
  if (frag2)
    CHECK_STR_CONTAINS(inferd_status_message(st), frag2);
  CHECK(st == NULL || strchr(inferd_status_message(st), '\n') == NULL);
  inferd_status_free(st);
  cmdline_deinit(&c);
}

static void test_defaults(void) {
  cmdline_t c;
  inferd_status_t *st =
      parse(&c, (const char *[]){"--model-repository=/m", NULL});
  CHECK(st == NULL);
  CHECK(c.n_repos == 1 && strcmp(c.repos[0], "/m") == 0);
  CHECK(c.server.n_model_repositories == 1);
  CHECK(c.server.model_repositories[0] == c.repos[0]);
  CHECK(c.server.strict_readiness);
  CHECK(c.server.exit_on_error);
  CHECK(!c.server.strict_model_config);
  CHECK(c.server.exit_timeout_secs == 30);
  CHECK(c.server.model_control_mode == INFERD_CONTROL_NONE);
  CHECK(c.server.repository_poll_secs == 15);
  CHECK(c.server.model_load_thread_count == 4);
  CHECK(c.server.model_unload_timeout_ms == 30000);
  CHECK(!c.server.load_on_demand);
  CHECK(c.server.load_on_demand_timeout_ms == 60000);
  CHECK(c.server.memory_budget_bytes == 0);
  CHECK(c.n_startup_models == 0 && c.server.n_startup_models == 0);
  CHECK(c.server.startup_models == NULL);
  CHECK(c.http.port == 8000);
  CHECK(c.allow_http);
  CHECK(!c.show_help && !c.show_version);
  cmdline_deinit(&c);
}

static void test_all_flags(void) {
  cmdline_t c;
  inferd_status_t *st = parse(&c, (const char *[]){"--model-repository",
                                                   "/a",
                                                   "--model-store=/b",
                                                   "--model-repository=/c",
                                                   "--http-port=0",
                                                   "--http-address",
                                                   "127.0.0.1",
                                                   "--http-thread-count=3",
                                                   "--id=my server",
                                                   "--strict-readiness",
                                                   "false",
                                                   "--exit-on-error=no",
                                                   "--exit-timeout-secs",
                                                   "5",
                                                   "--backend-directory=/be",
                                                   "--log-verbose=2",
                                                   "--log-info=0",
                                                   "--log-warning=off",
                                                   "--log-error=FALSE",
                                                   "--log-format=iso8601",
                                                   "--http-max-input-size=1024",
                                                   "--strict-model-config=true",
                                                   "--model-control-mode=NONE",
                                                   "--model-config-name=alt",
                                                   "--allow-http=1",
                                                   NULL});
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(c.n_repos == 3);
  CHECK(c.n_repos == 3 && strcmp(c.repos[1], "/b") == 0 &&
        strcmp(c.repos[2], "/c") == 0);
  CHECK(c.http.port == 0);
  CHECK(strcmp(c.http.address, "127.0.0.1") == 0);
  CHECK(c.http.thread_count == 3);
  CHECK(c.http.max_input_size == 1024);
  CHECK(strcmp(c.server.server_id, "my server") == 0);
  CHECK(!c.server.strict_readiness);
  CHECK(!c.server.exit_on_error);
  CHECK(c.server.exit_timeout_secs == 5);
  CHECK(strcmp(c.server.backend_directory, "/be") == 0);
  CHECK(strcmp(c.server.model_config_name, "alt") == 0);
  CHECK(c.server.strict_model_config);
  CHECK(c.log.verbose_level == 2);
  CHECK(!c.log.log_info && !c.log.log_warning && !c.log.log_error);
  CHECK(c.log.format == INFERD_LOG_FORMAT_ISO8601);
  CHECK(c.allow_http);
  cmdline_deinit(&c);
}

static void test_bare_booleans(void) {
  cmdline_t c;
  /* a bare flag means true; a following flag is not taken as its value */
  inferd_status_t *st =
      parse(&c, (const char *[]){"--exit-on-error", "--model-repository=/m",
                                 "--disable-auto-complete-config", NULL});
  CHECK(st == NULL);
  CHECK(c.server.exit_on_error);
  CHECK(c.server.strict_model_config);
  cmdline_deinit(&c);

  st = parse(&c, (const char *[]){"--model-repository=/m", "--strict-readiness",
                                  "0", "--exit-on-error", NULL});
  CHECK(st == NULL);
  CHECK(!c.server.strict_readiness);
  CHECK(c.server.exit_on_error);
  cmdline_deinit(&c);
}

static void test_control_modes(void) {
  cmdline_t c;
  inferd_status_t *st =
      parse(&c, (const char *[]){"--model-repository=/m",
                                 "--model-control-mode", "explicit", NULL});
  CHECK(st == NULL);
  CHECK(c.server.model_control_mode == INFERD_CONTROL_EXPLICIT);
  cmdline_deinit(&c);
  st = parse(&c, (const char *[]){"--model-repository=/m",
                                  "--model-control-mode=poll", NULL});
  CHECK(st == NULL);
  CHECK(c.server.model_control_mode == INFERD_CONTROL_POLL);
  CHECK(strcmp(cmdline_control_mode_name(c.server.model_control_mode),
               "poll") == 0);
  cmdline_deinit(&c);
}

static void test_lifecycle_flags(void) {
  cmdline_t c;
  /* --load-model before the mode: the rule is checked after every flag */
  inferd_status_t *st = parse(
      &c,
      (const char *[]){"--load-model=a", "--model-repository=/m",
                       "--load-model", "b", "--model-control-mode=explicit",
                       "--model-load-thread-count=1", "--repository-poll-secs",
                       "1", "--model-unload-timeout-ms=0", NULL});
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(c.n_startup_models == 2 && c.server.n_startup_models == 2);
  CHECK(c.server.startup_models == c.startup_models);
  CHECK(c.n_startup_models == 2 && strcmp(c.startup_models[0], "a") == 0 &&
        strcmp(c.startup_models[1], "b") == 0);
  CHECK(c.server.model_load_thread_count == 1);
  CHECK(c.server.repository_poll_secs == 1);
  CHECK(c.server.model_unload_timeout_ms == 0);
  cmdline_deinit(&c);
  CHECK(c.startup_models == NULL && c.server.startup_models == NULL);

  st = parse(&c, (const char *[]){"--model-repository=/m",
                                  "--model-control-mode=explicit",
                                  "--load-model=*", NULL});
  CHECK(st == NULL);
  CHECK(c.server.n_startup_models == 1 &&
        strcmp(c.server.startup_models[0], "*") == 0);
  cmdline_deinit(&c);

  /* explicit mode without --load-model: nothing at startup */
  st = parse(&c, (const char *[]){"--model-repository=/m",
                                  "--model-control-mode=explicit", NULL});
  CHECK(st == NULL && c.server.n_startup_models == 0);
  cmdline_deinit(&c);

  st = parse(
      &c, (const char *[]){"--model-repository=/m", "--model-control-mode=poll",
                           "--repository-poll-secs=4294967295",
                           "--model-load-thread-count=1024",
                           "--model-unload-timeout-ms=4294967295", NULL});
  CHECK(st == NULL);
  CHECK(c.server.repository_poll_secs == UINT32_MAX);
  CHECK(c.server.model_load_thread_count == 1024);
  CHECK(c.server.model_unload_timeout_ms == UINT32_MAX);
  cmdline_deinit(&c);
}

static void test_lifecycle_errors(void) {
  expect_error(
      (const char *[]){"--model-repository=/m", "--load-model=a", NULL},
      "--load-model requires --model-control-mode=explicit", "\"none\"");
  expect_error((const char *[]){"--model-repository=/m", "--load-model=a",
                                "--model-control-mode=poll", NULL},
               "--load-model requires --model-control-mode=explicit",
               "\"poll\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-control-mode=explicit",
                                "--load-model=a", "--load-model=*", NULL},
               "--load-model: \"*\" loads every model",
               "must be the only --load-model, got 2");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-control-mode=explicit",
                                "--load-model=", NULL},
               "--load-model: invalid value \"\"", "a non-empty value");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-control-mode=explicit", "--load-model",
                                NULL},
               "--load-model: missing value", "<name>");
  expect_error((const char *[]){"--model-repository=/m",
                                "--repository-poll-secs=0", NULL},
               "--repository-poll-secs: invalid value \"0\"",
               "an integer from 1 to 4294967295");
  expect_error((const char *[]){"--model-repository=/m",
                                "--repository-poll-secs=4294967296", NULL},
               "--repository-poll-secs: invalid value \"4294967296\"", NULL);
  expect_error((const char *[]){"--model-repository=/m",
                                "--repository-poll-secs=-1", NULL},
               "--repository-poll-secs", "\"-1\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-thread-count=0", NULL},
               "--model-load-thread-count: invalid value \"0\"",
               "an integer from 1 to 1024");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-thread-count=many", NULL},
               "--model-load-thread-count: invalid value \"many\"", NULL);
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-unload-timeout-ms=-5", NULL},
               "--model-unload-timeout-ms: invalid value \"-5\"",
               "an integer from 0 to 4294967295");
  /* still tritonserver-only */
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-retry-count=2", NULL},
               "\"--model-load-retry-count\"", "not supported");
}

/* issue 9: load on demand and the memory budget (inferd extensions) */
static void test_many_models_flags(void) {
  cmdline_t c;
  /* the mode after the flags: the rule is checked after every flag */
  inferd_status_t *st =
      parse(&c, (const char *[]){"--model-load-on-demand",
                                 "--model-memory-budget=100M",
                                 "--model-load-on-demand-timeout-ms", "250",
                                 "--model-repository=/m",
                                 "--model-control-mode=explicit", NULL});
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(c.server.load_on_demand);
  CHECK(c.server.load_on_demand_timeout_ms == 250);
  CHECK(c.server.memory_budget_bytes == 100000000);
  cmdline_deinit(&c);

  static const struct {
    const char *arg;
    uint64_t bytes;
  } sizes[] = {
      {"--model-memory-budget=0", 0},
      {"--model-memory-budget=1", 1},
      {"--model-memory-budget=123456789", 123456789},
      {"--model-memory-budget=2K", 2000},
      {"--model-memory-budget=3G", 3000000000ull},
      {"--model-memory-budget=2Ki", 2048},
      {"--model-memory-budget=3Mi", 3u << 20},
      {"--model-memory-budget=5Gi", 5ull << 30},
      {"--model-memory-budget=18446744073709551615", UINT64_MAX},
      {"--model-memory-budget=17179869183Gi", 17179869183ull << 30},
  };
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    st = parse(&c, (const char *[]){"--model-repository=/m",
                                    "--model-control-mode=explicit",
                                    sizes[i].arg, NULL});
    CHECK(st == NULL);
    inferd_status_free(st);
    CHECK(c.server.memory_budget_bytes == sizes[i].bytes);
    cmdline_deinit(&c);
  }

  /* off, or a zero budget, is fine in any mode; the timeout too */
  st = parse(&c, (const char *[]){"--model-repository=/m",
                                  "--model-load-on-demand=false",
                                  "--model-memory-budget=0",
                                  "--model-load-on-demand-timeout-ms=1", NULL});
  CHECK(st == NULL);
  CHECK(!c.server.load_on_demand && c.server.memory_budget_bytes == 0);
  CHECK(c.server.load_on_demand_timeout_ms == 1);
  cmdline_deinit(&c);
  st = parse(&c, (const char *[]){
                     "--model-repository=/m", "--model-control-mode=explicit",
                     "--model-load-on-demand-timeout-ms", "4294967295", NULL});
  CHECK(st == NULL && c.server.load_on_demand_timeout_ms == UINT32_MAX);
  cmdline_deinit(&c);
}

static void test_many_models_errors(void) {
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-on-demand=true", NULL},
               "--model-load-on-demand requires --model-control-mode=explicit",
               "(the mode is \"none\")");
  expect_error((const char *[]){"--model-load-on-demand",
                                "--model-control-mode=poll",
                                "--model-repository=/m", NULL},
               "--model-load-on-demand requires --model-control-mode=explicit",
               "\"poll\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-memory-budget=1Gi", NULL},
               "--model-memory-budget requires --model-control-mode=explicit",
               "(the mode is \"none\")");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-control-mode=poll",
                                "--model-memory-budget=1", NULL},
               "--model-memory-budget requires --model-control-mode=explicit",
               "\"poll\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-on-demand=maybe", NULL},
               "--model-load-on-demand: invalid value \"maybe\"",
               "true or false");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-on-demand-timeout-ms=0", NULL},
               "--model-load-on-demand-timeout-ms: invalid value \"0\"",
               "an integer from 1 to 4294967295");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-on-demand-timeout-ms=4294967296",
                                NULL},
               "--model-load-on-demand-timeout-ms: invalid value "
               "\"4294967296\"",
               NULL);
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-load-on-demand-timeout-ms", NULL},
               "--model-load-on-demand-timeout-ms: missing value", "<ms>");
  static const char *const bad_sizes[] = {
      "",
      "-1",
      "+5",
      " 5",
      "5 ",
      "M",
      "1.5G",
      "5k",
      "5MB",
      "5mi",
      "5Ki ",
      "0x10",
      "5KiB",
      "1e9",
      "5GiGi",
      "18446744073709551616",
      "18446744073709551615K",
      "17179869184Gi",
  };
  for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
    char arg[96], frag[96];
    snprintf(arg, sizeof(arg), "--model-memory-budget=%s", bad_sizes[i]);
    snprintf(frag, sizeof(frag), "--model-memory-budget: invalid value \"%s\"",
             bad_sizes[i]);
    expect_error((const char *[]){"--model-repository=/m",
                                  "--model-control-mode=explicit", arg, NULL},
                 frag,
                 "a byte count: an integer with an optional suffix K, M, "
                 "G (10^3, 10^6, 10^9), Ki, Mi or Gi (2^10, 2^20, 2^30)");
  }
}

static void test_grpc_flags(void) {
  cmdline_t c;
  inferd_status_t *st =
      parse(&c, (const char *[]){"--model-repository=/m", NULL});
  CHECK(st == NULL);
  CHECK(c.grpc.allow && !c.grpc.any_given);
  CHECK(c.grpc.port == -1 && c.grpc.address == NULL);
  cmdline_deinit(&c);

  st = parse(&c, (const char *[]){"--model-repository=/m", "--grpc-port=0",
                                  "--grpc-address", "127.0.0.1",
                                  "--grpc-infer-thread-count=2",
                                  "--grpc-keepalive-permit-without-calls",
                                  "--grpc-max-connection-age=1000", NULL});
  CHECK(st == NULL);
  CHECK(c.grpc.any_given);
  CHECK(c.grpc.port == 0);
  CHECK(c.grpc.address && strcmp(c.grpc.address, "127.0.0.1") == 0);
  CHECK(c.grpc.infer_thread_count == 2);
  CHECK(c.grpc.keepalive_permit_without_calls == 1);
  CHECK(c.grpc.max_connection_age_ms == 1000);
  CHECK(c.grpc.thread_count == -1);
  cmdline_deinit(&c);

  st = parse(&c, (const char *[]){"--model-repository=/m", "--allow-grpc=false",
                                  NULL});
  CHECK(st == NULL && !c.grpc.allow && !c.grpc.any_given);
  cmdline_deinit(&c);
}

static void test_help_version(void) {
  cmdline_t c;
  inferd_status_t *st = parse(&c, (const char *[]){"--help", NULL});
  CHECK(st == NULL && c.show_help);
  cmdline_deinit(&c);
  st = parse(&c, (const char *[]){"--version", NULL});
  CHECK(st == NULL && c.show_version);
  cmdline_deinit(&c);

  /* every flag appears in the help with its default */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f != NULL);
  if (!f)
    return;
  http_options_t h = http_defaults();
  cmdline_init(&c, &h);
  cmdline_print_help(f, "inferd", &c);
  fclose(f);
  static const char *const expect[] = {
      "--model-repository=<path>",
      "--model-store",
      "--http-port=<port>",
      "[default: 8000]",
      "--http-address=<addr>",
      "[default: 0.0.0.0]",
      "--http-thread-count=<n>",
      "[default: 8]",
      "--id=<string>",
      "[default: inferd]",
      "--strict-readiness=<bool>",
      "--exit-on-error=<bool>",
      "--exit-timeout-secs=<secs>",
      "[default: 30]",
      "--backend-directory=<dir>",
      "--log-verbose=<level>",
      "--log-info=<bool>",
      "--log-warning=<bool>",
      "--log-error=<bool>",
      "--log-format=default|ISO8601",
      "--http-max-input-size=<bytes>",
      "[default: 67108864]",
      "--strict-model-config=<bool>",
      "--disable-auto-complete-config",
      "--model-control-mode=none|poll|explicit",
      "[default: none]",
      "--load-model=<name>",
      "--repository-poll-secs=<secs>",
      "[default: 15]",
      "--model-load-thread-count=<n>",
      "[default: 4]",
      "--model-unload-timeout-ms=<ms>",
      "inferd extension",
      "[default: 30000]",
      "--model-load-on-demand=<bool>",
      "inferd extension, explicit mode",
      "--model-load-on-demand-timeout-ms=<ms>",
      "[default: 60000]",
      "--model-memory-budget=<bytes>",
      "[default: 0 (no limit)]",
      "--model-config-name=<name>",
      "--allow-http=<bool>",
      "--help",
      "--version",
  };
  for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
    CHECK_STR_CONTAINS(buf, expect[i]);
  free(buf);
  cmdline_deinit(&c);
}

static void test_errors(void) {
  expect_error((const char *[]){"--model-repository=/m", "--bogus", NULL},
               "unknown flag", "\"--bogus\"");
  expect_error((const char *[]){"--model-repository=/m", "--bogus=1", NULL},
               "unknown flag", "\"--bogus\"");
  expect_error(
      (const char *[]){"--model-repository=/m", "--grpc-use-ssl=true", NULL},
      "\"--grpc-use-ssl\"", "not supported");
  expect_error((const char *[]){"--model-repository=/m", "--grpc-port=x", NULL},
               "--grpc-port: invalid value \"x\"", NULL);
  expect_error((const char *[]){"--model-repository=/m", "stray", NULL},
               "unexpected argument", "\"stray\"");
  expect_error((const char *[]){"--model-repository=/m", "-h", NULL},
               "unexpected argument", "\"-h\"");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port=abc", NULL},
      "--http-port: invalid value \"abc\"", "0 to 65535");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port", "70000", NULL},
      "--http-port: invalid value \"70000\"", "0 to 65535");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port=-1", NULL},
      "--http-port", "\"-1\"");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port= 80", NULL},
      "--http-port", "\" 80\"");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port=80x", NULL},
      "--http-port", "\"80x\"");
  expect_error((const char *[]){"--model-repository=/m", "--http-port=", NULL},
               "--http-port", "\"\"");
  expect_error((const char *[]){"--model-repository=/m", "--http-port", NULL},
               "--http-port: missing value", NULL);
  expect_error((const char *[]){"--model-repository=/m",
                                "--exit-timeout-secs=99999999999999999999",
                                NULL},
               "--exit-timeout-secs", "99999999999999999999");
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-thread-count=0", NULL},
      "--http-thread-count", "\"0\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--http-max-input-size=0", NULL},
               "--http-max-input-size", "\"0\"");
  expect_error(
      (const char *[]){"--model-repository=/m", "--log-verbose=-2", NULL},
      "--log-verbose", "\"-2\"");
  expect_error((const char *[]){"--model-repository=/m",
                                "--strict-readiness=maybe", NULL},
               "--strict-readiness: invalid value \"maybe\"", "true or false");
  expect_error((const char *[]){"--model-repository=/m",
                                "--model-control-mode=sometimes", NULL},
               "--model-control-mode: invalid value \"sometimes\"",
               "none, poll or explicit");
  expect_error(
      (const char *[]){"--model-repository=/m", "--log-format=json", NULL},
      "--log-format", "default or ISO8601");
  expect_error((const char *[]){"--model-repository=", NULL},
               "--model-repository: invalid value \"\"", NULL);
  expect_error((const char *[]){"--help=yes", NULL}, "--help: takes no value",
               NULL);
  expect_error((const char *[]){"--http-port=1", NULL},
               "--model-repository: missing", NULL);
  expect_error((const char *[]){NULL}, "--model-repository: missing", NULL);
  /* a control character in a value stays on one line */
  expect_error(
      (const char *[]){"--model-repository=/m", "--http-port=1\n2", NULL},
      "--http-port", "\\x0a");
}

/* tritonserver's GPU memory flags: accepted and validated on any host */
static void test_gpu_memory_flags(void) {
  cmdline_t c;
  inferd_status_t *st =
      parse(&c, (const char *const[]){"--model-repository=/r", NULL});
  CHECK(st == NULL);
  CHECK(c.server.pinned_memory_pool_byte_size == 268435456);
  CHECK(c.server.n_cuda_memory_pools == 0);
  cmdline_deinit(&c);

  st = parse(&c,
             (const char *const[]){"--model-repository=/r",
                                   "--pinned-memory-pool-byte-size=1048576",
                                   "--cuda-memory-pool-byte-size=0:67108864",
                                   "--cuda-memory-pool-byte-size", "1:1Gi",
                                   "--cuda-memory-pool-byte-size=0:0", NULL});
  CHECK(st == NULL);
  CHECK(c.server.pinned_memory_pool_byte_size == 1048576);
  CHECK(c.server.n_cuda_memory_pools == 2);
  CHECK(c.server.cuda_memory_pool_devices[0] == 0);
  CHECK(c.server.cuda_memory_pool_byte_sizes[0] == 0); /* last one wins */
  CHECK(c.server.cuda_memory_pool_devices[1] == 1);
  CHECK(c.server.cuda_memory_pool_byte_sizes[1] == 1ull << 30);
  cmdline_deinit(&c);
  CHECK(c.server.n_cuda_memory_pools == 0);

  expect_error((const char *const[]){"--model-repository=/r",
                                     "--pinned-memory-pool-byte-size=-1", NULL},
               "--pinned-memory-pool-byte-size", "\"-1\"");
  static const char *const bad_pools[] = {
      "67108864", ":5", "0:", "-1:5", "x:5", "0:5X", "99999999999:5"};
  for (size_t i = 0; i < sizeof(bad_pools) / sizeof(bad_pools[0]); i++) {
    char arg[96];
    snprintf(arg, sizeof(arg), "--cuda-memory-pool-byte-size=%s", bad_pools[i]);
    expect_error((const char *const[]){"--model-repository=/r", arg, NULL},
                 "--cuda-memory-pool-byte-size", bad_pools[i]);
  }
}

int main(void) {
  test_defaults();
  test_all_flags();
  test_bare_booleans();
  test_control_modes();
  test_lifecycle_flags();
  test_lifecycle_errors();
  test_many_models_flags();
  test_many_models_errors();
  test_grpc_flags();
  test_help_version();
  test_errors();
  test_gpu_memory_flags();
  return UNIT_END();
}
