/*
 * gpu.c: the CUDA runtime and NVML through dlopen (see gpu.h). Only the
 * entry points used here are resolved, through function pointer types
 * declared below from the published CUDA runtime and NVML C APIs (plain
 * int error codes, opaque handles), so no CUDA header is needed to build.
 *
 * Invariants: a probe is immutable after core_gpu_probe except for the
 * pools, which are set once before any request. With no device the CUDA
 * runtime stays open (its error texts are used for the reason) but is never
 * called again.
 */
#include <dlfcn.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gpu.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/str.h"

/* CUDA runtime API (cudaError_t is an int enum; 0 is cudaSuccess) */
typedef int (*cuda_get_device_count_fn)(int *count);
typedef const char *(*cuda_get_error_fn)(int err);
typedef int (*cuda_version_fn)(int *version);
typedef int (*cuda_get_device_properties_fn)(void *prop, int device);
typedef int (*cuda_set_device_fn)(int device);
typedef int (*cuda_memcpy_fn)(void *dst, const void *src, size_t n, int kind);
typedef int (*cuda_memcpy_peer_fn)(void *dst, int dst_device, const void *src,
                                   int src_device, size_t n);
typedef int (*cuda_host_alloc_fn)(void **p, size_t n, unsigned int flags);
typedef int (*cuda_free_fn)(void *p);
typedef int (*cuda_malloc_fn)(void **p, size_t n);
/* cudaMemcpyKind */
enum { CUDA_H2H = 0, CUDA_H2D = 1, CUDA_D2H = 2, CUDA_D2D = 3 };

/* NVML (nvmlReturn_t is an int enum; 0 is NVML_SUCCESS) */
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_count_fn)(unsigned int *count);
typedef const char *(*nvml_error_fn)(int ret);

/* cudaDeviceProp is about 1 KB in CUDA 12 and starts with char name[256];
 * a larger buffer leaves room for the fields we never read. */
#define CUDA_PROP_BYTES 16384
#define NAME_BYTES 256

struct core_gpu {
  void *cudart;
  char *cudart_path;
  void *nvml;
  bool nvml_ok;
  char *nvml_reason;
  int32_t n_devices;
  char (*names)[NAME_BYTES];
  char *reason; /* NULL when n_devices > 0 */
  int runtime_version, driver_version;
  struct {
    cuda_get_error_fn error_string, error_name;
    cuda_set_device_fn set_device;
    cuda_memcpy_fn memcpy;
    cuda_memcpy_peer_fn memcpy_peer;
    cuda_host_alloc_fn host_alloc;
    cuda_free_fn free_host, free;
    cuda_malloc_fn malloc;
  } cu;
  nvml_init_fn nvml_shutdown;
  void *pinned;
  uint64_t pinned_bytes;
  void **dev_pools; /* one per device, NULL where none */
};

/* CUDA 13 and 12 runtimes by soname, then whatever libcudart.so the loader
 * finds, then the toolkit's own directory */
static const char *const default_cudart[] = {
    "libcudart.so.13", "libcudart.so.12", "libcudart.so",
    "/usr/local/cuda/lib64/libcudart.so"};
static const char *const default_nvml[] = {"libnvidia-ml.so.1"};

static inferd_status_t *oom(void) {
  return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
}

/* "error 35 cudaErrorInsufficientDriver: CUDA driver version is ..." */
static void cuda_err_text(const core_gpu_t *g, int err, char *buf, size_t n) {
  const char *name = g->cu.error_name ? g->cu.error_name(err) : NULL;
  const char *text = g->cu.error_string ? g->cu.error_string(err) : NULL;
  snprintf(buf, n, "error %d%s%s%s%s", err, name ? " " : "", name ? name : "",
           text ? ": " : "", text ? text : "");
}

static inferd_status_t *cuda_fail(const core_gpu_t *g, int err,
                                  const char *what) {
  char e[512];
  cuda_err_text(g, err, e, sizeof(e));
  return inferd_status_new(INFERD_INTERNAL, "%s: %s", what, e);
}

/* Tries each name in order, then what /usr/local/cuda/lib64 holds when the
 * defaults are used; *why gets every dlerror, "; "-separated. */
