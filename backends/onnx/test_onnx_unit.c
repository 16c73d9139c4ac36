/*
 * test_onnx_unit.c: the onnx backend driven in-process through the real
 * host (libinferd.so's embedding API, bench/inproc_client.c; no frontend):
 * an exported MLP batched over several requests gives the rows of single
 * runs, the Identity-rewrite model loads and runs, non-FP32 inputs are
 * converted, a config without inputs is completed from the graph, load
 * errors name what is wrong, and model/instance teardown is clean over
 * server start/stop cycles (run under ASan/LSan with tests/lsan.supp).
 *
 * Usage: onnx_unit_test MODELDIR  (made by tests/e2e/models/fw_models.py
 * MODELDIR onnx_mlp onnx_shared)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc_client.h"

static int failures;
#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);    \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static char dir[2048];

static bool failed(inferd_status_t *st, int line) {
  if (!st)
    return false;
  fprintf(stderr, "%s:%d: %s\n", __FILE__, line, inferd_status_message(st));
  inferd_status_free(st);
  failures++;
  return true;
}
#define FAILED(st) failed((st), __LINE__)

/* A repository with the given models (config i for name i, file
 * <dir>/<src i>/1/model.onnx unless src i is NULL) and a server over it;
 * returns the server's load error (NULL when it started). */
static inferd_status_t *start(size_t n, const char *const *names,
                              const char *const *configs,
                              const char *const *srcs, ic_repo_t **repo,
                              inferd_server_t **s) {
  *s = NULL;
  inferd_status_t *st = ic_repo_new(repo);
  for (size_t i = 0; !st && i < n; i++) {
    char file[2200];
    snprintf(file, sizeof(file), "%s/%s/1/model.onnx", dir,
             srcs[i] ? srcs[i] : "");
    st = ic_repo_add_model(*repo, names[i], configs[i], srcs[i] ? file : NULL,
                           "model.onnx");
  }
  if (!st)
    st = ic_server_new(s, ic_repo_path(*repo), INFERD_BACKEND_DIR, true);
  return st;
}

static void stop(ic_repo_t *repo, inferd_server_t *s) {
  ic_server_free(s);
  ic_repo_free(repo);
}

/* The MLP's config: input in_name of type (TYPE_*), max batch 16. */
static void mlp_config(char *buf, size_t n, const char *name,
                       const char *in_name, const char *type, int count) {
  snprintf(buf, n,
           "name: \"%s\"\nbackend: \"onnx\"\nmax_batch_size: 16\n"
           "input [ { name: \"%s\" data_type: %s dims: [ 16 ] } ]\n"
           "output [ { name: \"y\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "instance_group [ { count: %d kind: KIND_CPU } ]\n"
           "dynamic_batching { max_queue_delay_microseconds: 100000 }\n",
           name, in_name, type, count);
}

static const float *out_y(inferd_response_t *r, int64_t rows) {
  inferd_datatype_t dt;
  const int64_t *s;
  size_t nd, bs;
  const void *data;
  if (!ic_response_output(r, "y", &dt, &s, &nd, &data, &bs)) {
    const char *e = ic_response_error(r);
    fprintf(stderr, "no output \"y\" (error: %s)\n", e ? e : "none");
    failures++;
    return NULL;
  }
  bool ok = dt == INFERD_TYPE_FP32 && nd == 2 && s[0] == rows && s[1] == 4 &&
            bs == (size_t)rows * 16;
  CHECK(ok);
  return ok ? data : NULL;
}

