/*
 * test_onnx_graph.c: unit test of onnx_graph.c: graph inputs/outputs (names,
 * types, dims, initializers excluded), config completion JSON, TensorProto
 * reading, and errors on malformed bytes. Uses the ONNX files Debian's
 * libonnx-testdata ships; exits 77 (skipped) without them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_graph.h"

#define DATA "/usr/share/libonnx-testdata/data/node/"
static int failures;
#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);    \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static onnx_graph_info_t *read_graph(const char *path) {
  void *buf;
  size_t len;
  char err[256];
  onnx_graph_info_t *g = NULL;
  if (!onnx_read_file(path, &buf, &len, err, sizeof(err))) {
    fprintf(stderr, "%s\n", err);
    return NULL;
  }
  if (!onnx_graph_read(buf, len, &g, err, sizeof(err)))
    fprintf(stderr, "%s: %s\n", path, err);
  free(buf);
  return g;
}

int main(void) {
  onnx_graph_info_t *g = read_graph(DATA "test_add/model.onnx");
  if (!g) {
    fprintf(stderr, "libonnx-testdata not installed: skipped\n");
    return 77;
  }
  /* test_add: x, y FLOAT [3,4,5] -> sum FLOAT [3,4,5] */
  CHECK(g->n_inputs == 2 && g->n_outputs == 1 && g->n_nodes == 1);
  CHECK(strcmp(g->inputs[0].name, "x") == 0);
  CHECK(strcmp(g->inputs[1].name, "y") == 0);
  CHECK(strcmp(g->outputs[0].name, "sum") == 0);
  CHECK(g->inputs[0].dt == 11 /* FP32 */ && g->inputs[0].is_tensor);
  CHECK(g->inputs[0].n_dims == 3 && g->inputs[0].dims[0] == 3 &&
        g->inputs[0].dims[2] == 5);
  CHECK(strcmp(g->op_types[0], "Add") == 0);
  char *json = NULL;
  char err[256];
  CHECK(onnx_autocomplete_json(g, 4, &json, err, sizeof(err)));
  /* fixed first dim: the model does not batch */
  CHECK(json &&
        strcmp(json, "{\"max_batch_size\":0,\"input\":[{\"name\":\"x\","
                     "\"data_type\":\"TYPE_FP32\",\"dims\":[3,4,5]},"
                     "{\"name\":\"y\",\"data_type\":\"TYPE_FP32\","
                     "\"dims\":[3,4,5]}],\"output\":[{\"name\":\"sum\","
                     "\"data_type\":\"TYPE_FP32\",\"dims\":[3,4,5]}]}") == 0);
  if (json)
    printf("%s\n", json);
  free(json);
  /* a symbolic first dim everywhere makes it batch */
  g->inputs[0].dims[0] = g->inputs[1].dims[0] = g->outputs[0].dims[0] = -1;
  CHECK(onnx_autocomplete_json(g, 4, &json, err, sizeof(err)));
  CHECK(json && strstr(json, "\"max_batch_size\":4") &&
        strstr(json, "\"dims\":[4,5]"));
  free(json);
  onnx_graph_free(g);

  /* types: test_cast_FLOAT_to_DOUBLE has a DOUBLE output */
  g = read_graph(DATA "test_cast_FLOAT_to_DOUBLE/model.onnx");
  CHECK(g && g->n_outputs == 1 && g->outputs[0].dt == 12 /* FP64 */);
  onnx_graph_free(g);

  /* TensorProto */
  void *buf;
  size_t len;
  CHECK(onnx_read_file(DATA "test_add/test_data_set_0/input_0.pb", &buf, &len,
                       err, sizeof(err)));
  onnx_tensor_t t;
  CHECK(onnx_tensor_read(buf, len, &t, err, sizeof(err)));
  CHECK(t.dt == 11 && t.n_dims == 3 && t.byte_size == 3 * 4 * 5 * 4);
  onnx_tensor_deinit(&t);
  free(buf);

  /* malformed input: errors, no crash */
  static const unsigned char junk[] = {0x3a, 0xff, 0xff, 0xff, 0x0f, 0x01};
  CHECK(!onnx_graph_read(junk, sizeof(junk), &g, err, sizeof(err)));
  CHECK(strstr(err, "malformed ONNX file") != NULL);
  CHECK(!onnx_graph_read("", 0, &g, err, sizeof(err)));
  CHECK(strstr(err, "no graph") != NULL);
  CHECK(
      !onnx_read_file("/nonexistent/model.onnx", &buf, &len, err, sizeof(err)));
  CHECK(strstr(err, "cannot open") != NULL);

  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
