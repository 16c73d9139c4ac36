/*
 * test_pytorch_unit.c: the pytorch backend driven in-process through
 * bench/frameworks_host.c (no server): results of a TorchScript add/sub
 * module, batching of several requests (concatenated along dim 0 and split
 * back), per-request errors, load errors, and model/instance teardown
 * (load/unload cycles; run under ASan/LSan with tests/lsan.supp).
 *
 * Usage: pytorch_unit_test MODELDIR  (made by tests/e2e/models/fw_models.py
 * MODELDIR pt_add_sub pt_mlp)
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
static const int64_t d4[] = {4}, d16[] = {16}, d4o[] = {4};

static fh_model_t *add_sub_model(fh_backend_t *b, inferd_datatype_t dt,
                                 const char *in0) {
  char path[2200];
  snprintf(path, sizeof(path), "%s/pt_add_sub/1/model.pt", dir);
  fh_model_t *m = fh_model_new(b, "pt_add_sub", path, 8);
  fh_model_add_io(m, false, in0, dt, d4, 1);
  fh_model_add_io(m, false, "INPUT1", dt, d4, 1);
  fh_model_add_io(m, true, "OUTPUT__0", dt, d4, 1);
  fh_model_add_io(m, true, "OUTPUT__1", dt, d4, 1);
  return m;
}

static void test_add_sub(fh_backend_t *b) {
  char err[2048];
  fh_model_t *m = add_sub_model(b, INFERD_TYPE_FP32, "INPUT0");
  CHECK(fh_model_load(m, 2, err, sizeof(err)));
  /* three requests with batch sizes 1, 2, 1 in one execute */
  float a[4][4], c[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      a[i][j] = (float)(i * 10 + j);
      c[i][j] = 0.5f * (float)j;
    }
  int64_t batch[3] = {1, 2, 1}, row[3] = {0, 1, 3};
  inferd_request_t *r[4];
  for (int k = 0; k < 3; k++) {
    int64_t shape[2] = {batch[k], 4};
    r[k] = fh_request_new();
    fh_request_add_input(r[k], "INPUT0", INFERD_TYPE_FP32, shape, 2, a[row[k]],
                         (uint64_t)batch[k] * 16);
    fh_request_add_input(r[k], "INPUT1", INFERD_TYPE_FP32, shape, 2, c[row[k]],
                         (uint64_t)batch[k] * 16);
    fh_request_add_output(r[k], "OUTPUT__0");
    fh_request_add_output(r[k], "OUTPUT__1");
  }
  /* a fourth with the wrong type fails alone */
  int64_t s1[2] = {1, 4};
  int32_t ints[4] = {0};
  r[3] = fh_request_new();
  fh_request_add_input(r[3], "INPUT0", INFERD_TYPE_INT32, s1, 2, ints, 16);
  fh_request_add_input(r[3], "INPUT1", INFERD_TYPE_INT32, s1, 2, ints, 16);
  CHECK(fh_execute(m, 1, r, 4, err, sizeof(err)));
  for (int k = 0; k < 3; k++) {
    CHECK(fh_request_error(r[k]) == NULL);
    inferd_datatype_t dt;
    const int64_t *shape;
    uint32_t nd;
    const void *data;
    uint64_t bs;
    CHECK(fh_request_output(r[k], "OUTPUT__0", &dt, &shape, &nd, &data, &bs));
    CHECK(dt == INFERD_TYPE_FP32 && nd == 2 && shape[0] == batch[k] &&
          shape[1] == 4 && bs == (uint64_t)batch[k] * 16);
    const float *ak = &a[0][0] + row[k] * 4, *ck = &c[0][0] + row[k] * 4;
    for (int64_t i = 0; i < batch[k] * 4; i++)
      CHECK(((const float *)data)[i] == ak[i] + ck[i]);
    CHECK(fh_request_output(r[k], "OUTPUT__1", &dt, &shape, &nd, &data, &bs));
    for (int64_t i = 0; i < batch[k] * 4; i++)
      CHECK(((const float *)data)[i] == ak[i] - ck[i]);
  }
  CHECK(fh_request_error(r[3]) &&
        strstr(fh_request_error(r[3]), "input \"INPUT0\": expected FP32, got "
                                       "INT32"));
  /* missing input, wrong shape */
  inferd_request_t *bad = fh_request_new();
  int64_t s5[2] = {1, 5};
  float five[5] = {0};
  fh_request_add_input(bad, "INPUT0", INFERD_TYPE_FP32, s5, 2, five, 20);
  CHECK(fh_execute(m, 0, &bad, 1, err, sizeof(err)));
  CHECK(fh_request_error(bad) &&
        strstr(fh_request_error(bad), "expected shape [-1]+[4], got [1,5]"));
  fh_request_free(bad);
  for (int k = 0; k < 4; k++)
    fh_request_free(r[k]);
  fh_model_free(m);
}

