/*
 * The response allocator through the embedding API, on the add_sub backend
 * (two outputs): outputs written straight into the caller's buffers (no
 * copy), the allocator declining (server memory), an allocator error
 * naming the output, a request for one output, every buffer released
 * exactly once, and memory the
 * backend cannot write (GPU with no CUDA layer) failing the response with a
 * clear error instead of a wrong answer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inferd/server.h"
#include "unit.h"

static char repo[256];
static inferd_server_t *srv;

typedef struct slot {
  int32_t data[16];
  atomic_int allocs, releases;
} slot_t;

typedef struct ctx {
  slot_t out0, out1;
  int mode; /* 0 give buffers, 1 decline, 2 fail OUTPUT1, 3 GPU */
  /* response */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool released;
  inferd_response_t *resp;
} ctx_t;

static inferd_status_t *alloc(void *userp, const char *name, size_t size,
                              inferd_memtype_t pref, int64_t pref_dev,
                              void **buffer, void **buffer_userp,
                              inferd_memtype_t *type, int64_t *dev) {
  ctx_t *c = userp;
  (void)pref;
  (void)pref_dev;
  slot_t *s = strcmp(name, "OUTPUT0") == 0 ? &c->out0 : &c->out1;
  if (c->mode == 1)
    return NULL; /* *buffer stays NULL: server memory */
  if (c->mode == 2 && s == &c->out1)
    return inferd_status_new(INFERD_INVALID_ARG, "no room for it");
  if (size > sizeof(s->data))
    return inferd_status_new(INFERD_INVALID_ARG, "too big");
  atomic_fetch_add(&s->allocs, 1);
  *buffer = s->data;
  *buffer_userp = s;
  *type = c->mode == 3 ? INFERD_MEM_GPU : INFERD_MEM_CPU;
  *dev = 0;
  return NULL;
}

static void release(void *userp, void *buffer, void *buffer_userp, size_t size,
                    inferd_memtype_t type, int64_t dev) {
  (void)userp;
  (void)size;
  (void)type;
  (void)dev;
  slot_t *s = buffer_userp;
  CHECK(buffer == s->data);
  atomic_fetch_add(&s->releases, 1);
}

static void on_response(inferd_response_t *resp, uint32_t flags, void *p) {
  ctx_t *c = p;
  (void)flags;
  if (resp)
    c->resp = resp;
}

