/*
 * Loading on demand and the memory budget through the embedding API, with
 * the testing backend (model_init_alloc_bytes gives models of known size):
 * 50 concurrent waiters for one cold model share one load; a failing load
 * answers every waiter; an unknown model is not waited for; the least
 * recently used idle model is evicted first; a model in use or pinned is
 * never evicted; a model bigger than the budget fails with both figures.
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

#define MB (1024ull * 1024ull)

static char repo[256];
static inferd_server_t *srv;

static void write_model(const char *name, const char *params) {
  char dir[512], path[700], cfg[2048];
  snprintf(dir, sizeof(dir), "%s/%s", repo, name);
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/1", dir);
  mkdir(path, 0755);
  snprintf(cfg, sizeof(cfg),
           "backend: \"testing\"\nmax_batch_size: 0\n"
           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n"
           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 dims: [ -1 ] } "
           "]\n%s\n",
           params);
  snprintf(path, sizeof(path), "%s/config.pbtxt", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    exit(2);
  fputs(cfg, f);
  fclose(f);
}

static void sized_model(const char *name, unsigned long long bytes) {
  char p[256];
  snprintf(p, sizeof(p),
           "parameters { key: \"model_init_alloc_bytes\" value { "
           "string_value: \"%llu\" } }",
           bytes);
  write_model(name, p);
}

/* ---- waiting for a cold model ---- */
typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int ok, failed;
  char msg[512];
} waiter_t;

static waiter_t w = {.mu = PTHREAD_MUTEX_INITIALIZER,
                     .cv = PTHREAD_COND_INITIALIZER};

static void on_ready(inferd_status_t *st, void *p) {
  (void)p;
  pthread_mutex_lock(&w.mu);
  if (st) {
    w.failed++;
    snprintf(w.msg, sizeof(w.msg), "%s", inferd_status_message(st));
  } else {
    w.ok++;
  }
  w.done++;
  pthread_cond_broadcast(&w.cv);
  pthread_mutex_unlock(&w.mu);
  inferd_status_free(st);
}

static atomic_int n_waiting, n_errors;
static const char *cold_name;

static void *ask(void *p) {
  (void)p;
  bool waiting = false;
  inferd_status_t *st = inferd_server_model_load_on_demand_async(
      srv, cold_name, strlen(cold_name), on_ready, NULL, &waiting);
  if (st) /* CHECK is for the main thread only */
    atomic_fetch_add(&n_errors, 1);
  inferd_status_free(st);
  if (waiting)
    atomic_fetch_add(&n_waiting, 1);
  else { /* already READY: counts as answered */
    pthread_mutex_lock(&w.mu);
    w.ok++;
    w.done++;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
  }
  return NULL;
}

static void ask_many(const char *name, int n) {
  pthread_mutex_lock(&w.mu);
  w.done = w.ok = w.failed = 0;
  w.msg[0] = '\0';
  pthread_mutex_unlock(&w.mu);
  cold_name = name;
  pthread_t th[64];
  for (int i = 0; i < n; i++)
    pthread_create(&th[i], NULL, ask, NULL);
  for (int i = 0; i < n; i++)
    pthread_join(th[i], NULL);
  CHECK(atomic_load(&n_errors) == 0);
  pthread_mutex_lock(&w.mu);
  while (w.done < n)
    pthread_cond_wait(&w.cv, &w.mu);
  pthread_mutex_unlock(&w.mu);
}

/* the index entry of version 1 (or the name-only one) of `name` */
static bool entry(const char *name, inferd_model_index_entry_t *out,
                  char *state, char *reason) {
  inferd_model_index_entry_t *e = NULL;
  size_t n = 0;
  bool found = false;
  inferd_status_t *st = inferd_server_model_index(srv, false, &e, &n);
  CHECK(st == NULL);
  inferd_status_free(st);
  for (size_t i = 0; i < n && !found; i++)
    if (strcmp(e[i].name, name) == 0) {
      *out = e[i];
      snprintf(state, 32, "%s", e[i].state ? e[i].state : "");
      snprintf(reason, 256, "%s", e[i].reason ? e[i].reason : "");
      found = true;
    }
  inferd_model_index_free(e, n);
  return found;
}

static bool wait_state(const char *name, const char *want) {
  inferd_model_index_entry_t e;
  char state[32], reason[256];
  for (int i = 0; i < 5000; i++) {
    if (entry(name, &e, state, reason) && strcmp(state, want) == 0)
      return true;
    usleep(1000);
  }
  return false;
}

