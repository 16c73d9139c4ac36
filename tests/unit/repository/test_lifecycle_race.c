/*
 * Model version lifetime through the embedding API: request threads
 * acquiring, inferring and releasing a model while the main thread unloads
 * and reloads it (the release racing the unload is what used to free a
 * version under its releasing thread); an unload that returns while a
 * request still runs and finalises the version after it; the unload bound
 * failing queued requests. Meant for ASan and TSan: a use-after-free or a
 * data race in the lifecycle shows up there, and every request must get
 * exactly one final response and one release.
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
static inferd_server_t *srv;

static void write_model(const char *name, const char *backend,
                        const char *extra) {
  char dir[512], path[700], cfg[2048];
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/1", dir);
  mkdir(path, 0755);
  snprintf(cfg, sizeof(cfg),
           "backend: \"%s\"\nmax_batch_size: 0\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } "
           "]\n%s\n",
           backend, extra);
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    exit(2);
  fputs(cfg, f);
  fclose(f);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- one request in flight ---- */
typedef struct job {
  float data[4];
  atomic_int finals, releases;
  int code;
} job_t;

static atomic_int outstanding;

static void on_response(inferd_response_t *resp, uint32_t flags, void *p) {
  job_t *j = p;
  if (resp) {
    j->code = inferd_status_code(inferd_response_error(resp));
    inferd_response_free(resp);
  }
  if (flags & INFERD_RESPONSE_FLAG_FINAL)
    atomic_fetch_add(&j->finals, 1);
}

static void on_release(inferd_request_t *req, void *p) {
  job_t *j = p;
  atomic_fetch_add(&j->releases, 1);
  inferd_request_free(req);
  atomic_fetch_sub(&outstanding, 1);
}

/* submits one request to `name`; returns the job (to free after release)
 * or NULL when the model was not there or refused it */
static job_t *submit(const char *name) {
  inferd_model_t *m = NULL;
  inferd_status_t *st =
      inferd_server_model_acquire(srv, name, strlen(name), -1, &m);
  if (st) {
    inferd_status_free(st);
    return NULL;
  }
  job_t *j = calloc(1, sizeof(*j));
  inferd_request_t *r = NULL;
  int64_t shape[1] = {4};
  uint32_t idx;
  st = inferd_request_new(&r, m);
  inferd_model_release(m); /* the request holds its own reference */
  if (!st)
    st = inferd_request_add_input(r, "INPUT0", 6, INFERD_TYPE_FP32, shape, 1,
                                  &idx);
  if (!st)
    st = inferd_request_append_input_data(r, idx, j->data, sizeof(j->data),
                                          INFERD_MEM_CPU, 0);
  if (!st) {
    inferd_request_set_callbacks(r, on_response, on_release, j);
    atomic_fetch_add(&outstanding, 1);
    st = inferd_server_infer_async(srv, r);
    if (st)
      atomic_fetch_sub(&outstanding, 1);
  }
  if (st) {
    inferd_status_free(st);
    inferd_request_free(r);
    free(j);
    return NULL;
  }
  return j;
}

/* ---- request threads racing reloads ---- */
static atomic_bool stop_clients;
static atomic_int n_ok, n_sent, n_bad;

static void *client(void *p) {
  (void)p;
  job_t *mine[64];
  size_t n = 0;
  while (!atomic_load(&stop_clients)) {
    job_t *j = submit("race");
    if (j) {
      atomic_fetch_add(&n_sent, 1);
      mine[n++] = j;
    }
    /* statistics readers hold versions too */
    inferd_model_stats_t *stats = NULL;
    size_t ns = 0;
    inferd_status_t *st =
        inferd_server_model_statistics(srv, "race", 4, -1, &stats, &ns);
    if (!st)
      inferd_model_stats_free(stats, ns);
    inferd_status_free(st);
    if (n == 64 || (!j && n)) {
      for (size_t i = 0; i < n; i++) {
        while (atomic_load(&mine[i]->releases) == 0)
          usleep(100);
        if (atomic_load(&mine[i]->finals) != 1 ||
            atomic_load(&mine[i]->releases) != 1)
          atomic_fetch_add(&n_bad, 1);
        if (mine[i]->code == INFERD_OK)
          atomic_fetch_add(&n_ok, 1);
        free(mine[i]);
      }
      n = 0;
    }
  }
  for (size_t i = 0; i < n; i++) {
    while (atomic_load(&mine[i]->releases) == 0)
      usleep(100);
    if (mine[i]->code == INFERD_OK)
      atomic_fetch_add(&n_ok, 1);
    free(mine[i]);
  }
  return NULL;
}

