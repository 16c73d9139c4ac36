/*
 * onnxruntime.c: the onnxruntime backend: ONNX models (Triton's platform
 * `onnxruntime_onnx`, backend `onnxruntime`) run by ONNX Runtime, the engine
 * Triton's own onnxruntime backend uses. The runtime is the official prebuilt
 * libonnxruntime.so.1 (fetched by scripts/setup-deps.sh), opened with dlopen
 * and reached through our declarations of its C API (ort_api.h).
 *
 * Life cycle: backend_init opens the runtime and one OrtEnv (ONNX Runtime
 * keeps one per process). model_init builds the session options from the
 * config parameters, creates one session to read the graph's inputs and
 * outputs (completing the config from them when it has none, and checking a
 * given config against them), and hands that session to the first CPU
 * instance; every other instance creates its own (one session per instance,
 * as Triton). execute (ort_exec.c) runs on the instance's thread.
 *
 * Parameters (Triton's names): intra_op_thread_count, inter_op_thread_count,
 * execution_mode (0 sequential, 1 parallel), enable_mem_arena,
 * enable_mem_pattern (0/1), memory.enable_memory_arena_shrinkage (a run
 * option, e.g. "cpu:0"); optimization { graph { level } }: -1 basic, 1
 * extended, anything else all optimisations (ONNX Runtime's default).
 * Backend config (--backend-config=onnxruntime,<key>=<value>):
 * default-max-batch-size (auto-completion, default 4) and runtime-library
 * (the libonnxruntime.so.1 to open; default: the one the build recorded).
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/bk_util.h"
#include "ort_backend.h"

#ifndef INFERD_ORT_LIBRARY
#define INFERD_ORT_LIBRARY "libonnxruntime.so.1"
#endif

/* ---- types ---- */

static const char *onnx_type_name(int t) {
  static const char *const names[] = {
      "undefined", "float",  "uint8",     "int8",       "uint16",  "int16",
      "int32",     "int64",  "string",    "bool",       "float16", "double",
      "uint32",    "uint64", "complex64", "complex128", "bfloat16"};
  if (t >= 0 && t < (int)(sizeof(names) / sizeof(names[0])))
    return names[t];
  return "an element type newer than ONNX's bfloat16";
}

static const char *config_type(inferd_datatype_t dt) {
  switch (dt) {
#define CT(N)                                                                  \
  case INFERD_TYPE_##N:                                                        \
    return "TYPE_" #N;
    CT(BOOL)
    CT(UINT8)
    CT(UINT16)
    CT(UINT32)
    CT(UINT64)
    CT(INT8) CT(INT16) CT(INT32) CT(INT64) CT(FP16) CT(FP32) CT(FP64) CT(BF16)
#undef CT
        case INFERD_TYPE_BYTES : return "TYPE_STRING";
  default:
    return "TYPE_INVALID";
  }
}

/* ---- backend ---- */

static void ort_log_cb(void *param, int severity, const char *category,
                       const char *logid, const char *code_location,
                       const char *message) {
  (void)param;
  (void)category;
  (void)logid;
  int level = severity >= ORT_LOG_ERROR     ? BK_LOG_ERROR
              : severity == ORT_LOG_WARNING ? BK_LOG_WARNING
                                            : BK_LOG_VERBOSE;
  if (bk_host->log_enabled(level))
    bk_host->log(level, __FILE__, __LINE__, "ONNX Runtime: %s (%s)",
                 message ? message : "", code_location ? code_location : "");
}

/* LeakSanitizer's switches, present only in sanitizer builds. */
extern void __lsan_disable(void) __attribute__((weak));
extern void __lsan_enable(void) __attribute__((weak));

/* The process's ONNX Runtime environment, created once and never released.
 * ONNX Runtime 1.30 loses an allocation when its first environment is made
 * (14 bytes, not ours: hidden from LeakSanitizer) and several more each time
 * the environment is destroyed and made again, which unloading the backend
 * after its last model and loading it for the next would do. Its logging
 * callback lives in this library, so the library pins itself in memory
 * (RTLD_NODELETE) before handing the callback over: a reloaded backend finds
 * the same code and this same environment. */
static OrtEnv *process_env_ptr;