static void on_demand(void) {
  ask_many("cold", 50);
  CHECK(w.ok == 50);
  CHECK(w.failed == 0);
  inferd_model_index_entry_t e;
  char state[32], reason[256];
  CHECK(entry("cold", &e, state, reason));
  CHECK(strcmp(state, "READY") == 0);
  CHECK(e.n_loads == 1);
  CHECK(e.n_on_demand == 1);
  fprintf(stderr, "on demand: 50 waiters, %d were waiting, loads %llu\n",
          atomic_load(&n_waiting), (unsigned long long)e.n_loads);

  /* a failing load answers every waiter with its error */
  ask_many("broken", 20);
  CHECK(w.failed == 20);
  CHECK_STR_CONTAINS(w.msg, "fail_model_init");

  /* unknown: nothing to wait for */
  bool waiting = true;
  inferd_status_t *st = inferd_server_model_load_on_demand_async(
      srv, "nope", 4, on_ready, NULL, &waiting);
  CHECK(st == NULL && !waiting);
  inferd_status_free(st);
}

static inferd_status_t *load(const char *name, bool pinned) {
  inferd_model_load_options_t o = {.pinned = pinned};
  pthread_mutex_lock(&w.mu);
  w.done = w.ok = w.failed = 0;
  pthread_mutex_unlock(&w.mu);
  inferd_status_t *st = inferd_server_model_load_async(srv, name, strlen(name),
                                                       &o, on_ready, NULL);
  if (st)
    return st;
  pthread_mutex_lock(&w.mu);
  while (!w.done)
    pthread_cond_wait(&w.cv, &w.mu);
  pthread_mutex_unlock(&w.mu);
  return w.failed ? inferd_status_new(INFERD_INTERNAL, "%s", w.msg) : NULL;
}

static void touch(const char *name) { /* a request's acquire marks use */
  inferd_model_t *m = NULL;
  inferd_status_t *st =
      inferd_server_model_acquire(srv, name, strlen(name), -1, &m);
  CHECK(st == NULL);
  inferd_status_free(st);
  inferd_model_release(m);
  usleep(2000);
}

static void budget(void) {
  inferd_status_t *st;
  const char *first[] = {"m1", "m2", "m3"};
  for (int i = 0; i < 3; i++) {
    st = load(first[i], false);
    CHECK(st == NULL);
    inferd_status_free(st);
    touch(first[i]);
  }
  touch("m1"); /* m2 is now the least recently used */
  st = load("m4", false);
  CHECK(st == NULL);
  inferd_status_free(st);
  inferd_model_index_entry_t e;
  char state[32], reason[256];
  CHECK(wait_state("m2", "UNAVAILABLE"));
  CHECK(entry("m2", &e, state, reason));
  CHECK(e.n_evictions == 1);
  CHECK(entry("m1", &e, state, reason) && strcmp(state, "READY") == 0);
  CHECK(e.memory_bytes == 30 * MB);

  /* in use: m3 is the LRU now, but a holder keeps it */
  inferd_model_t *held = NULL;
  st = inferd_server_model_acquire(srv, "m3", 2, -1, &held);
  CHECK(st == NULL);
  inferd_status_free(st);
  touch("m1");
  touch("m4");
  st = load("m5", false);
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(entry("m3", &e, state, reason) && strcmp(state, "READY") == 0);
  CHECK(wait_state("m1", "UNAVAILABLE")); /* the next LRU went instead */
  inferd_model_release(held);

  /* pinned: never evicted, even as the least recently used */
  st = load("p1", true);
  CHECK(st == NULL);
  inferd_status_free(st);
  CHECK(entry("p1", &e, state, reason) && e.pinned);
  /* p1 is the least recently used from now on; loads evict the others */
  const char *more[] = {"m2", "m1", "m3", "m4", "m5"};
  for (int i = 0; i < 5; i++) {
    st = load(more[i], false);
    CHECK(st == NULL);
    inferd_status_free(st);
    CHECK(entry("p1", &e, state, reason) && strcmp(state, "READY") == 0);
  }

  /* bigger than the budget: fails with both figures */
  st = load("huge", false);
  CHECK(st != NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "needs 157286400 bytes");
  CHECK_STR_CONTAINS(inferd_status_message(st), "budget is 104857600 bytes");
  fprintf(stderr, "too big: %s\n", inferd_status_message(st));
  inferd_status_free(st);
  CHECK(entry("huge", &e, state, reason) && strcmp(state, "UNAVAILABLE") == 0);
}

int main(void) {
  snprintf(repo, sizeof(repo), "/tmp/inferd-manytest-XXXXXX");
  if (!mkdtemp(repo))
    return 2;
  write_model("cold", "");
  write_model("broken", "parameters { key: \"fail_model_init\" value { "
                        "string_value: \"boom\" } }");
  const char *sized[] = {"m1", "m2", "m3", "m4", "m5", "p1"};
  for (int i = 0; i < 6; i++)
    sized_model(sized[i], 30 * MB);
  sized_model("huge", 150 * MB);
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[1] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = INFERD_BINARY_DIR "/backends";
  o.model_control_mode = INFERD_CONTROL_EXPLICIT;
  o.load_on_demand = true;
  o.memory_budget_bytes = 100 * MB;
  inferd_status_t *st = inferd_server_new(&srv, &o);
  CHECK(st == NULL);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    return 1;
  }
  on_demand();
  budget();
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
