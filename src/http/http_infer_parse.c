/*
 * http_infer_parse.c: the infer request body of reference §1.6/§1.7 →
 * http_infer_t. The JSON header is parsed with jansson; tensors sent with
 * parameters.binary_data_size point into the body (no copy), tensors sent as
 * JSON `data` are converted into little-endian buffers from the request's
 * arena (BYTES in wire form: 4-byte LE length + bytes per element).
 *
 * jansson cannot hold integers above INT64_MAX, so a UINT64 value such as
 * 18446744073709551615 makes it fail with an integer overflow. Only then the
 * header is copied with such literals turned into strings and parsed again;
 * UINT64 elements accept those digit strings.
 *
 * Tensors in system shared memory (parameters shared_memory_region,
 * shared_memory_byte_size, shared_memory_offset) are only recorded here:
 * the frontend looks the region up in the server's registry.
 *
 * Every error is INVALID_ARG (400) naming the input and what was wrong,
 * except features that are not there yet (classification): UNSUPPORTED
 * (501).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

#define MAX_DIMS 64

static inferd_status_t *bad(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inferd_status_t *bad(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return inferd_status_new(INFERD_INVALID_ARG, "%s", msg);
}

static inferd_status_t *oom(void) {
  return inferd_status_new(INFERD_NO_MEMORY, "out of memory parsing the "
                                             "request");
}

inferd_status_t *http_parse_header_length(const char *value, size_t body_len,
                                          size_t *out) {
  const char *p = value;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '\0')
    return bad("Inference-Header-Content-Length: empty value");
  errno = 0;
  char *end = NULL;
  long long v = strtoll(p, &end, 10);
  while (end && (*end == ' ' || *end == '\t'))
    end++;
  if (end == p || (end && *end != '\0') || errno == ERANGE ||
      (*p != '-' && *p != '+' && (*p < '0' || *p > '9')))
    return bad("Inference-Header-Content-Length: \"%.40s\" is not an integer",
               value);
  if (v < 0 || v > INT32_MAX)
    return bad("Inference-Header-Content-Length: %lld is out of range "
               "[0, %d]",
               v, INT32_MAX);
  if ((unsigned long long)v > body_len)
    return bad("Inference-Header-Content-Length: %lld exceeds the body size "
               "%zu",
               v, body_len);
  *out = (size_t)v;
  return NULL;
}

/* ---- JSON data conversion -------------------------------------------------
 */

typedef struct conv {
  const http_input_t *in;
  char *out;    /* destination buffer */
  size_t count; /* elements written */
  size_t max;   /* elements expected (fixed size types) */
  size_t bytes; /* BYTES: bytes written */
} conv_t;

static void shape_str(const http_input_t *in, char *buf, size_t n) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, n - o, "[");
  for (size_t i = 0; i < in->n_dims && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? "," : "",
                          in->shape[i]);
  if (o < n)
    snprintf(buf + o, n - o, "]");
}

/* A UINT64 element: a non-negative integer, or a digit string (the
 * big-integer fallback, see the top of the file). */
static bool uint64_value(json_t *v, uint64_t *out) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (x < 0)
      return false;
    *out = (uint64_t)x;
    return true;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!*s || *s < '0' || *s > '9')
      return false;
    errno = 0;
    char *end = NULL;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
      return false;
    *out = x;
    return true;
  }
  return false;
}

static inferd_status_t *elem_error(const conv_t *c, json_t *v,
                                   const char *what) {
  const char *kind = json_is_integer(v)   ? "integer"
                     : json_is_real(v)    ? "number"
                     : json_is_string(v)  ? "string"
                     : json_is_boolean(v) ? "boolean"
                     : json_is_null(v)    ? "null"
                     : json_is_object(v)  ? "object"
                                          : "array";
  if (!*what && json_is_integer(v))
    return bad("input \"%.*s\": element %zu: value %" JSON_INTEGER_FORMAT
               " is out of range for %s",
               (int)c->in->name_len, c->in->name, c->count,
               json_integer_value(v), inferd_datatype_name(c->in->dt));
  return bad("input \"%.*s\": element %zu: expected %s for %s, got %s",
             (int)c->in->name_len, c->in->name, c->count, what,
             inferd_datatype_name(c->in->dt), kind);
}