static void race(void) {
  inferd_status_t *st = inferd_server_model_load(srv, "race", NULL);
  CHECK(st == NULL);
  inferd_status_free(st);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, client, NULL);
  double end = now_s() + 2.0;
  int cycles = 0;
  while (now_s() < end) {
    /* reload (hot swap), then a full unload and load */
    st = inferd_server_model_load(
        srv, "race",
        cycles % 2 ? "{\"backend\":\"identity\",\"max_batch_size\":0,"
                     "\"input\":[{\"name\":\"INPUT0\",\"data_type\":"
                     "\"TYPE_FP32\",\"dims\":[-1]}],\"output\":[{\"name\":"
                     "\"OUTPUT0\",\"data_type\":\"TYPE_FP32\",\"dims\":[-1]}]}"
                   : NULL);
    CHECK(st == NULL);
    inferd_status_free(st);
    st = inferd_server_model_unload(srv, "race", false);
    CHECK(st == NULL);
    inferd_status_free(st);
    st = inferd_server_model_load(srv, "race", NULL);
    CHECK(st == NULL);
    inferd_status_free(st);
    cycles++;
  }
  atomic_store(&stop_clients, true);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  fprintf(stderr, "race: %d reload cycles, %d requests sent, %d succeeded\n",
          cycles, atomic_load(&n_sent), atomic_load(&n_ok));
  CHECK(cycles > 5);
  CHECK(atomic_load(&n_ok) > 0);
  CHECK(atomic_load(&n_bad) == 0);
}

static const char *index_state(const char *name, int64_t version) {
  static char state[64];
  inferd_model_index_entry_t *e = NULL;
  size_t n = 0;
  state[0] = '\0';
  inferd_status_t *st = inferd_server_model_index(srv, false, &e, &n);
  if (st) {
    inferd_status_free(st);
    return state;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, name) == 0 && e[i].version == version)
      snprintf(state, sizeof(state), "%s%s%s", e[i].state ? e[i].state : "",
               e[i].reason ? " " : "", e[i].reason ? e[i].reason : "");
  inferd_model_index_free(e, n);
  return state;
}

/* unload returns while a request runs; the version goes after it */
static void unload_while_running(void) {
  inferd_status_t *st = inferd_server_model_load(srv, "slow", NULL);
  CHECK(st == NULL);
  inferd_status_free(st);
  job_t *running = submit("slow");
  CHECK(running != NULL);
  usleep(100000); /* let it start executing (600 ms) */
  job_t *queued[3];
  for (int i = 0; i < 3; i++)
    queued[i] = submit("slow");
  double t0 = now_s();
  st = inferd_server_model_unload(srv, "slow", false);
  double took = now_s() - t0;
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(took < 0.3); /* did not wait for the request */
  CHECK_STR_CONTAINS(index_state("slow", 1), "UNLOADING");
  job_t *after = submit("slow");
  CHECK(after == NULL); /* no longer acquirable */
  /* the unload bound (250 ms) fails the queued ones; the running one ends
   * normally */
  double end = now_s() + 10;
  while (atomic_load(&outstanding) > 0 && now_s() < end)
    usleep(1000);
  CHECK(running && running->code == INFERD_OK);
  for (int i = 0; i < 3; i++) {
    CHECK(queued[i] && queued[i]->code == INFERD_UNAVAILABLE);
    CHECK(queued[i] && atomic_load(&queued[i]->finals) == 1);
    free(queued[i]);
  }
  free(running);
  end = now_s() + 10;
  while (strcmp(index_state("slow", 1), "UNAVAILABLE unloaded") != 0 &&
         now_s() < end)
    usleep(1000);
  CHECK(strcmp(index_state("slow", 1), "UNAVAILABLE unloaded") == 0);
}

int main(void) {
  snprintf(repo, sizeof(repo), "/tmp/inferd-lctest-XXXXXX");
  if (!mkdtemp(repo))
    return 2;
  write_model("race", "identity", "");
  write_model("slow", "testing",
              "parameters { key: \"execute_delay_ms\" value { string_value: "
              "\"600\" } }");
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[1] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = INFERD_BINARY_DIR "/backends";
  o.model_control_mode = INFERD_CONTROL_EXPLICIT;
  o.model_unload_timeout_ms = 250;
  inferd_status_t *st = inferd_server_new(&srv, &o);
  CHECK(st == NULL);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    return 1;
  }
  race();
  unload_while_running();
  st = inferd_server_stop(srv, 10);
  CHECK(st == NULL);
  inferd_status_free(st);
  inferd_server_free(srv);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", repo);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", repo);
  return UNIT_END();
}