static void *open_first(const char *const *names, size_t n, bool scan_cuda_dir,
                        char **opened, char *why, size_t why_n) {
  size_t used = 0;
  why[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (h) {
      *opened = core_strdup(names[i]);
      return h;
    }
    const char *e = dlerror();
    int k = snprintf(why + used, why_n - used, "%s%s", used ? "; " : "",
                     e ? e : names[i]);
    if (k > 0 && (size_t)k < why_n - used)
      used += (size_t)k;
  }
  if (!scan_cuda_dir)
    return NULL;
  glob_t gl;
  if (glob("/usr/local/cuda/lib64/libcudart.so.*", 0, NULL, &gl) != 0)
    return NULL;
  void *h = NULL;
  for (size_t i = 0; i < gl.gl_pathc && !h; i++)
    if ((h = dlopen(gl.gl_pathv[i], RTLD_NOW | RTLD_LOCAL)))
      *opened = core_strdup(gl.gl_pathv[i]);
  globfree(&gl);
  return h;
}

static void probe_nvml(core_gpu_t *g, const core_gpu_paths_t *p) {
  const char *const *names = p && p->nvml ? p->nvml : default_nvml;
  size_t n = p && p->nvml ? p->n_nvml : 1;
  char why[1024], *opened = NULL;
  g->nvml = open_first(names, n, false, &opened, why, sizeof(why));
  free(opened);
  char buf[1200];
  if (!g->nvml) {
    snprintf(buf, sizeof(buf), "%s could not be loaded (%s)",
             n ? names[0] : "libnvidia-ml.so.1", why);
    g->nvml_reason = core_strdup(buf);
    return;
  }
  nvml_init_fn init = (nvml_init_fn)dlsym(g->nvml, "nvmlInit_v2");
  nvml_error_fn err = (nvml_error_fn)dlsym(g->nvml, "nvmlErrorString");
  g->nvml_shutdown = (nvml_init_fn)dlsym(g->nvml, "nvmlShutdown");
  if (!init || !g->nvml_shutdown) {
    g->nvml_reason = core_strdup("NVML lacks nvmlInit_v2 or nvmlShutdown");
    return;
  }
  int rc = init();
  if (rc != 0) {
    snprintf(buf, sizeof(buf), "nvmlInit_v2: error %d%s%s", rc, err ? ": " : "",
             err ? err(rc) : "");
    g->nvml_reason = core_strdup(buf);
    g->nvml_shutdown = NULL;
    return;
  }
  g->nvml_ok = true;
}

#define SYM(field, type, name) (g->cu.field = (type)dlsym(g->cudart, name))

static void probe_cuda(core_gpu_t *g, const core_gpu_paths_t *p) {
  bool defaults = !(p && p->cudart);
  const char *const *names = defaults ? default_cudart : p->cudart;
  size_t n = defaults ? sizeof(default_cudart) / sizeof(default_cudart[0])
                      : p->n_cudart;
  char why[2048], buf[2600];
  g->cudart = open_first(names, n, defaults, &g->cudart_path, why, sizeof(why));
  if (!g->cudart) {
    snprintf(buf, sizeof(buf), "%s could not be loaded (%s)",
             defaults ? "libcudart.so" : (n ? names[0] : "libcudart.so"), why);
    g->reason = core_strdup(buf);
    return;
  }
  cuda_get_device_count_fn count =
      (cuda_get_device_count_fn)dlsym(g->cudart, "cudaGetDeviceCount");
  SYM(error_string, cuda_get_error_fn, "cudaGetErrorString");
  SYM(error_name, cuda_get_error_fn, "cudaGetErrorName");
  SYM(set_device, cuda_set_device_fn, "cudaSetDevice");
  SYM(memcpy, cuda_memcpy_fn, "cudaMemcpy");
  SYM(memcpy_peer, cuda_memcpy_peer_fn, "cudaMemcpyPeer");
  SYM(host_alloc, cuda_host_alloc_fn, "cudaHostAlloc");
  SYM(free_host, cuda_free_fn, "cudaFreeHost");
  SYM(free, cuda_free_fn, "cudaFree");
  SYM(malloc, cuda_malloc_fn, "cudaMalloc");
  if (!count || !g->cu.set_device || !g->cu.memcpy || !g->cu.memcpy_peer ||
      !g->cu.host_alloc || !g->cu.free_host || !g->cu.free || !g->cu.malloc) {
    snprintf(buf, sizeof(buf),
             "%s lacks a CUDA runtime entry point (cudaGetDeviceCount, "
             "cudaSetDevice, cudaMemcpy, cudaMemcpyPeer, cudaHostAlloc, "
             "cudaFreeHost, cudaMalloc, cudaFree)",
             g->cudart_path ? g->cudart_path : "libcudart");
    g->reason = core_strdup(buf);
    return;
  }
  cuda_version_fn rv =
      (cuda_version_fn)dlsym(g->cudart, "cudaRuntimeGetVersion");
  cuda_version_fn dv =
      (cuda_version_fn)dlsym(g->cudart, "cudaDriverGetVersion");
  if (rv)
    rv(&g->runtime_version);
  if (dv)
    dv(&g->driver_version);
  /* With no GPU the runtime returns an error and leaves the count unwritten
   * (DESIGN §8), hence the 0 first. */
  int c = 0;
  int rc = count(&c);
  if (rc != 0 || c <= 0) {
    char e[1024];
    if (rc != 0)
      cuda_err_text(g, rc, e, sizeof(e));
    else
      snprintf(e, sizeof(e), "0 devices");
    snprintf(buf, sizeof(buf), "no CUDA device (cudaGetDeviceCount: %s)", e);
    g->reason = core_strdup(buf);
    return;
  }
  g->names = calloc((size_t)c, sizeof(*g->names));
  g->dev_pools = calloc((size_t)c, sizeof(void *));
  if (!g->names || !g->dev_pools) {
    g->reason = core_strdup("out of memory recording the CUDA devices");
    return;
  }
  /* CUDA 12 headers map cudaGetDeviceProperties to the _v2 symbol */
  cuda_get_device_properties_fn props = (cuda_get_device_properties_fn)dlsym(
      g->cudart, "cudaGetDeviceProperties_v2");
  if (!props)
    props = (cuda_get_device_properties_fn)dlsym(g->cudart,
                                                 "cudaGetDeviceProperties");
  char *pbuf = props ? calloc(1, CUDA_PROP_BYTES) : NULL;
  for (int i = 0; i < c; i++)
    if (pbuf && props(pbuf, i) == 0)
      snprintf(g->names[i], NAME_BYTES, "%.*s", NAME_BYTES - 1, pbuf);
  free(pbuf);
  g->n_devices = c;
}

