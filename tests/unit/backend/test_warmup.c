/* test_warmup.c: model_warmup against a hand-built model version whose
 * scheduler is a fake: it records what each warmup request carries (shape,
 * buffers, bytes) and completes it from another thread, with an error
 * response or an enqueue refusal on demand. Checks the data of zero_data,
 * random_data and input_data_file (BOOL, INT32, BYTES), batch_size as the
 * first dimension with the data repeated, count (0 = once), skipped
 * batch_size 0 samples, the error texts naming the sample, and that no
 * request or model reference is left behind. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/warmup.h"
#include "core/completion.h"
#include "sched/scheduler.h"
#include "server/server_internal.h"
#include "unit.h"

static char root[256];

/* ---- the fake scheduler ------------------------------------------------ */

#define MAX_SEEN 16
typedef struct seen_input {
  char name[32];
  int64_t shape[8];
  uint32_t n_dims, n_buffers;
  uint8_t bytes[512]; /* the buffers, concatenated */
  size_t byte_size;
} seen_input_t;

typedef struct seen {
  seen_input_t in[4];
  uint32_t n_inputs;
} seen_t;

static struct {
  pthread_mutex_t mu;
  seen_t seen[MAX_SEEN];
  int n_seen;
  int fail_at;   /* 1-based request that gets an error response; 0: none */
  int refuse_at; /* 1-based request that enqueue refuses; 0: none */
  int n_enqueued;
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *complete(void *arg) {
  inferd_request_t *r = arg;
  usleep(1000); /* let the warmup thread wait for real */
  inferd_response_t *resp = NULL;
  inferd_status_t *st = core_response_alloc(r, &resp);
  CHECK(st == NULL);
  inferd_status_free(st);
  pthread_mutex_lock(&fk.mu);
  bool fail = fk.n_enqueued == fk.fail_at;
  pthread_mutex_unlock(&fk.mu);
  if (resp) {
    if (fail)
      resp->error = inferd_status_new(INFERD_INTERNAL, "boom");
    core_response_send(resp, INFERD_RESPONSE_FLAG_FINAL);
  }
  core_request_release(r);
  return NULL;
}

static inferd_status_t *fake_enqueue(sched_t *s, inferd_request_t *r) {
  (void)s;
  pthread_mutex_lock(&fk.mu);
  int k = ++fk.n_enqueued;
  if (k == fk.refuse_at) {
    pthread_mutex_unlock(&fk.mu);
    return inferd_status_new(INFERD_UNAVAILABLE, "queue is full");
  }
  if (fk.n_seen < MAX_SEEN) {
    seen_t *sn = &fk.seen[fk.n_seen++];
    sn->n_inputs = r->n_inputs < 4 ? r->n_inputs : 4;
    for (uint32_t i = 0; i < sn->n_inputs; i++) {
      const core_input_t *in = &r->inputs[i];
      seen_input_t *si = &sn->in[i];
      snprintf(si->name, sizeof(si->name), "%s", in->name);
      si->n_dims = in->n_dims < 8 ? in->n_dims : 8;
      memcpy(si->shape, in->shape, si->n_dims * sizeof(int64_t));
      si->n_buffers = in->n_buffers;
      si->byte_size = 0;
      for (uint32_t b = 0; b < in->n_buffers; b++) {
        size_t n = in->buffers[b].size;
        if (si->byte_size + n <= sizeof(si->bytes))
          memcpy(si->bytes + si->byte_size, in->buffers[b].base, n);
        si->byte_size += n;
      }
    }
  }
  pthread_mutex_unlock(&fk.mu);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, complete, r) == 0);
  pthread_detach(t);
  return NULL;
}

static void fake_nop(sched_t *s) { (void)s; }

static const sched_ops_t fake_ops = {.name = "fake",
                                     .enqueue = fake_enqueue,
                                     .drain = fake_nop,
                                     .stop = fake_nop,
                                     .kick = fake_nop,
                                     .free = fake_nop};

static void fake_reset(int fail_at, int refuse_at) {
  pthread_mutex_lock(&fk.mu);
  fk.n_seen = 0;
  fk.n_enqueued = 0;
  fk.fail_at = fail_at;
  fk.refuse_at = refuse_at;
  pthread_mutex_unlock(&fk.mu);
}

/* ---- a hand-built model version --------------------------------------- */

static inferd_server_t server;

typedef struct fake_model {
  inferd_model_t m;
  sched_t sched;
} fake_model_t;

/* config text (inputs, max_batch_size, model_warmup) → a model version in
 * <root>/<name> whose fake scheduler is running */