/* Writes one scalar element; the caller checked the count. */
static inferd_status_t *put_elem(conv_t *c, json_t *v) {
  inferd_datatype_t dt = c->in->dt;
  char *dst = c->out + c->count * inferd_datatype_size(dt);
  json_int_t i = 0;
  if (dt == INFERD_TYPE_BOOL) {
    if (!json_is_boolean(v))
      return elem_error(c, v, "true or false");
    *dst = json_is_true(v) ? 1 : 0;
    return NULL;
  }
  if (dt == INFERD_TYPE_FP32 || dt == INFERD_TYPE_FP64) {
    if (!json_is_number(v))
      return elem_error(c, v, "a number");
    double d = json_number_value(v);
    if (dt == INFERD_TYPE_FP32) {
      float f = (float)d;
      memcpy(dst, &f, 4);
    } else {
      memcpy(dst, &d, 8);
    }
    return NULL;
  }
  if (dt == INFERD_TYPE_UINT64) {
    uint64_t u;
    if (!uint64_value(v, &u))
      return json_is_integer(v) ? elem_error(c, v, "")
                                : elem_error(c, v, "an integer");
    memcpy(dst, &u, 8);
    return NULL;
  }
  if (!json_is_integer(v))
    return elem_error(c, v, "an integer");
  i = json_integer_value(v);
  switch (dt) {
#define INT_CASE(T, ctype, lo, hi)                                             \
  case T:                                                                      \
    if (i < (lo) || i > (hi))                                                  \
      return elem_error(c, v, "");                                             \
    {                                                                          \
      ctype x = (ctype)i;                                                      \
      memcpy(dst, &x, sizeof(x));                                              \
    }                                                                          \
    return NULL;
    INT_CASE(INFERD_TYPE_UINT8, uint8_t, 0, UINT8_MAX)
    INT_CASE(INFERD_TYPE_UINT16, uint16_t, 0, UINT16_MAX)
    INT_CASE(INFERD_TYPE_UINT32, uint32_t, 0, (json_int_t)UINT32_MAX)
    INT_CASE(INFERD_TYPE_INT8, int8_t, INT8_MIN, INT8_MAX)
    INT_CASE(INFERD_TYPE_INT16, int16_t, INT16_MIN, INT16_MAX)
    INT_CASE(INFERD_TYPE_INT32, int32_t, INT32_MIN, INT32_MAX)
    INT_CASE(INFERD_TYPE_INT64, int64_t, INT64_MIN, INT64_MAX)
#undef INT_CASE
  default:
    return bad("input \"%.*s\": data type %s cannot be sent as JSON",
               (int)c->in->name_len, c->in->name, inferd_datatype_name(dt));
  }
}

static inferd_status_t *too_many(const conv_t *c) {
  char shp[256];
  shape_str(c->in, shp, sizeof(shp));
  return bad("input \"%.*s\": data has more than the %zu elements of shape "
             "%s",
             (int)c->in->name_len, c->in->name, c->max, shp);
}

/* Walks nested arrays (row-major) writing fixed-size elements. */
static inferd_status_t *walk_fixed(conv_t *c, json_t *v, int depth) {
  if (json_is_array(v)) {
    if (depth > MAX_DIMS)
      return bad("input \"%.*s\": data is nested deeper than %d levels",
                 (int)c->in->name_len, c->in->name, MAX_DIMS);
    size_t n = json_array_size(v);
    for (size_t k = 0; k < n; k++) {
      inferd_status_t *st = walk_fixed(c, json_array_get(v, k), depth + 1);
      if (st)
        return st;
    }
    return NULL;
  }
  if (c->count >= c->max)
    return too_many(c);
  inferd_status_t *st = put_elem(c, v);
  if (st)
    return st;
  c->count++;
  return NULL;
}