static OrtStatus *process_env(const ort_api_t *api, OrtEnv **out) {
  if (!process_env_ptr) {
    Dl_info self;
    if (dladdr((void *)(uintptr_t)ort_log_cb, &self) && self.dli_fname)
      dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (__lsan_disable)
      __lsan_disable();
    OrtStatus *os = api->CreateEnvWithCustomLogger(
        ort_log_cb, NULL, ORT_LOG_WARNING, "inferd", &process_env_ptr);
    if (__lsan_enable)
      __lsan_enable();
    if (os)
      return os;
  }
  *out = process_env_ptr;
  return NULL;
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void backend_free(ort_backend_t *b) {
  if (!b)
    return;
  if (b->cpu)
    b->api.ReleaseMemoryInfo(b->cpu);
  /* the runtime stays mapped (RTLD_NODELETE, see ort_api.h) and its
   * environment alive (see process_env) */
  free(b);
}

static inferd_status_t *ort_backend_init(inferd_backend_t *bk) {
  ort_backend_t *b = calloc(1, sizeof(*b));
  if (!b)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "backend \"onnxruntime\": out of memory");
  const char *lib = bk_host->backend_config(bk, "runtime-library");
  if (!lib || !*lib)
    lib = INFERD_ORT_LIBRARY;
  snprintf(b->lib_path, sizeof(b->lib_path), "%s", lib);
  b->default_max_batch = 4;
  const char *dmb = bk_host->backend_config(bk, "default-max-batch-size");
  if (dmb && (!bk_parse_int64(dmb, &b->default_max_batch) ||
              b->default_max_batch < 0 || b->default_max_batch > INT32_MAX)) {
    free(b);
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "backend \"onnxruntime\": "
                               "default-max-batch-size: expected an integer "
                               "0..2147483647, got \"%s\"",
                               dmb);
  }
  char err[1024];
  if (!ort_api_open(b->lib_path, &b->api, err, sizeof(err))) {
    free(b);
    return bk_host->status_new(INFERD_UNAVAILABLE,
                               "backend \"onnxruntime\": %s (fetch it with "
                               "scripts/setup-deps.sh --onnxruntime, or set "
                               "--backend-config=onnxruntime,runtime-library="
                               "<path>)",
                               err);
  }
  OrtStatus *os = process_env(&b->api, &b->env);
  if (!os)
    os = b->api.CreateCpuMemoryInfo(ORT_ALLOC_DEVICE, ORT_MEM_DEFAULT, &b->cpu);
  if (!os)
    os = b->api.GetAllocatorWithDefaultOptions(&b->alloc);
  if (os) {
    int code = ort_status_take(&b->api, os, err, sizeof(err));
    backend_free(b);
    return bk_host->status_new(ort_code(code),
                               "backend \"onnxruntime\": cannot create the "
                               "ONNX Runtime environment: %s",
                               err);
  }
  /* The CUDA execution provider is a separate library that ONNX Runtime
   * loads from its own directory; the npm package does not ship it. */
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", b->lib_path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof(dir), ".");
  snprintf(b->cuda_provider_path, sizeof(b->cuda_provider_path),
           "%s/libonnxruntime_providers_cuda.so", dir);
  b->has_cuda_provider = is_file(b->cuda_provider_path);
  BK_LOG(BK_LOG_INFO,
         "backend \"onnxruntime\": ONNX Runtime %s from \"%s\" (C API %u); "
         "CUDA execution provider %s",
         b->api.version, b->lib_path, ORT_API_VERSION_CHECKED,
         b->has_cuda_provider ? "found" : "not present");
  bk_host->backend_set_state(bk, b);
  return NULL;
}

static void ort_backend_fini(inferd_backend_t *bk) {
  backend_free(bk_host->backend_state(bk));
  bk_host->backend_set_state(bk, NULL);
}

/* ---- model ---- */

static void session_io_free(ort_session_io_t *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i].name);
  free(v);
}

static void model_free(ort_model_t *s) {
  if (!s)
    return;
  const ort_api_t *api = &s->b->api;
  if (s->spare)
    api->ReleaseSession(s->spare);
  session_io_free(s->sin, s->n_sin);
  session_io_free(s->sout, s->n_sout);
  free(s->in_map);
  free(s->out_map);
  free(s->in);
  free(s->out);
  free(s->shrink);
  free(s);
}

