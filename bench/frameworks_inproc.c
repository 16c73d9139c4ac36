/*
 * frameworks_inproc.c: the in-process half of frameworks_bench.py: loads a
 * backend library through bench/frameworks_host.c (no server, no HTTP) and
 * calls its execute in a loop on one instance, one request of `batch` rows
 * per call, the way an instance thread of the server would. Prints one JSON
 * line with the throughput.
 *
 * Usage: frameworks_inproc LIB BACKEND MODEL_FILE IN_NAME OUT_NAME BATCH
 *                          SECONDS INTRA_THREADS
 * The model takes FP32 [batch,3,224,224] and gives FP32 [batch,1000]
 * (resnet18), max_batch_size 8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frameworks_host.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr,
            "usage: %s LIB BACKEND MODEL_FILE IN_NAME OUT_NAME BATCH "
            "SECONDS INTRA_THREADS\n",
            argv[0]);
    return 2;
  }
  long batch = strtol(argv[6], NULL, 10);
  double seconds = strtod(argv[7], NULL);
  if (batch < 1 || batch > 8 || seconds <= 0) {
    fprintf(stderr, "BATCH must be 1..8 and SECONDS > 0\n");
    return 2;
  }
  char err[2048];
  fh_backend_t *b = fh_backend_open(argv[1], argv[2], err, sizeof(err));
  if (!b) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  static const int64_t in_dims[] = {3, 224, 224}, out_dims[] = {1000};
  fh_model_t *m = fh_model_new(b, "bench", argv[3], 8);
  fh_model_add_io(m, false, argv[4], INFERD_TYPE_FP32, in_dims, 3);
  fh_model_add_io(m, true, argv[5], INFERD_TYPE_FP32, out_dims, 1);
  fh_model_set_param(m, "INTRA_OP_THREAD_COUNT", argv[8]);
  if (!fh_model_load(m, 1, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  size_t n = (size_t)batch * 3 * 224 * 224;
  float *x = malloc(n * sizeof(float));
  if (!x)
    return 1;
  for (size_t i = 0; i < n; i++)
    x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  int64_t shape[4] = {batch, 3, 224, 224};
  inferd_request_t *r = fh_request_new();
  fh_request_add_input(r, argv[4], INFERD_TYPE_FP32, shape, 4, x,
                       n * sizeof(float));
  fh_request_add_output(r, argv[5]);
  for (int i = 0; i < 3; i++) /* warm-up, as the server run gets */
    if (!fh_execute(m, 0, &r, 1, err, sizeof(err)) || fh_request_error(r)) {
      fprintf(stderr, "%s\n", fh_request_error(r) ? fh_request_error(r) : err);
      return 1;
    }
  long calls = 0;
  double t0 = now_s(), t;
  do {
    if (!fh_execute(m, 0, &r, 1, err, sizeof(err)) || fh_request_error(r)) {
      fprintf(stderr, "%s\n", fh_request_error(r) ? fh_request_error(r) : err);
      return 1;
    }
    calls++;
    t = now_s();
  } while (t - t0 < seconds);
  printf("{\"calls\": %ld, \"seconds\": %.3f, \"inferences_per_s\": %.2f, "
         "\"ms_per_call\": %.2f}\n",
         calls, t - t0, (double)(calls * batch) / (t - t0),
         1000.0 * (t - t0) / (double)calls);
  fh_request_free(r);
  fh_model_free(m);
  free(x);
  fh_backend_close(b);
  return 0;
}
