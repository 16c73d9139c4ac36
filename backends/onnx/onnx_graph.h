/*
 * onnx_graph.h: a small reader (and one rewrite) of ONNX protobuf files
 * (ModelProto, TensorProto), written against the protobuf wire format so the
 * onnx backend needs no protobuf library. Plain C, no host table: usable from
 * the backend, its tests and tools alike.
 *
 * Errors: functions return false and write a message into err (err_size
 * bytes, always NUL-terminated). Results are malloc'd; free them with the
 * matching *_free. Thread-safe (no shared state).
 */
#ifndef INFERD_ONNX_GRAPH_H
#define INFERD_ONNX_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ONNX_MAX_DIMS 16

/* One graph input or output. dims: -1 for a symbolic or missing dim. dt is
 * an inferd_datatype_t (0 = INVALID when ONNX's type has no inferd name, e.g.
 * COMPLEX64; onnx_type is then the ONNX elem_type). has_shape false when the
 * graph gives no shape at all (rank unknown). */
typedef struct onnx_value {
  char *name;
  int32_t dt;
  int32_t onnx_type;
  bool is_tensor; /* false for sequence/map/optional types */
  bool has_shape;
  uint32_t n_dims;
  int64_t dims[ONNX_MAX_DIMS];
} onnx_value_t;

typedef struct onnx_graph_info {
  uint32_t n_inputs, n_outputs;
  onnx_value_t *inputs; /* graph inputs that are not initializers */
  onnx_value_t *outputs;
  uint32_t n_nodes;
  char **op_types; /* per node, "domain:op" when domain is not onnx */
  uint32_t n_identity_on_initializer; /* Identity nodes fed by a constant */
  int64_t opset;                      /* default-domain opset, 0 if absent */
} onnx_graph_info_t;

bool onnx_graph_read(const void *buf, size_t len, onnx_graph_info_t **out,
                     char *err, size_t err_size);
void onnx_graph_free(onnx_graph_info_t *g); /* NULL ignored */

/* ONNX elem_type → inferd_datatype_t (0 when inferd has none). */
int32_t onnx_to_inferd_type(int32_t onnx_type);

/* Rewrites a ModelProto so that OpenCV DNN can import it: Identity nodes
 * whose input is an initializer (torch.onnx.export makes them when it merges
 * equal weights) are removed and their consumers read the initializer
 * directly. Identity nodes that produce a graph output are kept. *out is a
 * malloc'd new buffer (*out_len bytes); *n_removed the nodes removed. */
bool onnx_strip_identity(const void *buf, size_t len, void **out,
                         size_t *out_len, uint32_t *n_removed, char *err,
                         size_t err_size);

/* Triton-style config completion from the graph (reference §3.6): JSON text
 * {"max_batch_size":N,"input":[...],"output":[...]} with Triton's JSON field
 * names (data_type "TYPE_FP32", dims without the batch dim when batching).
 * The model batches (N = default_max_batch) when every input and output has
 * a symbolic first dim and default_max_batch > 0; else N = 0 and dims are
 * complete. Fails on non-tensor values or types inferd cannot carry. */
bool onnx_autocomplete_json(const onnx_graph_info_t *g,
                            int32_t default_max_batch, char **json, char *err,
                            size_t err_size);

/* A TensorProto (conformance test data). data is malloc'd, byte_size bytes,
 * row-major, in inferd's element layout for dt (BOOL one byte). */
typedef struct onnx_tensor {
  char *name;
  int32_t dt;
  uint32_t n_dims;
  int64_t dims[ONNX_MAX_DIMS];
  void *data;
  uint64_t byte_size;
} onnx_tensor_t;

bool onnx_tensor_read(const void *buf, size_t len, onnx_tensor_t *out,
                      char *err, size_t err_size);
void onnx_tensor_deinit(onnx_tensor_t *t);

/* Reads a whole file into a malloc'd buffer. */
bool onnx_read_file(const char *path, void **buf, size_t *len, char *err,
                    size_t err_size);

#endif /* INFERD_ONNX_GRAPH_H */