static fake_model_t *model_new(const char *name, const char *config) {
  ProtobufCMessage *msg = NULL;
  inferd_status_t *st = cfg_text_parse(&inference__model_config__descriptor,
                                       config, strlen(config), "test", &msg);
  if (st)
    fprintf(stderr, "config: %s\n", inferd_status_message(st));
  CHECK(st == NULL);
  inferd_status_free(st);
  fake_model_t *f = calloc(1, sizeof(*f));
  CHECK(f != NULL);
  if (!f || !msg)
    return NULL;
  inferd_model_t *m = &f->m;
  atomic_init(&m->ref.refs, 1);
  m->server = &server;
  m->name = (char *)name;
  m->version = 1;
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/%s", root, name);
  m->model_dir = strdup(dir);
  m->config = (cfg_model_t *)msg;
  model_stats_init(&m->stats);
  const cfg_model_t *c = m->config;
  m->inputs = calloc(c->n_input + 1, sizeof(model_io_t));
  CHECK(m->inputs != NULL);
  for (size_t i = 0; i < c->n_input; i++)
    m->inputs[i] = (model_io_t){.name = c->input[i]->name,
                                .dt = (inferd_datatype_t)c->input[i]->data_type,
                                .dims = c->input[i]->dims,
                                .n_dims = (uint32_t)c->input[i]->n_dims};
  m->n_inputs = (uint32_t)c->n_input;
  m->output_names = calloc(1, sizeof(char *));
  f->sched.ops = &fake_ops;
  m->sched = &f->sched;
  return f;
}

static void model_free(fake_model_t *f) {
  if (!f)
    return;
  /* every warmup request released its model reference */
  CHECK(atomic_load(&f->m.ref.refs) == 1);
  CHECK(atomic_load(&server.inflight) == 0);
  model_stats_deinit(&f->m.stats);
  free(f->m.inputs);
  free(f->m.output_names);
  free(f->m.model_dir);
  cfg_free(f->m.config);
  free(f);
}

static void write_bytes(const char *model, const char *file, const void *data,
                        size_t n) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, model);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/warmup", root, model);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/warmup/%s", root, model, file);
  FILE *fp = fopen(p, "wb");
  CHECK(fp != NULL);
  if (!fp)
    return;
  CHECK(fwrite(data, 1, n, fp) == n);
  fclose(fp);
}

