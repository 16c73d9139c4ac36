/*
 * test_pytorch_unit.c: the pytorch backend driven in-process through the
 * real host (libinferd.so's embedding API, bench/inproc_client.c; no
 * frontend): results of a TorchScript add/sub module, dynamic batching of
 * several requests into one execute (concatenated along dim 0 and split
 * back), what the host refuses before the backend sees it, load errors, and
 * model/instance teardown (server start/stop cycles; run under ASan/LSan
 * with tests/lsan.supp).
 *
 * Usage: pytorch_unit_test MODELDIR  (made by tests/e2e/models/fw_models.py
 * MODELDIR pt_add_sub pt_mlp)
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

/* Prints and frees a status that should not have happened; true if st. */
static bool failed(inferd_status_t *st, int line) {
  if (!st)
    return false;
  fprintf(stderr, "%s:%d: %s\n", __FILE__, line, inferd_status_message(st));
  inferd_status_free(st);
  failures++;
  return true;
}
#define FAILED(st) failed((st), __LINE__)

/* A repository with one model (file <dir>/<src>/1/model.pt unless NULL) and
 * a server over it; returns the server's load error (NULL when it started).
 */
static inferd_status_t *start(const char *name, const char *config,
                              const char *src, ic_repo_t **repo,
                              inferd_server_t **s) {
  *s = NULL;
  inferd_status_t *st = ic_repo_new(repo);
  if (st)
    return st;
  char file[2200];
  snprintf(file, sizeof(file), "%s/%s/1/model.pt", dir, src ? src : "");
  st = ic_repo_add_model(*repo, name, config, src ? file : NULL, "model.pt");
  if (!st)
    st = ic_server_new(s, ic_repo_path(*repo), INFERD_BACKEND_DIR, true);
  return st;
}

static void stop(ic_repo_t *repo, inferd_server_t *s) {
  ic_server_free(s);
  ic_repo_free(repo);
}

static const char add_sub_config[] =
    "name: \"pt_add_sub\"\nbackend: \"pytorch\"\nmax_batch_size: 8\n"
    "input [ { name: \"%s\" data_type: %s dims: [ 4 ] },\n"
    "        { name: \"INPUT1\" data_type: %s dims: [ 4 ] } ]\n"
    "output [ { name: \"OUTPUT__0\" data_type: %s dims: [ 4 ] },\n"
    "         { name: \"OUTPUT__1\" data_type: %s dims: [ 4 ] } ]\n"
    "instance_group [ { count: 2 kind: KIND_CPU } ]\n"
    "dynamic_batching { max_queue_delay_microseconds: 100000 }\n";

static void add_sub_text(char *buf, size_t n, const char *in0,
                         const char *type) {
  snprintf(buf, n, add_sub_config, in0, type, type, type, type);
}

/* Expects infer_async to refuse req with a message containing frag. */
static void expect_refused(inferd_server_t *s, inferd_request_t *req,
                           const char *frag) {
  inferd_response_t *resp = NULL;
  inferd_status_t *st = ic_infer(s, &req, 1, &resp);
  CHECK(st && inferd_status_code(st) == INFERD_INVALID_ARG);
  if (st && !strstr(inferd_status_message(st), frag)) {
    fprintf(stderr, "\"%s\" does not contain \"%s\"\n",
            inferd_status_message(st), frag);
    failures++;
  }
  CHECK(resp == NULL);
  inferd_status_free(st);
}

