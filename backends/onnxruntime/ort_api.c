/*
 * ort_api.c: opens ONNX Runtime with dlopen and fills our typed view of its
 * OrtApi table (ort_api.h). The table is an array of function pointers in
 * memory; each declared entry is read at its index and converted back to the
 * type the C API gives it.
 */
#include "ort_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void (*ort_any_fn)(void);

/* OrtApiBase: { const OrtApi *(*GetApi)(uint32_t); const char
 * *(*GetVersionString)(void); } */
typedef struct ort_api_base {
  const void *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} ort_api_base_t;
typedef const ort_api_base_t *(*ort_get_api_base_fn)(void);

bool ort_api_open(const char *path, ort_api_t *api, char *err,
                  size_t err_size) {
  memset(api, 0, sizeof(*api));
  /* RTLD_NODELETE: the runtime's statics (thread pools, logging manager) do
   * not survive an unload; a model reloaded later finds it still mapped. */
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!dl) {
    snprintf(err, err_size, "cannot load ONNX Runtime \"%s\": %s", path,
             dlerror());
    return false;
  }
  ort_get_api_base_fn get_base;
  void *sym = dlsym(dl, "OrtGetApiBase");
  memcpy(&get_base, &sym, sizeof(get_base));
  if (!sym) {
    snprintf(err, err_size,
             "\"%s\" does not export OrtGetApiBase: not an ONNX "
             "Runtime library",
             path);
    dlclose(dl);
    return false;
  }
  const ort_api_base_t *base = get_base();
  const char *version =
      base && base->GetVersionString ? base->GetVersionString() : "unknown";
  const void *table =
      base && base->GetApi ? base->GetApi(ORT_API_VERSION_CHECKED) : NULL;
  if (!table) {
    snprintf(err, err_size,
             "ONNX Runtime \"%s\" is version %s and does not provide C API "
             "version %u (ONNX Runtime 1.%u or newer is needed)",
             path, version, ORT_API_VERSION_CHECKED, ORT_API_VERSION_CHECKED);
    dlclose(dl);
    return false;
  }
  const ort_any_fn *slots = table;
#define ORT_API_LOAD_(idx, ret, name, params)                                  \
  api->name = (ret(*) params)slots[idx];                                       \
  if (!api->name) {                                                            \
    snprintf(err, err_size,                                                    \
             "ONNX Runtime %s (\"%s\"): C API entry %d (%s) is empty",         \
             version, path, idx, #name);                                       \
    dlclose(dl);                                                               \
    memset(api, 0, sizeof(*api));                                              \
    return false;                                                              \
  }
  ORT_API_ENTRIES(ORT_API_LOAD_)
#undef ORT_API_LOAD_
  api->version = version;
  api->dl = dl;
  return true;
}

int ort_status_take(const ort_api_t *api, OrtStatus *st, char *buf,
                    size_t size) {
  if (!st) {
    if (size)
      buf[0] = '\0';
    return ORT_E_OK;
  }
  int code = api->GetErrorCode(st);
  const char *msg = api->GetErrorMessage(st);
  snprintf(buf, size, "%s", msg ? msg : "(no message)");
  api->ReleaseStatus(st);
  return code;
}
