/*
 * memory.c: copies between memory types (see memory.h).
 */
#include <stdatomic.h>
#include <string.h>

#include "core/memory.h"

static _Atomic(core_device_copy_fn) device_copy;

void core_memory_install_device_copy(core_device_copy_fn fn) {
  atomic_store(&device_copy, fn);
}

static const char *mem_name(inferd_memtype_t t) {
  switch (t) {
  case INFERD_MEM_CPU:
    return "CPU";
  case INFERD_MEM_CPU_PINNED:
    return "CPU_PINNED";
  case INFERD_MEM_GPU:
    return "GPU";
  default:
    return "unknown";
  }
}

inferd_status_t *core_memory_copy(void *dst, inferd_memtype_t dst_type,
                                  int64_t dst_device, const void *src,
                                  inferd_memtype_t src_type, int64_t src_device,
                                  size_t n) {
  if (n == 0)
    return NULL;
  if (core_mem_is_host(dst_type) && core_mem_is_host(src_type)) {
    memcpy(dst, src, n);
    return NULL;
  }
  core_device_copy_fn fn = atomic_load(&device_copy);
  if (!fn)
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "copying %zu bytes from %s memory (device %lld) "
                             "to %s memory (device %lld) needs the CUDA "
                             "runtime, which this server has not loaded",
                             n, mem_name(src_type), (long long)src_device,
                             mem_name(dst_type), (long long)dst_device);
  return fn(dst, dst_type, dst_device, src, src_type, src_device, n);
}