/* BYTES, pass 1 (out == NULL): counts elements and bytes; pass 2 writes. */
static inferd_status_t *walk_bytes(conv_t *c, json_t *v, int depth) {
  if (json_is_array(v)) {
    if (depth > MAX_DIMS)
      return bad("input \"%.*s\": data is nested deeper than %d levels",
                 (int)c->in->name_len, c->in->name, MAX_DIMS);
    size_t n = json_array_size(v);
    for (size_t k = 0; k < n; k++) {
      inferd_status_t *st = walk_bytes(c, json_array_get(v, k), depth + 1);
      if (st)
        return st;
    }
    return NULL;
  }
  if (!json_is_string(v))
    return elem_error(c, v, "a string");
  size_t len = json_string_length(v);
  if (len > UINT32_MAX)
    return bad("input \"%.*s\": element %zu is longer than 4294967295 bytes",
               (int)c->in->name_len, c->in->name, c->count);
  if (c->out) {
    uint32_t l = (uint32_t)len;
    unsigned char le[4] = {(unsigned char)l, (unsigned char)(l >> 8),
                           (unsigned char)(l >> 16), (unsigned char)(l >> 24)};
    memcpy(c->out + c->bytes, le, 4);
    memcpy(c->out + c->bytes + 4, json_string_value(v), len);
  }
  c->bytes += 4 + len;
  c->count++;
  return NULL;
}

/* Element count of shape; false on overflow. */
static bool shape_count(const http_input_t *in, size_t *out) {
  size_t n = 1;
  for (size_t i = 0; i < in->n_dims; i++) {
    uint64_t d = (uint64_t)in->shape[i];
    if (d != 0 && n > SIZE_MAX / d)
      return false;
    n *= (size_t)d;
  }
  *out = n;
  return true;
}

static inferd_status_t *convert_data(http_arena_t *a, http_input_t *in,
                                     json_t *data, uint64_t max_input_size) {
  if (in->dt == INFERD_TYPE_FP16 || in->dt == INFERD_TYPE_BF16)
    return bad("input \"%.*s\": %s data cannot be sent as JSON; send it as "
               "binary data (parameters.binary_data_size)",
               (int)in->name_len, in->name, inferd_datatype_name(in->dt));
  size_t expect;
  if (!shape_count(in, &expect))
    return bad("input \"%.*s\": shape has too many elements", (int)in->name_len,
               in->name);
  conv_t c = {.in = in, .max = expect};
  char shp[256];
  if (in->dt == INFERD_TYPE_BYTES) {
    inferd_status_t *st = walk_bytes(&c, data, 0);
    if (st)
      return st;
    if (c.count != expect)
      goto count_mismatch;
    if (c.bytes > max_input_size)
      goto too_big;
    c.out = http_arena_alloc(a, c.bytes);
    if (!c.out)
      return oom();
    size_t bytes = c.bytes;
    c.bytes = 0;
    c.count = 0;
    st = walk_bytes(&c, data, 0);
    if (st)
      return st;
    in->data = c.out;
    in->byte_size = bytes;
    return NULL;
  }
  size_t esz = inferd_datatype_size(in->dt);
  if (expect > max_input_size / esz) {
    c.bytes = expect; /* for the message only */
    goto too_big;
  }
  c.out = http_arena_alloc(a, expect * esz);
  if (!c.out)
    return oom();
  inferd_status_t *st = walk_fixed(&c, data, 0);
  if (st)
    return st;
  if (c.count != expect)
    goto count_mismatch;
  in->data = c.out;
  in->byte_size = expect * esz;
  return NULL;

count_mismatch:
  shape_str(in, shp, sizeof(shp));
  return bad("input \"%.*s\": shape %s needs %zu elements, data has %zu",
             (int)in->name_len, in->name, shp, expect, c.count);
too_big:
  return bad("input \"%.*s\": data is larger than the maximum input size of "
             "%" PRIu64 " bytes (--http-max-input-size)",
             (int)in->name_len, in->name, max_input_size);
}

