/*
 * backend_loader.c: dlopen of backend libraries, ABI checks, sharing.
 * Invariant: a backend in reg->list has run backend_init successfully and
 * refs > 0; at refs == 0 it is finalised, closed and removed.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend_loader.h"
#include "core/log.h"
#include "core/str.h"

inferd_status_t *be_registry_init(be_registry_t *reg, const char *dir) {
  memset(reg, 0, sizeof(*reg));
  pthread_mutex_init(&reg->mu, NULL);
  if (dir) {
    reg->backend_dir = core_strdup(dir);
  } else {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
      return inferd_status_new(INFERD_INTERNAL,
                               "cannot locate the executable to find the "
                               "default backend directory; pass "
                               "--backend-directory");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
      *slash = '\0';
    size_t len = strlen(exe) + sizeof("/backends");
    reg->backend_dir = malloc(len);
    if (reg->backend_dir)
      snprintf(reg->backend_dir, len, "%s/backends", exe);
  }
  if (!reg->backend_dir)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  return NULL;
}

static void unload(be_backend_t *b) {
  LOG_INFO("unloaded backend \"%s\"", b->name);
  dlclose(b->dl);
  free(b->name);
  free(b->path);
  free(b);
}

void be_registry_deinit(be_registry_t *reg) {
  /* every model has released its backend by now; kept ones go now */
  while (reg->list) {
    be_backend_t *b = reg->list;
    reg->list = b->next;
    if (b->refs > 0) {
      LOG_WARNING("backend \"%s\" still referenced at shutdown", b->name);
      continue;
    }
    if (b->api->backend_fini)
      b->api->backend_fini(b);
    unload(b);
  }
  for (size_t i = 0; i < reg->n_configs; i++) {
    free(reg->configs[i].backend);
    free(reg->configs[i].key);
    free(reg->configs[i].value);
  }
  free(reg->configs);
  free(reg->backend_dir);
  pthread_mutex_destroy(&reg->mu);
}

/* Backend names served by an inferd backend of another name: Triton's
 * "libtorch", and "opencv" for the OpenCV DNN engine (libinferd_onnx.so). */
static const char *map_name(const char *name) {
  if (strcmp(name, "opencv") == 0)
    return "onnx";
  if (strcmp(name, "libtorch") == 0)
    return "pytorch";
  return name;
}

/* The backend that serves a name when its own library is not there:
 * "onnxruntime" (ONNX Runtime, built only when the runtime was fetched) falls
 * back to OpenCV DNN, so that ONNX models still load on such a build. */