static void test_add_sub(void) {
  char cfg[2048];
  add_sub_text(cfg, sizeof(cfg), "INPUT0", "TYPE_FP32");
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_model_t *m = NULL;
  if (FAILED(start("pt_add_sub", cfg, "pt_add_sub", &repo, &s)) ||
      FAILED(inferd_server_model_acquire(s, "pt_add_sub", 10, -1, &m))) {
    stop(repo, s);
    return;
  }
  /* three requests with batch sizes 1, 2, 1, queued together: the dynamic
   * batcher hands them to one execute */
  float a[4][4], c[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      a[i][j] = (float)(i * 10 + j);
      c[i][j] = 0.5f * (float)j;
    }
  int64_t batch[3] = {1, 2, 1}, row[3] = {0, 1, 3};
  inferd_request_t *r[3] = {NULL};
  inferd_response_t *resp[3] = {NULL};
  for (int k = 0; k < 3; k++) {
    int64_t shape[2] = {batch[k], 4};
    FAILED(inferd_request_new(&r[k], m));
    FAILED(ic_request_input(r[k], "INPUT0", INFERD_TYPE_FP32, shape, 2,
                            a[row[k]], (size_t)batch[k] * 16));
    FAILED(ic_request_input(r[k], "INPUT1", INFERD_TYPE_FP32, shape, 2,
                            c[row[k]], (size_t)batch[k] * 16));
    FAILED(inferd_request_add_requested_output(r[k], "OUTPUT__0", 9));
    FAILED(inferd_request_add_requested_output(r[k], "OUTPUT__1", 9));
  }
  FAILED(ic_infer(s, r, 3, resp));
  for (int k = 0; k < 3; k++) {
    CHECK(ic_response_error(resp[k]) == NULL);
    inferd_datatype_t dt;
    const int64_t *shape;
    size_t nd;
    const void *data;
    size_t bs;
    const float *ak = &a[0][0] + row[k] * 4, *ck = &c[0][0] + row[k] * 4;
    if (ic_response_output(resp[k], "OUTPUT__0", &dt, &shape, &nd, &data,
                           &bs)) {
      CHECK(dt == INFERD_TYPE_FP32 && nd == 2 && shape[0] == batch[k] &&
            shape[1] == 4 && bs == (size_t)batch[k] * 16);
      for (int64_t i = 0; i < batch[k] * 4 && bs == (size_t)batch[k] * 16; i++)
        CHECK(((const float *)data)[i] == ak[i] + ck[i]);
    } else {
      CHECK(!"no OUTPUT__0");
    }
    if (ic_response_output(resp[k], "OUTPUT__1", &dt, &shape, &nd, &data,
                           &bs)) {
      for (int64_t i = 0; i < batch[k] * 4 && bs == (size_t)batch[k] * 16; i++)
        CHECK(((const float *)data)[i] == ak[i] - ck[i]);
    } else {
      CHECK(!"no OUTPUT__1");
    }
    inferd_response_free(resp[k]);
    inferd_request_free(r[k]);
  }
  uint64_t inferences = 0, executions = 0;
  FAILED(ic_model_counts(s, "pt_add_sub", 1, &inferences, &executions));
  if (inferences != 4 || executions != 1) {
    fprintf(stderr, "%s:%d: %llu inferences in %llu executions, want 4 in 1\n",
            __FILE__, __LINE__, (unsigned long long)inferences,
            (unsigned long long)executions);
    failures++;
  }

  /* the host checks types and shapes against the config before the
   * backend sees the request */
  int64_t s1[2] = {1, 4}, s5[2] = {1, 5};
  int32_t ints[4] = {0};
  float five[5] = {0};
  inferd_request_t *bad = NULL;
  if (!FAILED(inferd_request_new(&bad, m))) {
    FAILED(ic_request_input(bad, "INPUT0", INFERD_TYPE_INT32, s1, 2, ints, 16));
    FAILED(ic_request_input(bad, "INPUT1", INFERD_TYPE_INT32, s1, 2, ints, 16));
    expect_refused(s, bad, "INT32");
    inferd_request_free(bad);
  }
  if (!FAILED(inferd_request_new(&bad, m))) {
    FAILED(ic_request_input(bad, "INPUT0", INFERD_TYPE_FP32, s5, 2, five, 20));
    expect_refused(s, bad, "INPUT0");
    inferd_request_free(bad);
  }
  inferd_model_release(m);
  stop(repo, s);
}

