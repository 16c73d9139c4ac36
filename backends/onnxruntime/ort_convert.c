/*
 * ort_convert.c: between ONNX Runtime and inferd: element types, error
 * codes, and an OrtStatus turned into an inferd status. Used by the backend
 * (onnxruntime.c) and its execute path (ort_exec.c) alike.
 */
#include "../common/bk_util.h"
#include "ort_backend.h"

inferd_datatype_t ort_dt_from_onnx(int t) {
  switch (t) {
  case ORT_T_BOOL:
    return INFERD_TYPE_BOOL;
  case ORT_T_UINT8:
    return INFERD_TYPE_UINT8;
  case ORT_T_UINT16:
    return INFERD_TYPE_UINT16;
  case ORT_T_UINT32:
    return INFERD_TYPE_UINT32;
  case ORT_T_UINT64:
    return INFERD_TYPE_UINT64;
  case ORT_T_INT8:
    return INFERD_TYPE_INT8;
  case ORT_T_INT16:
    return INFERD_TYPE_INT16;
  case ORT_T_INT32:
    return INFERD_TYPE_INT32;
  case ORT_T_INT64:
    return INFERD_TYPE_INT64;
  case ORT_T_FLOAT16:
    return INFERD_TYPE_FP16;
  case ORT_T_FLOAT:
    return INFERD_TYPE_FP32;
  case ORT_T_DOUBLE:
    return INFERD_TYPE_FP64;
  case ORT_T_STRING:
    return INFERD_TYPE_BYTES;
  case ORT_T_BFLOAT16:
    return INFERD_TYPE_BF16;
  default:
    return INFERD_TYPE_INVALID;
  }
}

int ort_onnx_from_dt(inferd_datatype_t dt) {
  for (int t = 1; t <= ORT_T_BFLOAT16; t++)
    if (ort_dt_from_onnx(t) == dt && dt != INFERD_TYPE_INVALID)
      return t;
  return ORT_T_UNDEFINED;
}

inferd_code_t ort_code(int ort_error_code) {
  switch (ort_error_code) {
  case ORT_E_INVALID_ARGUMENT:
  case ORT_E_INVALID_PROTOBUF:
  case ORT_E_INVALID_GRAPH:
  case ORT_E_NO_MODEL:
    return INFERD_INVALID_ARG;
  case ORT_E_NO_SUCHFILE:
    return INFERD_NOT_FOUND;
  case ORT_E_NOT_IMPLEMENTED:
    return INFERD_UNSUPPORTED;
  default:
    return INFERD_INTERNAL;
  }
}

/* An OrtStatus turned into ours (released), prefixed with the model. */
inferd_status_t *ort_model_fail(const ort_model_t *s, OrtStatus *os,
                                const char *what) {
  char msg[2048];
  int code = ort_status_take(&s->b->api, os, msg, sizeof(msg));
  return bk_host->status_new(ort_code(code),
                             "model \"%s\": ONNX Runtime %s %s: %s", s->model,
                             s->b->api.version, what, msg);
}
