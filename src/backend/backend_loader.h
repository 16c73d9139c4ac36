/*
 * backend_loader.h: finding, loading (dlopen) and sharing backend libraries.
 * Prefix be_. A library is loaded once per path and shared by every model
 * that names it (refcounted under the registry lock); backend_init runs on
 * first use, backend_fini and dlclose after the last model released it.
 *
 * Threads: all functions are thread-safe (one registry mutex, never held
 * while a backend hook runs except backend_init/fini, which are serialised
 * on purpose).
 */
#ifndef INFERD_BE_LOADER_H
#define INFERD_BE_LOADER_H

#include <pthread.h>

#include "inferd/backend.h"
#include "inferd/server.h"

typedef struct be_config_kv {
  char *backend, *key, *value;
} be_config_kv_t;

struct inferd_backend {
  char *name;
  char *path; /* the file dlopen'ed */
  void *dl;
  const inferd_backend_api_t *api;
  void *state;
  int refs; /* under registry lock */
  struct be_registry *registry;
  struct inferd_backend *next;
};
typedef struct inferd_backend be_backend_t;

typedef struct be_registry {
  pthread_mutex_t mu;
  char *backend_dir;
  be_backend_t *list;
  be_config_kv_t *configs; /* --backend-config */
  size_t n_configs;
  /* keep a backend library loaded after its last model went, until
   * be_registry_deinit: libtorch and OpenCV do not give back what a
   * dlclose/dlopen cycle costs (bench/lifecycle_rss.py) */
  bool keep_loaded;
} be_registry_t;

/* backend_dir NULL: <directory of the executable>/backends */
inferd_status_t *be_registry_init(be_registry_t *reg, const char *backend_dir);
void be_registry_deinit(be_registry_t *reg);

/* Finds libinferd_<name>.so in <version_dir>/, <model_dir>/,
 * <backend_dir>/<name>/, <backend_dir>/ (first hit wins), loads it if not
 * loaded yet, checks the ABI and takes a reference. Triton backend names are
 * mapped to the inferd backend that serves them ("onnxruntime" falls back
 * to the OpenCV "onnx" backend only when ONNX Runtime was not built). */
inferd_status_t *be_acquire(be_registry_t *reg, const char *name,
                            const char *model_dir, const char *version_dir,
                            be_backend_t **out);
void be_release(be_backend_t *b);

/* The host function table handed to every backend. */
extern const inferd_host_api_t be_host_api;

#endif