inferd_status_t *core_gpu_probe(const core_gpu_paths_t *paths,
                                core_gpu_t **out) {
  core_gpu_t *g = calloc(1, sizeof(*g));
  if (!g)
    return oom();
  probe_cuda(g, paths);
  probe_nvml(g, paths);
  if ((g->n_devices == 0 && !g->reason) || (!g->nvml_ok && !g->nvml_reason)) {
    core_gpu_free(g);
    return oom();
  }
  *out = g;
  return NULL;
}

void core_gpu_free(core_gpu_t *g) {
  if (!g)
    return;
  if (g->pinned)
    g->cu.free_host(g->pinned);
  for (int32_t i = 0; g->dev_pools && i < g->n_devices; i++)
    if (g->dev_pools[i] && g->cu.set_device(i) == 0)
      g->cu.free(g->dev_pools[i]);
  if (g->nvml_shutdown)
    g->nvml_shutdown();
  if (g->nvml)
    dlclose(g->nvml);
  if (g->cudart)
    dlclose(g->cudart);
  free(g->dev_pools);
  free(g->names);
  free(g->reason);
  free(g->nvml_reason);
  free(g->cudart_path);
  free(g);
}

int32_t core_gpu_device_count(const core_gpu_t *g) {
  return g ? g->n_devices : 0;
}

const char *core_gpu_device_name(const core_gpu_t *g, int32_t device) {
  if (!g || device < 0 || device >= g->n_devices)
    return "";
  return g->names[device];
}

const char *core_gpu_unavailable_reason(const core_gpu_t *g) {
  if (!g)
    return "the GPU layer was not started";
  return g->n_devices > 0 ? NULL : g->reason;
}

const char *core_gpu_cudart_path(const core_gpu_t *g) {
  return g ? g->cudart_path : NULL;
}

bool core_gpu_nvml_loaded(const core_gpu_t *g) { return g && g->nvml_ok; }

const char *core_gpu_nvml_reason(const core_gpu_t *g) {
  return g ? g->nvml_reason : NULL;
}

inferd_status_t *core_gpu_alloc_pools(core_gpu_t *g, uint64_t pinned_bytes,
                                      const int32_t *devices,
                                      const uint64_t *device_bytes, size_t n) {
  if (!g || g->n_devices == 0)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (devices[i] < 0 || devices[i] >= g->n_devices)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "--cuda-memory-pool-byte-size: device %d does "
                               "not exist (%d CUDA device%s: ids 0..%d)",
                               devices[i], g->n_devices,
                               g->n_devices == 1 ? "" : "s", g->n_devices - 1);
  if (pinned_bytes > 0 && !g->pinned) {
    int rc = g->cu.host_alloc(&g->pinned, (size_t)pinned_bytes, 0);
    if (rc != 0) {
      g->pinned = NULL;
      return cuda_fail(g, rc, "--pinned-memory-pool-byte-size: cudaHostAlloc");
    }
    g->pinned_bytes = pinned_bytes;
  }
  for (size_t i = 0; i < n; i++) {
    int32_t d = devices[i];
    if (device_bytes[i] == 0 || g->dev_pools[d])
      continue;
    int rc = g->cu.set_device(d);
    if (rc == 0)
      rc = g->cu.malloc(&g->dev_pools[d], (size_t)device_bytes[i]);
    if (rc != 0) {
      g->dev_pools[d] = NULL;
      char what[128];
      snprintf(what, sizeof(what),
               "--cuda-memory-pool-byte-size: device %d: cudaMalloc", d);
      return cuda_fail(g, rc, what);
    }
  }
  return NULL;
}

