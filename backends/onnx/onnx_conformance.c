/*
 * onnx_conformance.c: runs the ONNX node conformance tests that Debian's
 * libonnx-testdata ships (data/node/<test>/model.onnx with
 * test_data_set_0/input_*.pb and output_*.pb) through inferd's real host and
 * the onnx backend (libinferd.so's embedding API, bench/inproc_client.c),
 * and prints the pass rate per operator as a Markdown table.
 *
 * Usage: onnx_conformance [node-test-dir] [-v]
 *   default dir /usr/share/libonnx-testdata/data/node
 * Each test runs in a forked child with a repository of its own (the test's
 * model, a config.pbtxt with the test data's names, types and shapes, max
 * batch size 0) and a server in control mode none over it: the child's exit
 * ends everything it loaded, and a crash inside OpenCV counts as that test's
 * failure. Outputs compare with ONNX's own tolerance
 * (|got - want| <= 1e-7 + 1e-3 * |want|), NaN equal to NaN.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inproc_client.h"
#include "onnx_graph.h"

enum {
  R_PASS = 0,
  R_LOAD = 1,
  R_RUN = 2,
  R_MISMATCH = 3,
  R_TYPE = 4,
  R_DATA = 5,
  R_CRASH = 6,
  R_N = 7
};
static const char *const r_names[R_N] = {"pass", "load", "run",  "mismatch",
                                         "type", "data", "crash"};
static bool verbose;

static double elem(int32_t dt, const void *p, uint64_t i) {
  switch (dt) {
#define G(T, DT)                                                               \
  case DT: {                                                                   \
    T v;                                                                       \
    memcpy(&v, (const char *)p + i * sizeof(T), sizeof(T));                    \
    return (double)v;                                                          \
  }
    // clang-format off (it does not see the macro as a statement)
    G(uint8_t, INFERD_TYPE_UINT8)
    G(uint8_t, INFERD_TYPE_BOOL)
    G(uint16_t, INFERD_TYPE_UINT16)
    G(uint32_t, INFERD_TYPE_UINT32)
    G(uint64_t, INFERD_TYPE_UINT64)
    G(int8_t, INFERD_TYPE_INT8)
    G(int16_t, INFERD_TYPE_INT16)
    G(int32_t, INFERD_TYPE_INT32)
    G(int64_t, INFERD_TYPE_INT64)
    G(float, INFERD_TYPE_FP32)
    G(double, INFERD_TYPE_FP64)
    // clang-format on
#undef G
  default:
    return NAN;
  }
}

static int load_pb(const char *path, onnx_tensor_t *t) {
  void *buf;
  size_t len;
  char err[256];
  if (!onnx_read_file(path, &buf, &len, err, sizeof(err)))
    return -1;
  bool ok = onnx_tensor_read(buf, len, t, err, sizeof(err));
  free(buf);
  if (!ok && verbose)
    fprintf(stderr, "  %s: %s\n", path, err);
  return ok ? 0 : 1;
}

/* Compares output i of the response with the expected tensor. */
static int compare(const inferd_response_t *resp, const char *name, uint32_t i,
                   const onnx_tensor_t *want) {
  inferd_datatype_t dt;
  const int64_t *shape;
  size_t nd, bs;
  const void *data;
  if (!ic_response_output(resp, name, &dt, &shape, &nd, &data, &bs))
    return R_RUN;
  uint64_t count = want->byte_size / inferd_datatype_size(want->dt);
  if (bs / inferd_datatype_size(dt) != count) {
    if (verbose)
      fprintf(stderr, "  output %u: %llu elements, want %llu\n", i,
              (unsigned long long)(bs / inferd_datatype_size(dt)),
              (unsigned long long)count);
    return R_MISMATCH;
  }
  for (uint64_t k = 0; k < count; k++) {
    double a = elem(dt, data, k), w = elem(want->dt, want->data, k);
    if (isnan(a) && isnan(w))
      continue;
    if (isinf(w) && a == w)
      continue;
    if (!(fabs(a - w) <= 1e-7 + 1e-3 * fabs(w))) {
      if (verbose)
        fprintf(stderr, "  output %u[%llu]: got %g, want %g\n", i,
                (unsigned long long)k, a, w);
      return R_MISMATCH;
    }
  }
  return R_PASS;
}

