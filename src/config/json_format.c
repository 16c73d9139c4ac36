/*
 * json_format.c: the protobuf-JSON form of any message, as Triton's config
 * endpoint prints it (reference §1.10/§3.5) and as load overrides send it.
 *
 * Printer: snake_case names, fields in field-number order, every scalar and
 * repeated field printed (defaults included), singular messages only when
 * present, oneofs only the set member, enums by name, 64-bit integers as
 * JSON numbers, maps as objects with string keys.
 * Reader (jansson): unknown fields are errors naming the path, enum names
 * are case-insensitive, 64-bit integers accepted as numbers or strings.
 * The reader builds with malloc, so free_unpacked(msg, NULL) frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

/* ---- printer ------------------------------------------------------------ */

typedef struct jbuf {
  char *v;
  size_t n, cap;
  bool oom;
} jbuf_t;

static void put(jbuf_t *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n + 1)
      nc *= 2;
    char *nv = realloc(b->v, nc);
    if (!nv) {
      b->oom = true;
      return;
    }
    b->v = nv;
    b->cap = nc;
  }
  memcpy(b->v + b->n, s, n);
  b->n += n;
  b->v[b->n] = '\0';
}

static void puts_(jbuf_t *b, const char *s) { put(b, s, strlen(s)); }

static void putf(jbuf_t *b, const char *fmt, ...) INFERD_PRINTF(2, 3);
static void putf(jbuf_t *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n > 0)
    put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_json_string(jbuf_t *b, const char *s, size_t n) {
  put(b, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(b, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"':
      puts_(b, "\\\"");
      break;
    case '\\':
      puts_(b, "\\\\");
      break;
    case '\n':
      puts_(b, "\\n");
      break;
    case '\t':
      puts_(b, "\\t");
      break;
    case '\r':
      puts_(b, "\\r");
      break;
    case '\b':
      puts_(b, "\\b");
      break;
    case '\f':
      puts_(b, "\\f");
      break;
    default:
      putf(b, "\\u%04x", c);
      break;
    }
  }
  put(b, s + run, n - run);
  put(b, "\"", 1);
}

/* Shortest text that reads back as the same value. */
static void put_real(jbuf_t *b, double d, bool is_float) {
  if (isnan(d)) {
    puts_(b, "\"NaN\"");
    return;
  }
  if (isinf(d)) {
    puts_(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char tmp[40];
  int maxp = is_float ? 9 : 17;
  for (int p = 1; p <= maxp; p++) {
    snprintf(tmp, sizeof(tmp), "%.*g", p, d);
    double back = strtod(tmp, NULL);
    if (is_float ? (float)back == (float)d : back == d)
      break;
  }
  puts_(b, tmp);
}

static void print_message(jbuf_t *b, const ProtobufCMessage *m);

static void print_scalar(jbuf_t *b, const ProtobufCFieldDescriptor *f,
                         const void *p) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    putf(b, "%" PRId32, *(const int32_t *)p);
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    putf(b, "%" PRIu32, *(const uint32_t *)p);
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    putf(b, "%" PRId64, *(const int64_t *)p);
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    putf(b, "%" PRIu64, *(const uint64_t *)p);
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    put_real(b, *(const float *)p, true);
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    put_real(b, *(const double *)p, false);
    break;
  case PROTOBUF_C_TYPE_BOOL:
    puts_(b, *(const protobuf_c_boolean *)p ? "true" : "false");
    break;
  case PROTOBUF_C_TYPE_ENUM: {
    int32_t v = *(const int32_t *)p;
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(f->descriptor, v);
    if (ev)
      put_json_string(b, ev->name, strlen(ev->name));
    else
      putf(b, "%" PRId32, v);
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    if (!s)
      s = "";
    put_json_string(b, s, strlen(s));
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    /* protobuf-JSON uses base64 for bytes */
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const ProtobufCBinaryData *bd = p;
    put(b, "\"", 1);
    for (size_t i = 0; i < bd->len; i += 3) {
      uint32_t v = (uint32_t)bd->data[i] << 16;
      if (i + 1 < bd->len)
        v |= (uint32_t)bd->data[i + 1] << 8;
      if (i + 2 < bd->len)
        v |= bd->data[i + 2];
      char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63],
                   i + 1 < bd->len ? tbl[(v >> 6) & 63] : '=',
                   i + 2 < bd->len ? tbl[v & 63] : '='};
      put(b, q, 4);
    }
    put(b, "\"", 1);
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sm = *(const ProtobufCMessage *const *)p;
    if (sm)
      print_message(b, sm);
    else
      puts_(b, "{}");
    break;
  }
  }
}