/* ---- request structure ----------------------------------------------------
 */

static inferd_status_t *parse_shape(http_arena_t *a, http_input_t *in,
                                    json_t *shape) {
  if (!json_is_array(shape))
    return bad("input \"%.*s\": \"shape\" must be an array of non-negative "
               "integers",
               (int)in->name_len, in->name);
  size_t n = json_array_size(shape);
  if (n > MAX_DIMS)
    return bad("input \"%.*s\": shape has %zu dimensions, at most %d allowed",
               (int)in->name_len, in->name, n, MAX_DIMS);
  in->shape = http_arena_alloc(a, (n ? n : 1) * sizeof(int64_t));
  if (!in->shape)
    return oom();
  for (size_t i = 0; i < n; i++) {
    json_t *d = json_array_get(shape, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return bad("input \"%.*s\": shape element %zu must be a non-negative "
                 "integer",
                 (int)in->name_len, in->name, i);
    in->shape[i] = json_integer_value(d);
  }
  in->n_dims = n;
  return NULL;
}

/* parameters.shared_memory_* of input or output `name` (what: "input" or
 * "output") into out; out->region stays NULL when the tensor does not use
 * shared memory. byte_size is required with a region (Triton would take 0
 * and fail later with a less clear message); offset defaults to 0. */
static inferd_status_t *parse_shm(const char *what, const char *name,
                                  size_t name_len, json_t *params,
                                  http_shm_ref_t *out) {
  memset(out, 0, sizeof(*out));
  if (!params)
    return NULL;
  int nl = (int)name_len;
  json_t *region = json_object_get(params, "shared_memory_region");
  json_t *size = json_object_get(params, "shared_memory_byte_size");
  json_t *off = json_object_get(params, "shared_memory_offset");
  if (!region) {
    if (size || off)
      return bad("%s \"%.*s\": parameters.%s needs "
                 "parameters.shared_memory_region",
                 what, nl, name,
                 size ? "shared_memory_byte_size" : "shared_memory_offset");
    return NULL;
  }
  if (!json_is_string(region) || json_string_length(region) == 0)
    return bad("%s \"%.*s\": parameters.shared_memory_region must be a "
               "non-empty string",
               what, nl, name);
  if (!size)
    return bad("%s \"%.*s\": parameters.shared_memory_byte_size is required "
               "with parameters.shared_memory_region",
               what, nl, name);
  if (!json_is_integer(size) || json_integer_value(size) < 0)
    return bad("%s \"%.*s\": parameters.shared_memory_byte_size must be a "
               "non-negative integer",
               what, nl, name);
  if (off && (!json_is_integer(off) || json_integer_value(off) < 0))
    return bad("%s \"%.*s\": parameters.shared_memory_offset must be a "
               "non-negative integer",
               what, nl, name);
  out->region = json_string_value(region);
  out->region_len = json_string_length(region);
  out->byte_size = (uint64_t)json_integer_value(size);
  out->offset = off ? (uint64_t)json_integer_value(off) : 0;
  return NULL;
}

typedef struct blobs {
  const char *p;
  size_t left;
  bool have_header; /* Inference-Header-Content-Length given */
} blobs_t;

static inferd_status_t *parse_input(http_arena_t *a, json_t *j, size_t idx,
                                    blobs_t *bl, uint64_t max_input_size,
                                    http_input_t *in) {
  if (!json_is_object(j))
    return bad("inputs[%zu]: must be an object", idx);
  json_t *name = json_object_get(j, "name");
  if (!json_is_string(name))
    return bad("inputs[%zu]: missing string \"name\"", idx);
  in->name = json_string_value(name);
  in->name_len = json_string_length(name);
  json_t *dt = json_object_get(j, "datatype");
  if (!json_is_string(dt))
    return bad("input \"%.*s\": missing string \"datatype\"", (int)in->name_len,
               in->name);
  in->dt =
      inferd_datatype_from_name(json_string_value(dt), json_string_length(dt));
  if (in->dt == INFERD_TYPE_INVALID)
    return bad("input \"%.*s\": unknown datatype \"%.32s\"", (int)in->name_len,
               in->name, json_string_value(dt));
  json_t *shape = json_object_get(j, "shape");
  if (!shape)
    return bad("input \"%.*s\": missing \"shape\"", (int)in->name_len,
               in->name);
  inferd_status_t *st = parse_shape(a, in, shape);
  if (st)
    return st;

  json_t *params = json_object_get(j, "parameters");
  if (params && !json_is_object(params))
    return bad("input \"%.*s\": \"parameters\" must be an object",
               (int)in->name_len, in->name);
  json_t *bds = params ? json_object_get(params, "binary_data_size") : NULL;
  json_t *shm = params ? json_object_get(params, "shared_memory_region") : NULL;
  json_t *data = json_object_get(j, "data");
  int n_src = (data != NULL) + (bds != NULL) + (shm != NULL);
  if (n_src != 1)
    return bad("input \"%.*s\": must set exactly one of \"data\", "
               "parameters.binary_data_size or "
               "parameters.shared_memory_region",
               (int)in->name_len, in->name);
  if ((st = parse_shm("input", in->name, in->name_len, params, &in->shm)))
    return st;
  if (shm) /* the frontend points data into the region */
    return NULL;
  if (data)
    return convert_data(a, in, data, max_input_size);

  if (!json_is_integer(bds) || json_integer_value(bds) < 0)
    return bad("input \"%.*s\": parameters.binary_data_size must be a "
               "non-negative integer",
               (int)in->name_len, in->name);
  if (!bl->have_header)
    return bad("input \"%.*s\": binary_data_size is set but the request has "
               "no Inference-Header-Content-Length header",
               (int)in->name_len, in->name);
  uint64_t size = (uint64_t)json_integer_value(bds);
  if (size > bl->left)
    return bad("unexpected size for input \"%.*s\": binary_data_size is "
               "%" PRIu64 " bytes but only %zu bytes of binary data remain",
               (int)in->name_len, in->name, size, bl->left);
  if (size > max_input_size)
    return bad("input \"%.*s\": binary_data_size %" PRIu64 " is larger than "
               "the maximum input size of %" PRIu64 " bytes",
               (int)in->name_len, in->name, size, max_input_size);
  in->data = bl->p;
  in->byte_size = (size_t)size;
  bl->p += size;
  bl->left -= (size_t)size;
  return NULL;
}

static inferd_status_t *parse_output(json_t *j, size_t idx,
                                     http_output_t *out) {
  memset(out, 0, sizeof(*out)); /* the arena's memory is not zeroed */
  if (!json_is_object(j))
    return bad("outputs[%zu]: must be an object", idx);
  json_t *name = json_object_get(j, "name");
  if (!json_is_string(name))
    return bad("outputs[%zu]: missing string \"name\"", idx);
  out->name = json_string_value(name);
  out->name_len = json_string_length(name);
  out->binary = -1;
  json_t *params = json_object_get(j, "parameters");
  if (!params)
    return NULL;
  if (!json_is_object(params))
    return bad("output \"%s\": \"parameters\" must be an object", out->name);
  const char *key;
  json_t *v;
  bool classification = false;
  json_object_foreach(params, key, v) {
    if (strcmp(key, "binary_data") == 0) {
      if (!json_is_boolean(v))
        return bad("output \"%s\": parameters.binary_data must be a boolean",
                   out->name);
      out->binary = json_is_true(v);
    } else if (strcmp(key, "classification") == 0) {
      classification = true;
    }
    /* other output parameters are ignored, as Triton does */
  }
  inferd_status_t *st =
      parse_shm("output", out->name, out->name_len, params, &out->shm);
  if (st)
    return st;
  if (out->shm.region && classification)
    return bad("Output can't set both 'shared_memory_region' and "
               "'classification' (output \"%s\")",
               out->name);
  if (out->shm.region && out->binary == 1)
    return bad("Output can't set both 'shared_memory_region' and "
               "'binary_data' (output \"%s\")",
               out->name);
  if (classification)
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "output \"%s\": the classification extension "
                             "is not supported yet",
                             out->name);
  return NULL;
}