uint64_t core_gpu_pinned_pool_bytes(const core_gpu_t *g) {
  return g ? g->pinned_bytes : 0;
}

inferd_status_t *core_gpu_copy(const core_gpu_t *g, void *dst,
                               inferd_memtype_t dst_type, int64_t dst_device,
                               const void *src, inferd_memtype_t src_type,
                               int64_t src_device, size_t n) {
  if (!g || g->n_devices == 0)
    return inferd_status_new(INFERD_UNSUPPORTED, "device copy of %zu bytes: %s",
                             n, core_gpu_unavailable_reason(g));
  bool dst_gpu = dst_type == INFERD_MEM_GPU,
       src_gpu = src_type == INFERD_MEM_GPU;
  int rc;
  if (dst_gpu && src_gpu && dst_device != src_device)
    rc = g->cu.memcpy_peer(dst, (int)dst_device, src, (int)src_device, n);
  else {
    /* the current device is per thread: set it to the one the copy touches */
    int64_t dev = dst_gpu ? dst_device : src_device;
    rc = (dst_gpu || src_gpu) ? g->cu.set_device((int)dev) : 0;
    if (rc == 0)
      rc = g->cu.memcpy(dst, src, n,
                        dst_gpu ? (src_gpu ? CUDA_D2D : CUDA_H2D)
                                : (src_gpu ? CUDA_D2H : CUDA_H2H));
  }
  if (rc != 0) {
    char what[160];
    snprintf(what, sizeof(what),
             "copying %zu bytes from device %lld to device %lld", n,
             (long long)(src_gpu ? src_device : -1),
             (long long)(dst_gpu ? dst_device : -1));
    return cuda_fail(g, rc, what);
  }
  return NULL;
}

/* ---- the process-wide probe ---------------------------------------------- */

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static core_gpu_t *global_gpu;
static size_t global_refs;

static inferd_status_t *global_copy(void *dst, inferd_memtype_t dst_type,
                                    int64_t dst_device, const void *src,
                                    inferd_memtype_t src_type,
                                    int64_t src_device, size_t n) {
  /* installed only while global_gpu lives (servers release it after their
   * last request) */
  return core_gpu_copy(global_gpu, dst, dst_type, dst_device, src, src_type,
                       src_device, n);
}

inferd_status_t *core_gpu_global_acquire(const core_gpu_paths_t *paths,
                                         core_gpu_t **out) {
  inferd_status_t *st = NULL;
  pthread_mutex_lock(&global_mu);
  if (!global_gpu) {
    st = core_gpu_probe(paths, &global_gpu);
    if (!st) {
      core_gpu_t *g = global_gpu;
      if (g->n_devices > 0) {
        core_memory_install_device_copy(global_copy);
        for (int32_t i = 0; i < g->n_devices; i++)
          LOG_INFO("CUDA device %d: %s (%s, runtime %d, driver %d)", i,
                   g->names[i], g->cudart_path, g->runtime_version,
                   g->driver_version);
      } else {
        LOG_INFO("no CUDA GPU: %s; KIND_GPU models will not load", g->reason);
      }
      if (!g->nvml_ok)
        LOG_INFO("NVML unavailable: %s", g->nvml_reason);
    }
  }
  if (!st) {
    global_refs++;
    *out = global_gpu;
  }
  pthread_mutex_unlock(&global_mu);
  return st;
}

void core_gpu_global_release(void) {
  pthread_mutex_lock(&global_mu);
  if (global_refs > 0 && --global_refs == 0) {
    core_memory_install_device_copy(NULL);
    core_gpu_free(global_gpu);
    global_gpu = NULL;
  }
  pthread_mutex_unlock(&global_mu);
}

core_gpu_t *core_gpu_global(void) {
  pthread_mutex_lock(&global_mu);
  core_gpu_t *g = global_gpu;
  pthread_mutex_unlock(&global_mu);
  return g;
}
