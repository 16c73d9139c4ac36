/*
 * onnx_conformance.c: runs the ONNX node conformance tests that Debian's
 * libonnx-testdata ships (data/node/<test>/model.onnx with
 * test_data_set_0/input_*.pb and output_*.pb) through the onnx backend's own
 * loading and execution code (libinferd_onnx.so driven by the in-process
 * host of bench/frameworks_host.c), and prints the pass rate per operator as
 * a Markdown table.
 *
 * Usage: onnx_conformance [node-test-dir] [-v]
 *   default dir /usr/share/libonnx-testdata/data/node
 * Each test runs in a forked child so that a crash inside OpenCV counts as
 * that test's failure. Outputs compare with ONNX's own tolerance
 * (|got - want| <= 1e-7 + 1e-3 * |want|), NaN equal to NaN.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frameworks_host.h"
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

/* Runs one test; returns an R_* code. Called in the child. */
static int run_test(const char *lib, const char *dir) {
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
  fh_backend_t *b = fh_backend_open(lib, "onnx", err, sizeof(err));
  if (!b) {
    fprintf(stderr, "%s\n", err);
    return R_LOAD;
  }
  snprintf(path, sizeof(path), "%s/model.onnx", dir);
  fh_model_t *m = fh_model_new(b, "conformance", path, 0);
  for (uint32_t i = 0; i < n_in; i++)
    fh_model_add_io(m, false, g->inputs[i].name, in[i].dt, in[i].dims,
                    in[i].n_dims);
  for (uint32_t i = 0; i < n_out; i++)
    fh_model_add_io(m, true, g->outputs[i].name, out[i].dt, out[i].dims,
                    out[i].n_dims);
  if (!fh_model_load(m, 1, err, sizeof(err))) {
    if (verbose)
      fprintf(stderr, "  load: %s\n", err);
    bool type = strstr(err, "data type") != NULL;
    fh_model_free(m);
    fh_backend_close(b);
    return type ? R_TYPE : R_LOAD;
  }
  inferd_request_t *r = fh_request_new();
  for (uint32_t i = 0; i < n_in; i++)
    fh_request_add_input(r, g->inputs[i].name, in[i].dt, in[i].dims,
                         in[i].n_dims, in[i].data, in[i].byte_size);
  for (uint32_t i = 0; i < n_out; i++)
    fh_request_add_output(r, g->outputs[i].name);
  int result = R_PASS;
  if (!fh_execute(m, 0, &r, 1, err, sizeof(err)) || fh_request_error(r)) {
    if (verbose)
      fprintf(stderr, "  run: %s\n",
              fh_request_error(r) ? fh_request_error(r) : err);
    result = R_RUN;
  }
  for (uint32_t i = 0; i < n_out && result == R_PASS; i++) {
    inferd_datatype_t dt;
    const int64_t *shape;
    uint32_t nd;
    const void *data;
    uint64_t bs;
    if (!fh_request_output(r, g->outputs[i].name, &dt, &shape, &nd, &data,
                           &bs)) {
      result = R_RUN;
      break;
    }
    uint64_t count = out[i].byte_size / (inferd_datatype_size(out[i].dt));
    if (bs / inferd_datatype_size(dt) != count) {
      if (verbose)
        fprintf(stderr, "  output %u: %llu elements, want %llu\n", i,
                (unsigned long long)(bs / inferd_datatype_size(dt)),
                (unsigned long long)count);
      result = R_MISMATCH;
      break;
    }
    for (uint64_t k = 0; k < count; k++) {
      double a = elem(dt, data, k), w = elem(out[i].dt, out[i].data, k);
      if (isnan(a) && isnan(w))
        continue;
      if (isinf(w) && a == w)
        continue;
      if (!(fabs(a - w) <= 1e-7 + 1e-3 * fabs(w))) {
        if (verbose)
          fprintf(stderr, "  output %u[%llu]: got %g, want %g\n", i,
                  (unsigned long long)k, a, w);
        result = R_MISMATCH;
        break;
      }
    }
  }
  fh_request_free(r);
  fh_model_free(m);
  fh_backend_close(b);
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
      _exit(run_test(INFERD_BACKEND_LIB, dir));
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