static inferd_status_t *want_uint(const char *key, json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return bad("parameter \"%s\" must be a non-negative integer", key);
  *out = (uint64_t)json_integer_value(v);
  return NULL;
}

static inferd_status_t *want_bool(const char *key, json_t *v, bool *out) {
  if (!json_is_boolean(v))
    return bad("parameter \"%s\" must be a boolean", key);
  *out = json_is_true(v);
  return NULL;
}

static inferd_status_t *parse_params(http_arena_t *a, json_t *params,
                                     http_infer_t *out) {
  if (!json_is_object(params))
    return bad("\"parameters\" must be an object");
  size_t n = json_object_size(params);
  out->params = http_arena_alloc(a, (n ? n : 1) * sizeof(http_param_t));
  if (!out->params)
    return oom();
  const char *key;
  json_t *v;
  inferd_status_t *st = NULL;
  json_object_foreach(params, key, v) {
    bool b = false;
    if (strcmp(key, "sequence_id") == 0) {
      if (json_is_string(v)) {
        out->seq_id_str = json_string_value(v);
        out->seq_id_str_len = json_string_length(v);
        out->has_seq_id = true;
      } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
        out->seq_id = (uint64_t)json_integer_value(v);
        out->has_seq_id = true;
      } else {
        return bad("parameter \"sequence_id\" must be a non-negative integer "
                   "or a string");
      }
    } else if (strcmp(key, "sequence_start") == 0) {
      if ((st = want_bool(key, v, &b)))
        return st;
      if (b)
        out->flags |= INFERD_REQUEST_FLAG_SEQUENCE_START;
    } else if (strcmp(key, "sequence_end") == 0) {
      if ((st = want_bool(key, v, &b)))
        return st;
      if (b)
        out->flags |= INFERD_REQUEST_FLAG_SEQUENCE_END;
    } else if (strcmp(key, "priority") == 0) {
      if ((st = want_uint(key, v, &out->priority)))
        return st;
      out->has_priority = true;
    } else if (strcmp(key, "timeout") == 0) {
      if ((st = want_uint(key, v, &out->timeout_us)))
        return st;
      out->has_timeout = true;
    } else if (strcmp(key, "binary_data_output") == 0) {
      if ((st = want_bool(key, v, &out->binary_data_output)))
        return st;
    } else if (strncmp(key, "triton_", 7) == 0 || strcmp(key, "headers") == 0) {
      return bad("parameter \"%s\" is reserved and cannot be set in a "
                 "request",
                 key);
    } else if (json_is_string(v) || json_is_integer(v) || json_is_real(v) ||
               json_is_boolean(v)) {
      http_param_t *p = &out->params[out->n_params++];
      p->key = key;
      p->key_len = strlen(key);
      p->value = v;
    } else {
      return bad("parameter \"%s\" must be a string, integer, number or "
                 "boolean",
                 key);
    }
  }
  return NULL;
}