static void test_load_errors(fh_backend_t *b) {
  char err[2048];
  /* input name that matches neither forward()'s arguments nor NAME__k */
  fh_model_t *m = add_sub_model(b, INFERD_TYPE_FP32, "WRONG");
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "input \"WRONG\" matches no argument of forward()") &&
        strstr(err, "\"INPUT0\", \"INPUT1\""));
  fh_model_free(m);
  /* BYTES is not a tensor type of libtorch */
  m = add_sub_model(b, INFERD_TYPE_BYTES, "INPUT0");
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "data type BYTES is not supported by the pytorch backend"));
  fh_model_free(m);
  /* not a TorchScript file */
  m = fh_model_new(b, "nofile", "/nonexistent/model.pt", 0);
  fh_model_add_io(m, false, "INPUT__0", INFERD_TYPE_FP32, d4, 1);
  fh_model_add_io(m, true, "OUTPUT__0", INFERD_TYPE_FP32, d4, 1);
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(strstr(err, "cannot load TorchScript file \"/nonexistent/model.pt\""));
  fh_model_free(m);
  /* bad parameter */
  char path[2200];
  snprintf(path, sizeof(path), "%s/pt_mlp/1/model.pt", dir);
  m = fh_model_new(b, "pt_mlp", path, 16);
  fh_model_add_io(m, false, "INPUT__0", INFERD_TYPE_FP32, d16, 1);
  fh_model_add_io(m, true, "OUTPUT__0", INFERD_TYPE_FP32, d4o, 1);
  fh_model_set_param(m, "INTRA_OP_THREAD_COUNT", "two");
  CHECK(!fh_model_load(m, 1, err, sizeof(err)));
  CHECK(
      strstr(err, "parameter \"INTRA_OP_THREAD_COUNT\": expected an integer"));
  fh_model_free(m);
}

/* The MLP batched over requests gives the same rows as one request each. */
static void test_mlp_batch_consistency(fh_backend_t *b) {
  char err[2048], path[2200];
  snprintf(path, sizeof(path), "%s/pt_mlp/1/model.pt", dir);
  for (int cycle = 0; cycle < 3; cycle++) { /* load/unload cycles */
    fh_model_t *m = fh_model_new(b, "pt_mlp", path, 16);
    fh_model_add_io(m, false, "INPUT__0", INFERD_TYPE_FP32, d16, 1);
    fh_model_add_io(m, true, "OUTPUT__0", INFERD_TYPE_FP32, d4o, 1);
    fh_model_set_param(m, "INTRA_OP_THREAD_COUNT", "1");
    CHECK(fh_model_load(m, 1, err, sizeof(err)));
    float x[3][16];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 16; j++)
        x[i][j] = (float)sin(i * 16 + j);
    inferd_request_t *r[3];
    float single[3][4];
    int64_t shape[2] = {1, 16};
    for (int k = 0; k < 3; k++) {
      r[k] = fh_request_new();
      fh_request_add_input(r[k], "INPUT__0", INFERD_TYPE_FP32, shape, 2, x[k],
                           64);
      fh_request_add_output(r[k], "OUTPUT__0");
      CHECK(fh_execute(m, 0, &r[k], 1, err, sizeof(err)));
      inferd_datatype_t dt;
      const int64_t *s;
      uint32_t nd;
      const void *data;
      uint64_t bs;
      CHECK(fh_request_output(r[k], "OUTPUT__0", &dt, &s, &nd, &data, &bs) &&
            bs == 16);
      memcpy(single[k], data, 16);
    }
    CHECK(fh_execute(m, 0, r, 3, err, sizeof(err)));
    for (int k = 0; k < 3; k++) {
      inferd_datatype_t dt;
      const int64_t *s;
      uint32_t nd;
      const void *data;
      uint64_t bs;
      CHECK(fh_request_output(r[k], "OUTPUT__0", &dt, &s, &nd, &data, &bs) &&
            bs == 16);
      for (int j = 0; j < 4; j++)
        CHECK(fabsf(((const float *)data)[j] - single[k][j]) <=
              1e-5f * (1.0f + fabsf(single[k][j])));
      fh_request_free(r[k]);
    }
    fh_model_free(m);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODELDIR\n", argv[0]);
    return 2;
  }
  snprintf(dir, sizeof(dir), "%s", argv[1]);
  char err[1024];
  fh_backend_t *b =
      fh_backend_open(INFERD_BACKEND_LIB, "pytorch", err, sizeof(err));
  if (!b) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  test_add_sub(b);
  test_load_errors(b);
  test_mlp_batch_consistency(b);
  fh_backend_close(b);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("pytorch backend unit test: ok\n");
  return failures ? 1 : 0;
}
