/*
 * ort_inproc.c: the baseline of bench/ort_bench.py: ONNX Runtime driven
 * in-process, without inferd, through the same C API declarations and
 * loader as the onnxruntime backend (backends/onnxruntime/ort_api.h), with
 * the thread settings the served model gets. Runs one model with one FP32
 * input in a loop for a number of seconds and prints
 *   {"inferences_per_s": N, "runs": R}
 * (inferences = runs * batch, the batch being the first dim of the shape).
 *
 * Usage: ort_inproc MODEL INPUT OUTPUT SHAPE SECONDS INTRA_THREADS
 *   SHAPE: comma-separated dims, e.g. 8,3,224,224
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ort_api.h"

#ifndef INFERD_ORT_LIBRARY
#define INFERD_ORT_LIBRARY "libonnxruntime.so.1"
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(const ort_api_t *api, OrtStatus *st, const char *what) {
  if (!st)
    return 0;
  char msg[1024];
  ort_status_take(api, st, msg, sizeof(msg));
  fprintf(stderr, "ort_inproc: %s: %s\n", what, msg);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s MODEL INPUT OUTPUT SHAPE SECONDS "
                    "INTRA_THREADS\n",
            argv[0]);
    return 2;
  }
  int64_t shape[16];
  size_t n_dims = 0, count = 1;
  for (char *p = argv[4], *end; *p && n_dims < 16; p = *end ? end + 1 : end) {
    shape[n_dims] = strtoll(p, &end, 10);
    if (end == p || shape[n_dims] <= 0) {
      fprintf(stderr, "ort_inproc: bad shape \"%s\"\n", argv[4]);
      return 2;
    }
    count *= (size_t)shape[n_dims++];
  }
  double seconds = strtod(argv[5], NULL);
  int threads = (int)strtol(argv[6], NULL, 10);
  ort_api_t api;
  char err[1024];
  if (!ort_api_open(INFERD_ORT_LIBRARY, &api, err, sizeof(err))) {
    fprintf(stderr, "ort_inproc: %s\n", err);
    return 1;
  }
  OrtEnv *env = NULL;
  OrtSessionOptions *opts = NULL;
  OrtSession *session = NULL;
  OrtMemoryInfo *cpu = NULL;
  if (check(&api,
            api.CreateEnvWithCustomLogger(NULL, NULL, ORT_LOG_WARNING,
                                          "ort_inproc", &env),
            "env") ||
      check(&api, api.CreateSessionOptions(&opts), "options") ||
      check(&api, api.SetIntraOpNumThreads(opts, threads), "threads") ||
      check(&api, api.CreateSession(env, argv[1], opts, &session),
            "session") ||
      check(&api,
            api.CreateCpuMemoryInfo(ORT_ALLOC_DEVICE, ORT_MEM_DEFAULT, &cpu),
            "memory info"))
    return 1;
  float *x = malloc(count * sizeof(float));
  if (!x)
    return 1;
  srand(1);
  for (size_t i = 0; i < count; i++)
    x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  const char *in_names[] = {argv[2]}, *out_names[] = {argv[3]};
  long runs = 0;
  double t0 = 0, t_end = 0;
  for (int phase = 0; phase < 2; phase++) { /* warm-up, then measure */
    double stop = now_s() + (phase ? seconds : 1.0);
    t0 = now_s();
    for (runs = 0; now_s() < stop; runs++) {
      /* as the backend does per batch: a tensor over the request's buffer */
      OrtValue *in = NULL, *out = NULL;
      if (check(&api,
                api.CreateTensorWithDataAsOrtValue(cpu, x, count * sizeof(float),
                                                   shape, n_dims, ORT_T_FLOAT,
                                                   &in),
                "input") ||
          check(&api,
                api.Run(session, NULL, in_names, (const OrtValue *const *)&in,
                        1, out_names, 1, &out),
                "run"))
        return 1;
      api.ReleaseValue(out);
      api.ReleaseValue(in);
    }
    t_end = now_s();
  }
  printf("{\"inferences_per_s\": %.3f, \"runs\": %ld}\n",
         (double)runs * (double)shape[0] / (t_end - t0), runs);
  free(x);
  api.ReleaseMemoryInfo(cpu);
  api.ReleaseSession(session);
  api.ReleaseSessionOptions(opts);
  api.ReleaseEnv(env);
  return 0;
}