inferd_status_t *ort_session_new(const ort_model_t *s, bool gpu, int32_t device,
                                 OrtSession **out) {
  const ort_api_t *api = &s->b->api;
  OrtSessionOptions *o = NULL;
  OrtStatus *os = api->CreateSessionOptions(&o);
  if (!os && s->p.intra_op >= 0)
    os = api->SetIntraOpNumThreads(o, (int)s->p.intra_op);
  if (!os && s->p.inter_op >= 0)
    os = api->SetInterOpNumThreads(o, (int)s->p.inter_op);
  if (!os && s->p.exec_mode >= 0)
    os = api->SetSessionExecutionMode(o, (int)s->p.exec_mode);
  if (!os && s->p.mem_arena >= 0)
    os =
        s->p.mem_arena ? api->EnableCpuMemArena(o) : api->DisableCpuMemArena(o);
  if (!os && s->p.mem_pattern >= 0)
    os =
        s->p.mem_pattern ? api->EnableMemPattern(o) : api->DisableMemPattern(o);
  if (!os)
    os = api->SetSessionGraphOptimizationLevel(o, s->p.graph_level);
  if (!os && gpu) {
    ort_cuda_options_t cuda;
    memset(&cuda, 0, sizeof(cuda));
    cuda.device_id = device;
    cuda.gpu_mem_limit = SIZE_MAX;
    cuda.do_copy_in_default_stream = 1;
    os = api->SessionOptionsAppendExecutionProvider_CUDA(o, &cuda);
    if (os) {
      api->ReleaseSessionOptions(o);
      return ort_model_fail(s, os, "cannot use its CUDA execution provider");
    }
  }
  if (!os)
    os = api->CreateSession(s->b->env, s->path, o, out);
  if (o)
    api->ReleaseSessionOptions(o);
  if (os) {
    *out = NULL;
    char what[PATH_MAX + 32];
    snprintf(what, sizeof(what), "cannot load \"%s\"", s->path);
    return ort_model_fail(s, os, what);
  }
  return NULL;
}

/* Reads the session's inputs (output = false) or outputs. */
static inferd_status_t *read_session_io(ort_model_t *s, OrtSession *sess,
                                        bool output, ort_session_io_t **out,
                                        size_t *n_out) {
  const ort_api_t *api = &s->b->api;
  size_t n = 0;
  OrtStatus *os = output ? api->SessionGetOutputCount(sess, &n)
                         : api->SessionGetInputCount(sess, &n);
  if (os)
    return ort_model_fail(s, os, "cannot count the graph's values");
  ort_session_io_t *v = calloc(n ? n : 1, sizeof(*v));
  if (!v)
    return bk_host->status_new(INFERD_NO_MEMORY, "model \"%s\": out of memory",
                               s->model);
  *out = v;
  *n_out = n;
  for (size_t i = 0; i < n; i++) {
    char *name = NULL;
    os = output ? api->SessionGetOutputName(sess, i, s->b->alloc, &name)
                : api->SessionGetInputName(sess, i, s->b->alloc, &name);
    if (os)
      return ort_model_fail(s, os, "cannot read a value's name");
    v[i].name = strdup(name);
    OrtStatus *fs = api->AllocatorFree(s->b->alloc, name);
    if (fs)
      api->ReleaseStatus(fs);
    if (!v[i].name)
      return bk_host->status_new(INFERD_NO_MEMORY,
                                 "model \"%s\": out of memory", s->model);
    OrtTypeInfo *ti = NULL;
    os = output ? api->SessionGetOutputTypeInfo(sess, i, &ti)
                : api->SessionGetInputTypeInfo(sess, i, &ti);
    int kind = 0;
    if (!os)
      os = api->GetOnnxTypeFromTypeInfo(ti, &kind);
    const OrtTensorTypeAndShapeInfo *tt = NULL;
    if (!os && kind == ORT_ONNX_TYPE_TENSOR)
      os = api->CastTypeInfoToTensorInfo(ti, &tt);
    size_t nd = 0;
    if (!os && tt)
      os = api->GetTensorElementType(tt, &v[i].onnx_type);
    if (!os && tt)
      os = api->GetDimensionsCount(tt, &nd);
    if (!os && tt && nd > ORT_MAX_DIMS) {
      api->ReleaseTypeInfo(ti);
      return bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": %s \"%s\" has %zu dimensions; "
                                 "at most %d are served",
                                 s->model, output ? "output" : "input",
                                 v[i].name, nd, ORT_MAX_DIMS);
    }
    if (!os && tt)
      os = api->GetDimensions(tt, v[i].dims, nd);
    if (ti)
      api->ReleaseTypeInfo(ti);
    if (os)
      return ort_model_fail(s, os, "cannot read a value's type");
    v[i].is_tensor = kind == ORT_ONNX_TYPE_TENSOR;
    v[i].onnx_kind = kind;
    v[i].n_dims = (uint32_t)nd;
    v[i].dt =
        v[i].is_tensor ? ort_dt_from_onnx(v[i].onnx_type) : INFERD_TYPE_INVALID;
  }
  return NULL;
}

