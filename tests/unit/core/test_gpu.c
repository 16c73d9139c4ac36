/* Unit tests of the GPU layer's loader on whatever host runs them: with a
 * fake library path the reason names it; with the real defaults either
 * devices are found (GPU host) or the reason is one of the documented texts
 * (CPU-only host: no libcudart, or cudaGetDeviceCount failing); the device
 * copy hook is installed only with a device; the pools and copies fail
 * clearly without one. */
#include "core/gpu.h"
#include "core/memory.h"
#include "unit.h"

int main(void) {
  /* a library path that does not exist: named in the reason */
  static const char *const fake[] = {"/nonexistent/libcudart.so.99"};
  static const char *const fake_nvml[] = {"/nonexistent/libnvidia-ml.so.1"};
  core_gpu_paths_t p = {
      .cudart = fake, .n_cudart = 1, .nvml = fake_nvml, .n_nvml = 1};
  core_gpu_t *g = NULL;
  CHECK(core_gpu_probe(&p, &g) == NULL);
  CHECK(core_gpu_device_count(g) == 0);
  const char *r = core_gpu_unavailable_reason(g);
  CHECK(r != NULL);
  CHECK(strstr(r, "/nonexistent/libcudart.so.99 could not be loaded (") == r);
  CHECK(strstr(r, "No such file") != NULL);
  CHECK(core_gpu_cudart_path(g) == NULL);
  CHECK(!core_gpu_nvml_loaded(g));
  CHECK(strstr(core_gpu_nvml_reason(g),
               "/nonexistent/libnvidia-ml.so.1 could not be loaded") != NULL);
  CHECK(strcmp(core_gpu_device_name(g, 0), "") == 0);
  /* without a device the pools are not allocated and that is not an error */
  int32_t dev = 3;
  uint64_t bytes = 1 << 20;
  CHECK(core_gpu_alloc_pools(g, 1 << 20, &dev, &bytes, 1) == NULL);
  CHECK(core_gpu_pinned_pool_bytes(g) == 0);
  char a[4], b[4] = "abc";
  inferd_status_t *st =
      core_gpu_copy(g, a, INFERD_MEM_GPU, 0, b, INFERD_MEM_CPU, 0, 4);
  CHECK(inferd_status_code(st) == INFERD_UNSUPPORTED);
  CHECK(strstr(inferd_status_message(st), "could not be loaded") != NULL);
  inferd_status_free(st);
  core_gpu_free(g);
  core_gpu_free(NULL);

  /* the second of two names is tried when the first is missing */
  static const char *const two[] = {"/nonexistent/a.so", "/nonexistent/b.so"};
  p.cudart = two;
  p.n_cudart = 2;
  CHECK(core_gpu_probe(&p, &g) == NULL);
  r = core_gpu_unavailable_reason(g);
  CHECK(strstr(r, "/nonexistent/a.so") && strstr(r, "/nonexistent/b.so"));
  core_gpu_free(g);

  /* the defaults through the process-wide probe */
  CHECK(core_gpu_global() == NULL);
  CHECK(core_gpu_global_acquire(NULL, &g) == NULL);
  core_gpu_t *g2 = NULL;
  CHECK(core_gpu_global_acquire(NULL, &g2) == NULL);
  CHECK(g == g2 && core_gpu_global() == g);
  r = core_gpu_unavailable_reason(g);
  if (core_gpu_device_count(g) > 0) {
    printf("GPU host: %d device(s), device 0 \"%s\" via %s\n",
           core_gpu_device_count(g), core_gpu_device_name(g, 0),
           core_gpu_cudart_path(g));
    CHECK(r == NULL);
    /* the hook is installed: a host->device->host round trip would need
     * device memory; a host-to-host copy through it still works */
  } else {
    printf("CPU-only host: %s\n", r);
    CHECK(r != NULL);
    CHECK(strstr(r, "libcudart.so could not be loaded (") == r ||
          strstr(r, "no CUDA device (cudaGetDeviceCount: ") == r);
    if (strstr(r, "no CUDA device")) /* the runtime is there */
      CHECK(core_gpu_cudart_path(g) != NULL);
    /* no hook: a GPU copy fails with the memory layer's own text */
    st = core_memory_copy(a, INFERD_MEM_GPU, 0, b, INFERD_MEM_CPU, 0, 4);
    CHECK(inferd_status_code(st) == INFERD_UNSUPPORTED);
    CHECK(strstr(inferd_status_message(st), "needs the CUDA runtime"));
    inferd_status_free(st);
  }
  core_gpu_global_release();
  CHECK(core_gpu_global() == g);
  core_gpu_global_release();
  CHECK(core_gpu_global() == NULL);
  CHECK(strcmp(core_gpu_unavailable_reason(NULL),
               "the GPU layer was not started") == 0);
  return UNIT_END();
}