/* Copy of the header with integer literals in (INT64_MAX, UINT64_MAX]
 * turned into strings; NULL when out of memory. */
static char *quote_big_ints(const char *s, size_t n, size_t *out_len) {
  char *o = malloc(n + n / 2 + 3);
  if (!o)
    return NULL;
  size_t k = 0;
  bool in_str = false;
  for (size_t i = 0; i < n;) {
    char c = s[i];
    if (in_str) {
      o[k++] = c;
      if (c == '\\' && i + 1 < n) {
        o[k++] = s[i + 1];
        i += 2;
        continue;
      }
      if (c == '"')
        in_str = false;
      i++;
      continue;
    }
    if (c == '"') {
      in_str = true;
      o[k++] = c;
      i++;
      continue;
    }
    if (c >= '0' && c <= '9' &&
        (i == 0 || !(s[i - 1] >= '0' && s[i - 1] <= '9'))) {
      size_t j = i;
      while (j < n && s[j] >= '0' && s[j] <= '9')
        j++;
      bool is_int = j - i >= 19 &&
                    (j == n || (s[j] != '.' && s[j] != 'e' && s[j] != 'E')) &&
                    (i == 0 || s[i - 1] != '-');
      if (is_int) {
        char tmp[32];
        size_t len = j - i;
        bool big = false;
        if (len < sizeof(tmp)) {
          memcpy(tmp, s + i, len);
          tmp[len] = '\0';
          errno = 0;
          unsigned long long v = strtoull(tmp, NULL, 10);
          big = errno == 0 && v > (unsigned long long)INT64_MAX;
        }
        if (big) {
          o[k++] = '"';
          memcpy(o + k, s + i, len);
          k += len;
          o[k++] = '"';
          i = j;
          continue;
        }
      }
      memcpy(o + k, s + i, j - i);
      k += j - i;
      i = j;
      continue;
    }
    o[k++] = c;
    i++;
  }
  *out_len = k;
  return o;
}