static inferd_status_t *check_servable(const ort_model_t *s,
                                       const ort_session_io_t *v, bool output) {
  static const char *const kinds[] = {"unknown", "tensor", "sequence",
                                      "map",     "opaque", "sparse tensor",
                                      "optional"};
  if (!v->is_tensor)
    return bk_host->status_new(
        INFERD_UNSUPPORTED,
        "model \"%s\": %s \"%s\" is an ONNX %s; only tensors can be served",
        s->model, output ? "output" : "input", v->name,
        v->onnx_kind >= 0 && v->onnx_kind < 7 ? kinds[v->onnx_kind]
                                              : "non-tensor value");
  if (v->dt == INFERD_TYPE_INVALID)
    return bk_host->status_new(INFERD_UNSUPPORTED,
                               "model \"%s\": %s \"%s\": ONNX element type %s "
                               "has no Triton data type",
                               s->model, output ? "output" : "input", v->name,
                               onnx_type_name(v->onnx_type));
  return NULL;
}

/* The config's inputs/outputs from the session (reference §3.6). */
static inferd_status_t *autocomplete(ort_model_t *s,
                                     inferd_backend_model_t *m) {
  for (size_t i = 0; i < s->n_sin + s->n_sout; i++) {
    bool output = i >= s->n_sin;
    inferd_status_t *st =
        check_servable(s, output ? &s->sout[i - s->n_sin] : &s->sin[i], output);
    if (st)
      return st;
  }
  /* batching when every value has a dynamic first dimension */
  bool batching = s->b->default_max_batch > 0 && s->n_sin > 0;
  for (size_t i = 0; i < s->n_sin + s->n_sout && batching; i++) {
    const ort_session_io_t *v =
        i < s->n_sin ? &s->sin[i] : &s->sout[i - s->n_sin];
    batching = v->n_dims > 0 && v->dims[0] < 0;
  }
  json_t *root = json_object();
  json_t *lists[2] = {json_array(), json_array()};
  bool ok = root && lists[0] && lists[1];
  for (size_t i = 0; ok && i < s->n_sin + s->n_sout; i++) {
    bool output = i >= s->n_sin;
    const ort_session_io_t *v = output ? &s->sout[i - s->n_sin] : &s->sin[i];
    json_t *dims = json_array();
    json_t *o = json_object();
    ok = dims && o;
    for (uint32_t d = batching ? 1 : 0; ok && d < v->n_dims; d++)
      ok = json_array_append_new(
               dims, json_integer(v->dims[d] < 0 ? -1 : v->dims[d])) == 0;
    if (ok && v->n_dims == (batching ? 1u : 0u)) /* scalar: Triton's [1] */
      ok = json_array_append_new(dims, json_integer(1)) == 0;
    ok = ok && json_object_set_new(o, "name", json_string(v->name)) == 0 &&
         json_object_set_new(o, "data_type", json_string(config_type(v->dt))) ==
             0 &&
         json_object_set_new(o, "dims", dims) == 0;
    if (!ok) {
      json_decref(o);
      break;
    }
    ok = json_array_append_new(lists[output], o) == 0;
  }
  ok = ok &&
       json_object_set_new(
           root, "max_batch_size",
           json_integer(batching ? s->b->default_max_batch : 0)) == 0 &&
       json_object_set(root, "input", lists[0]) == 0 &&
       json_object_set(root, "output", lists[1]) == 0;
  char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(lists[0]);
  json_decref(lists[1]);
  json_decref(root);
  if (!text)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": out of memory completing the "
                               "config",
                               s->model);
  inferd_status_t *st;
  if (bk_host->struct_size <
      offsetof(inferd_host_api_t, model_set_config_json) + sizeof(void *))
    st = bk_host->status_new(INFERD_INVALID_ARG,
                             "model \"%s\": config has no inputs/outputs and "
                             "this server cannot complete them; from the "
                             "graph they would be: %s",
                             s->model, text);
  else
    st = bk_host->model_set_config_json(m, text);
  free(text);
  return st;
}