static void on_release(inferd_request_t *req, void *p) {
  ctx_t *c = p;
  inferd_request_free(req);
  pthread_mutex_lock(&c->mu);
  c->released = true;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void run(ctx_t *c, bool only_out0) {
  inferd_model_t *m = NULL;
  inferd_status_t *st = inferd_server_model_acquire(srv, "simple", 6, -1, &m);
  CHECK(st == NULL);
  inferd_request_t *r = NULL;
  st = inferd_request_new(&r, m);
  CHECK(st == NULL);
  inferd_model_release(m);
  static int32_t a[16], b[16];
  for (int i = 0; i < 16; i++) {
    a[i] = i;
    b[i] = 1;
  }
  int64_t shape[2] = {1, 16};
  uint32_t ia, ib;
  CHECK(!inferd_request_add_input(r, "INPUT0", 6, INFERD_TYPE_INT32, shape, 2,
                                  &ia));
  CHECK(!inferd_request_add_input(r, "INPUT1", 6, INFERD_TYPE_INT32, shape, 2,
                                  &ib));
  CHECK(!inferd_request_append_input_data(r, ia, a, sizeof(a), INFERD_MEM_CPU,
                                          0));
  CHECK(!inferd_request_append_input_data(r, ib, b, sizeof(b), INFERD_MEM_CPU,
                                          0));
  if (only_out0)
    CHECK(!inferd_request_add_requested_output(r, "OUTPUT0", 7));
  inferd_request_set_callbacks(r, on_response, on_release, c);
  inferd_request_set_response_allocator(r, alloc, release, c);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  st = inferd_server_infer_async(srv, r);
  CHECK(st == NULL);
  pthread_mutex_lock(&c->mu);
  while (!c->released)
    pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
}

static void done(ctx_t *c) {
  inferd_response_free(c->resp);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
}

static void into_caller_buffers(void) {
  ctx_t c = {.mode = 0};
  run(&c, false);
  CHECK(c.resp && !inferd_response_error(c.resp));
  CHECK(inferd_response_output_count(c.resp) == 2);
  for (size_t i = 0; c.resp && i < 2; i++) {
    const char *name;
    const void *base;
    size_t size;
    inferd_memtype_t t;
    int64_t dev;
    void *bu;
    inferd_response_output(c.resp, i, &name, NULL, NULL, NULL, &base, &size);
    inferd_response_output_memory(c.resp, i, &t, &dev, &bu);
    slot_t *s = strcmp(name, "OUTPUT0") == 0 ? &c.out0 : &c.out1;
    CHECK(base == s->data); /* written in place: no copy */
    CHECK(bu == s && t == INFERD_MEM_CPU && size == 64);
  }
  CHECK(c.out0.data[3] == 4); /* 3 + 1 */
  CHECK(c.out1.data[3] == 2); /* 3 - 1 */
  CHECK(atomic_load(&c.out0.releases) == 0);
  done(&c);
  CHECK(atomic_load(&c.out0.allocs) == 1 && atomic_load(&c.out0.releases) == 1);
  CHECK(atomic_load(&c.out1.allocs) == 1 && atomic_load(&c.out1.releases) == 1);
}

static void unrequested_output_released(void) {
  ctx_t c = {.mode = 0};
  run(&c, true);
  CHECK(c.resp && inferd_response_output_count(c.resp) == 1);
  /* the backend produces only what was asked; anything else it made would
   * be dropped at send and released through the allocator */
  CHECK(atomic_load(&c.out1.allocs) == atomic_load(&c.out1.releases));
  done(&c);
  CHECK(atomic_load(&c.out0.releases) == 1);
}

static void declined(void) {
  ctx_t c = {.mode = 1};
  run(&c, false);
  CHECK(c.resp && !inferd_response_error(c.resp));
  const void *base = NULL;
  void *bu = (void *)1;
  inferd_response_output(c.resp, 0, NULL, NULL, NULL, NULL, &base, NULL);
  inferd_response_output_memory(c.resp, 0, NULL, NULL, &bu);
  CHECK(base != c.out0.data && base != c.out1.data && bu == NULL);
  done(&c);
  CHECK(atomic_load(&c.out0.releases) == 0);
}

static void alloc_error(void) {
  ctx_t c = {.mode = 2};
  run(&c, false);
  const inferd_status_t *e = c.resp ? inferd_response_error(c.resp) : NULL;
  CHECK(e != NULL);
  CHECK_STR_CONTAINS(inferd_status_message(e), "output \"OUTPUT1\"");
  CHECK_STR_CONTAINS(inferd_status_message(e), "no room for it");
  done(&c);
  CHECK(atomic_load(&c.out0.allocs) == atomic_load(&c.out0.releases));
}

static void gpu_without_cuda(void) {
  ctx_t c = {.mode = 3};
  run(&c, false);
  const inferd_status_t *e = c.resp ? inferd_response_error(c.resp) : NULL;
  CHECK(e != NULL && inferd_status_code(e) == INFERD_UNSUPPORTED);
  CHECK_STR_CONTAINS(inferd_status_message(e), "needs the CUDA runtime");
  done(&c);
  CHECK(atomic_load(&c.out0.allocs) == atomic_load(&c.out0.releases));
  CHECK(atomic_load(&c.out1.allocs) == atomic_load(&c.out1.releases));
}

int main(void) {
  snprintf(repo, sizeof(repo), "/tmp/inferd-alloctest-XXXXXX");
  if (!mkdtemp(repo))
    return 2;
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "cp -r %s/examples/model_repository/simple %s/",
           INFERD_SOURCE_DIR, repo);
  if (system(cmd) != 0)
    return 2;
  inferd_server_options_t o;
  inferd_server_options_init(&o);
  const char *repos[1] = {repo};
  o.model_repositories = repos;
  o.n_model_repositories = 1;
  o.backend_directory = INFERD_BINARY_DIR "/backends";
  inferd_status_t *st = inferd_server_new(&srv, &o);
  CHECK(st == NULL);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    return 1;
  }
  into_caller_buffers();
  unrequested_output_released();
  declined();
  alloc_error();
  gpu_without_cuda();
  st = inferd_server_stop(srv, 10);
  CHECK(st == NULL);
  inferd_status_free(st);
  inferd_server_free(srv);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", repo);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", repo);
  return UNIT_END();
}