static inferd_status_t *load_json(const char *s, size_t n, json_t **out) {
  json_error_t err;
  json_t *root = json_loadb(s, n, JSON_ALLOW_NUL, &err);
  if (!root && json_error_code(&err) == json_error_numeric_overflow) {
    size_t n2;
    char *copy = quote_big_ints(s, n, &n2);
    if (!copy)
      return oom();
    root = json_loadb(copy, n2, JSON_ALLOW_NUL, &err);
    free(copy);
  }
  if (!root)
    return bad("failed to parse the request JSON: %s at line %d column %d",
               err.text, err.line, err.column);
  if (!json_is_object(root)) {
    json_decref(root);
    return bad("the request JSON must be an object");
  }
  *out = root;
  return NULL;
}

inferd_status_t *http_infer_parse(http_arena_t *a, const char *body,
                                  size_t body_len, size_t header_len,
                                  uint64_t max_input_size, http_infer_t *out) {
  memset(out, 0, sizeof(*out));
  blobs_t bl = {0};
  size_t json_len = body_len;
  if (header_len != SIZE_MAX) {
    json_len = header_len;
    bl.have_header = true;
    bl.p = body + header_len;
    bl.left = body_len - header_len;
  }
  json_t *root = NULL;
  inferd_status_t *st = load_json(body, json_len, &root);
  if (st)
    return st;
  out->root = root;

  json_t *id = json_object_get(root, "id");
  if (id) {
    if (!json_is_string(id)) {
      st = bad("\"id\" must be a string");
      goto fail;
    }
    out->id = json_string_value(id);
    out->id_len = json_string_length(id);
  }
  json_t *params = json_object_get(root, "parameters");
  if (params && (st = parse_params(a, params, out)))
    goto fail;

  json_t *inputs = json_object_get(root, "inputs");
  if (!json_is_array(inputs)) {
    st = bad("the request must have an \"inputs\" array");
    goto fail;
  }
  out->n_inputs = json_array_size(inputs);
  out->inputs = http_arena_alloc(a, (out->n_inputs ? out->n_inputs : 1) *
                                        sizeof(http_input_t));
  if (!out->inputs) {
    st = oom();
    goto fail;
  }
  memset(out->inputs, 0, out->n_inputs * sizeof(http_input_t));
  for (size_t i = 0; i < out->n_inputs; i++) {
    st = parse_input(a, json_array_get(inputs, i), i, &bl, max_input_size,
                     &out->inputs[i]);
    if (st)
      goto fail;
  }
  if (bl.left) {
    st = bad("unexpected additional input data: %zu bytes after the last "
             "binary input",
             bl.left);
    goto fail;
  }

  json_t *outputs = json_object_get(root, "outputs");
  if (outputs) {
    if (!json_is_array(outputs)) {
      st = bad("\"outputs\" must be an array");
      goto fail;
    }
    out->has_outputs = true;
    out->n_outputs = json_array_size(outputs);
    out->outputs = http_arena_alloc(a, (out->n_outputs ? out->n_outputs : 1) *
                                           sizeof(http_output_t));
    if (!out->outputs) {
      st = oom();
      goto fail;
    }
    for (size_t i = 0; i < out->n_outputs; i++) {
      st = parse_output(json_array_get(outputs, i), i, &out->outputs[i]);
      if (st)
        goto fail;
    }
  }
  return NULL;
fail:
  http_infer_deinit(out);
  return st;
}