/* every warmup failure is INVALID_ARG, as in Triton */
static void expect_error(inferd_status_t *st, const char *want) {
  CHECK(st != NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  const char *m = inferd_status_message(st);
  if (!st || strcmp(m, want) != 0) {
    fprintf(stderr, "  got:  %s\n  want: %s\n", m, want);
    CHECK(!"message mismatch");
  }
  inferd_status_free(st);
}

#define BATCHING                                                               \
  "max_batch_size: 4\n"                                                        \
  "input [ { name: \"I\" data_type: TYPE_INT32 dims: [ -1, 2 ] },\n"           \
  "        { name: \"B\" data_type: TYPE_BOOL dims: [ 16 ] },\n"               \
  "        { name: \"S\" data_type: TYPE_STRING dims: [ -1 ] } ]\n"

static bool all(const uint8_t *p, size_t n, bool (*ok)(uint8_t)) {
  for (size_t i = 0; i < n; i++)
    if (!ok(p[i]))
      return false;
  return true;
}
static bool is_zero(uint8_t b) { return b == 0; }
static bool is_bit(uint8_t b) { return b <= 1; }

static void test_data_and_batch(void) {
  int32_t file_ints[6] = {1, 2, 3, 4, 5, 6};
  write_bytes("data", "ints.bin", file_ints, sizeof(file_ints));
  static const uint8_t framed[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0};
  write_bytes("data", "str.bin", framed, sizeof(framed));
  fake_model_t *f = model_new(
      "data", BATCHING
      "model_warmup [ { name: \"zero\" batch_size: 3 count: 2\n"
      "  inputs { key: \"I\" value { data_type: TYPE_INT32 dims: [ 1, 2 ] "
      "zero_data: true } }\n"
      "  inputs { key: \"B\" value { data_type: TYPE_BOOL dims: [ 16 ] "
      "zero_data: true } }\n"
      "  inputs { key: \"S\" value { data_type: TYPE_STRING dims: [ 3 ] "
      "zero_data: true } } },\n"
      "{ name: \"rand\" batch_size: 1\n"
      "  inputs { key: \"I\" value { data_type: TYPE_INT32 dims: [ 8, 2 ] "
      "random_data: true } }\n"
      "  inputs { key: \"B\" value { data_type: TYPE_BOOL dims: [ 16 ] "
      "random_data: true } }\n"
      "  inputs { key: \"S\" value { data_type: TYPE_STRING dims: [ 2 ] "
      "random_data: true } } },\n"
      "{ name: \"none\" batch_size: 0 count: 7 },\n"
      "{ name: \"file\" batch_size: 2 count: 0\n"
      "  inputs { key: \"I\" value { data_type: TYPE_INT32 dims: [ 3, 2 ] "
      "input_data_file: \"ints.bin\" } }\n"
      "  inputs { key: \"B\" value { data_type: TYPE_BOOL dims: [ 16 ] "
      "zero_data: true } }\n"
      "  inputs { key: \"S\" value { data_type: TYPE_STRING dims: [ 2 ] "
      "input_data_file: \"str.bin\" } } } ]\n");
  if (!f)
    return;
  fake_reset(0, 0);
  inferd_status_t *st = model_warmup(&f->m);
  if (st)
    fprintf(stderr, "unexpected: %s\n", inferd_status_message(st));
  CHECK(st == NULL);
  inferd_status_free(st);
  /* zero ×2, rand ×1, none skipped, file ×1 (count 0 = once) */
  CHECK(fk.n_seen == 4);
  if (fk.n_seen != 4)
    goto out;
  for (int k = 0; k < 2; k++) {
    const seen_t *s = &fk.seen[k];
    CHECK(s->n_inputs == 3);
    CHECK(strcmp(s->in[0].name, "I") == 0);
    CHECK(s->in[0].n_dims == 3 && s->in[0].shape[0] == 3 &&
          s->in[0].shape[1] == 1 && s->in[0].shape[2] == 2);
    CHECK(s->in[0].n_buffers == 3 && s->in[0].byte_size == 3 * 8);
    CHECK(all(s->in[0].bytes, s->in[0].byte_size, is_zero));
    CHECK(s->in[1].byte_size == 3 * 16);
    CHECK(all(s->in[1].bytes, s->in[1].byte_size, is_zero));
    /* BYTES zero data: empty strings, each a 4-byte length 0 */
    CHECK(s->in[2].byte_size == 3 * 3 * 4);
    CHECK(all(s->in[2].bytes, s->in[2].byte_size, is_zero));
  }
  const seen_t *r = &fk.seen[2];
  CHECK(r->in[0].shape[0] == 1 && r->in[0].byte_size == 64);
  CHECK(!all(r->in[0].bytes, 64, is_zero)); /* 2^-512 to fail by chance */
  CHECK(all(r->in[1].bytes, 16, is_bit));   /* BOOL random: 0 or 1 */
  CHECK(!all(r->in[1].bytes, 16, is_zero));
  CHECK(r->in[2].byte_size == 8 && all(r->in[2].bytes, 8, is_zero));
  const seen_t *fl = &fk.seen[3];
  CHECK(fl->in[0].shape[0] == 2 && fl->in[0].n_buffers == 2);
  CHECK(fl->in[0].byte_size == 2 * sizeof(file_ints));
  CHECK(memcmp(fl->in[0].bytes, file_ints, sizeof(file_ints)) == 0);
  CHECK(memcmp(fl->in[0].bytes + sizeof(file_ints), file_ints,
               sizeof(file_ints)) == 0);
  CHECK(fl->in[2].byte_size == 2 * sizeof(framed));
  CHECK(memcmp(fl->in[2].bytes, framed, sizeof(framed)) == 0);
  /* the statistics saw the successful requests (as Triton's do) */
  CHECK(atomic_load(&f->m.stats.inference_count) == 3 + 3 + 1 + 2);
  CHECK(atomic_load(&f->m.stats.success.count) == 4);
out:
  model_free(f);
}

static void test_non_batching_shape(void) {
  fake_model_t *f = model_new(
      "nb", "input [ { name: \"X\" data_type: TYPE_FP32 dims: [ 2, 3 ] } ]\n"
            "model_warmup { name: \"s\" batch_size: 1 inputs { key: \"X\" "
            "value { data_type: TYPE_FP32 dims: [ 2, 3 ] zero_data: true } "
            "} }\n");
  if (!f)
    return;
  fake_reset(0, 0);
  CHECK(model_warmup(&f->m) == NULL);
  CHECK(fk.n_seen == 1);
  const seen_input_t *x = &fk.seen[0].in[0];
  CHECK(x->n_dims == 2 && x->shape[0] == 2 && x->shape[1] == 3);
  CHECK(x->n_buffers == 1 && x->byte_size == 24);
  model_free(f);
}

#define ONE_INPUT(src)                                                         \
  "max_batch_size: 2\n"                                                        \
  "input [ { name: \"X\" data_type: TYPE_INT32 dims: [ 2 ] } ]\n"              \
  "model_warmup [ { name: \"ok\" batch_size: 1 inputs { key: \"X\" value { "   \
  "data_type: TYPE_INT32 dims: [ 2 ] zero_data: true } } },\n"                 \
  "{ name: \"s2\" batch_size: 2 count: 4 inputs { key: \"X\" value { "         \
  "data_type: TYPE_INT32 dims: [ 2 ] " src " } } } ]\n"

static void test_response_error_stops(void) {
  fake_model_t *f = model_new("resp", ONE_INPUT("zero_data: true"));
  if (!f)
    return;
  fake_reset(3, 0); /* "ok", then the second iteration of "s2" fails */
  expect_error(model_warmup(&f->m),
               "model \"resp\" version 1: warmup sample \"s2\": boom");
  CHECK(fk.n_enqueued == 3);
  model_free(f);
}

static void test_enqueue_refused(void) {
  fake_model_t *f = model_new("refuse", ONE_INPUT("zero_data: true"));
  if (!f)
    return;
  fake_reset(0, 2);
  expect_error(model_warmup(&f->m),
               "model \"refuse\" version 1: warmup sample \"s2\": queue is "
               "full");
  CHECK(fk.n_enqueued == 2);
  model_free(f);
}

static void test_validation_error_named_once(void) {
  /* a config that skipped validation: the request's own check speaks, and
   * the model and version are not repeated */
  fake_model_t *f = model_new(
      "shape", "max_batch_size: 2\n"
               "input [ { name: \"X\" data_type: TYPE_INT32 dims: [ 2 ] } ]\n"
               "model_warmup { name: \"s\" batch_size: 1 inputs { key: \"X\" "
               "value { data_type: TYPE_INT32 dims: [ 3 ] zero_data: true } "
               "} }\n");
  if (!f)
    return;
  fake_reset(0, 0);
  expect_error(model_warmup(&f->m),
               "model \"shape\" version 1: warmup sample \"s\": input \"X\": "
               "expected shape [-1,2], got [1,3]");
  CHECK(fk.n_enqueued == 0);
  model_free(f);
}

static void test_data_file_sizes(void) {
  int32_t three[3] = {7, 8, 9};
  write_bytes("short", "d.bin", three, 4); /* one element of two */
  fake_model_t *f = model_new("short", ONE_INPUT("input_data_file: \"d.bin\""));
  if (f) {
    fake_reset(0, 0);
    expect_error(model_warmup(&f->m),
                 "model \"short\" version 1: warmup sample \"s2\": input "
                 "\"X\": input_data_file \"d.bin\": expected at least 8 bytes "
                 "for dims [2] of TYPE_INT32, got 4");
    CHECK(fk.n_enqueued == 1); /* only "ok" ran */
    model_free(f);
  }
  /* longer than needed: the first bytes are used, as in Triton */
  write_bytes("long", "d.bin", three, sizeof(three));
  f = model_new("long", ONE_INPUT("input_data_file: \"d.bin\""));
  if (f) {
    fake_reset(0, 0);
    CHECK(model_warmup(&f->m) == NULL);
    CHECK(fk.n_seen == 5);
    const seen_input_t *x = &fk.seen[4].in[0];
    CHECK(x->byte_size == 16 && memcmp(x->bytes, three, 8) == 0 &&
          memcmp(x->bytes + 8, three, 8) == 0);
    model_free(f);
  }
  f = model_new("gone", ONE_INPUT("input_data_file: \"gone.bin\""));
  if (f) {
    fake_reset(0, 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "model \"gone\" version 1: warmup sample \"s2\": input \"X\": "
             "input_data_file \"gone.bin\": cannot open "
             "%s/gone/warmup/gone.bin: No such file or directory",
             root);
    expect_error(model_warmup(&f->m), want);
    model_free(f);
  }
  f = model_new("dots", ONE_INPUT("input_data_file: \"../d.bin\""));
  if (f) {
    fake_reset(0, 0);
    expect_error(model_warmup(&f->m),
                 "model \"dots\" version 1: warmup sample \"s2\": input "
                 "\"X\": input_data_file \"../d.bin\" must be a relative "
                 "path inside the model's warmup/ directory");
    model_free(f);
  }
}

static void test_no_samples(void) {
  fake_model_t *f = model_new("plain", "max_batch_size: 2\n");
  if (!f)
    return;
  fake_reset(0, 0);
  CHECK(model_warmup(&f->m) == NULL);
  CHECK(fk.n_enqueued == 0);
  model_free(f);
}

static void rm_rf(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  CHECK(system(cmd) == 0);
}

int main(void) {
  srv_completion_install();
  snprintf(root, sizeof(root), "/tmp/inferd_warmup_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  atomic_init(&server.stopping, false);
  atomic_init(&server.inflight, 0);
  pthread_mutex_init(&server.inflight_mu, NULL);
  pthread_cond_init(&server.inflight_cv, NULL);
  test_data_and_batch();
  test_non_batching_shape();
  test_response_error_stops();
  test_enqueue_refused();
  test_validation_error_named_once();
  test_data_file_sizes();
  test_no_samples();
  pthread_mutex_destroy(&server.inflight_mu);
  pthread_cond_destroy(&server.inflight_cv);
  rm_rf(root);
  return UNIT_END();
}
