/*
 * gpu.h: the GPU layer (DESIGN §5). The CUDA runtime and NVML are opened
 * with dlopen at server start, so the same binary runs on CPU-only and GPU
 * hosts and needs no CUDA header or library to build. A probe records how
 * many devices there are, their names, and, when there are none, the exact
 * reason (library missing, no device, driver error) that KIND_GPU model
 * loads quote. Prefix core_gpu_.
 *
 * It lives in src/core because the device copy hook of core/memory.h and
 * the pinned pool are core memory services; backends and the repository
 * only read the probe's results.
 *
 * Ownership: a core_gpu_t is owned by whoever probed it (core_gpu_free).
 * The process-wide probe (core_gpu_global_acquire/release) is shared by the
 * servers of the process: the first acquire probes and installs the device
 * copy hook, the last release closes the libraries.
 *
 * Threads: probing and the global acquire/release are thread-safe; the
 * accessors only read an immutable probe and are thread-safe.
 */
#ifndef INFERD_CORE_GPU_H
#define INFERD_CORE_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/server.h"

typedef struct core_gpu core_gpu_t;

/* Where to look for the libraries; NULL lists (or a NULL pointer to this
 * struct) mean the defaults: libcudart.so.13, libcudart.so.12, libcudart.so and
 * /usr/local/cuda/lib64/libcudart.so*, and libnvidia-ml.so.1. Tests pass
 * paths that do not exist. */
typedef struct core_gpu_paths {
  const char *const *cudart;
  size_t n_cudart;
  const char *const *nvml;
  size_t n_nvml;
} core_gpu_paths_t;

/* Opens the libraries and counts the devices. A host without GPUs is not an
 * error: the probe then says why. Fails only for out of memory. */
inferd_status_t *core_gpu_probe(const core_gpu_paths_t *paths,
                                core_gpu_t **out);
/* Closes the libraries (after freeing the pools) and frees the probe;
 * NULL does nothing. */
void core_gpu_free(core_gpu_t *g);

int32_t core_gpu_device_count(const core_gpu_t *g);
/* The device's name ("NVIDIA H200"), "" when out of range or unknown. */
const char *core_gpu_device_name(const core_gpu_t *g, int32_t device);
/* Why there is no usable GPU, e.g. "libcudart.so could not be loaded
 * (...)" or "no CUDA device (cudaGetDeviceCount: error 35 ...)"; NULL when
 * devices exist. Borrowed until core_gpu_free. */
const char *core_gpu_unavailable_reason(const core_gpu_t *g);
/* The CUDA runtime library that was opened, or NULL. */
const char *core_gpu_cudart_path(const core_gpu_t *g);
/* NVML: whether it was opened and initialised; else why not (borrowed). */
bool core_gpu_nvml_loaded(const core_gpu_t *g);
const char *core_gpu_nvml_reason(const core_gpu_t *g);

/* Pools (Triton's --pinned-memory-pool-byte-size and
 * --cuda-memory-pool-byte-size): with a device, pinned host memory is
 * allocated with cudaHostAlloc and device memory with cudaMalloc on each
 * listed device; both live until core_gpu_free. Without a device this does
 * nothing (the caller logs the flags as unused). A device id beyond the
 * count fails naming it. */
inferd_status_t *core_gpu_alloc_pools(core_gpu_t *g, uint64_t pinned_bytes,
                                      const int32_t *devices,
                                      const uint64_t *device_bytes, size_t n);
uint64_t core_gpu_pinned_pool_bytes(const core_gpu_t *g);

/* The device copy of core/memory.h through cudaMemcpy / cudaMemcpyPeer
 * (installed by core_gpu_global_acquire when a device exists). */
inferd_status_t *core_gpu_copy(const core_gpu_t *g, void *dst,
                               inferd_memtype_t dst_type, int64_t dst_device,
                               const void *src, inferd_memtype_t src_type,
                               int64_t src_device, size_t n);

/* The process-wide probe: the first acquire probes (with paths) and, when a
 * device exists, installs core_gpu_copy as the device copy hook; later
 * acquires share it. Each successful acquire needs one release. */
inferd_status_t *core_gpu_global_acquire(const core_gpu_paths_t *paths,
                                         core_gpu_t **out);
void core_gpu_global_release(void);
/* The process-wide probe, or NULL when no server holds one. Borrowed while
 * the caller's server lives. */
core_gpu_t *core_gpu_global(void);

#endif
