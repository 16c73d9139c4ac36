/*
 * test_onnx_unit.c: the onnx backend driven in-process through
 * bench/frameworks_host.c (no server): an exported MLP batched over several
 * requests gives the rows of single runs, the Identity-rewrite model loads
 * and runs, non-FP32 inputs are converted, load errors name what is wrong,
 * and model/instance teardown is clean over load/unload cycles (run under
 * ASan/LSan with tests/lsan.supp).
 *
 * Usage: onnx_unit_test MODELDIR  (made by tests/e2e/models/fw_models.py
 * MODELDIR onnx_mlp onnx_shared)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frameworks_host.h"

static int failures;
#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);    \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static char dir[2048];

static fh_model_t *mlp(fh_backend_t *b, const char *in_name,
                       inferd_datatype_t dt) {
  char path[2200];
  static const int64_t d16[] = {16}, d4[] = {4};
  snprintf(path, sizeof(path), "%s/onnx_mlp/1/model.onnx", dir);
  fh_model_t *m = fh_model_new(b, "onnx_mlp", path, 16);
  fh_model_add_io(m, false, in_name, dt, d16, 1);
  fh_model_add_io(m, true, "y", INFERD_TYPE_FP32, d4, 1);
  return m;
}

static const float *out_y(inferd_request_t *r, int64_t rows) {
  inferd_datatype_t dt;
  const int64_t *s;
  uint32_t nd;
  const void *data;
  uint64_t bs;
  if (!fh_request_output(r, "y", &dt, &s, &nd, &data, &bs)) {
    fprintf(stderr, "no output \"y\" (error: %s)\n",
            fh_request_error(r) ? fh_request_error(r) : "none");
    failures++;
    return NULL;
  }
  CHECK(dt == INFERD_TYPE_FP32 && nd == 2 && s[0] == rows && s[1] == 4 &&
        bs == (uint64_t)rows * 16);
  return data;
}

static void test_mlp(fh_backend_t *b) {
  char err[2048];
  for (int cycle = 0; cycle < 3; cycle++) {
    fh_model_t *m = mlp(b, "x", INFERD_TYPE_FP32);
    CHECK(fh_model_load(m, 2, err, sizeof(err)));
    float x[4][16];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 16; j++)
        x[i][j] = (float)cos(i * 16 + j);
    int64_t rows[3] = {1, 2, 1}, first[3] = {0, 1, 3};
    inferd_request_t *r[3];
    float single[16]; /* row i at single[4 * i] */
    for (int k = 0; k < 3; k++) {
      int64_t shape[2] = {rows[k], 16};
      r[k] = fh_request_new();
      fh_request_add_input(r[k], "x", INFERD_TYPE_FP32, shape, 2, x[first[k]],
                           (uint64_t)rows[k] * 64);
      CHECK(fh_execute(m, 1, &r[k], 1, err, sizeof(err)));
      const float *y = out_y(r[k], rows[k]);
      if (y)
        memcpy(&single[4 * first[k]], y, (size_t)rows[k] * 16);
    }
    CHECK(fh_execute(m, 0, r, 3, err, sizeof(err)));
    for (int k = 0; k < 3; k++) {
      const float *y = out_y(r[k], rows[k]);
      for (int j = 0; y && j < rows[k] * 4; j++)
        CHECK(fabsf(y[j] - single[4 * first[k] + j]) <=
              1e-5f * (1.0f + fabsf(y[j])));
      fh_request_free(r[k]);
    }
    fh_model_free(m);
  }
}

static void test_conversion(fh_backend_t *b) {
  char err[2048];
  fh_model_t *mf = mlp(b, "x", INFERD_TYPE_FP32);
  fh_model_t *md = mlp(b, "x", INFERD_TYPE_FP64);
  CHECK(fh_model_load(mf, 1, err, sizeof(err)));
  CHECK(fh_model_load(md, 1, err, sizeof(err)));
  float xf[16];
  double xd[16];
  for (int j = 0; j < 16; j++)
    xd[j] = xf[j] = (float)j / 8.0f;
  int64_t shape[2] = {1, 16};
  inferd_request_t *rf = fh_request_new(), *rd = fh_request_new();
  fh_request_add_input(rf, "x", INFERD_TYPE_FP32, shape, 2, xf, sizeof(xf));
  fh_request_add_input(rd, "x", INFERD_TYPE_FP64, shape, 2, xd, sizeof(xd));
  CHECK(fh_execute(mf, 0, &rf, 1, err, sizeof(err)));
  CHECK(fh_execute(md, 0, &rd, 1, err, sizeof(err)));
  const float *a = out_y(rf, 1), *c = out_y(rd, 1);
  CHECK(a && c);
  if (!a || !c)
    fprintf(stderr, "errors: %s / %s\n",
            fh_request_error(rf) ? fh_request_error(rf) : "-",
            fh_request_error(rd) ? fh_request_error(rd) : "-");
  for (int j = 0; a && c && j < 4; j++)
    if (a[j] != c[j]) {
      fprintf(stderr, "y[%d]: FP32 input gives %.9g, FP64 input %.9g\n", j,
              a[j], c[j]);
      failures++;
    }
  fh_request_free(rf);
  fh_request_free(rd);
  fh_model_free(mf);
  fh_model_free(md);
}

static void test_identity_model(fh_backend_t *b) {
  char err[2048], path[2200];
  static const int64_t d8[] = {8};
  snprintf(path, sizeof(path), "%s/onnx_shared/1/model.onnx", dir);
  fh_model_t *m = fh_model_new(b, "onnx_shared", path, 4);
  fh_model_add_io(m, false, "x", INFERD_TYPE_FP32, d8, 1);
  fh_model_add_io(m, true, "y", INFERD_TYPE_FP32, d8, 1);
  CHECK(fh_model_load(m, 1, err, sizeof(err)));
  fh_model_free(m);
}

static void test_load_errors(fh_backend_t *b) {
  char err[2048];
  fh_model_t *m = mlp(b, "z", INFERD_TYPE_FP32);
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "input \"z\" is not an input of the ONNX graph (graph "
                    "inputs: \"x\")"));
  fh_model_free(m);
  m = mlp(b, "x", INFERD_TYPE_BYTES);
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "data type BYTES is not supported by the onnx backend"));
  fh_model_free(m);
  m = fh_model_new(b, "missing", "/nonexistent/model.onnx", 0);
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "cannot open \"/nonexistent/model.onnx\""));
  fh_model_free(m);
  /* no config inputs and a host without model_set_config_json (ABI 1.0):
   * the error carries the completion from the graph */
  char path[2200];
  snprintf(path, sizeof(path), "%s/onnx_mlp/1/model.onnx", dir);
  m = fh_model_new(b, "noio", path, 0);
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "{\"max_batch_size\":4,\"input\":[{\"name\":\"x\","
                    "\"data_type\":\"TYPE_FP32\",\"dims\":[16]}]"));
  fh_model_free(m);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODELDIR\n", argv[0]);
    return 2;
  }
  snprintf(dir, sizeof(dir), "%s", argv[1]);
  char err[1024];
  fh_backend_t *b =
      fh_backend_open(INFERD_BACKEND_LIB, "onnx", err, sizeof(err));
  if (!b) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  test_mlp(b);
  test_conversion(b);
  test_identity_model(b);
  test_load_errors(b);
  fh_backend_close(b);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("onnx backend unit test: ok\n");
  return failures ? 1 : 0;
}