/* Serves the test's model from a repository of its own and runs the test
 * data through it; returns an R_* code. */
static int run_model(const char *dir, const onnx_graph_info_t *g,
                     const onnx_tensor_t *in, uint32_t n_in,
                     const onnx_tensor_t *out, uint32_t n_out) {
  static char config[65536];
  snprintf(config, sizeof(config),
           "name: \"conformance\"\nbackend: \"onnx\"\n"
           "max_batch_size: 0\n");
  for (uint32_t i = 0; i < n_in + n_out; i++) {
    bool o = i >= n_in;
    const onnx_tensor_t *t = o ? &out[i - n_in] : &in[i];
    if (!ic_config_io(config, sizeof(config), o,
                      o ? g->outputs[i - n_in].name : g->inputs[i].name, t->dt,
                      t->dims, t->n_dims))
      return R_DATA;
  }
  char path[8192];
  snprintf(path, sizeof(path), "%s/model.onnx", dir);
  ic_repo_t *repo = NULL;
  inferd_server_t *s = NULL;
  inferd_model_t *m = NULL;
  inferd_request_t *r = NULL;
  inferd_response_t *resp = NULL;
  int result = R_PASS;
  inferd_status_t *st = ic_repo_new(&repo);
  if (!st)
    st = ic_repo_add_model(repo, "conformance", config, path, "model.onnx");
  if (st) { /* not the server's doing */
    fprintf(stderr, "%s\n", inferd_status_message(st));
    result = R_DATA;
    goto out;
  }
  st = ic_server_new(&s, ic_repo_path(repo), INFERD_BACKEND_DIR, true);
  if (!st)
    st = inferd_server_model_acquire(s, "conformance", 11, -1, &m);
  if (st) {
    if (verbose)
      fprintf(stderr, "  load: %s\n", inferd_status_message(st));
    result = strstr(inferd_status_message(st), "data type") ? R_TYPE : R_LOAD;
    goto out;
  }
  st = inferd_request_new(&r, m);
  static const int64_t scalar[1] = {1}; /* see ic_config_io */
  for (uint32_t i = 0; !st && i < n_in; i++)
    st = ic_request_input(
        r, g->inputs[i].name, in[i].dt, in[i].n_dims ? in[i].dims : scalar,
        in[i].n_dims ? in[i].n_dims : 1, in[i].data, in[i].byte_size);
  for (uint32_t i = 0; !st && i < n_out; i++)
    st = inferd_request_add_requested_output(r, g->outputs[i].name,
                                             strlen(g->outputs[i].name));
  if (!st)
    st = ic_infer(s, &r, 1, &resp);
  if (st || ic_response_error(resp)) {
    if (verbose)
      fprintf(stderr, "  run: %s\n",
              st ? inferd_status_message(st) : ic_response_error(resp));
    result = R_RUN;
    goto out;
  }
  for (uint32_t i = 0; i < n_out && result == R_PASS; i++)
    result = compare(resp, g->outputs[i].name, i, &out[i]);
out:
  inferd_status_free(st);
  inferd_response_free(resp);
  inferd_request_free(r);
  inferd_model_release(m);
  ic_server_free(s);
  ic_repo_free(repo);
  return result;
}

/* Runs one test; returns an R_* code. Called in the child. */
static int run_test(const char *dir) {
  if (strlen(dir) > 4000)
    return R_DATA;
  char path[8192], err[2048];
  snprintf(path, sizeof(path), "%s/model.onnx", dir);
  void *buf;
  size_t len;
  onnx_graph_info_t *g = NULL;
  if (!onnx_read_file(path, &buf, &len, err, sizeof(err)))
    return R_DATA;
  bool ok = onnx_graph_read(buf, len, &g, err, sizeof(err));
  free(buf);
  if (!ok)
    return R_DATA;
  onnx_tensor_t in[16], out[16];
  uint32_t n_in = g->n_inputs, n_out = g->n_outputs;
  if (n_in > 16 || n_out > 16)
    return R_TYPE;
  for (uint32_t i = 0; i < n_in + n_out; i++) {
    bool o = i >= n_in;
    snprintf(path, sizeof(path), "%s/test_data_set_0/%s_%u.pb", dir,
             o ? "output" : "input", o ? i - n_in : i);
    int rc = load_pb(path, o ? &out[i - n_in] : &in[i]);
    if (rc < 0)
      return R_DATA;
    if (rc > 0)
      return R_TYPE; /* string/complex/external data */
  }
  int result = run_model(dir, g, in, n_in, out, n_out);
  onnx_graph_free(g);
  return result;
}

