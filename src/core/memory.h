/*
 * memory.h: copies between memory types (CPU, pinned CPU, GPU). Host
 * memory of either kind is copied with memcpy; a copy that touches GPU
 * memory goes through the device copy hook that the GPU layer installs when
 * it finds CUDA at start (DESIGN §5), and fails with a clear error without
 * one. Prefix core_.
 *
 * Threads: the hook is installed once before any request; copies run on any
 * thread.
 */
#ifndef INFERD_CORE_MEMORY_H
#define INFERD_CORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "inferd/server.h"

/* CPU and pinned CPU memory are both addressable by the host. */
static inline bool core_mem_is_host(inferd_memtype_t t) {
  return t == INFERD_MEM_CPU || t == INFERD_MEM_CPU_PINNED;
}

typedef inferd_status_t *(*core_device_copy_fn)(
    void *dst, inferd_memtype_t dst_type, int64_t dst_device, const void *src,
    inferd_memtype_t src_type, int64_t src_device, size_t n);
void core_memory_install_device_copy(core_device_copy_fn fn);

inferd_status_t *core_memory_copy(void *dst, inferd_memtype_t dst_type,
                                  int64_t dst_device, const void *src,
                                  inferd_memtype_t src_type, int64_t src_device,
                                  size_t n);
#endif
