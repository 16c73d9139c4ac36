/*
 * ort_api.h: our own declarations of the part of ONNX Runtime's C API that
 * the onnxruntime backend (and bench/ort_inproc.c) call. ONNX Runtime ships
 * no header with the npm package we take the library from, and we do not
 * copy one: each entry below is a fact of the published C API (the OrtApi
 * function table of include/onnxruntime/core/session/onnxruntime_c_api.h):
 * its position in the table and its signature.
 *
 * Checked against: ORT_API_VERSION 13 (the OrtApi table of ONNX Runtime
 * 1.13). The table only grows at its end, and ONNX Runtime asserts the size
 * of each released version (e.g. ReleaseCustomOpDomain is entry 101,
 * ReleaseModelMetadata 118, SetGlobalSpinControl 149, GetCurrentGpuDeviceId
 * 161, CreateSessionFromArrayWithPrepackedWeightsContainer 169), so these
 * positions hold in every later runtime. ort_api_open asks the runtime for
 * exactly this version (OrtApiBase::GetApi(13)) and refuses an older one.
 *
 * Conventions of the C API kept here: every function returning OrtStatus *
 * returns NULL on success, else a status the caller releases with
 * ReleaseStatus. C enums of the API (OrtLoggingLevel, ExecutionMode,
 * GraphOptimizationLevel, ONNXTensorElementDataType, ONNXType,
 * OrtAllocatorType, OrtMemType, OrtErrorCode) are passed as int, which is
 * how they travel in the x86-64 and AArch64 C ABIs.
 *
 * Threads: the table is read-only once filled; ONNX Runtime documents Run as
 * safe to call concurrently on one session, everything else here is called
 * from the repository thread.
 */
#ifndef INFERD_ORT_API_H
#define INFERD_ORT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version of the OrtApi table the declarations were checked against. */
#define ORT_API_VERSION_CHECKED 13u

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtTypeInfo OrtTypeInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtAllocator OrtAllocator;
typedef struct OrtArenaCfg OrtArenaCfg;

/* ONNXTensorElementDataType: the TensorProto.DataType numbering. */
enum {
  ORT_T_UNDEFINED = 0,
  ORT_T_FLOAT = 1,
  ORT_T_UINT8 = 2,
  ORT_T_INT8 = 3,
  ORT_T_UINT16 = 4,
  ORT_T_INT16 = 5,
  ORT_T_INT32 = 6,
  ORT_T_INT64 = 7,
  ORT_T_STRING = 8,
  ORT_T_BOOL = 9,
  ORT_T_FLOAT16 = 10,
  ORT_T_DOUBLE = 11,
  ORT_T_UINT32 = 12,
  ORT_T_UINT64 = 13,
  ORT_T_COMPLEX64 = 14,
  ORT_T_COMPLEX128 = 15,
  ORT_T_BFLOAT16 = 16
};

/* ONNXType */
enum { ORT_ONNX_TYPE_TENSOR = 1 };
/* OrtLoggingLevel */
enum {
  ORT_LOG_VERBOSE = 0,
  ORT_LOG_INFO = 1,
  ORT_LOG_WARNING = 2,
  ORT_LOG_ERROR = 3,
  ORT_LOG_FATAL = 4
};
/* OrtErrorCode */
enum {
  ORT_E_OK = 0,
  ORT_E_FAIL = 1,
  ORT_E_INVALID_ARGUMENT = 2,
  ORT_E_NO_SUCHFILE = 3,
  ORT_E_NO_MODEL = 4,
  ORT_E_ENGINE_ERROR = 5,
  ORT_E_RUNTIME_EXCEPTION = 6,
  ORT_E_INVALID_PROTOBUF = 7,
  ORT_E_MODEL_LOADED = 8,
  ORT_E_NOT_IMPLEMENTED = 9,
  ORT_E_INVALID_GRAPH = 10,
  ORT_E_EP_FAIL = 11
};
/* GraphOptimizationLevel */
enum {
  ORT_GRAPH_DISABLE_ALL = 0,
  ORT_GRAPH_BASIC = 1,
  ORT_GRAPH_EXTENDED = 2,
  ORT_GRAPH_ALL = 99
};
/* ExecutionMode */
enum { ORT_EXEC_SEQUENTIAL = 0, ORT_EXEC_PARALLEL = 1 };
/* OrtAllocatorType, OrtMemType */
enum { ORT_ALLOC_DEVICE = 0, ORT_ALLOC_ARENA = 1 };
enum { ORT_MEM_DEFAULT = 0 };