typedef struct op_stat {
  char name[96];
  int n[R_N];
  int total;
} op_stat_t;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_op(const void *a, const void *b) {
  return strcmp(((const op_stat_t *)a)->name, ((const op_stat_t *)b)->name);
}

int main(int argc, char **argv) {
  const char *root = "/usr/share/libonnx-testdata/data/node";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0)
      verbose = true;
    else
      root = argv[i];
  }
  /* load errors are counted, not logged (-v prints them per test) */
  inferd_log_settings_t log;
  inferd_log_get(&log);
  log.log_info = log.log_warning = log.log_error = false;
  inferd_log_set(&log);
  DIR *d = opendir(root);
  if (!d) {
    fprintf(stderr, "cannot open %s (install libonnx-testdata)\n", root);
    return 2;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "test_", 5) == 0) {
      char **nn = realloc(names, (n + 1) * sizeof(*names));
      if (!nn)
        return 2;
      names = nn;
      names[n] = strdup(e->d_name);
      if (!names[n])
        return 2;
      n++;
    }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_str);
  op_stat_t *ops = calloc(n + 1, sizeof(*ops));
  size_t n_ops = 0;
  int totals[R_N] = {0};
  for (size_t i = 0; i < n; i++) {
    char dir[4096], path[8192];
    snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
    /* the operator: the single node's op, else "(function-expanded)" */
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    char op[96] = "(unreadable)";
    void *buf;
    size_t len;
    char err[256];
    onnx_graph_info_t *g = NULL;
    if (onnx_read_file(path, &buf, &len, err, sizeof(err))) {
      if (onnx_graph_read(buf, len, &g, err, sizeof(err))) {
        bool expanded = strstr(names[i], "_expanded") != NULL;
        snprintf(op, sizeof(op), "%s",
                 expanded     ? "(expanded function bodies)"
                 : g->n_nodes ? g->op_types[0]
                              : "(empty)");
        onnx_graph_free(g);
      }
      free(buf);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(60);
      _exit(run_test(dir));
    }
    int status = 0, rc = R_CRASH;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) < R_N)
      rc = WEXITSTATUS(status);
    if (verbose)
      fprintf(stderr, "%s: %s\n", names[i], r_names[rc]);
    size_t k;
    for (k = 0; k < n_ops && strcmp(ops[k].name, op) != 0; k++) {
    }
    if (k == n_ops)
      snprintf(ops[n_ops++].name, sizeof(ops[0].name), "%s", op);
    ops[k].n[rc]++;
    ops[k].total++;
    totals[rc]++;
    free(names[i]);
  }
  free(names);
  qsort(ops, n_ops, sizeof(*ops), cmp_op);
  printf("| operator | pass | tests | load fail | run fail | mismatch | "
         "type unsupported | crash |\n|---|---|---|---|---|---|---|---|\n");
  for (size_t k = 0; k < n_ops; k++)
    printf("| %s | %d | %d | %d | %d | %d | %d | %d |\n", ops[k].name,
           ops[k].n[R_PASS], ops[k].total, ops[k].n[R_LOAD], ops[k].n[R_RUN],
           ops[k].n[R_MISMATCH], ops[k].n[R_TYPE] + ops[k].n[R_DATA],
           ops[k].n[R_CRASH]);
  int passed_ops = 0;
  for (size_t k = 0; k < n_ops; k++)
    passed_ops += ops[k].n[R_PASS] == ops[k].total;
  printf("\nTotal: %d of %zu tests pass (%.1f%%); %d of %zu operators pass "
         "all their tests. Failures: load %d, run %d, mismatch %d, type %d, "
         "crash %d.\n",
         totals[R_PASS], n, n ? 100.0 * totals[R_PASS] / (double)n : 0.0,
         passed_ops, n_ops, totals[R_LOAD], totals[R_RUN], totals[R_MISMATCH],
         totals[R_TYPE] + totals[R_DATA], totals[R_CRASH]);
  free(ops);
  return 0;
}
