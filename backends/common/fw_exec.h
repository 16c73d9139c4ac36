/*
 * fw_exec.h: the execute path shared by the framework backends (pytorch,
 * onnx). A framework backend describes its model's inputs and outputs (from
 * the config) and gives one "run" function that takes whole tensors; this
 * file does the rest of backend.h's execute contract:
 *
 *  - checks every request's inputs against the config (type, rank, fixed
 *    dims, byte size) and fails only that request when they do not match;
 *  - when the model batches (max_batch_size > 0) and several requests come in
 *    one execute call, groups requests whose non-batch dims agree and
 *    concatenates their inputs along dim 0 (a single request with a single
 *    buffer is passed without a copy);
 *  - calls run once per group, splits each output along dim 0 back to the
 *    requests, copies the requested outputs into server-allocated buffers,
 *    sends the final responses, releases the requests and reports statistics.
 *
 * Compiled into both backend libraries (it uses bk_util's bk_host). Threads:
 * fw_execute runs on the instance's thread, as execute does.
 */
#ifndef INFERD_FW_EXEC_H
#define INFERD_FW_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "inferd/backend.h"

#define FW_MAX_DIMS 16

/* One config tensor (borrowed from the model config until model_fini). */
typedef struct fw_io {
  const char *name;
  inferd_datatype_t dt;
  const int64_t *dims; /* without the batch dimension */
  uint32_t n_dims;
} fw_io_t;

/* The model's config inputs and outputs, in config order. */
typedef struct fw_model_io {
  int32_t max_batch_size;
  uint32_t n_in, n_out;
  fw_io_t *in, *out;
} fw_model_io_t;

/* Reads the config's inputs/outputs. Fails (naming the model) when there are
 * none or on allocation failure. Free with fw_model_io_deinit. */
inferd_status_t *fw_model_io_init(const inferd_backend_model_t *m,
                                  fw_model_io_t *io);
void fw_model_io_deinit(fw_model_io_t *io);

/* Finds a config output by name; -1 if absent. */
int fw_output_index(const fw_model_io_t *io, const char *name);

/* A tensor handed to or returned by the run function. data is CPU memory,
 * contiguous, row-major. */
typedef struct fw_tensor {
  inferd_datatype_t dt;
  int64_t shape[FW_MAX_DIMS];
  uint32_t n_dims;
  const void *data;
  uint64_t byte_size;
} fw_tensor_t;

/* Runs the model on inputs[0..n_in) (config input order). On success it
 * fills outputs[0..n_out) (config output order; an output with data == NULL
 * and n_dims == 0 was not produced) and sets *result to an opaque handle
 * that keeps the output data alive until release(ctx, *result) is called.
 * want[k] says whether output k is needed by any request of the group. */
typedef inferd_status_t *(*fw_run_fn)(void *ctx, const fw_tensor_t *inputs,
                                      uint32_t n_in, const bool *want,
                                      fw_tensor_t *outputs, void **result);
typedef void (*fw_release_fn)(void *ctx, void *result);

/* The whole execute hook for a framework backend. Always takes ownership of
 * the requests (each gets its final response, success or error), so it
 * returns NULL except when the arguments themselves are unusable. */
inferd_status_t *fw_execute(inferd_backend_instance_t *inst,
                            const fw_model_io_t *io,
                            inferd_request_t *const *requests, uint32_t n,
                            fw_run_fn run, fw_release_fn release, void *ctx);

/* "INPUT__3" → 3 (Triton's <name>__<index> convention); -1 otherwise. */
int fw_index_suffix(const char *name);

/* Number of CPUs this process may use (sched_getaffinity), at least 1. */
int fw_cpu_count(void);

#endif /* INFERD_FW_EXEC_H */
