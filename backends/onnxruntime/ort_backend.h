/*
 * ort_backend.h: state shared by the onnxruntime backend's files
 * (onnxruntime.c: life cycle, config; ort_exec.c: execute). Nothing here is
 * exported from the library.
 *
 * Ownership: the backend state lives from backend_init to backend_fini; a
 * model's state from model_init to model_fini and borrows the config's names
 * and dims (valid until model_fini); an instance's state owns its session.
 * Threads: model and instance state are written on the repository thread
 * before the instance's first execute and read-only afterwards, except the
 * instance's own fields, used only by its thread.
 */
#ifndef INFERD_ORT_BACKEND_H
#define INFERD_ORT_BACKEND_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "inferd/backend.h"
#include "ort_api.h"

#define ORT_MAX_DIMS 16

typedef struct ort_backend {
  ort_api_t api;
  OrtEnv *env;         /* the process's (never released) */
  OrtMemoryInfo *cpu;  /* CPU memory, for tensors over request buffers */
  OrtAllocator *alloc; /* the runtime's default allocator (not owned) */
  int64_t default_max_batch;
  bool has_cuda_provider;
  char lib_path[PATH_MAX];
  char cuda_provider_path[PATH_MAX + 64];
} ort_backend_t;

/* One input or output of the session (the graph). */
typedef struct ort_session_io {
  char *name;
  bool is_tensor;
  int onnx_kind; /* ONNXType */
  int onnx_type; /* ONNXTensorElementDataType */
  inferd_datatype_t dt;
  int64_t dims[ORT_MAX_DIMS]; /* -1: dynamic */
  uint32_t n_dims;
} ort_session_io_t;

/* One config input or output (borrowed from the config). */
typedef struct ort_io {
  const char *name;
  inferd_datatype_t dt;
  const int64_t *dims; /* without the batch dimension */
  uint32_t n_dims;
} ort_io_t;

typedef struct ort_params {
  int64_t intra_op, inter_op, exec_mode; /* -1: runtime default */
  int64_t mem_arena, mem_pattern;        /* -1 default, 0 off, 1 on */
  int graph_level;                       /* GraphOptimizationLevel */
} ort_params_t;

typedef struct ort_model {
  ort_backend_t *b;
  const char *model, *path; /* borrowed from the host */
  ort_params_t p;
  char *shrink;      /* memory.enable_memory_arena_shrinkage, or NULL */
  OrtSession *spare; /* made by model_init, taken by the first CPU instance */
  ort_session_io_t *sin, *sout;
  size_t n_sin, n_sout;
  int32_t max_batch_size;
  uint32_t n_in, n_out;
  ort_io_t *in, *out;        /* config order */
  int32_t *in_map, *out_map; /* config index -> session index */
} ort_model_t;

typedef struct ort_instance {
  ort_model_t *m;
  OrtSession *session;
  OrtRunOptions *run_opts;
  bool gpu;
} ort_instance_t;

/* ort_convert.c */
inferd_datatype_t ort_dt_from_onnx(int onnx_type);
int ort_onnx_from_dt(inferd_datatype_t dt);
inferd_code_t ort_code(int ort_error_code);
/* An OrtStatus turned into ours (os released), naming the model, the
 * runtime's version and what failed. */
inferd_status_t *ort_model_fail(const ort_model_t *s, OrtStatus *os,
                                const char *what);

/* A session for model s with its options; on a GPU, with the CUDA execution
 * provider on device. */
inferd_status_t *ort_session_new(const ort_model_t *s, bool gpu, int32_t device,
                                 OrtSession **out);

/* The execute hook (ort_exec.c): takes ownership of every request. */
inferd_status_t *ort_execute(inferd_backend_instance_t *inst,
                             ort_instance_t *oi,
                             inferd_request_t *const *requests, uint32_t n);

#endif /* INFERD_ORT_BACKEND_H */
