/*
 * torch_shim.h: the small C interface over libtorch that the pytorch backend
 * (pytorch.c) uses; torch_shim.cpp is the only C++ in the backend.
 *
 * Errors: functions returning char * return NULL on success or a malloc'd
 * message (caller frees with free()). No C++ exception crosses this header.
 *
 * Threads: a module is used by one instance thread at a time (execute is not
 * concurrent per instance; each instance loads its own copy). ts_thread_setup
 * changes settings of the calling thread (OpenMP thread count, the graph
 * executor's optimisation switch, which libtorch keeps per thread).
 */
#ifndef INFERD_TORCH_SHIM_H
#define INFERD_TORCH_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_module ts_module_t;
typedef struct ts_result ts_result_t;

/* Tensor types as inferd_datatype_t values (types.h); ts_dtype_supported
 * says whether libtorch has one. */
bool ts_dtype_supported(int32_t inferd_dt);

/* Whether libtorch was built with CUDA and sees a device; the device count. */
bool ts_cuda_available(void);
int ts_cuda_device_count(void);

/* Process-wide JIT settings (Triton's pytorch parameters of the same name):
 * profiling executor on/off. Call before loading modules. */
void ts_set_profiling(bool enable);
/* Inter-op pool size: can only be set once per process, before any inter-op
 * work; later calls with another value return an error that says so. */
char *ts_set_interop_threads(int n);

/* Per calling thread: intra-op (OpenMP) threads, and whether the graph
 * executor optimises (DISABLE_OPTIMIZED_EXECUTION turns it off). */
void ts_thread_setup(int intra_threads, bool optimize);

/* Loads a TorchScript file onto device (-1 = CPU, else CUDA device id). */
char *ts_load(const char *path, int device, ts_module_t **out);
void ts_free(ts_module_t *m); /* NULL ignored */

/* forward()'s argument names without self; borrowed from m. */
uint32_t ts_arg_count(const ts_module_t *m);
const char *ts_arg_name(const ts_module_t *m, uint32_t i);

/* Runs forward (inference mode) on n inputs in argument order. The data is
 * borrowed and must stay valid during the call (it is wrapped, not copied,
 * on CPU). Outputs: a tensor, or a tuple/list of tensors (flattened in
 * order). */
typedef struct ts_input {
  int32_t dt; /* inferd_datatype_t */
  const int64_t *shape;
  uint32_t n_dims;
  const void *data;
} ts_input_t;
char *ts_forward(ts_module_t *m, const ts_input_t *in, uint32_t n,
                 ts_result_t **out);

/* The result's tensors (CPU, contiguous). Pointers valid until
 * ts_result_free. dt is an inferd_datatype_t, 0 (INVALID) for a type inferd
 * has no name for. */
uint32_t ts_result_count(const ts_result_t *r);
void ts_result_tensor(const ts_result_t *r, uint32_t i, int32_t *dt,
                      const int64_t **shape, uint32_t *n_dims,
                      const void **data, uint64_t *byte_size);
void ts_result_free(ts_result_t *r); /* NULL ignored */

#ifdef __cplusplus
}
#endif
#endif /* INFERD_TORCH_SHIM_H */