/* OrtLoggingFunction */
typedef void (*ort_logging_fn)(void *param, int severity, const char *category,
                               const char *logid, const char *code_location,
                               const char *message);

/* OrtCUDAProviderOptions (legacy struct of
 * SessionOptionsAppendExecutionProvider _CUDA). Later runtimes appended fields
 * to it (the TunableOp switches); the zeroed tail keeps a newer runtime reading
 * zeros (their defaults), not past our object. */
typedef struct ort_cuda_options {
  int device_id;
  int cudnn_conv_algo_search; /* 0 exhaustive, 1 heuristic, 2 default */
  size_t gpu_mem_limit;       /* SIZE_MAX: no limit */
  int arena_extend_strategy;  /* 0 next power of two */
  int do_copy_in_default_stream;
  int has_user_compute_stream;
  void *user_compute_stream;
  OrtArenaCfg *default_memory_arena_cfg;
  unsigned char reserved_zero[64];
} ort_cuda_options_t;

/* X(index in OrtApi, return type, name, parameter list) */
#define ORT_API_ENTRIES(X)                                                     \
  X(1, int, GetErrorCode, (const OrtStatus *status))                           \
  X(2, const char *, GetErrorMessage, (const OrtStatus *status))               \
  X(4, OrtStatus *, CreateEnvWithCustomLogger,                                 \
    (ort_logging_fn fn, void *param, int severity, const char *logid,          \
     OrtEnv **out))                                                            \
  X(7, OrtStatus *, CreateSession,                                             \
    (const OrtEnv *env, const char *model_path,                                \
     const OrtSessionOptions *options, OrtSession **out))                      \
  X(9, OrtStatus *, Run,                                                       \
    (OrtSession * session, const OrtRunOptions *run_options,                   \
     const char *const *input_names, const OrtValue *const *inputs,            \
     size_t n_inputs, const char *const *output_names, size_t n_outputs,       \
     OrtValue **outputs))                                                      \
  X(10, OrtStatus *, CreateSessionOptions, (OrtSessionOptions * *out))         \
  X(13, OrtStatus *, SetSessionExecutionMode,                                  \
    (OrtSessionOptions * options, int mode))                                   \
  X(16, OrtStatus *, EnableMemPattern, (OrtSessionOptions * options))          \
  X(17, OrtStatus *, DisableMemPattern, (OrtSessionOptions * options))         \
  X(18, OrtStatus *, EnableCpuMemArena, (OrtSessionOptions * options))         \
  X(19, OrtStatus *, DisableCpuMemArena, (OrtSessionOptions * options))        \
  X(23, OrtStatus *, SetSessionGraphOptimizationLevel,                         \
    (OrtSessionOptions * options, int level))                                  \
  X(24, OrtStatus *, SetIntraOpNumThreads,                                     \
    (OrtSessionOptions * options, int n))                                      \
  X(25, OrtStatus *, SetInterOpNumThreads,                                     \
    (OrtSessionOptions * options, int n))                                      \
  X(30, OrtStatus *, SessionGetInputCount,                                     \
    (const OrtSession *session, size_t *out))                                  \
  X(31, OrtStatus *, SessionGetOutputCount,                                    \
    (const OrtSession *session, size_t *out))                                  \
  X(33, OrtStatus *, SessionGetInputTypeInfo,                                  \
    (const OrtSession *session, size_t index, OrtTypeInfo **out))              \
  X(34, OrtStatus *, SessionGetOutputTypeInfo,                                 \
    (const OrtSession *session, size_t index, OrtTypeInfo **out))              \
  X(36, OrtStatus *, SessionGetInputName,                                      \
    (const OrtSession *session, size_t index, OrtAllocator *allocator,         \
     char **out))                                                              \
  X(37, OrtStatus *, SessionGetOutputName,                                     \
    (const OrtSession *session, size_t index, OrtAllocator *allocator,         \
     char **out))                                                              \
  X(39, OrtStatus *, CreateRunOptions, (OrtRunOptions * *out))                 \
  X(48, OrtStatus *, CreateTensorAsOrtValue,                                   \
    (OrtAllocator * allocator, const int64_t *shape, size_t n_dims, int type,  \
     OrtValue **out))                                                          \
  X(49, OrtStatus *, CreateTensorWithDataAsOrtValue,                           \
    (const OrtMemoryInfo *info, void *data, size_t byte_size,                  \
     const int64_t *shape, size_t n_dims, int type, OrtValue **out))           \
  X(51, OrtStatus *, GetTensorMutableData, (OrtValue * value, void **out))     \
  X(52, OrtStatus *, FillStringTensor,                                         \
    (OrtValue * value, const char *const *s, size_t n))                        \
  X(53, OrtStatus *, GetStringTensorDataLength,                                \
    (const OrtValue *value, size_t *len))                                      \
  X(54, OrtStatus *, GetStringTensorContent,                                   \
    (const OrtValue *value, void *s, size_t s_len, size_t *offsets,            \
     size_t n_offsets))                                                        \
  X(55, OrtStatus *, CastTypeInfoToTensorInfo,                                 \
    (const OrtTypeInfo *info, const OrtTensorTypeAndShapeInfo **out))          \
  X(56, OrtStatus *, GetOnnxTypeFromTypeInfo,                                  \
    (const OrtTypeInfo *info, int *out))                                       \
  X(60, OrtStatus *, GetTensorElementType,                                     \
    (const OrtTensorTypeAndShapeInfo *info, int *out))                         \
  X(61, OrtStatus *, GetDimensionsCount,                                       \
    (const OrtTensorTypeAndShapeInfo *info, size_t *out))                      \
  X(62, OrtStatus *, GetDimensions,                                            \
    (const OrtTensorTypeAndShapeInfo *info, int64_t *dims, size_t n))          \
  X(65, OrtStatus *, GetTensorTypeAndShape,                                    \
    (const OrtValue *value, OrtTensorTypeAndShapeInfo **out))                  \
  X(67, OrtStatus *, GetValueType, (const OrtValue *value, int *out))          \
  X(69, OrtStatus *, CreateCpuMemoryInfo,                                      \
    (int allocator_type, int mem_type, OrtMemoryInfo **out))                   \
  X(76, OrtStatus *, AllocatorFree, (OrtAllocator * allocator, void *p))       \
  X(78, OrtStatus *, GetAllocatorWithDefaultOptions, (OrtAllocator * *out))    \
  X(92, void, ReleaseEnv, (OrtEnv * p))                                        \
  X(93, void, ReleaseStatus, (OrtStatus * p))                                  \
  X(94, void, ReleaseMemoryInfo, (OrtMemoryInfo * p))                          \
  X(95, void, ReleaseSession, (OrtSession * p))                                \
  X(96, void, ReleaseValue, (OrtValue * p))                                    \
  X(97, void, ReleaseRunOptions, (OrtRunOptions * p))                          \
  X(98, void, ReleaseTypeInfo, (OrtTypeInfo * p))                              \
  X(99, void, ReleaseTensorTypeAndShapeInfo, (OrtTensorTypeAndShapeInfo * p))  \
  X(100, void, ReleaseSessionOptions, (OrtSessionOptions * p))                 \
  X(152, OrtStatus *, SessionOptionsAppendExecutionProvider_CUDA,              \
    (OrtSessionOptions * options, const ort_cuda_options_t *cuda))             \
  X(165, OrtStatus *, AddRunConfigEntry,                                       \
    (OrtRunOptions * options, const char *key, const char *value))

/* The entries above, typed. */
typedef struct ort_api {
#define ORT_API_FIELD_(idx, ret, name, params) ret(*name) params;
  ORT_API_ENTRIES(ORT_API_FIELD_)
#undef ORT_API_FIELD_
  const char *version; /* the runtime's GetVersionString(), e.g. "1.30.0" */
  void *dl;            /* dlopen handle */
} ort_api_t;

/* Opens the runtime library at path (dlopen, kept loaded: ONNX Runtime does
 * not support being unloaded and loaded again in one process), finds
 * OrtGetApiBase, asks for ORT_API_VERSION_CHECKED and fills api. On failure
 * returns false with err naming the library and, for an old runtime, both
 * versions. */
bool ort_api_open(const char *path, ort_api_t *api, char *err, size_t err_size);

/* Moves an OrtStatus's message into buf ("" for NULL) and releases it;
 * returns its OrtErrorCode (ORT_E_OK for NULL). */
int ort_status_take(const ort_api_t *api, OrtStatus *st, char *buf,
                    size_t size);

#endif /* INFERD_ORT_API_H */
