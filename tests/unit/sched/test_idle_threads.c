/*
 * Execution threads that exit when idle (issue 9, point 3), through the
 * embedding API with the testing backend and a 100 ms idle timeout (model
 * parameter inferd_instance_idle_timeout_ms), for the default scheduler and
 * the dynamic batcher with three instances each: no model thread before the
 * first request, one per busy instance (and the batcher) under load, none
 * again after the timeout; requests spaced at about the timeout all succeed
 * (the race between a thread deciding to exit and an enqueue); a burst from
 * several threads after idleness; deferred wake-ups starting threads; unload
 * and stop while threads exit; a bad parameter refused. Thread counts come
 * from /proc/self/task. Also built under TSan and ASan.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "inferd/server.h"
#include "unit.h"

#define IDLE_MS 100
#define N_INST 3

static char repo[256];
static inferd_server_t *srv;

static void add_model(const char *name, const char *extra,
                      const char *idle_ms) {
  char dir[512], path[600], cfg[2048];
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/1", dir);
  mkdir(path, 0755);
  snprintf(cfg, sizeof(cfg),
           "name: \"%s\"\nbackend: \"testing\"\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } "
           "]\n"
           "instance_group [ { kind: KIND_CPU count: %d } ]\n"
           "parameters { key: \"inferd_instance_idle_timeout_ms\" value { "
           "string_value: \"%s\" } }\n%s\n",
           name, N_INST, idle_ms, extra);
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(cfg, f);
  fclose(f);
}

static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* waits up to timeout_ms for the thread count to reach want; returns it */
static int wait_threads(int want, int timeout_ms) {
  int n = count_threads();
  for (int t = 0; n != want && t < timeout_ms; t += 10) {
    sleep_ms(10);
    n = count_threads();
  }
  return n;
}

/* ---- one tracked request ---- */
typedef struct job {
  float data[4];
  atomic_int done;
  int code;
} job_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_response(inferd_response_t *resp, uint32_t flags, void *p) {
  job_t *j = p;
  (void)flags;
  if (resp) {
    j->code = inferd_status_code(inferd_response_error(resp));
    inferd_response_free(resp);
  }
}

static void on_release(inferd_request_t *req, void *p) {
  job_t *j = p;
  inferd_request_free(req);
  pthread_mutex_lock(&mu);
  atomic_store(&j->done, 1);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Submits one request; returns the synchronous status code (0: queued). */
static int submit(const char *model, job_t *j, int delay_ms) {
  memset(j, 0, sizeof(*j));
  inferd_model_t *m = NULL;
  inferd_status_t *st =
      inferd_server_model_acquire(srv, model, strlen(model), -1, &m);
  if (st) {
    fprintf(stderr, "acquire %s: %s\n", model, inferd_status_message(st));
    inferd_status_free(st);
    j->code = -1;
    atomic_store(&j->done, 1);
    return -1;
  }
  /* called from several threads: failures go to j->code, not CHECK */
  inferd_request_t *req = NULL;
  st = inferd_request_new(&req, m);
  inferd_model_release(m);
  if (st) {
    inferd_status_free(st);
    j->code = -1;
    atomic_store(&j->done, 1);
    return -1;
  }
  /* "dyn" batches: its shapes lead with the batch dimension */
  bool batching = strcmp(model, "dyn") == 0;
  int64_t shape[2] = {1, 4};
  uint32_t idx;
  st = inferd_request_add_input(req, "INPUT0", 6, INFERD_TYPE_FP32,
                                shape + !batching, 1 + batching, &idx);
  if (!st)
    st = inferd_request_append_input_data(req, idx, j->data, sizeof(j->data),
                                          INFERD_MEM_CPU, 0);
  if (st) {
    inferd_status_free(st);
    inferd_request_free(req);
    j->code = -1;
    atomic_store(&j->done, 1);
    return -1;
  }
  if (delay_ms)
    inferd_request_set_param_int(req, "delay_ms", 8, delay_ms);
  inferd_request_set_callbacks(req, on_response, on_release, j);
  st = inferd_server_infer_async(srv, req);
  int code = inferd_status_code(st);
  if (st) {
    fprintf(stderr, "infer %s: %s\n", model, inferd_status_message(st));
    inferd_status_free(st);
    inferd_request_free(req);
    j->code = code;
    atomic_store(&j->done, 1);
  }
  return code;
}

static bool wait_all(job_t *jobs, int n, int timeout_ms) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&mu);
  for (;;) {
    int left = 0;
    for (int i = 0; i < n; i++)
      left += !atomic_load(&jobs[i].done);
    if (!left)
      break;
    if (pthread_cond_timedwait(&cv, &mu, &dl) != 0) {
      pthread_mutex_unlock(&mu);
      return false;
    }
  }
  pthread_mutex_unlock(&mu);
  return true;
}