static void print_map_key(jbuf_t *b, const ProtobufCFieldDescriptor *kf,
                          const ProtobufCMessage *entry) {
  const void *kp = (const char *)entry + kf->offset;
  if (kf->type == PROTOBUF_C_TYPE_STRING) {
    print_scalar(b, kf, kp);
    return;
  }
  jbuf_t tmp = {0};
  print_scalar(&tmp, kf, kp);
  if (tmp.oom)
    b->oom = true;
  else
    put_json_string(b, tmp.v ? tmp.v : "", tmp.n);
  free(tmp.v);
}

static void print_message(jbuf_t *b, const ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  bool first = true;
  put(b, "{", 1);
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m;
    const void *p = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
        continue;
    } else if (f->label != PROTOBUF_C_LABEL_REPEATED &&
               f->type == PROTOBUF_C_TYPE_MESSAGE) {
      if (!*(const ProtobufCMessage *const *)p)
        continue;
    }
    if (!first)
      put(b, ",", 1);
    first = false;
    put_json_string(b, f->name, strlen(f->name));
    put(b, ":", 1);
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
      print_scalar(b, f, p);
      continue;
    }
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(const char *const *)p;
    size_t sz = cfg_scalar_size(f->type);
    if (cfg_field_is_map(f)) {
      const ProtobufCMessageDescriptor *ed = f->descriptor;
      put(b, "{", 1);
      for (size_t j = 0; j < n; j++) {
        const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[j];
        if (j)
          put(b, ",", 1);
        print_map_key(b, &ed->fields[0], e);
        put(b, ":", 1);
        print_scalar(b, &ed->fields[1], (const char *)e + ed->fields[1].offset);
      }
      put(b, "}", 1);
      continue;
    }
    put(b, "[", 1);
    for (size_t j = 0; j < n; j++) {
      if (j)
        put(b, ",", 1);
      print_scalar(b, f, arr + j * sz);
    }
    put(b, "]", 1);
  }
  put(b, "}", 1);
}

inferd_status_t *cfg_json_print(const ProtobufCMessage *msg, char **out,
                                size_t *len) {
  *out = NULL;
  if (len)
    *len = 0;
  jbuf_t b = {0};
  print_message(&b, msg);
  if (b.oom) {
    free(b.v);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  *out = b.v;
  if (len)
    *len = b.n;
  return NULL;
}

/* ---- reader ---------------------------------------------------------------
 */

typedef struct jpath {
  char v[512];
  size_t n;
} jpath_t;

static size_t path_push(jpath_t *p, const char *fmt, ...) INFERD_PRINTF(2, 3);
static size_t path_push(jpath_t *p, const char *fmt, ...) {
  size_t old = p->n;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->v + p->n, sizeof(p->v) - p->n, fmt, ap);
  va_end(ap);
  if (n > 0)
    p->n =
        p->n + (size_t)n < sizeof(p->v) ? p->n + (size_t)n : sizeof(p->v) - 1;
  return old;
}
static void path_pop(jpath_t *p, size_t old) {
  p->n = old;
  p->v[old] = '\0';
}

static inferd_status_t *jerr(const jpath_t *p, const char *fmt, ...)
    INFERD_PRINTF(2, 3);
static inferd_status_t *jerr(const jpath_t *p, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return inferd_status_new(INFERD_INVALID_ARG, "config JSON: field \"%s\": %s",
                           p->v, msg);
}

static const char *jtype(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

static inferd_status_t *read_message(const json_t *obj, ProtobufCMessage *m,
                                     jpath_t *path, int depth);

/* Integer from a JSON integer, an integral real, or a decimal string. */
static bool json_int(const json_t *v, bool is_unsigned, int64_t *s,
                     uint64_t *u) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (is_unsigned && x < 0)
      return false;
    *s = x;
    *u = (uint64_t)x;
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d != floor(d) || fabs(d) > 9.007199254740992e15 ||
        (is_unsigned && d < 0))
      return false;
    *s = (int64_t)d;
    *u = (uint64_t)(int64_t)d;
    return true;
  }
  if (json_is_string(v)) {
    const char *str = json_string_value(v);
    if (!*str || json_string_length(v) != strlen(str))
      return false;
    char *end = NULL;
    errno = 0;
    if (is_unsigned) {
      if (str[0] == '-')
        return false;
      *u = strtoull(str, &end, 10);
      *s = (int64_t)*u;
    } else {
      *s = strtoll(str, &end, 10);
      *u = (uint64_t)*s;
    }
    return errno == 0 && *end == '\0';
  }
  return false;
}

