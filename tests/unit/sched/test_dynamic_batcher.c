/*
 * The dynamic batcher through the embedding API (server.h) with the testing
 * backend recording every batch it receives: preferred sizes, the queue
 * delay, max_batch_size, shapes not mixed, ragged batching, priorities,
 * queue size limit, timeouts (REJECT, DELAY), preserve_ordering,
 * cancellation and statistics. Timing bounds are generous: this checks
 * behaviour, not speed. Also built under TSan by `make tsan`.
 */
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

static char repo[256];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
}

static void add_model(const char *name, const char *extra, int count,
                      const char *ragged) {
  char dir[512], path[600], cfg[4096];
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/1", dir);
  mkdir(path, 0755);
  snprintf(cfg, sizeof(cfg),
           "name: \"%s\"\nbackend: \"testing\"\nmax_batch_size: 8\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ -1 ] %s } "
           "]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } "
           "]\n"
           "instance_group [ { kind: KIND_CPU count: %d } ]\n"
           "parameters { key: \"record_batches_file\" value { string_value: "
           "\"%s/%s/batches.jsonl\" } }\n%s\n",
           name, ragged, count, repo, name, extra);
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  write_file(path, cfg);
}

/* ---- one tracked request ---- */
typedef struct job {
  char id[32];
  float data[64];
  inferd_request_t *req;
  atomic_int done; /* 1 after release */
  int code;
  char msg[256];
  int order; /* completion order */
  int64_t out_shape0;
} job_t;

static atomic_int completion_counter;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_response(inferd_response_t *resp, uint32_t flags, void *p) {
  job_t *j = p;
  if (resp) {
    const inferd_status_t *e = inferd_response_error(resp);
    j->code = inferd_status_code(e);
    snprintf(j->msg, sizeof(j->msg), "%s", inferd_status_message(e));
    if (!e && inferd_response_output_count(resp) == 1) {
      const int64_t *shape;
      inferd_response_output(resp, 0, NULL, NULL, &shape, NULL, NULL, NULL);
      j->out_shape0 = shape[0];
    }
    inferd_response_free(resp);
  }
  if (flags & INFERD_RESPONSE_FLAG_FINAL)
    j->order = atomic_fetch_add(&completion_counter, 1);
}

