/*
 * inferd/types.h: the types shared by the embedding API (server.h) and the
 * backend ABI (backend.h): status codes and status objects, tensor data types,
 * memory types, request/response flags and the opaque object handles.
 *
 * Plain C11, fixed-width integers, no enums stored in structs (ABI rule).
 */
#ifndef INFERD_TYPES_H
#define INFERD_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define INFERD_API __attribute__((visibility("default")))
#define INFERD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define INFERD_API
#define INFERD_PRINTF(f, a)
#endif

/* ---- status codes ------------------------------------------------------
 * The one table of status codes: X(NAME, value, text, http status, grpc code).
 * Append-only. HTTP mapping follows Triton (reference §1.1): INTERNAL 500,
 * NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501, everything else 400.
 * gRPC codes are the numeric grpc_status_code values (reference §2.3). */
#define INFERD_STATUS_MAP(X)                                                   \
  X(OK, 0, "ok", 200, 0)                                                       \
  X(UNKNOWN, 1, "unknown", 400, 2)                                             \
  X(INTERNAL, 2, "internal", 500, 13)                                          \
  X(NOT_FOUND, 3, "not found", 404, 5)                                         \
  X(INVALID_ARG, 4, "invalid argument", 400, 3)                                \
  X(UNAVAILABLE, 5, "unavailable", 503, 14)                                    \
  X(UNSUPPORTED, 6, "unsupported", 501, 12)                                    \
  X(ALREADY_EXISTS, 7, "already exists", 400, 6)                               \
  X(CANCELLED, 8, "cancelled", 400, 1)                                         \
  X(NO_MEMORY, 9, "out of memory", 500, 8)

enum {
#define INFERD_STATUS_ENUM_(name, val, text, http, grpc) INFERD_##name = val,
  INFERD_STATUS_MAP(INFERD_STATUS_ENUM_)
#undef INFERD_STATUS_ENUM_
};
typedef int32_t inferd_code_t;

/* A status is an error: NULL means success. A non-NULL status carries a code
 * and a message; whoever receives it owns it and frees it with
 * inferd_status_free() (the static out-of-memory status ignores the free).
 * Statuses are immutable and may be passed between threads. */
typedef struct inferd_status inferd_status_t;

/* ---- tensor data types -------------------------------------------------
 * Values equal the config's DataType enum numbers (TYPE_BOOL = 1 ...),
 * so conversion is the identity. BYTES is config TYPE_STRING. */
#define INFERD_DATATYPE_MAP(X)                                                 \
  X(INVALID, 0, "INVALID", 0)                                                  \
  X(BOOL, 1, "BOOL", 1)                                                        \
  X(UINT8, 2, "UINT8", 1)                                                      \
  X(UINT16, 3, "UINT16", 2)                                                    \
  X(UINT32, 4, "UINT32", 4)                                                    \
  X(UINT64, 5, "UINT64", 8)                                                    \
  X(INT8, 6, "INT8", 1)                                                        \
  X(INT16, 7, "INT16", 2)                                                      \
  X(INT32, 8, "INT32", 4)                                                      \
  X(INT64, 9, "INT64", 8)                                                      \
  X(FP16, 10, "FP16", 2)                                                       \
  X(FP32, 11, "FP32", 4)                                                       \
  X(FP64, 12, "FP64", 8)                                                       \
  X(BYTES, 13, "BYTES", 0)                                                     \
  X(BF16, 14, "BF16", 2)

enum {
#define INFERD_DT_ENUM_(name, val, text, size) INFERD_TYPE_##name = val,
  INFERD_DATATYPE_MAP(INFERD_DT_ENUM_)
#undef INFERD_DT_ENUM_
      INFERD_TYPE_COUNT_ = 15
};
typedef int32_t inferd_datatype_t;

/* Size of one element in bytes; 0 for BYTES (variable) and INVALID. */
static inline size_t inferd_datatype_size(inferd_datatype_t dt) {
  switch (dt) {
#define INFERD_DT_SIZE_(name, val, text, size)                                 \
  case val:                                                                    \
    return size;
    INFERD_DATATYPE_MAP(INFERD_DT_SIZE_)
#undef INFERD_DT_SIZE_
  default:
    return 0;
  }
}

/* Protocol name ("INT32", "BYTES", ...); "INVALID" for unknown values. */
static inline const char *inferd_datatype_name(inferd_datatype_t dt) {
  switch (dt) {
#define INFERD_DT_NAME_(name, val, text, size)                                 \
  case val:                                                                    \
    return text;
    INFERD_DATATYPE_MAP(INFERD_DT_NAME_)
#undef INFERD_DT_NAME_
  default:
    return "INVALID";
  }
}

/* ---- memory types ------------------------------------------------------ */
enum {
  INFERD_MEM_CPU = 0,
  INFERD_MEM_CPU_PINNED = 1,
  INFERD_MEM_GPU = 2,
};
typedef int32_t inferd_memtype_t;

/* ---- flags -------------------------------------------------------------- */
/* request flags (sequence control), as Triton's */
#define INFERD_REQUEST_FLAG_SEQUENCE_START 1u
#define INFERD_REQUEST_FLAG_SEQUENCE_END 2u
/* response flags */
#define INFERD_RESPONSE_FLAG_FINAL 1u

/* ---- parameter types ---------------------------------------------------- */
enum {
  INFERD_PARAM_STRING = 0,
  INFERD_PARAM_INT = 1,
  INFERD_PARAM_BOOL = 2,
  INFERD_PARAM_DOUBLE = 3,
};
typedef int32_t inferd_param_type_t;

/* ---- instance kinds (values = config ModelInstanceGroup.Kind) ------------ */
enum {
  INFERD_INSTANCE_KIND_AUTO = 0,
  INFERD_INSTANCE_KIND_GPU = 1,
  INFERD_INSTANCE_KIND_CPU = 2,
  INFERD_INSTANCE_KIND_MODEL = 3,
};

/* ---- opaque handles ------------------------------------------------------ */
typedef struct inferd_server inferd_server_t;     /* one per process usually */
typedef struct inferd_model inferd_model_t;       /* one loaded model version,
                                                     refcounted */
typedef struct inferd_request inferd_request_t;   /* one inference request */
typedef struct inferd_response inferd_response_t; /* one response */

#ifdef __cplusplus
}
#endif
#endif /* INFERD_TYPES_H */