static inferd_status_t *read_scalar(const json_t *v,
                                    const ProtobufCFieldDescriptor *f,
                                    void *dst, jpath_t *path, int depth) {
  int64_t s = 0;
  uint64_t u = 0;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32: {
    if (!json_int(v, false, &s, &u) || s < INT32_MIN || s > INT32_MAX)
      return jerr(path, "expected a 32-bit integer, got %s", jtype(v));
    int32_t x = (int32_t)s;
    memcpy(dst, &x, 4);
    return NULL;
  }
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: {
    if (!json_int(v, true, &s, &u) || u > UINT32_MAX)
      return jerr(path, "expected a 32-bit unsigned integer, got %s", jtype(v));
    uint32_t x = (uint32_t)u;
    memcpy(dst, &x, 4);
    return NULL;
  }
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (!json_int(v, false, &s, &u))
      return jerr(path, "expected a 64-bit integer, got %s", jtype(v));
    memcpy(dst, &s, 8);
    return NULL;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if (!json_int(v, true, &s, &u))
      return jerr(path, "expected a 64-bit unsigned integer, got %s", jtype(v));
    memcpy(dst, &u, 8);
    return NULL;
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE: {
    double d;
    if (json_is_number(v)) {
      d = json_number_value(v);
    } else if (json_is_string(v)) {
      const char *str = json_string_value(v);
      if (strcmp(str, "NaN") == 0)
        d = NAN;
      else if (strcmp(str, "Infinity") == 0)
        d = INFINITY;
      else if (strcmp(str, "-Infinity") == 0)
        d = -INFINITY;
      else {
        char *end = NULL;
        d = strtod(str, &end);
        if (!*str || *end)
          return jerr(path, "expected a number, got string \"%.40s\"", str);
      }
    } else {
      return jerr(path, "expected a number, got %s", jtype(v));
    }
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
      float x = (float)d;
      memcpy(dst, &x, 4);
    } else {
      memcpy(dst, &d, 8);
    }
    return NULL;
  }
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return jerr(path, "expected a boolean, got %s", jtype(v));
    *(protobuf_c_boolean *)dst = json_is_true(v);
    return NULL;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    int32_t x;
    if (json_is_string(v)) {
      const char *str = json_string_value(v);
      const ProtobufCEnumValue *ev = NULL;
      for (unsigned i = 0; i < ed->n_values; i++)
        if (strcasecmp(ed->values[i].name, str) == 0) {
          ev = &ed->values[i];
          break;
        }
      if (!ev)
        return jerr(path, "unknown value \"%.60s\" for enum \"%s\"", str,
                    ed->name);
      x = ev->value;
    } else if (json_int(v, false, &s, &u) && s >= INT32_MIN && s <= INT32_MAX) {
      x = (int32_t)s;
    } else {
      return jerr(path, "expected an enum name, got %s", jtype(v));
    }
    memcpy(dst, &x, 4);
    return NULL;
  }
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v))
      return jerr(path, "expected a string, got %s", jtype(v));
    if (json_string_length(v) != strlen(json_string_value(v)))
      return jerr(path, "string contains a NUL character");
    char *c = strdup(json_string_value(v));
    if (!c)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    memcpy(dst, &c, sizeof(c));
    return NULL;
  }
  case PROTOBUF_C_TYPE_BYTES:
    return jerr(path, "bytes fields are not supported in config JSON");
  case PROTOBUF_C_TYPE_MESSAGE: {
    if (!json_is_object(v))
      return jerr(path, "expected an object, got %s", jtype(v));
    if (depth > 64)
      return jerr(path, "objects nested too deeply");
    ProtobufCMessage *sm = cfg_message_new(f->descriptor);
    if (!sm)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    memcpy(dst, &sm, sizeof(sm));
    return read_message(v, sm, path, depth + 1);
  }
  }
  return jerr(path, "unsupported field type");
}