static void names_list(const ort_session_io_t *v, size_t n, char *buf,
                       size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < n && used < size; k++) {
    int w =
        snprintf(buf + used, size - used, "%s\"%s\"", k ? ", " : "", v[k].name);
    if (w < 0)
      break;
    used += (size_t)w;
  }
}

/* Config value c (config dims, without the batch dim) against the graph's
 * value v. */
static inferd_status_t *check_value(const ort_model_t *s, const ort_io_t *c,
                                    const ort_session_io_t *v, bool output) {
  const char *kind = output ? "output" : "input";
  inferd_status_t *st = check_servable(s, v, output);
  if (st)
    return st;
  if (c->dt != v->dt)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": %s \"%s\": the config says %s, "
                               "the model has %s (ONNX %s)",
                               s->model, kind, c->name, config_type(c->dt),
                               config_type(v->dt),
                               onnx_type_name(v->onnx_type));
  bool batching = s->max_batch_size > 0;
  char a[160], b[160];
  if (batching && (v->n_dims == 0 || v->dims[0] >= 0)) {
    /* outputs of unknown rank are let through: ONNX Runtime reports their
     * shape only at run time */
    if (output && v->n_dims == 0)
      return NULL;
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": %s \"%s\": max_batch_size %d needs a model whose first "
        "dimension is dynamic (-1); the model has %s",
        s->model, kind, c->name, s->max_batch_size,
        bk_shape_str(v->dims, v->n_dims, a, sizeof(a)));
  }
  uint32_t skip = batching ? 1 : 0;
  bool scalar =
      !batching && v->n_dims == 0 && c->n_dims == 1 && c->dims[0] == 1;
  if (scalar || (output && v->n_dims == 0))
    return NULL;
  bool same = v->n_dims == c->n_dims + skip;
  for (uint32_t d = 0; same && d < c->n_dims; d++) {
    int64_t md = v->dims[d + skip];
    if (md >= 0 && c->dims[d] != md)
      same = false;
  }
  if (!same)
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": %s \"%s\": the config's dims %s%s do not match the "
        "model's %s",
        s->model, kind, c->name, batching ? "[-1]+" : "",
        bk_shape_str(c->dims, c->n_dims, a, sizeof(a)),
        bk_shape_str(v->dims, v->n_dims, b, sizeof(b)));
  return NULL;
}