static int n_failed(const job_t *jobs, int n) {
  int f = 0;
  for (int i = 0; i < n; i++)
    f += jobs[i].code != 0;
  return f;
}

static const char *models[] = {"def", "dyn"};

/* ---- a burst from several threads ---- */
#define BURST_THREADS 4
#define BURST_EACH 50
static job_t burst_jobs[BURST_THREADS][2 * BURST_EACH];

static void *burst_main(void *p) {
  job_t *jobs = p;
  for (int i = 0; i < 2 * BURST_EACH; i++)
    submit(models[i % 2], &jobs[i], 0);
  return NULL;
}

static void load(const char *name) {
  inferd_status_t *st = inferd_server_model_load(srv, name, NULL);
  if (st)
    fprintf(stderr, "load %s: %s\n", name, inferd_status_message(st));
  CHECK(st == NULL);
  inferd_status_free(st);
}

static void unload(const char *name) {
  inferd_status_t *st = inferd_server_model_unload(srv, name, false);
  CHECK(st == NULL);
  inferd_status_free(st);
}

static void *nothing(void *p) { return p; }

int main(void) {
  snprintf(repo, sizeof(repo), "/tmp/inferd-idletest-XXXXXX");
  if (!mkdtemp(repo))
    return 2;
  char idle[16];
  snprintf(idle, sizeof(idle), "%d", IDLE_MS);
  add_model("def", "max_batch_size: 0", idle);
  /* max_batch_size 1: each request is its own batch, so every slot works */
  add_model("dyn", "max_batch_size: 1\ndynamic_batching { }", idle);
  add_model("bad", "max_batch_size: 0", "soon");
  add_model("zero", "max_batch_size: 0", "0");

  /* a first thread makes TSan start its own background thread: count
   * after it */
  pthread_t first;
  pthread_create(&first, NULL, nothing, NULL);
  pthread_join(first, NULL);
  int t_start = count_threads();
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = INFERD_BINARY_DIR "/backends";
  o.model_control_mode = INFERD_CONTROL_EXPLICIT;
  o.startup_models = models;
  o.n_startup_models = 2;
  inferd_status_t *st = inferd_server_new(&srv, &o);
  if (st) {
    fprintf(stderr, "server: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    return 1;
  }
  CHECK(inferd_server_is_ready(srv));

  /* 1. loaded models start no thread; a busy instance has one (and the
   * batcher one); all of them go after the idle timeout */
  sleep_ms(3 * IDLE_MS);
  int t_base = count_threads();
  fprintf(stderr, "threads: %d before the server, %d with 2 idle models\n",
          t_start, t_base);
  static job_t jobs[64];
  for (int i = 0; i < 2 * N_INST; i++)
    CHECK(submit(models[i % 2], &jobs[i], 3 * IDLE_MS) == 0);
  sleep_ms(IDLE_MS);
  int t_busy = count_threads();
  fprintf(stderr, "threads: %d with 3 + 3 busy instances\n", t_busy);
  CHECK(t_busy == t_base + N_INST + N_INST + 1);
  CHECK(wait_all(jobs, 2 * N_INST, 10000));
  CHECK(n_failed(jobs, 2 * N_INST) == 0);
  int t_idle = wait_threads(t_base, 20 * IDLE_MS);
  fprintf(stderr, "threads: %d after the idle timeout\n", t_idle);
  CHECK(t_idle == t_base);

  /* 2. requests spaced at about the idle timeout (90..110 ms, so some
   * arrive as the thread decides to exit): every one is answered */
  int late = 0;
  for (int i = 0; i < 60; i++) {
    sleep_ms(IDLE_MS - 10 + (i * 7) % 21);
    CHECK(submit("def", &jobs[0], 0) == 0);
    CHECK(submit("dyn", &jobs[1], 0) == 0);
    if (!wait_all(jobs, 2, 5000))
      late++;
    CHECK(n_failed(jobs, 2) == 0);
  }
  CHECK(late == 0);

  /* 3. a burst from several threads after idleness: all answered, never
   * more than one thread per instance */
  CHECK(wait_threads(t_base, 20 * IDLE_MS) == t_base);
  pthread_t th[BURST_THREADS];
  for (int i = 0; i < BURST_THREADS; i++)
    pthread_create(&th[i], NULL, burst_main, burst_jobs[i]);
  int t_max = 0;
  for (int k = 0; k < 20; k++) {
    int n = count_threads();
    t_max = n > t_max ? n : t_max;
    sleep_ms(1);
  }
  for (int i = 0; i < BURST_THREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < BURST_THREADS; i++) {
    CHECK(wait_all(burst_jobs[i], 2 * BURST_EACH, 20000));
    CHECK(n_failed(burst_jobs[i], 2 * BURST_EACH) == 0);
  }
  fprintf(stderr, "threads: at most %d during the burst\n", t_max);
  CHECK(t_max <= t_base + BURST_THREADS + 2 * N_INST + 1);

  /* 4. deferred wake-ups: kick starts the threads that exited */
  CHECK(wait_threads(t_base, 20 * IDLE_MS) == t_base);
  inferd_thread_defer_wakeups(true);
  for (int i = 0; i < 10; i++)
    CHECK(submit(models[i % 2], &jobs[i], 0) == 0);
  CHECK(count_threads() == t_base); /* nothing woken yet */
  inferd_thread_defer_wakeups(false);
  CHECK(wait_all(jobs, 10, 10000));
  CHECK(n_failed(jobs, 10) == 0);

  /* 5. unload and reload while the threads exit (the unload lands around
   * the idle timeout): each request answered, no thread left behind */
  for (int i = 0; i < 12; i++) {
    CHECK(submit("def", &jobs[0], 0) == 0);
    CHECK(submit("dyn", &jobs[1], 0) == 0);
    CHECK(wait_all(jobs, 2, 5000));
    CHECK(n_failed(jobs, 2) == 0);
    sleep_ms(IDLE_MS - 6 + i);
    unload("def");
    unload("dyn");
    load("def");
    load("dyn");
  }
  CHECK(wait_threads(t_base, 20 * IDLE_MS) == t_base);

  /* 6. a bad idle timeout is refused with the parameter's name; 0 too */
  st = inferd_server_model_load(srv, "bad", NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "\"inferd_instance_idle_timeout_ms\": expected "
                     "milliseconds");
  CHECK_STR_CONTAINS(inferd_status_message(st), "got \"soon\"");
  inferd_status_free(st);
  st = inferd_server_model_load(srv, "zero", NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  inferd_status_free(st);

  /* 7. stop while threads are about to exit: every thread joined */
  CHECK(submit("def", &jobs[0], 0) == 0);
  CHECK(submit("dyn", &jobs[1], 0) == 0);
  CHECK(wait_all(jobs, 2, 5000));
  sleep_ms(IDLE_MS);
  CHECK(inferd_server_stop(srv, 10) == NULL);
  inferd_server_free(srv);
  int t_end = count_threads();
  fprintf(stderr, "threads: %d after the server\n", t_end);
  CHECK(t_end == t_start);

  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", repo);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", repo);
  return UNIT_END();
}