static void test_mlp(void) {
  char cfg[1024];
  mlp_config(cfg, sizeof(cfg), "onnx_mlp", "x", "TYPE_FP32", 2);
  const char *names[] = {"onnx_mlp"}, *configs[] = {cfg},
             *srcs[] = {"onnx_mlp"};
  for (int cycle = 0; cycle < 3; cycle++) {
    ic_repo_t *repo = NULL;
    inferd_server_t *s = NULL;
    inferd_model_t *m = NULL;
    if (FAILED(start(1, names, configs, srcs, &repo, &s)) ||
        FAILED(inferd_server_model_acquire(s, "onnx_mlp", 8, -1, &m))) {
      stop(repo, s);
      return;
    }
    float x[4][16];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 16; j++)
        x[i][j] = (float)cos(i * 16 + j);
    int64_t rows[3] = {1, 2, 1}, first[3] = {0, 1, 3};
    inferd_request_t *r[3] = {NULL};
    inferd_response_t *resp[3] = {NULL};
    float single[16] = {0}; /* row i at single[4 * i] */
    for (int k = 0; k < 3; k++) {
      int64_t shape[2] = {rows[k], 16};
      FAILED(inferd_request_new(&r[k], m));
      FAILED(ic_request_input(r[k], "x", INFERD_TYPE_FP32, shape, 2,
                              x[first[k]], (size_t)rows[k] * 64));
      FAILED(ic_infer(s, &r[k], 1, &resp[k]));
      const float *y = out_y(resp[k], rows[k]);
      if (y)
        memcpy(&single[4 * first[k]], y, (size_t)rows[k] * 16);
      inferd_response_free(resp[k]);
    }
    /* the three together: one execute of 4 rows (dynamic batching) */
    FAILED(ic_infer(s, r, 3, resp));
    for (int k = 0; k < 3; k++) {
      const float *y = out_y(resp[k], rows[k]);
      for (int j = 0; y && j < rows[k] * 4; j++)
        CHECK(fabsf(y[j] - single[4 * first[k] + j]) <=
              1e-5f * (1.0f + fabsf(y[j])));
      inferd_response_free(resp[k]);
      inferd_request_free(r[k]);
    }
    /* 3 single executions, then 1 for the batch of three requests */
    uint64_t inferences = 0, executions = 0;
    FAILED(ic_model_counts(s, "onnx_mlp", 4, &inferences, &executions));
    if (inferences != 8 || executions != 4) {
      fprintf(stderr,
              "%s:%d: %llu inferences in %llu executions, want 8 in 4\n",
              __FILE__, __LINE__, (unsigned long long)inferences,
              (unsigned long long)executions);
      failures++;
    }
    inferd_model_release(m);
    stop(repo, s);
  }
}

static void test_conversion(void) {
  char cf[1024], cd[1024];
  mlp_config(cf, sizeof(cf), "mlp32", "x", "TYPE_FP32", 1);
  mlp_config(cd, sizeof(cd), "mlp64", "x", "TYPE_FP64", 1);
  const char *names[] = {"mlp32", "mlp64"}, *configs[] = {cf, cd},
             *srcs[] = {"onnx_mlp", "onnx_mlp"};
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_model_t *mf = NULL, *md = NULL;
  if (FAILED(start(2, names, configs, srcs, &repo, &s)) ||
      FAILED(inferd_server_model_acquire(s, "mlp32", 5, -1, &mf)) ||
      FAILED(inferd_server_model_acquire(s, "mlp64", 5, -1, &md))) {
    inferd_model_release(mf);
    stop(repo, s);
    return;
  }
  float xf[16];
  double xd[16];
  for (int j = 0; j < 16; j++)
    xd[j] = xf[j] = (float)j / 8.0f;
  int64_t shape[2] = {1, 16};
  inferd_request_t *r[2] = {NULL};
  inferd_response_t *resp[2] = {NULL};
  FAILED(inferd_request_new(&r[0], mf));
  FAILED(inferd_request_new(&r[1], md));
  FAILED(
      ic_request_input(r[0], "x", INFERD_TYPE_FP32, shape, 2, xf, sizeof(xf)));
  FAILED(
      ic_request_input(r[1], "x", INFERD_TYPE_FP64, shape, 2, xd, sizeof(xd)));
  FAILED(ic_infer(s, r, 2, resp));
  const float *a = out_y(resp[0], 1), *c = out_y(resp[1], 1);
  CHECK(a && c);
  for (int j = 0; a && c && j < 4; j++)
    if (a[j] != c[j]) {
      fprintf(stderr, "y[%d]: FP32 input gives %.9g, FP64 input %.9g\n", j,
              a[j], c[j]);
      failures++;
    }
  for (int k = 0; k < 2; k++) {
    inferd_response_free(resp[k]);
    inferd_request_free(r[k]);
  }
  inferd_model_release(mf);
  inferd_model_release(md);
  stop(repo, s);
}