static inferd_status_t *match_config(ort_model_t *s,
                                     const inferd_backend_model_t *m) {
  s->max_batch_size = bk_host->model_max_batch_size(m);
  s->n_in = bk_host->model_input_count(m);
  s->n_out = bk_host->model_output_count(m);
  s->in = calloc(s->n_in ? s->n_in : 1, sizeof(*s->in));
  s->out = calloc(s->n_out ? s->n_out : 1, sizeof(*s->out));
  s->in_map = calloc(s->n_in ? s->n_in : 1, sizeof(*s->in_map));
  s->out_map = calloc(s->n_out ? s->n_out : 1, sizeof(*s->out_map));
  if (!s->in || !s->out || !s->in_map || !s->out_map)
    return bk_host->status_new(INFERD_NO_MEMORY, "model \"%s\": out of memory",
                               s->model);
  if (s->n_out == 0)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": the config has no outputs",
                               s->model);
  char names[512];
  for (uint32_t i = 0; i < s->n_in; i++) {
    ort_io_t *c = &s->in[i];
    bk_host->model_input(m, i, &c->name, &c->dt, &c->dims, &c->n_dims);
    if (c->n_dims + 1 > ORT_MAX_DIMS)
      return bk_host->status_new(INFERD_UNSUPPORTED,
                                 "model \"%s\": input \"%s\": more than %d "
                                 "dims",
                                 s->model, c->name, ORT_MAX_DIMS - 1);
    s->in_map[i] = -1;
    for (size_t k = 0; k < s->n_sin; k++)
      if (strcmp(s->sin[k].name, c->name) == 0)
        s->in_map[i] = (int32_t)k;
    if (s->in_map[i] < 0) {
      names_list(s->sin, s->n_sin, names, sizeof(names));
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": input \"%s\" is not an input "
                                 "of the ONNX graph (graph inputs: %s)",
                                 s->model, c->name, names);
    }
    inferd_status_t *st = check_value(s, c, &s->sin[s->in_map[i]], false);
    if (st)
      return st;
  }
  for (size_t k = 0; k < s->n_sin; k++) {
    bool found = false;
    for (uint32_t i = 0; i < s->n_in && !found; i++)
      found = s->in_map[i] == (int32_t)k;
    if (!found)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": the ONNX graph's input \"%s\" "
                                 "is missing from the config",
                                 s->model, s->sin[k].name);
  }
  for (uint32_t i = 0; i < s->n_out; i++) {
    ort_io_t *c = &s->out[i];
    bk_host->model_output(m, i, &c->name, &c->dt, &c->dims, &c->n_dims);
    s->out_map[i] = -1;
    for (size_t k = 0; k < s->n_sout; k++)
      if (strcmp(s->sout[k].name, c->name) == 0)
        s->out_map[i] = (int32_t)k;
    if (s->out_map[i] < 0) {
      names_list(s->sout, s->n_sout, names, sizeof(names));
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": output \"%s\" is not an output "
                                 "of the ONNX graph (graph outputs: %s)",
                                 s->model, c->name, names);
    }
    inferd_status_t *st = check_value(s, c, &s->sout[s->out_map[i]], true);
    if (st)
      return st;
  }
  return NULL;
}

/* optimization { graph { level } } of the config JSON; 0 when absent. */
static int64_t graph_level(const inferd_backend_model_t *m) {
  const char *text = bk_host->model_config_json(m);
  json_t *root = text ? json_loads(text, 0, NULL) : NULL;
  json_t *lv = json_object_get(
      json_object_get(json_object_get(root, "optimization"), "graph"), "level");
  int64_t level = json_is_integer(lv) ? (int64_t)json_integer_value(lv) : 0;
  json_decref(root);
  return level;
}

static inferd_status_t *read_params(ort_model_t *s,
                                    const inferd_backend_model_t *m) {
  s->p.intra_op = s->p.inter_op = s->p.exec_mode = -1;
  s->p.mem_arena = s->p.mem_pattern = -1;
  inferd_status_t *st =
      bk_param_int(m, "intra_op_thread_count", 0, 4096, &s->p.intra_op);
  if (!st)
    st = bk_param_int(m, "inter_op_thread_count", 0, 4096, &s->p.inter_op);
  if (!st)
    st = bk_param_int(m, "execution_mode", 0, 1, &s->p.exec_mode);
  bool v;
  if (!st && bk_host->model_parameter(m, "enable_mem_arena")) {
    st = bk_param_bool(m, "enable_mem_arena", &v);
    s->p.mem_arena = v;
  }
  if (!st && bk_host->model_parameter(m, "enable_mem_pattern")) {
    st = bk_param_bool(m, "enable_mem_pattern", &v);
    s->p.mem_pattern = v;
  }
  if (st)
    return st;
  const char *shrink =
      bk_host->model_parameter(m, "memory.enable_memory_arena_shrinkage");
  if (shrink && *shrink && !(s->shrink = strdup(shrink)))
    return bk_host->status_new(INFERD_NO_MEMORY, "model \"%s\": out of memory",
                               s->model);
  int64_t level = graph_level(m);
  s->p.graph_level = level == -1  ? ORT_GRAPH_BASIC
                     : level == 1 ? ORT_GRAPH_EXTENDED
                                  : ORT_GRAPH_ALL;
  return NULL;
}