static const char *fallback_name(const char *name) {
  if (strcmp(name, "onnxruntime") == 0)
    return "onnx";
  return NULL;
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static inferd_status_t *find_library(const be_registry_t *reg, const char *name,
                                     const char *model_dir,
                                     const char *version_dir, char *out,
                                     size_t out_len) {
  const char *dirs[4] = {version_dir, model_dir, reg->backend_dir,
                         reg->backend_dir};
  for (int i = 0; i < 4; i++) {
    if (!dirs[i])
      continue;
    int n = i == 2
                ? snprintf(out, out_len, "%s/%s/libinferd_%s.so", dirs[i], name,
                           name)
                : snprintf(out, out_len, "%s/libinferd_%s.so", dirs[i], name);
    if (n > 0 && (size_t)n < out_len && is_file(out))
      return NULL;
  }
  return inferd_status_new(INFERD_NOT_FOUND,
                           "backend \"%s\" not found: no libinferd_%s.so in "
                           "the model directory or in the backend directory "
                           "\"%s\" (set it with --backend-directory)",
                           name, name, reg->backend_dir);
}

static inferd_status_t *open_backend(be_registry_t *reg, const char *name,
                                     const char *path, be_backend_t **out) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl)
    return inferd_status_new(INFERD_INTERNAL,
                             "backend \"%s\": cannot load \"%s\": %s", name,
                             path, dlerror());
  inferd_backend_register_fn reg_fn;
  *(void **)&reg_fn = dlsym(dl, INFERD_BACKEND_REGISTER_SYMBOL);
  if (!reg_fn) {
    dlclose(dl);
    return inferd_status_new(INFERD_INTERNAL,
                             "backend \"%s\": \"%s\" does not export %s", name,
                             path, INFERD_BACKEND_REGISTER_SYMBOL);
  }
  const inferd_backend_api_t *api = NULL;
  inferd_status_t *st = reg_fn(&be_host_api, &api);
  if (st) {
    dlclose(dl);
    return inferd_status_prefix(st, "backend \"%s\": registration failed",
                                name);
  }
  const char *why = NULL;
  if (!api)
    why = "it returned no function table";
  else if (api->abi_major != INFERD_BACKEND_ABI_MAJOR) {
    inferd_status_t *e = inferd_status_new(
        INFERD_UNSUPPORTED,
        "backend \"%s\" (\"%s\") was built for backend ABI %u.%u; this "
        "server has ABI %u.%u",
        name, path, api->abi_major, api->abi_minor, INFERD_BACKEND_ABI_MAJOR,
        INFERD_BACKEND_ABI_MINOR);
    dlclose(dl);
    return e;
  } else if (api->struct_size <
             offsetof(inferd_backend_api_t, execute) + sizeof(void *))
    why = "its function table is too small";
  else if (!api->execute)
    why = "it has no execute function";
  if (why) {
    dlclose(dl);
    return inferd_status_new(INFERD_INTERNAL, "backend \"%s\" (\"%s\"): %s",
                             name, path, why);
  }
  be_backend_t *b = calloc(1, sizeof(*b));
  if (!b || !(b->name = core_strdup(name)) || !(b->path = core_strdup(path))) {
    if (b) {
      free(b->name);
      free(b);
    }
    dlclose(dl);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  b->dl = dl;
  b->api = api;
  b->registry = reg;
  if (api->backend_init && (st = api->backend_init(b))) {
    dlclose(dl);
    free(b->name);
    free(b->path);
    free(b);
    return inferd_status_prefix(st, "backend \"%s\": initialisation failed",
                                name);
  }
  LOG_INFO("loaded backend \"%s\" from %s (ABI %u.%u)", name, path,
           api->abi_major, api->abi_minor);
  *out = b;
  return NULL;
}

inferd_status_t *be_acquire(be_registry_t *reg, const char *name,
                            const char *model_dir, const char *version_dir,
                            be_backend_t **out) {
  if (!name || !*name)
    return inferd_status_new(INFERD_INVALID_ARG, "no backend named");
  for (const char *c = name; *c; c++)
    if (*c == '/' || *c == '.')
      return inferd_status_new(INFERD_INVALID_ARG,
                               "invalid backend name \"%s\"", name);
  const char *lib = map_name(name);
  char path[PATH_MAX];
  inferd_status_t *st =
      find_library(reg, lib, model_dir, version_dir, path, sizeof(path));
  const char *alt = st ? fallback_name(lib) : NULL;
  if (alt) {
    inferd_status_t *st2 =
        find_library(reg, alt, model_dir, version_dir, path, sizeof(path));
    if (st2) {
      inferd_status_free(st2);
    } else {
      LOG_INFO("backend \"%s\" is not built; \"%s\" serves the model", lib,
               alt);
      inferd_status_free(st);
      st = NULL;
      lib = alt;
    }
  }
  if (st)
    return st;
  pthread_mutex_lock(&reg->mu);
  for (be_backend_t *b = reg->list; b; b = b->next)
    if (strcmp(b->path, path) == 0) {
      b->refs++;
      pthread_mutex_unlock(&reg->mu);
      *out = b;
      return NULL;
    }
  be_backend_t *b = NULL;
  st = open_backend(reg, lib, path, &b);
  if (!st) {
    b->refs = 1;
    b->next = reg->list;
    reg->list = b;
    *out = b;
  }
  pthread_mutex_unlock(&reg->mu);
  return st;
}

void be_release(be_backend_t *b) {
  if (!b)
    return;
  be_registry_t *reg = b->registry;
  pthread_mutex_lock(&reg->mu);
  if (--b->refs > 0 || reg->keep_loaded) {
    pthread_mutex_unlock(&reg->mu);
    return;
  }
  for (be_backend_t **pp = &reg->list; *pp; pp = &(*pp)->next)
    if (*pp == b) {
      *pp = b->next;
      break;
    }
  if (b->api->backend_fini)
    b->api->backend_fini(b);
  pthread_mutex_unlock(&reg->mu);
  unload(b);
}