/* A server that must not start; its error must contain frag. */
static void expect_load_error(const char *name, const char *config,
                              const char *src, const char *frag) {
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_status_t *st = start(name, config, src, &repo, &s);
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
  char cfg[2048];
  /* input name that matches neither forward()'s arguments nor NAME__k */
  add_sub_text(cfg, sizeof(cfg), "WRONG", "TYPE_FP32");
  expect_load_error("pt_add_sub", cfg, "pt_add_sub",
                    "input \"WRONG\" matches no argument of forward()");
  expect_load_error("pt_add_sub", cfg, "pt_add_sub", "\"INPUT0\", \"INPUT1\"");
  /* BYTES is not a tensor type of libtorch */
  add_sub_text(cfg, sizeof(cfg), "INPUT0", "TYPE_STRING");
  expect_load_error("pt_add_sub", cfg, "pt_add_sub",
                    "data type BYTES is not supported by the pytorch backend");
  /* no TorchScript file in the version directory */
  expect_load_error("nofile",
                    "name: \"nofile\"\nbackend: \"pytorch\"\n"
                    "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 "
                    "dims: [ 4 ] } ]\n"
                    "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 "
                    "dims: [ 4 ] } ]\n",
                    NULL, "model.pt");
  /* bad parameter */
  expect_load_error(
      "pt_mlp",
      "name: \"pt_mlp\"\nbackend: \"pytorch\"\nmax_batch_size: 16\n"
      "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 dims: [ 16 ] } ]\n"
      "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
      "parameters { key: \"INTRA_OP_THREAD_COUNT\" "
      "value { string_value: \"two\" } }\n",
      "pt_mlp", "parameter \"INTRA_OP_THREAD_COUNT\": expected an integer");
}

static const char mlp_config[] =
    "name: \"pt_mlp\"\nbackend: \"pytorch\"\nmax_batch_size: 16\n"
    "input [ { name: \"INPUT__0\" data_type: TYPE_FP32 dims: [ 16 ] } ]\n"
    "output [ { name: \"OUTPUT__0\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
    "instance_group [ { count: 1 kind: KIND_CPU } ]\n"
    "dynamic_batching { max_queue_delay_microseconds: 100000 }\n"
    "parameters { key: \"INTRA_OP_THREAD_COUNT\" "
    "value { string_value: \"1\" } }\n";

/* The MLP batched over requests gives the same rows as one request each. */
static void test_mlp_batch_consistency(void) {
  for (int cycle = 0; cycle < 3; cycle++) { /* load/unload cycles */
    ic_repo_t *repo = NULL;
    inferd_server_t *s = NULL;
    inferd_model_t *m = NULL;
    if (FAILED(start("pt_mlp", mlp_config, "pt_mlp", &repo, &s)) ||
        FAILED(inferd_server_model_acquire(s, "pt_mlp", 6, -1, &m))) {
      stop(repo, s);
      return;
    }
    float x[3][16];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 16; j++)
        x[i][j] = (float)sin(i * 16 + j);
    inferd_request_t *r[3] = {NULL};
    inferd_response_t *resp[3] = {NULL};
    float single[3][4] = {{0}};
    int64_t shape[2] = {1, 16};
    for (int k = 0; k < 3; k++) {
      FAILED(inferd_request_new(&r[k], m));
      FAILED(ic_request_input(r[k], "INPUT__0", INFERD_TYPE_FP32, shape, 2,
                              x[k], 64));
      FAILED(ic_infer(s, &r[k], 1, &resp[k]));
      inferd_datatype_t dt;
      const int64_t *sh;
      size_t nd, bs;
      const void *data;
      bool ok =
          ic_response_output(resp[k], "OUTPUT__0", &dt, &sh, &nd, &data, &bs) &&
          bs == 16;
      CHECK(ok);
      if (ok)
        memcpy(single[k], data, 16);
      inferd_response_free(resp[k]);
    }
    FAILED(ic_infer(s, r, 3, resp));
    for (int k = 0; k < 3; k++) {
      inferd_datatype_t dt;
      const int64_t *sh;
      size_t nd, bs;
      const void *data;
      bool ok =
          ic_response_output(resp[k], "OUTPUT__0", &dt, &sh, &nd, &data, &bs) &&
          bs == 16;
      CHECK(ok);
      for (int j = 0; ok && j < 4; j++)
        CHECK(fabsf(((const float *)data)[j] - single[k][j]) <=
              1e-5f * (1.0f + fabsf(single[k][j])));
      inferd_response_free(resp[k]);
      inferd_request_free(r[k]);
    }
    inferd_model_release(m);
    stop(repo, s);
  }
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
  test_add_sub();
  test_load_errors();
  test_mlp_batch_consistency();
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("pytorch backend unit test: ok\n");
  return failures ? 1 : 0;
}
