/*
 * frameworks_inproc.c: the in-process half of frameworks_bench.py: starts
 * the server of libinferd.so over a repository holding one model (no HTTP,
 * no gRPC) and sends it one request of `batch` rows at a time in a loop,
 * each submitted when the previous one is released: the backend's execute
 * on one instance plus the host's scheduling hop, without a frontend. Prints
 * one JSON line with the throughput.
 *
 * Usage: frameworks_inproc REPO MODEL IN_NAME OUT_NAME BATCH SECONDS
 *                          [BACKEND_DIR]
 * REPO holds MODEL only (every model of the repository is loaded); its
 * config sets the instance count and thread parameters. The model takes
 * FP32 [batch,3,224,224] (resnet18). BACKEND_DIR defaults to the build's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inproc_client.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request, then its response checked and freed; 0 on success. */
static int run_once(inferd_server_t *s, inferd_request_t *r) {
  inferd_response_t *resp = NULL;
  inferd_status_t *st = ic_infer(s, &r, 1, &resp);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    inferd_status_free(st);
    return 1;
  }
  const char *e = ic_response_error(resp);
  if (e)
    fprintf(stderr, "%s\n", e);
  inferd_response_free(resp);
  return e ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr,
            "usage: %s REPO MODEL IN_NAME OUT_NAME BATCH SECONDS "
            "[BACKEND_DIR]\n",
            argv[0]);
    return 2;
  }
  const char *model_name = argv[2], *in_name = argv[3], *out_name = argv[4];
  long batch = strtol(argv[5], NULL, 10);
  double seconds = strtod(argv[6], NULL);
  if (batch < 1 || batch > 8 || seconds <= 0) {
    fprintf(stderr, "BATCH must be 1..8 and SECONDS > 0\n");
    return 2;
  }
  inferd_log_settings_t log;
  inferd_log_get(&log);
  log.log_info = false; /* the JSON line is the output */
  inferd_log_set(&log);

  inferd_server_t *s = NULL;
  inferd_model_t *m = NULL;
  inferd_request_t *r = NULL;
  float *x = NULL;
  int rc = 1;
  inferd_status_t *st = ic_server_new(
      &s, argv[1], argc == 8 ? argv[7] : INFERD_BACKEND_DIR, true);
  if (!st)
    st = inferd_server_model_acquire(s, model_name, strlen(model_name), -1, &m);
  size_t n = (size_t)batch * 3 * 224 * 224;
  int64_t shape[4] = {batch, 3, 224, 224};
  if (!st && !(x = malloc(n * sizeof(float))))
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  if (!st) {
    for (size_t i = 0; i < n; i++)
      x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    st = inferd_request_new(&r, m);
  }
  if (!st)
    st = ic_request_input(r, in_name, INFERD_TYPE_FP32, shape, 4, x,
                          n * sizeof(float));
  if (!st)
    st = inferd_request_add_requested_output(r, out_name, strlen(out_name));
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    inferd_status_free(st);
    goto out;
  }
  for (int i = 0; i < 3; i++) /* warm-up, as the server run gets */
    if (run_once(s, r))
      goto out;
  long calls = 0;
  double t0 = now_s(), t;
  do {
    if (run_once(s, r))
      goto out;
    calls++;
    t = now_s();
  } while (t - t0 < seconds);
  printf("{\"calls\": %ld, \"seconds\": %.3f, \"inferences_per_s\": %.2f, "
         "\"ms_per_call\": %.2f}\n",
         calls, t - t0, (double)(calls * batch) / (t - t0),
         1000.0 * (t - t0) / (double)calls);
  rc = 0;
out:
  inferd_request_free(r);
  inferd_model_release(m);
  ic_server_free(s);
  free(x);
  return rc;
}