inferd_status_t *http_infer_parse_raw(http_arena_t *a, const char *body,
                                      size_t body_len, const char *name,
                                      inferd_datatype_t dt, const int64_t *dims,
                                      size_t n_dims, int32_t max_batch_size,
                                      http_infer_t *out) {
  memset(out, 0, sizeof(*out));
  out->raw = true;
  out->binary_data_output = true;
  http_input_t *in = http_arena_alloc(a, sizeof(*in));
  size_t nd = n_dims + (max_batch_size > 0 ? 1 : 0);
  int64_t *shape = http_arena_alloc(a, (nd ? nd : 1) * sizeof(int64_t));
  if (!in || !shape)
    return oom();
  memset(in, 0, sizeof(*in));
  in->name = name;
  in->name_len = strlen(name);
  in->dt = dt;
  in->shape = shape;
  in->n_dims = nd;
  in->data = body;
  in->byte_size = body_len;
  size_t k = 0;
  if (max_batch_size > 0)
    shape[k++] = 1;
  if (dt == INFERD_TYPE_BYTES) {
    /* BYTES: one element */
    if (!(n_dims == 1 && (dims[0] == 1 || dims[0] == -1)))
      return bad("raw binary request: BYTES input \"%s\" must have shape [1]",
                 name);
    shape[k++] = 1;
  } else {
    size_t esz = inferd_datatype_size(dt);
    size_t fixed = 1;
    int var = -1;
    for (size_t i = 0; i < n_dims; i++) {
      if (dims[i] < 0) {
        if (var >= 0)
          return bad("raw binary request: input \"%s\" has more than one "
                     "variable dimension, the shape cannot be inferred",
                     name);
        var = (int)i;
      } else {
        fixed *= (size_t)dims[i];
      }
    }
    size_t unit = fixed * esz;
    if (var >= 0) {
      if (unit == 0 || body_len % unit != 0)
        return bad("raw binary request: %zu bytes is not a whole number of "
                   "elements of input \"%s\"",
                   body_len, name);
    } else if (body_len != unit) {
      return bad("unexpected size for input \"%s\": raw binary body is %zu "
                 "bytes, expected %zu",
                 name, body_len, unit);
    }
    for (size_t i = 0; i < n_dims; i++)
      shape[k++] = dims[i] < 0 ? (int64_t)(body_len / unit) : dims[i];
  }
  out->inputs = in;
  out->n_inputs = 1;
  return NULL;
}

void http_infer_deinit(http_infer_t *inf) {
  if (inf->root)
    json_decref(inf->root);
  inf->root = NULL;
}

bool http_output_is_binary(const http_infer_t *inf, const char *name) {
  if (inf->raw)
    return true;
  for (size_t i = 0; i < inf->n_outputs; i++) {
    const http_output_t *o = &inf->outputs[i];
    if (strlen(name) == o->name_len &&
        memcmp(name, o->name, o->name_len) == 0) {
      if (o->shm.region)
        return false; /* the data is in the client's region */
      if (o->binary >= 0)
        return o->binary == 1;
    }
  }
  return inf->binary_data_output;
}

bool http_output_is_shm(const http_infer_t *inf, const char *name) {
  for (size_t i = 0; i < inf->n_outputs; i++) {
    const http_output_t *o = &inf->outputs[i];
    if (o->shm.region && strlen(name) == o->name_len &&
        memcmp(name, o->name, o->name_len) == 0)
      return true;
  }
  return false;
}