/* snake_case name vs a JSON key in snake or lowerCamel case */
static bool name_matches(const char *field, const char *key) {
  char camel[128];
  size_t j = 0;
  for (const char *f = field; *f && j + 1 < sizeof(camel); f++) {
    if (*f == '_' && f[1] >= 'a' && f[1] <= 'z') {
      camel[j++] = (char)(f[1] - 'a' + 'A');
      f++;
    } else {
      camel[j++] = *f;
    }
  }
  camel[j] = '\0';
  return strcmp(camel, key) == 0;
}

static const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *d, const char *key) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(d, key);
  if (f)
    return f;
  for (unsigned i = 0; i < d->n_fields; i++)
    if (name_matches(d->fields[i].name, key))
      return &d->fields[i];
  return NULL;
}

static inferd_status_t *read_map(const json_t *v, ProtobufCMessage *m,
                                 const ProtobufCFieldDescriptor *f,
                                 jpath_t *path, int depth) {
  if (!json_is_object(v))
    return jerr(path, "expected an object (map), got %s", jtype(v));
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    ProtobufCMessage *e = cfg_message_new(ed);
    if (!e)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    ProtobufCMessage **slot = cfg_repeated_append(m, f);
    if (!slot) {
      free(e);
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    }
    *slot = e;
    size_t old = path_push(path, "[\"%s\"]", key);
    json_t *kj = json_string(key);
    if (!kj)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    inferd_status_t *st =
        read_scalar(kj, kf, (char *)e + kf->offset, path, depth);
    json_decref(kj);
    if (!st && json_is_null(val))
      st = jerr(path, "map value must not be null");
    if (!st)
      st = read_scalar(val, vf, (char *)e + vf->offset, path, depth);
    if (st)
      return st;
    path_pop(path, old);
  }
  return NULL;
}

static inferd_status_t *read_message(const json_t *obj, ProtobufCMessage *m,
                                     jpath_t *path, int depth) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    const ProtobufCFieldDescriptor *f = find_field(d, key);
    size_t old = path_push(path, "%s%s", path->n ? "." : "", key);
    if (!f)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "config JSON: unknown field \"%s\" in message "
                               "\"%s\"",
                               path->v, d->name);
    if (json_is_null(v)) { /* null means default */
      path_pop(path, old);
      continue;
    }
    char *base = (char *)m;
    void *dst = base + f->offset;
    inferd_status_t *st = NULL;
    if (cfg_field_is_map(f)) {
      st = read_map(v, m, f, path, depth);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      if (!json_is_array(v))
        return jerr(path, "expected an array, got %s", jtype(v));
      size_t i;
      json_t *el;
      json_array_foreach(v, i, el) {
        size_t o2 = path_push(path, "[%zu]", i);
        void *slot = cfg_repeated_append(m, f);
        if (!slot)
          return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
        if ((st = read_scalar(el, f, slot, path, depth)) != NULL)
          return st;
        path_pop(path, o2);
      }
    } else {
      if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
        if (*cs != 0 && *cs != f->id) {
          const ProtobufCFieldDescriptor *o =
              protobuf_c_message_descriptor_get_field(d, *cs);
          return jerr(path, "\"%s\" of the same oneof is already set",
                      o ? o->name : "?");
        }
        memset(dst, 0, cfg_scalar_size(f->type));
        *cs = f->id;
      } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        *(char **)dst = NULL;
      } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
                 f->type != PROTOBUF_C_TYPE_MESSAGE) {
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
      }
      st = read_scalar(v, f, dst, path, depth);
      if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)dst == NULL &&
          !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        *(char **)dst = (char *)f->default_value;
    }
    if (st)
      return st;
    path_pop(path, old);
  }
  return NULL;
}

inferd_status_t *cfg_json_parse(const ProtobufCMessageDescriptor *desc,
                                const char *json, size_t len,
                                ProtobufCMessage **out) {
  *out = NULL;
  json_error_t je;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return inferd_status_new(INFERD_INVALID_ARG, "config JSON:%d:%d: %s",
                             je.line, je.column, je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return inferd_status_new(INFERD_INVALID_ARG,
                             "config JSON: expected an object at the top "
                             "level");
  }
  ProtobufCMessage *m = cfg_message_new(desc);
  if (!m) {
    json_decref(root);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  jpath_t path = {{0}, 0};
  inferd_status_t *st = read_message(root, m, &path, 0);
  json_decref(root);
  if (st) {
    protobuf_c_message_free_unpacked(m, NULL);
    return st;
  }
  *out = m;
  return NULL;
}