static void test_identity_model(void) {
  const char *names[] = {"onnx_shared"},
             *configs[] = {"name: \"onnx_shared\"\nbackend: \"onnx\"\n"
                           "max_batch_size: 4\n"
                           "input [ { name: \"x\" data_type: TYPE_FP32 "
                           "dims: [ 8 ] } ]\n"
                           "output [ { name: \"y\" data_type: TYPE_FP32 "
                           "dims: [ 8 ] } ]\n"},
             *srcs[] = {"onnx_shared"};
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_model_t *m = NULL;
  if (FAILED(start(1, names, configs, srcs, &repo, &s)) ||
      FAILED(inferd_server_model_acquire(s, "onnx_shared", 11, -1, &m))) {
    stop(repo, s);
    return;
  }
  float x[8];
  for (int j = 0; j < 8; j++)
    x[j] = (float)j - 3.5f;
  int64_t shape[2] = {1, 8};
  inferd_request_t *r = NULL;
  inferd_response_t *resp = NULL;
  FAILED(inferd_request_new(&r, m));
  FAILED(ic_request_input(r, "x", INFERD_TYPE_FP32, shape, 2, x, sizeof(x)));
  FAILED(ic_infer(s, &r, 1, &resp));
  CHECK(ic_response_error(resp) == NULL);
  inferd_response_free(resp);
  inferd_request_free(r);
  inferd_model_release(m);
  stop(repo, s);
}

/* A config without inputs or outputs: the host asks the backend to complete
 * it from the graph (auto-complete is on by default). */
static void test_autocomplete(void) {
  const char *names[] = {"noio"},
             *configs[] = {"name: \"noio\"\nbackend: \"onnx\"\n"},
             *srcs[] = {"onnx_mlp"};
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_model_t *m = NULL;
  if (FAILED(start(1, names, configs, srcs, &repo, &s)) ||
      FAILED(inferd_server_model_acquire(s, "noio", 4, -1, &m))) {
    stop(repo, s);
    return;
  }
  CHECK(inferd_model_input_count(m) == 1 && inferd_model_output_count(m) == 1);
  if (inferd_model_input_count(m) == 1) {
    const char *name;
    inferd_datatype_t dt;
    const int64_t *dims;
    size_t nd;
    inferd_model_input(m, 0, &name, &dt, &dims, &nd);
    CHECK(strcmp(name, "x") == 0 && dt == INFERD_TYPE_FP32 && nd == 1 &&
          dims[0] == 16);
  }
  CHECK(inferd_model_max_batch_size(m) == 4);
  inferd_model_release(m);
  stop(repo, s);
}

static void expect_load_error(const char *config, const char *src,
                              const char *frag) {
  const char *names[] = {"bad"}, *configs[] = {config}, *srcs[] = {src};
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_status_t *st = start(1, names, configs, srcs, &repo, &s);
  CHECK(st != NULL && s == NULL);
  if (st && !strstr(inferd_status_message(st), frag)) {
    fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,
            __LINE__, inferd_status_message(st), frag);
    failures++;
  }
  inferd_status_free(st);
  stop(repo, s);
}

static void test_load_errors(void) {
  char cfg[1024];
  mlp_config(cfg, sizeof(cfg), "bad", "z", "TYPE_FP32", 1);
  expect_load_error(cfg, "onnx_mlp",
                    "input \"z\" is not an input of the ONNX graph (graph "
                    "inputs: \"x\")");
  mlp_config(cfg, sizeof(cfg), "bad", "x", "TYPE_STRING", 1);
  expect_load_error(cfg, "onnx_mlp",
                    "data type BYTES is not supported by the onnx backend");
  /* no model file in the version directory */
  mlp_config(cfg, sizeof(cfg), "bad", "x", "TYPE_FP32", 1);
  expect_load_error(cfg, NULL, "model.onnx");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODELDIR\n", argv[0]);
    return 2;
  }
  snprintf(dir, sizeof(dir), "%s", argv[1]);
  inferd_log_settings_t log;
  inferd_log_get(&log);
  log.log_info = false;
  log.log_error = false; /* the expected load errors would flood the output */
  inferd_log_set(&log);
  test_mlp();
  test_conversion();
  test_identity_model();
  test_autocomplete();
  test_load_errors();
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("onnx backend unit test: ok\n");
  return failures ? 1 : 0;
}
