/*
 * http_infer_write.c: writes the JSON part of an infer response (reference
 * §1.6/§1.7): model_name, model_version (a string), id when non-empty,
 * parameters when any, outputs with name/datatype/shape and either flat
 * `data`, or parameters.binary_data_size, or (shared memory outputs)
 * nothing more. Binary blobs are not copied here:
 * the caller sends them after the JSON, in the order of `outputs`.
 *
 * Numbers: FP32 with 9 and FP64 with 17 significant digits (exact round
 * trip); NaN and infinities, which JSON cannot express, are written as the
 * tokens NaN, Infinity and -Infinity (what Python's json module reads).
 * BYTES elements are JSON strings; invalid UTF-8 becomes U+FFFD (see
 * http_buf.c) — ask for binary_data to get the bytes exactly.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

static void write_double(http_buf_t *b, double d, int digits) {
  if (isnan(d)) {
    http_buf_puts(b, "NaN");
  } else if (isinf(d)) {
    http_buf_puts(b, d < 0 ? "-Infinity" : "Infinity");
  } else {
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.*g", digits, d);
    http_buf_append(b, tmp, (size_t)n);
  }
}

static void write_u64(http_buf_t *b, uint64_t v) {
  char tmp[24];
  char *p = tmp + sizeof(tmp);
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  http_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void write_i64(http_buf_t *b, int64_t v) {
  if (v < 0) {
    http_buf_append(b, "-", 1);
    write_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    write_u64(b, (uint64_t)v);
  }
}

static inferd_status_t *write_data(http_buf_t *b, const http_out_tensor_t *o) {
  const unsigned char *p = o->base;
  size_t n = o->byte_size;
  http_buf_append(b, "[", 1);
  if (o->dt == INFERD_TYPE_BYTES) {
    size_t off = 0, k = 0;
    while (off < n) {
      if (n - off < 4)
        return inferd_status_new(INFERD_INTERNAL,
                                 "output \"%s\": malformed BYTES data "
                                 "(truncated length at byte %zu)",
                                 o->name, off);
      uint32_t len = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                     (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
      off += 4;
      if (len > n - off)
        return inferd_status_new(INFERD_INTERNAL,
                                 "output \"%s\": malformed BYTES data "
                                 "(element %zu overruns the buffer)",
                                 o->name, k);
      if (k++)
        http_buf_append(b, ",", 1);
      http_buf_json_string(b, (const char *)p + off, len);
      off += len;
    }
    http_buf_append(b, "]", 1);
    return NULL;
  }
  size_t esz = inferd_datatype_size(o->dt);
  if (esz == 0 || n % esz)
    return inferd_status_new(INFERD_INTERNAL,
                             "output \"%s\": %zu bytes is not a whole number "
                             "of %s elements",
                             o->name, n, inferd_datatype_name(o->dt));
  size_t count = n / esz;
  for (size_t i = 0; i < count; i++) {
    if (i)
      http_buf_append(b, ",", 1);
    const unsigned char *e = p + i * esz;
    switch (o->dt) {
    case INFERD_TYPE_BOOL:
      http_buf_puts(b, *e ? "true" : "false");
      break;
#define INT_CASE(T, ctype, fn)                                                 \
  case T: {                                                                    \
    ctype x;                                                                   \
    memcpy(&x, e, sizeof(x));                                                  \
    fn(b, x);                                                                  \
    break;                                                                     \
  }
      INT_CASE(INFERD_TYPE_UINT8, uint8_t, write_u64)
      INT_CASE(INFERD_TYPE_UINT16, uint16_t, write_u64)
      INT_CASE(INFERD_TYPE_UINT32, uint32_t, write_u64)
      INT_CASE(INFERD_TYPE_UINT64, uint64_t, write_u64)
      INT_CASE(INFERD_TYPE_INT8, int8_t, write_i64)
      INT_CASE(INFERD_TYPE_INT16, int16_t, write_i64)
      INT_CASE(INFERD_TYPE_INT32, int32_t, write_i64)
      INT_CASE(INFERD_TYPE_INT64, int64_t, write_i64)
#undef INT_CASE
    case INFERD_TYPE_FP32: {
      float f;
      memcpy(&f, e, 4);
      write_double(b, f, 9);
      break;
    }
    case INFERD_TYPE_FP64: {
      double d;
      memcpy(&d, e, 8);
      write_double(b, d, 17);
      break;
    }
    default:
      return inferd_status_new(INFERD_INTERNAL,
                               "output \"%s\": data type %s cannot be "
                               "written as JSON",
                               o->name, inferd_datatype_name(o->dt));
    }
  }
  http_buf_append(b, "]", 1);
  return NULL;
}

inferd_status_t *http_infer_write(http_buf_t *b, const char *model_name,
                                  int64_t model_version, const char *id,
                                  const http_out_param_t *params,
                                  size_t n_params,
                                  const http_out_tensor_t *outs,
                                  size_t n_outs) {
  return http_infer_write_shm(b, model_name, model_version, id, params,
                              n_params, outs, NULL, n_outs);
}

inferd_status_t *http_infer_write_shm(http_buf_t *b, const char *model_name,
                                      int64_t model_version, const char *id,
                                      const http_out_param_t *params,
                                      size_t n_params,
                                      const http_out_tensor_t *outs,
                                      const bool *shm, size_t n_outs) {
  for (size_t i = 0; i < n_outs; i++) {
    if (!outs[i].binary && !(shm && shm[i]) &&
        (outs[i].dt == INFERD_TYPE_FP16 || outs[i].dt == INFERD_TYPE_BF16))
      return inferd_status_new(INFERD_INVALID_ARG,
                               "output \"%s\": %s data cannot be returned as "
                               "JSON; request it with "
                               "parameters.binary_data true",
                               outs[i].name, inferd_datatype_name(outs[i].dt));
  }
  http_buf_puts(b, "{");
  if (id && *id) {
    http_buf_puts(b, "\"id\":");
    http_buf_json_string(b, id, strlen(id));
    http_buf_puts(b, ",");
  }
  http_buf_puts(b, "\"model_name\":");
  http_buf_json_string(b, model_name, strlen(model_name));
  http_buf_puts(b, ",\"model_version\":\"");
  write_i64(b, model_version);
  http_buf_puts(b, "\"");
  if (n_params) {
    http_buf_puts(b, ",\"parameters\":{");
    for (size_t i = 0; i < n_params; i++) {
      const http_out_param_t *p = &params[i];
      if (i)
        http_buf_puts(b, ",");
      http_buf_json_string(b, p->key, strlen(p->key));
      http_buf_puts(b, ":");
      switch (p->type) {
      case INFERD_PARAM_STRING:
        http_buf_json_string(b, p->value, strlen(p->value));
        break;
      case INFERD_PARAM_INT:
        write_i64(b, *(const int64_t *)p->value);
        break;
      case INFERD_PARAM_BOOL:
        http_buf_puts(b, *(const bool *)p->value ? "true" : "false");
        break;
      case INFERD_PARAM_DOUBLE:
        write_double(b, *(const double *)p->value, 17);
        break;
      default:
        return inferd_status_new(INFERD_INTERNAL,
                                 "response parameter \"%s\" has an unknown "
                                 "type %d",
                                 p->key, (int)p->type);
      }
    }
    http_buf_puts(b, "}");
  }
  http_buf_puts(b, ",\"outputs\":[");
  for (size_t i = 0; i < n_outs; i++) {
    const http_out_tensor_t *o = &outs[i];
    if (i)
      http_buf_puts(b, ",");
    http_buf_puts(b, "{\"name\":");
    http_buf_json_string(b, o->name, strlen(o->name));
    http_buf_puts(b, ",\"datatype\":\"");
    http_buf_puts(b, inferd_datatype_name(o->dt));
    http_buf_puts(b, "\",\"shape\":[");
    for (size_t d = 0; d < o->n_dims; d++) {
      if (d)
        http_buf_puts(b, ",");
      write_i64(b, o->shape[d]);
    }
    http_buf_puts(b, "]");
    if (shm && shm[i]) { /* the data is in the client's region (Triton) */
      http_buf_puts(b, "}");
    } else if (o->binary) {
      http_buf_puts(b, ",\"parameters\":{\"binary_data_size\":");
      write_u64(b, o->byte_size);
      http_buf_puts(b, "}}");
    } else {
      http_buf_puts(b, ",\"data\":");
      inferd_status_t *st = write_data(b, o);
      if (st)
        return st;
      http_buf_puts(b, "}");
    }
  }
  http_buf_puts(b, "]}");
  if (b->oom)
    return inferd_status_new(INFERD_NO_MEMORY,
                             "out of memory writing the response");
  return NULL;
}
