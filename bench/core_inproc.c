/*
 * core_inproc.c: requests per second through the embedding API alone (no
 * network): one thread keeps WINDOW requests to `simple` (add_sub, INT32
 * [1,16]) in flight and resubmits from the completion callback's release.
 * Compared with the HTTP figures it shows what the frontend costs and what
 * the core's thread hop costs.
 *
 *   core_inproc <repository> <backend-dir> [seconds] [window]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inferd/server.h"

static inferd_server_t *server;
static inferd_model_t *model;
static int32_t in0[16], in1[16];
static atomic_long done;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int free_slots;

static void on_response(inferd_response_t *r, uint32_t flags, void *p) {
  (void)flags, (void)p;
  if (r && inferd_response_error(r))
    fprintf(stderr, "error: %s\n",
            inferd_status_message(inferd_response_error(r)));
  inferd_response_free(r);
}

static void on_release(inferd_request_t *req, void *p) {
  (void)p;
  inferd_request_free(req);
  atomic_fetch_add(&done, 1);
  pthread_mutex_lock(&mu);
  free_slots++;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static int submit(void) {
  inferd_request_t *r;
  if (inferd_request_new(&r, model))
    return -1;
  int64_t shape[2] = {1, 16};
  uint32_t a, b;
  inferd_request_add_input(r, "INPUT0", 6, INFERD_TYPE_INT32, shape, 2, &a);
  inferd_request_add_input(r, "INPUT1", 6, INFERD_TYPE_INT32, shape, 2, &b);
  inferd_request_append_input_data(r, a, in0, sizeof(in0), INFERD_MEM_CPU, 0);
  inferd_request_append_input_data(r, b, in1, sizeof(in1), INFERD_MEM_CPU, 0);
  inferd_request_set_callbacks(r, on_response, on_release, NULL);
  inferd_status_t *st = inferd_server_infer_async(server, r);
  if (st) {
    fprintf(stderr, "infer: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    inferd_request_free(r);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: %s <repository> <backend-dir> [seconds] "
            "[window]\n",
            argv[0]);
    return 2;
  }
  double seconds = argc > 3 ? strtod(argv[3], NULL) : 5.0;
  int window = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 16;
  inferd_log_settings_t ls;
  inferd_log_get(&ls);
  ls.log_info = false;
  inferd_log_set(&ls);
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[] = {argv[1]};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = argv[2];
  inferd_status_t *st = inferd_server_new(&server, &o);
  if (!st)
    st = inferd_server_model_acquire(server, "simple", 6, -1, &model);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    return 1;
  }
  free_slots = window;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    pthread_mutex_lock(&mu);
    while (free_slots == 0)
      pthread_cond_wait(&cv, &mu);
    int n = free_slots;
    free_slots = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++)
      if (submit())
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (el >= seconds)
      break;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  long n = atomic_load(&done);
  printf("in-process simple: %.0f req/s (window %d, %.1f s)\n", n / el, window,
         el);
  inferd_model_release(model);
  inferd_server_stop(server, 10);
  inferd_server_free(server);
  return 0;
}