static inferd_status_t *ort_model_init(inferd_backend_model_t *m) {
  ort_backend_t *b = bk_host->backend_state(bk_host->model_backend(m));
  ort_model_t *s = calloc(1, sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state",
                               bk_host->model_name(m));
  s->b = b;
  s->model = bk_host->model_name(m);
  s->path = bk_host->model_file_path(m);
  uint64_t t0 = bk_host->now_ns();
  inferd_status_t *st = read_params(s, m);
  if (!st)
    st = ort_session_new(s, false, 0, &s->spare);
  if (!st)
    st = read_session_io(s, s->spare, false, &s->sin, &s->n_sin);
  if (!st)
    st = read_session_io(s, s->spare, true, &s->sout, &s->n_sout);
  if (!st &&
      (bk_host->model_input_count(m) == 0 ||
       bk_host->model_output_count(m) == 0) &&
      s->n_sin + s->n_sout > 0)
    st = autocomplete(s, m);
  if (!st) {
    /* the config may have changed: read names and dims after completion */
    s->model = bk_host->model_name(m);
    st = match_config(s, m);
  }
  if (st) {
    model_free(s);
    return st;
  }
  BK_LOG(BK_LOG_INFO,
         "model \"%s\": \"%s\" run by ONNX Runtime %s (%u inputs, %u outputs, "
         "max_batch_size %d, intra_op_thread_count %" PRId64
         ", graph optimisation level %d); loaded in %.0f ms",
         s->model, s->path, b->api.version, s->n_in, s->n_out,
         s->max_batch_size, s->p.intra_op, s->p.graph_level,
         (double)(bk_host->now_ns() - t0) / 1e6);
  bk_host->model_set_state(m, s);
  return NULL;
}

static void ort_model_fini(inferd_backend_model_t *m) {
  model_free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

/* ---- instance ---- */

static void instance_free(ort_instance_t *oi) {
  if (!oi)
    return;
  const ort_api_t *api = &oi->m->b->api;
  if (oi->run_opts)
    api->ReleaseRunOptions(oi->run_opts);
  if (oi->session)
    api->ReleaseSession(oi->session);
  free(oi);
}

static inferd_status_t *ort_instance_init(inferd_backend_instance_t *inst) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  ort_model_t *s = bk_host->model_state(m);
  const ort_api_t *api = &s->b->api;
  bool gpu = bk_host->instance_kind(inst) == INFERD_INSTANCE_KIND_GPU;
  if (gpu && !s->b->has_cuda_provider)
    return bk_host->status_new(
        INFERD_UNSUPPORTED,
        "model \"%s\": instance \"%s\": KIND_GPU needs ONNX Runtime's CUDA "
        "execution provider, which the onnxruntime-node package does not "
        "ship: \"%s\" not found beside the runtime; use KIND_CPU, or place "
        "the provider libraries of ONNX Runtime %s "
        "(libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so)"
        " there",
        s->model, bk_host->instance_name(inst), s->b->cuda_provider_path,
        api->version);
  ort_instance_t *oi = calloc(1, sizeof(*oi));
  if (!oi)
    return bk_host->status_new(
        INFERD_NO_MEMORY, "model \"%s\": cannot allocate instance", s->model);
  oi->m = s;
  oi->gpu = gpu;
  inferd_status_t *st = NULL;
  if (!gpu && s->spare) {
    oi->session = s->spare;
    s->spare = NULL;
  } else {
    st = ort_session_new(s, gpu, bk_host->instance_device_id(inst),
                         &oi->session);
  }
  OrtStatus *os = NULL;
  if (!st)
    os = api->CreateRunOptions(&oi->run_opts);
  if (!os && s->shrink)
    os = api->AddRunConfigEntry(
        oi->run_opts, "memory.enable_memory_arena_shrinkage", s->shrink);
  if (os)
    st = ort_model_fail(s, os, "cannot set the run options");
  if (st) {
    instance_free(oi);
    return st;
  }
  bk_host->instance_set_state(inst, oi);
  return NULL;
}

static void ort_instance_fini(inferd_backend_instance_t *inst) {
  instance_free(bk_host->instance_state(inst));
  bk_host->instance_set_state(inst, NULL);
}

static inferd_status_t *ort_execute_hook(inferd_backend_instance_t *inst,
                                         inferd_request_t *const *requests,
                                         uint32_t n) {
  return ort_execute(inst, bk_host->instance_state(inst), requests, n);
}

static const inferd_backend_api_t ort_backend_api = {
    INFERD_BACKEND_API_HEADER,          .backend_init = ort_backend_init,
    .backend_fini = ort_backend_fini,   .model_init = ort_model_init,
    .model_fini = ort_model_fini,       .instance_init = ort_instance_init,
    .instance_fini = ort_instance_fini, .execute = ort_execute_hook,
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("onnxruntime", host, &ort_backend_api, api);
}