static void on_release(inferd_request_t *req, void *p) {
  job_t *j = p;
  inferd_request_free(req);
  pthread_mutex_lock(&mu);
  atomic_store(&j->done, 1);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Submits a request with shape [batch, width]; returns the synchronous
 * status code (0 when queued). */
static int submit(inferd_server_t *s, const char *model, job_t *j,
                  const char *id, int64_t batch, int64_t width,
                  uint64_t priority, uint64_t timeout_us, int delay_ms) {
  memset(j, 0, sizeof(*j));
  snprintf(j->id, sizeof(j->id), "%s", id);
  inferd_model_t *m = NULL;
  inferd_status_t *st =
      inferd_server_model_acquire(s, model, strlen(model), -1, &m);
  if (st) {
    fprintf(stderr, "acquire: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    return -1;
  }
  CHECK(inferd_request_new(&j->req, m) == NULL);
  inferd_model_release(m);
  inferd_request_set_id(j->req, id, strlen(id));
  int64_t shape[2] = {batch, width};
  uint32_t idx;
  CHECK(inferd_request_add_input(j->req, "INPUT0", 6, INFERD_TYPE_FP32, shape,
                                 2, &idx) == NULL);
  CHECK(inferd_request_append_input_data(j->req, idx, j->data,
                                         (size_t)(batch * width) * 4,
                                         INFERD_MEM_CPU, 0) == NULL);
  if (priority)
    inferd_request_set_priority(j->req, priority);
  if (timeout_us)
    inferd_request_set_timeout_us(j->req, timeout_us);
  if (delay_ms)
    inferd_request_set_param_int(j->req, "delay_ms", 8, delay_ms);
  inferd_request_set_callbacks(j->req, on_response, on_release, j);
  st = inferd_server_infer_async(s, j->req);
  int code = inferd_status_code(st);
  if (st) {
    snprintf(j->msg, sizeof(j->msg), "%s", inferd_status_message(st));
    inferd_status_free(st);
    inferd_request_free(j->req);
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

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* reads the batch record: sizes[] in order; returns the count */
static int read_batches(const char *model, int *sizes, char ids[][128],
                        int max) {
  char path[600];
  snprintf(path, sizeof(path), "%s/%s/batches.jsonl", repo, model);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[1024];
  int n = 0;
  while (n < max && fgets(line, sizeof(line), f)) {
    const char *p = strstr(line, "\"batch_size\":");
    sizes[n] = p ? (int)strtol(p + 13, NULL, 10) : -1;
    const char *q = strstr(line, "\"ids\":");
    if (ids)
      snprintf(ids[n], 128, "%s", q ? q + 6 : "");
    n++;
  }
  fclose(f);
  return n;
}

int main(void) {
  snprintf(repo, sizeof(repo), "/tmp/inferd-dbtest-XXXXXX");
  if (!mkdtemp(repo))
    return 2;
  /* preferred size 4, long delay: 4 queued requests go together at once */
  add_model("pref",
            "dynamic_batching { preferred_batch_size: [ 4 ] "
            "max_queue_delay_microseconds: 2000000 }",
            1, "");
  /* no delay: a busy instance lets requests accumulate up to max 8 */
  add_model("maxb",
            "dynamic_batching { }\n"
            "parameters { key: \"execute_delay_ms\" value { string_value: "
            "\"300\" } }",
            1, "");
  add_model("ragged",
            "dynamic_batching { max_queue_delay_microseconds: 300000 }", 1,
            "allow_ragged_batch: true");
  add_model("prio",
            "dynamic_batching { priority_levels: 2 default_priority_level: 2 "
            "}\nparameters { key: \"execute_delay_ms\" value { string_value: "
            "\"300\" } }",
            1, "");
  add_model("qfull",
            "dynamic_batching { default_queue_policy { max_queue_size: 2 } }\n"
            "parameters { key: \"execute_delay_ms\" value { string_value: "
            "\"400\" } }",
            1, "");
  add_model("reject",
            "dynamic_batching { default_queue_policy { timeout_action: REJECT "
            "default_timeout_microseconds: 100000 allow_timeout_override: "
            "true } }\nparameters { key: \"execute_delay_ms\" value { "
            "string_value: \"2000\" } }",
            1, "");
  add_model("slow",
            "dynamic_batching { }\nparameters { key: \"execute_delay_ms\" "
            "value { string_value: \"2000\" } }",
            1, "");
  add_model("delay",
            "dynamic_batching { default_queue_policy { timeout_action: DELAY "
            "default_timeout_microseconds: 100000 } }\n"
            "parameters { key: \"execute_delay_ms\" value { string_value: "
            "\"300\" } }",
            1, "");
  add_model("order", "dynamic_batching { preserve_ordering: true }", 2, "");

  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = INFERD_BINARY_DIR "/backends";
  inferd_server_t *s = NULL;
  inferd_status_t *st = inferd_server_new(&s, &o);
  if (st) {
    fprintf(stderr, "server: %s\n", inferd_status_message(st));
    inferd_status_free(st);
    return 1;
  }
  CHECK(inferd_server_is_ready(s));
  static job_t jobs[64];
  int sizes[64];
  static char ids[64][128];

  /* 1. preferred size: 4 requests → one batch of 4 long before the delay */
  double t0 = now_s();
  for (int i = 0; i < 4; i++) {
    char id[8];
    snprintf(id, sizeof(id), "p%d", i);
    CHECK(submit(s, "pref", &jobs[i], id, 1, 4, 0, 0, 0) == 0);
  }
  CHECK(wait_all(jobs, 4, 10000));
  CHECK(now_s() - t0 < 1.5);
  int nb = read_batches("pref", sizes, NULL, 64);
  CHECK(nb == 1 && sizes[0] == 4);
  for (int i = 0; i < 4; i++)
    CHECK(jobs[i].code == 0 && jobs[i].out_shape0 == 1);
  /* 3 requests cannot make a preferred size: they wait out the delay */
  t0 = now_s();
  for (int i = 0; i < 3; i++)
    CHECK(submit(s, "pref", &jobs[i], "q", 1, 4, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 3, 10000));
  double waited = now_s() - t0;
  CHECK(waited > 1.5 && waited < 8.0);
  nb = read_batches("pref", sizes, NULL, 64);
  CHECK(nb == 2 && sizes[1] == 3);

  /* 2. max_batch_size is never exceeded: batch-3 requests pile up behind a
   * slow execution and are combined to at most 8 */
  for (int i = 0; i < 12; i++)
    CHECK(submit(s, "maxb", &jobs[i], "m", 3, 2, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 12, 20000));
  nb = read_batches("maxb", sizes, NULL, 64);
  int total = 0, combined = 0;
  for (int i = 0; i < nb; i++) {
    CHECK(sizes[i] <= 8 && sizes[i] % 3 == 0);
    total += sizes[i];
    combined += sizes[i] > 3;
  }
  CHECK(total == 36);
  CHECK(combined > 0);
  for (int i = 0; i < 12; i++)
    CHECK(jobs[i].code == 0 && jobs[i].out_shape0 == 3);

  /* 3. different shapes are not mixed, unless ragged batching is allowed */
  CHECK(submit(s, "pref", &jobs[0], "w4", 1, 4, 0, 0, 0) == 0);
  CHECK(submit(s, "pref", &jobs[1], "w5", 1, 5, 0, 0, 0) == 0);
  CHECK(submit(s, "pref", &jobs[2], "w4b", 1, 4, 0, 0, 0) == 0);
  CHECK(submit(s, "pref", &jobs[3], "w4c", 1, 4, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 4, 20000));
  nb = read_batches("pref", sizes, ids, 64);
  CHECK(nb >= 4);
  for (int i = 2; i < nb; i++)
    CHECK(!(strstr(ids[i], "\"w4\"") && strstr(ids[i], "\"w5\"")));
  for (int i = 0; i < 3; i++)
    CHECK(submit(s, "ragged", &jobs[i], "r", 1, 2 + i, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 3, 10000));
  nb = read_batches("ragged", sizes, NULL, 64);
  CHECK(nb == 1 && sizes[0] == 3);

  /* 4. priorities: while the instance is busy, a level-1 request queued
   * after level-2 ones is served first */
  CHECK(submit(s, "prio", &jobs[0], "busy", 1, 1, 0, 0, 0) == 0);
  usleep(100000);
  CHECK(submit(s, "prio", &jobs[1], "low", 1, 1, 2, 0, 0) == 0);
  CHECK(submit(s, "prio", &jobs[2], "high", 1, 1, 1, 0, 0) == 0);
  CHECK(wait_all(jobs, 3, 10000));
  nb = read_batches("prio", sizes, ids, 64);
  CHECK(nb >= 2);
  CHECK_STR_CONTAINS(ids[0], "busy");
  CHECK_STR_CONTAINS(ids[1], "high");
  {
    const char *hi = strstr(ids[1], "high"), *lo = strstr(ids[1], "low");
    CHECK(hi && (!lo || hi < lo));
  }

  /* 5. queue full: the third waiting request is refused at once */
  CHECK(submit(s, "qfull", &jobs[0], "a", 1, 1, 0, 0, 0) == 0);
  usleep(100000); /* a runs, the queue is empty */
  CHECK(submit(s, "qfull", &jobs[1], "b", 1, 1, 0, 0, 0) == 0);
  CHECK(submit(s, "qfull", &jobs[2], "c", 1, 1, 0, 0, 0) == 0);
  int code = submit(s, "qfull", &jobs[3], "d", 1, 1, 0, 0, 0);
  CHECK(code == INFERD_UNAVAILABLE);
  CHECK_STR_CONTAINS(jobs[3].msg, "exceeds maximum queue size 2");
  CHECK(wait_all(jobs, 4, 10000));
  CHECK(jobs[1].code == 0 && jobs[2].code == 0);

  /* 6. timeouts: REJECT answers promptly with an error; a request with a
   * smaller override times out too; DELAY serves late instead */
  t0 = now_s();
  CHECK(submit(s, "reject", &jobs[0], "run", 1, 1, 0, 0, 0) == 0);
  usleep(50000);
  CHECK(submit(s, "reject", &jobs[1], "late", 1, 1, 0, 0, 0) == 0);
  CHECK(submit(s, "reject", &jobs[2], "late2", 1, 1, 0, 20000, 0) == 0);
  CHECK(wait_all(&jobs[1], 2, 10000));
  CHECK(now_s() - t0 < 1.5); /* well before the running execution ends */
  CHECK(jobs[1].code == INFERD_UNAVAILABLE);
  CHECK_STR_CONTAINS(jobs[1].msg, "timeout");
  CHECK(jobs[2].code == INFERD_UNAVAILABLE);
  CHECK(wait_all(jobs, 1, 10000));
  CHECK(jobs[0].code == 0);
  CHECK(submit(s, "delay", &jobs[0], "run", 1, 1, 0, 0, 0) == 0);
  usleep(50000);
  CHECK(submit(s, "delay", &jobs[1], "delayed", 1, 1, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 2, 10000));
  CHECK(jobs[1].code == 0);

  /* 7. preserve_ordering: the first request is slow, the second finishes
   * first on the other instance, yet responses leave in arrival order */
  atomic_store(&completion_counter, 0);
  CHECK(submit(s, "order", &jobs[0], "slow", 1, 1, 0, 0, 400) == 0);
  usleep(50000);
  CHECK(submit(s, "order", &jobs[1], "fast", 1, 1, 0, 0, 0) == 0);
  CHECK(wait_all(jobs, 2, 10000));
  CHECK(jobs[0].order == 0 && jobs[1].order == 1);

  /* 8. cancellation: a queued request is answered CANCELLED promptly, long
   * before the running execution (2 s) ends */
  CHECK(submit(s, "slow", &jobs[0], "busy", 1, 1, 0, 0, 0) == 0);
  usleep(50000);
  CHECK(submit(s, "slow", &jobs[1], "victim", 1, 1, 0, 0, 0) == 0);
  t0 = now_s();
  inferd_request_cancel(jobs[1].req);
  CHECK(wait_all(&jobs[1], 1, 10000));
  CHECK(now_s() - t0 < 1.0);
  CHECK(jobs[1].code == INFERD_CANCELLED);
  CHECK(wait_all(jobs, 1, 10000));

  /* 9. statistics of the "pref" model: 4 + 3 + 4 requests, executions as
   * recorded by the backend */
  inferd_model_stats_t *stats = NULL;
  size_t n_stats = 0;
  CHECK(inferd_server_model_statistics(s, "pref", 4, -1, &stats, &n_stats) ==
        NULL);
  CHECK(n_stats == 1);
  if (n_stats == 1) {
    nb = read_batches("pref", sizes, NULL, 64);
    CHECK(stats[0].inference_count == 11);
    CHECK(stats[0].execution_count == (uint64_t)nb);
    CHECK(stats[0].success.count == 11);
    CHECK(stats[0].fail.count == 0);
    CHECK(stats[0].queue.count == 11);
    uint64_t batches = 0;
    for (size_t i = 0; i < stats[0].n_batch; i++)
      batches += stats[0].batch[i].compute_infer.count;
    CHECK(batches == (uint64_t)nb);
  }
  inferd_model_stats_free(stats, n_stats);

  CHECK(inferd_server_stop(s, 10) == NULL);
  inferd_server_free(s);
  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", repo);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", repo);
  return UNIT_END();
}
