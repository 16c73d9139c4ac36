/*
 * text_format.c: protobuf text-format reader (config.pbtxt) driven by the
 * protobuf-c message descriptors, so it works for any message.
 *
 * Invariants: the message tree is consistent after every step (a value is
 * attached to its parent as soon as it is allocated), so on any error the
 * caller frees the whole partial tree with protobuf_c_message_free_unpacked
 * and nothing leaks. Every error names file:line:column and the field.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

#define MAX_DEPTH 64

typedef enum { T_EOF, T_IDENT, T_NUM, T_STR, T_PUNCT } tok_kind_t;

typedef struct tok {
  tok_kind_t kind;
  const char *s; /* token text (strings include their quotes) */
  size_t len;
  int line, col;
} tok_t;

typedef struct parser {
  const char *p, *end;
  int line, col;
  const char *file;
  tok_t tok; /* lookahead */
  cfg_pos_table_t *pos;
  inferd_status_t *err;
  int depth;
} parser_t;

static int fail_at(parser_t *ps, int line, int col, const char *fmt, ...)
    INFERD_PRINTF(4, 5);

static int fail_at(parser_t *ps, int line, int col, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (!ps->err)
    ps->err = inferd_status_new(INFERD_INVALID_ARG, "%s:%d:%d: %s", ps->file,
                                line, col, msg);
  return -1;
}

/* A printable, bounded rendering of a token for messages. */
static void tok_text(const tok_t *t, char *buf, size_t cap) {
  if (t->kind == T_EOF) {
    snprintf(buf, cap, "end of input");
    return;
  }
  size_t n = t->len < 40 ? t->len : 40;
  size_t j = 0;
  buf[j++] = '"';
  for (size_t i = 0; i < n && j + 6 < cap; i++) {
    unsigned char c = (unsigned char)t->s[i];
    if (c == '"' || c == '\\') {
      buf[j++] = '\\';
      buf[j++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", c);
    } else {
      buf[j++] = (char)c;
    }
  }
  if (n < t->len && j + 4 < cap) {
    memcpy(buf + j, "...", 3);
    j += 3;
  }
  buf[j++] = '"';
  buf[j] = '\0';
}

/* ---- lexer ----------------------------------------------------------------
 */

static void adv(parser_t *ps) {
  if (*ps->p == '\n') {
    ps->line++;
    ps->col = 1;
  } else {
    ps->col++;
  }
  ps->p++;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_'; }
static bool is_ident_char(int c) { return isalnum(c) || c == '_'; }

static int next(parser_t *ps) {
  for (;;) {
    while (ps->p < ps->end && isspace((unsigned char)*ps->p))
      adv(ps);
    if (ps->p < ps->end && *ps->p == '#') {
      while (ps->p < ps->end && *ps->p != '\n')
        adv(ps);
      continue;
    }
    break;
  }
  tok_t *t = &ps->tok;
  t->s = ps->p;
  t->line = ps->line;
  t->col = ps->col;
  t->len = 0;
  if (ps->p >= ps->end) {
    t->kind = T_EOF;
    return 0;
  }
  unsigned char c = (unsigned char)*ps->p;
  if (is_ident_start(c)) {
    t->kind = T_IDENT;
    while (ps->p < ps->end && is_ident_char((unsigned char)*ps->p))
      adv(ps);
  } else if (isdigit(c) || (c == '.' && ps->p + 1 < ps->end &&
                            isdigit((unsigned char)ps->p[1]))) {
    t->kind = T_NUM;
    bool hex =
        c == '0' && ps->p + 1 < ps->end && (ps->p[1] == 'x' || ps->p[1] == 'X');
    while (ps->p < ps->end) {
      unsigned char d = (unsigned char)*ps->p;
      if (is_ident_char(d) || d == '.') {
        adv(ps);
      } else if ((d == '+' || d == '-') && !hex &&
                 (ps->p[-1] == 'e' || ps->p[-1] == 'E')) {
        adv(ps);
      } else {
        break;
      }
    }
  } else if (c == '"' || c == '\'') {
    t->kind = T_STR;
    adv(ps);
    for (;;) {
      if (ps->p >= ps->end || *ps->p == '\n')
        return fail_at(ps, t->line, t->col, "unterminated string");
      if (*ps->p == '\\') {
        adv(ps);
        if (ps->p >= ps->end)
          return fail_at(ps, t->line, t->col, "unterminated string");
        if (*ps->p == '\n')
          return fail_at(ps, t->line, t->col, "unterminated string");
        adv(ps);
        continue;
      }
      if ((unsigned char)*ps->p == c) {
        adv(ps);
        break;
      }
      adv(ps);
    }
  } else if (strchr("{}<>[]:,;-", c)) {
    t->kind = T_PUNCT;
    adv(ps);
  } else {
    t->len = 1;
    char buf[64];
    tok_text(t, buf, sizeof(buf));
    return fail_at(ps, t->line, t->col, "unexpected character %s", buf);
  }
  t->len = (size_t)(ps->p - t->s);
  return 0;
}

static bool is_punct(const parser_t *ps, char c) {
  return ps->tok.kind == T_PUNCT && ps->tok.s[0] == c;
}

/* ---- values ------------------------------------------------------------ */

static const char *type_word(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE:
    return "a number";
  case PROTOBUF_C_TYPE_BOOL:
    return "a boolean";
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_BYTES:
    return "a string";
  case PROTOBUF_C_TYPE_ENUM:
    return "an enum value";
  case PROTOBUF_C_TYPE_MESSAGE:
    return "a message";
  default:
    return "an integer";
  }
}

static int expected(parser_t *ps, const ProtobufCFieldDescriptor *f,
                    const tok_t *at, const tok_t *got) {
  char buf[64];
  tok_text(got, buf, sizeof(buf));
  return fail_at(ps, at->line, at->col, "field \"%s\": expected %s, got %s",
                 f->name, type_word(f->type), buf);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

typedef struct sbuf {
  char *v;
  size_t n, cap;
} sbuf_t;

static bool sbuf_put(sbuf_t *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 32;
    while (nc < b->n + n + 1)
      nc *= 2;
    char *nv = realloc(b->v, nc);
    if (!nv)
      return false;
    b->v = nv;
    b->cap = nc;
  }
  memcpy(b->v + b->n, s, n);
  b->n += n;
  b->v[b->n] = '\0';
  return true;
}

static bool put_utf8(sbuf_t *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (char)(0xf0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return sbuf_put(b, u, n);
}

/* Decodes the string token t (C escapes) onto b. */
static int decode_string(parser_t *ps, const ProtobufCFieldDescriptor *f,
                         const tok_t *t, sbuf_t *b) {
  const char *s = t->s + 1, *e = t->s + t->len - 1;
  int col = t->col + 1;
  while (s < e) {
    const char *run = s;
    while (s < e && *s != '\\')
      s++;
    if (s > run && !sbuf_put(b, run, (size_t)(s - run)))
      goto oom;
    col += (int)(s - run);
    if (s >= e)
      break;
    int ecol = col;
    s++; /* backslash */
    char c = *s++;
    col += 2;
    char out;
    switch (c) {
    case 'n':
      out = '\n';
      break;
    case 't':
      out = '\t';
      break;
    case 'r':
      out = '\r';
      break;
    case 'a':
      out = '\a';
      break;
    case 'b':
      out = '\b';
      break;
    case 'f':
      out = '\f';
      break;
    case 'v':
      out = '\v';
      break;
    case '\\':
      out = '\\';
      break;
    case '\'':
      out = '\'';
      break;
    case '"':
      out = '"';
      break;
    case '?':
      out = '?';
      break;
    case 'x':
    case 'X': {
      int v = 0, nd = 0;
      while (nd < 2 && s < e && hexval((unsigned char)*s) >= 0) {
        v = v * 16 + hexval((unsigned char)*s++);
        nd++;
        col++;
      }
      if (nd == 0)
        return fail_at(ps, t->line, ecol,
                       "field \"%s\": \\x escape without hex digits", f->name);
      out = (char)v;
      break;
    }
    case 'u':
    case 'U': {
      int want = c == 'u' ? 4 : 8;
      uint32_t cp = 0;
      for (int i = 0; i < want; i++) {
        if (s >= e || hexval((unsigned char)*s) < 0)
          return fail_at(ps, t->line, ecol,
                         "field \"%s\": \\%c escape needs %d hex digits",
                         f->name, c, want);
        cp = cp * 16 + (uint32_t)hexval((unsigned char)*s++);
        col++;
      }
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail_at(ps, t->line, ecol,
                       "field \"%s\": invalid unicode code point in escape",
                       f->name);
      if (cp == 0 && f->type == PROTOBUF_C_TYPE_STRING)
        return fail_at(ps, t->line, ecol,
                       "field \"%s\": string contains a NUL character",
                       f->name);
      if (!put_utf8(b, cp))
        goto oom;
      continue;
    }
    default:
      if (c >= '0' && c <= '7') {
        int v = c - '0', nd = 1;
        while (nd < 3 && s < e && *s >= '0' && *s <= '7') {
          v = v * 8 + (*s++ - '0');
          nd++;
          col++;
        }
        if (v > 255)
          return fail_at(ps, t->line, ecol,
                         "field \"%s\": octal escape out of range", f->name);
        out = (char)v;
        break;
      }
      return fail_at(ps, t->line, ecol,
                     "field \"%s\": unknown escape sequence \"\\%c\"", f->name,
                     isprint((unsigned char)c) ? c : '?');
    }
    if (out == '\0' && f->type == PROTOBUF_C_TYPE_STRING)
      return fail_at(ps, t->line, ecol,
                     "field \"%s\": string contains a NUL character", f->name);
    if (!sbuf_put(b, &out, 1))
      goto oom;
  }
  return 0;
oom:
  if (!ps->err)
    ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  return -1;
}

static bool tok_ieq(const tok_t *t, const char *w) {
  size_t n = strlen(w);
  return t->len == n && strncasecmp(t->s, w, n) == 0;
}

/* Reads an optional '-' and a number/identifier token; *neg set. The
 * lookahead is left on the value token. */
static int read_sign(parser_t *ps, bool *neg) {
  *neg = false;
  if (is_punct(ps, '-')) {
    *neg = true;
    if (next(ps))
      return -1;
  }
  return 0;
}

/* Integer literal (decimal, 0x hex, 0 octal) into magnitude. */
static bool parse_magnitude(const tok_t *t, uint64_t *out) {
  char buf[80];
  if (t->kind != T_NUM || t->len >= sizeof(buf))
    return false;
  memcpy(buf, t->s, t->len);
  buf[t->len] = '\0';
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(buf, &end, 0);
  if (errno || end != buf + t->len)
    return false;
  *out = v;
  return true;
}

static int parse_integer(parser_t *ps, const ProtobufCFieldDescriptor *f,
                         void *dst) {
  tok_t start = ps->tok;
  bool neg;
  if (read_sign(ps, &neg))
    return -1;
  tok_t vt = ps->tok;
  uint64_t mag;
  if (!parse_magnitude(&vt, &mag)) {
    if (vt.kind == T_NUM && neg) {
      /* show the sign with the offending text */
      tok_t both = start;
      both.len = (size_t)(vt.s + vt.len - start.s);
      return expected(ps, f, &start, &both);
    }
    return expected(ps, f, &start, &vt);
  }
  char shown[100];
  snprintf(shown, sizeof(shown), "%s%.*s", neg ? "-" : "", (int)vt.len, vt.s);
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_ENUM: {
    if ((!neg && mag > INT32_MAX) || (neg && mag > (uint64_t)INT32_MAX + 1))
      return fail_at(ps, start.line, start.col,
                     "field \"%s\": value %s out of range for a 32-bit "
                     "signed integer",
                     f->name, shown);
    int32_t v = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    memcpy(dst, &v, 4);
    break;
  }
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: {
    if (neg && mag != 0)
      return fail_at(ps, start.line, start.col,
                     "field \"%s\": expected an unsigned integer, got %s",
                     f->name, shown);
    if (mag > UINT32_MAX)
      return fail_at(ps, start.line, start.col,
                     "field \"%s\": value %s out of range for a 32-bit "
                     "unsigned integer",
                     f->name, shown);
    uint32_t v = (uint32_t)mag;
    memcpy(dst, &v, 4);
    break;
  }
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64: {
    if ((!neg && mag > INT64_MAX) || (neg && mag > (uint64_t)INT64_MAX + 1))
      return fail_at(ps, start.line, start.col,
                     "field \"%s\": value %s out of range for a 64-bit "
                     "signed integer",
                     f->name, shown);
    int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    memcpy(dst, &v, 8);
    break;
  }
  default: { /* UINT64, FIXED64 */
    if (neg && mag != 0)
      return fail_at(ps, start.line, start.col,
                     "field \"%s\": expected an unsigned integer, got %s",
                     f->name, shown);
    memcpy(dst, &mag, 8);
    break;
  }
  }
  return next(ps);
}

static int parse_floating(parser_t *ps, const ProtobufCFieldDescriptor *f,
                          void *dst) {
  tok_t start = ps->tok;
  bool neg;
  if (read_sign(ps, &neg))
    return -1;
  tok_t vt = ps->tok;
  double d;
  if (vt.kind == T_IDENT && (tok_ieq(&vt, "inf") || tok_ieq(&vt, "infinity"))) {
    d = INFINITY;
  } else if (vt.kind == T_IDENT && tok_ieq(&vt, "nan")) {
    d = NAN;
  } else if (vt.kind == T_NUM) {
    char buf[80];
    size_t n = vt.len;
    if (n >= sizeof(buf))
      return expected(ps, f, &start, &vt);
    memcpy(buf, vt.s, n);
    buf[n] = '\0';
    bool hex = n > 1 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
    if (hex) {
      uint64_t mag;
      if (!parse_magnitude(&vt, &mag))
        return expected(ps, f, &start, &vt);
      d = (double)mag;
    } else {
      if (n > 1 && (buf[n - 1] == 'f' || buf[n - 1] == 'F'))
        buf[--n] = '\0';
      errno = 0;
      char *end = NULL;
      d = strtod(buf, &end);
      if (end != buf + n || n == 0 ||
          !(isdigit((unsigned char)buf[0]) || buf[0] == '.'))
        return expected(ps, f, &start, &vt);
    }
  } else {
    return expected(ps, f, &start, &vt);
  }
  if (neg)
    d = -d;
  if (f->type == PROTOBUF_C_TYPE_FLOAT) {
    float v = (float)d;
    memcpy(dst, &v, 4);
  } else {
    memcpy(dst, &d, 8);
  }
  return next(ps);
}

static int parse_bool(parser_t *ps, const ProtobufCFieldDescriptor *f,
                      protobuf_c_boolean *dst) {
  tok_t t = ps->tok;
  if (t.kind == T_IDENT && t.len == 4 &&
      (memcmp(t.s, "true", 4) == 0 || memcmp(t.s, "True", 4) == 0)) {
    *dst = 1;
  } else if (t.kind == T_IDENT && t.len == 5 &&
             (memcmp(t.s, "false", 5) == 0 || memcmp(t.s, "False", 5) == 0)) {
    *dst = 0;
  } else if (t.kind == T_IDENT && t.len == 1 && t.s[0] == 't') {
    *dst = 1;
  } else if (t.kind == T_IDENT && t.len == 1 && t.s[0] == 'f') {
    *dst = 0;
  } else if (t.kind == T_NUM && t.len == 1 &&
             (t.s[0] == '0' || t.s[0] == '1')) {
    *dst = t.s[0] == '1';
  } else {
    return expected(ps, f, &t, &t);
  }
  return next(ps);
}

static int parse_enum(parser_t *ps, const ProtobufCFieldDescriptor *f,
                      int32_t *dst) {
  const ProtobufCEnumDescriptor *ed = f->descriptor;
  tok_t t = ps->tok;
  if (t.kind == T_IDENT) {
    char name[128];
    if (t.len < sizeof(name)) {
      memcpy(name, t.s, t.len);
      name[t.len] = '\0';
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value_by_name(ed, name);
      if (ev) {
        *dst = ev->value;
        return next(ps);
      }
    }
    char buf[64];
    tok_text(&t, buf, sizeof(buf));
    return fail_at(ps, t.line, t.col,
                   "field \"%s\": unknown value %s for enum \"%s\"", f->name,
                   buf, ed->name);
  }
  if (t.kind == T_NUM || is_punct(ps, '-'))
    return parse_integer(ps, f, dst);
  return expected(ps, f, &t, &t);
}

static int parse_stringish(parser_t *ps, const ProtobufCFieldDescriptor *f,
                           sbuf_t *b) {
  tok_t first = ps->tok;
  if (first.kind != T_STR)
    return expected(ps, f, &first, &first);
  while (ps->tok.kind == T_STR) {
    tok_t t = ps->tok;
    if (decode_string(ps, f, &t, b))
      return -1;
    if (next(ps))
      return -1;
  }
  if (!b->v && !sbuf_put(b, "", 0)) {
    ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    return -1;
  }
  return 0;
}

static int record(parser_t *ps, const ProtobufCMessage *msg,
                  const ProtobufCFieldDescriptor *f, size_t index,
                  const tok_t *at) {
  cfg_pos_table_t *t = ps->pos;
  if (!t)
    return 0;
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    cfg_pos_t *nv = realloc(t->v, nc * sizeof(*nv));
    if (!nv) {
      ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      return -1;
    }
    t->v = nv;
    t->cap = nc;
  }
  t->v[t->n++] = (cfg_pos_t){msg, f, index, at->line, at->col};
  return 0;
}

static int parse_message_body(parser_t *ps, ProtobufCMessage *msg, char close);

/* Parses one value of field f into slot dst (scalar storage of f's type).
 * For strings/bytes/messages the allocated value is stored in dst at once. */
static int parse_value(parser_t *ps, ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *f, size_t index,
                       const tok_t *at, void *dst) {
  if (record(ps, msg, f, index, at ? at : &ps->tok))
    return -1;
  switch (f->type) {
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE:
    return parse_floating(ps, f, dst);
  case PROTOBUF_C_TYPE_BOOL:
    return parse_bool(ps, f, dst);
  case PROTOBUF_C_TYPE_ENUM:
    return parse_enum(ps, f, dst);
  case PROTOBUF_C_TYPE_STRING: {
    sbuf_t b = {0};
    int rc = parse_stringish(ps, f, &b);
    if (rc) {
      free(b.v);
      return rc;
    }
    memcpy(dst, &b.v, sizeof(char *));
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    sbuf_t b = {0};
    int rc = parse_stringish(ps, f, &b);
    if (rc) {
      free(b.v);
      return rc;
    }
    ProtobufCBinaryData bd = {b.n, (uint8_t *)b.v};
    memcpy(dst, &bd, sizeof(bd));
    return 0;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    char close;
    if (is_punct(ps, '{'))
      close = '}';
    else if (is_punct(ps, '<'))
      close = '>';
    else {
      char buf[64];
      tok_text(&ps->tok, buf, sizeof(buf));
      return fail_at(ps, ps->tok.line, ps->tok.col,
                     "field \"%s\": expected \"{\" or \"<\", got %s", f->name,
                     buf);
    }
    ProtobufCMessage *sub = cfg_message_new(f->descriptor);
    if (!sub) {
      ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      return -1;
    }
    memcpy(dst, &sub, sizeof(sub));
    if (ps->depth >= MAX_DEPTH)
      return fail_at(ps, ps->tok.line, ps->tok.col,
                     "field \"%s\": messages nested too deeply", f->name);
    if (next(ps))
      return -1;
    ps->depth++;
    int rc = parse_message_body(ps, sub, close);
    ps->depth--;
    return rc;
  }
  default:
    return parse_integer(ps, f, dst);
  }
}

static int append_value(parser_t *ps, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *f, const tok_t *at) {
  size_t idx = *(size_t *)((char *)msg + f->quantifier_offset);
  void *slot = cfg_repeated_append(msg, f);
  if (!slot) {
    ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    return -1;
  }
  return parse_value(ps, msg, f, idx, at, slot);
}

static int skip_separator(parser_t *ps) {
  if (is_punct(ps, ',') || is_punct(ps, ';'))
    return next(ps);
  return 0;
}

static int parse_field(parser_t *ps, ProtobufCMessage *msg,
                       unsigned char *seen) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  tok_t key = ps->tok;
  char name[128];
  if (key.kind != T_IDENT) {
    char buf[64];
    tok_text(&key, buf, sizeof(buf));
    return fail_at(ps, key.line, key.col,
                   "expected a field name in message \"%s\", got %s",
                   desc->name, buf);
  }
  const ProtobufCFieldDescriptor *f = NULL;
  if (key.len < sizeof(name)) {
    memcpy(name, key.s, key.len);
    name[key.len] = '\0';
    f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
  }
  if (!f) {
    char buf[64];
    tok_text(&key, buf, sizeof(buf));
    return fail_at(ps, key.line, key.col, "unknown field %s in message \"%s\"",
                   buf, desc->name);
  }
  size_t fi = (size_t)(f - desc->fields);
  bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
  if (!repeated) {
    if (seen[fi])
      return fail_at(ps, key.line, key.col,
                     "field \"%s\" is set more than once", f->name);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t cs = *(uint32_t *)((char *)msg + f->quantifier_offset);
      if (cs != 0) {
        const ProtobufCFieldDescriptor *o =
            protobuf_c_message_descriptor_get_field(desc, cs);
        return fail_at(ps, key.line, key.col,
                       "field \"%s\": \"%s\" of the same oneof is already set",
                       f->name, o ? o->name : "?");
      }
    }
    seen[fi] = 1;
  }
  if (next(ps))
    return -1;
  bool colon = false;
  if (is_punct(ps, ':')) {
    colon = true;
    if (next(ps))
      return -1;
  }
  if (f->type != PROTOBUF_C_TYPE_MESSAGE && !colon) {
    char buf[64];
    tok_text(&ps->tok, buf, sizeof(buf));
    return fail_at(ps, ps->tok.line, ps->tok.col,
                   "field \"%s\": expected \":\", got %s", f->name, buf);
  }
  if (is_punct(ps, '[')) {
    tok_t lb = ps->tok;
    if (!repeated)
      return fail_at(ps, lb.line, lb.col,
                     "field \"%s\" is not repeated; a list is not allowed",
                     f->name);
    if (next(ps))
      return -1;
    if (is_punct(ps, ']'))
      return next(ps);
    for (;;) {
      if (append_value(ps, msg, f, NULL))
        return -1;
      if (is_punct(ps, ']'))
        return next(ps);
      if (!is_punct(ps, ',')) {
        char buf[64];
        tok_text(&ps->tok, buf, sizeof(buf));
        return fail_at(ps, ps->tok.line, ps->tok.col,
                       "field \"%s\": expected \",\" or \"]\" in list, got %s",
                       f->name, buf);
      }
      if (next(ps))
        return -1;
    }
  }
  if (repeated) /* a repeated message given by its key: the key's position */
    return append_value(ps, msg, f,
                        f->type == PROTOBUF_C_TYPE_MESSAGE ? &key : NULL);
  void *dst = (char *)msg + f->offset;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
      f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
      !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
    *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    /* clear the union slot so a failed value leaves nothing dangling */
    memset(dst, 0, cfg_scalar_size(f->type));
    *(uint32_t *)((char *)msg + f->quantifier_offset) = f->id;
  } else if (f->type == PROTOBUF_C_TYPE_STRING) {
    /* the default is the shared empty string, never freed */
    *(char **)dst = NULL;
  }
  /* a singular message's position is its field name's */
  int rc = parse_value(ps, msg, f, 0,
                       f->type == PROTOBUF_C_TYPE_MESSAGE ? &key : NULL, dst);
  if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)dst == NULL)
    *(char **)dst = (char *)f->default_value;
  return rc;
}

/* Fields until `close` (or end of input when close is 0). */
static int parse_message_body(parser_t *ps, ProtobufCMessage *msg, char close) {
  size_t nf = msg->descriptor->n_fields;
  unsigned char *seen = calloc(nf ? nf : 1, 1);
  if (!seen) {
    ps->err = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    return -1;
  }
  int rc = 0;
  for (;;) {
    if (close == 0 && ps->tok.kind == T_EOF)
      break;
    if (close != 0 && is_punct(ps, close)) {
      rc = next(ps);
      break;
    }
    if (ps->tok.kind == T_EOF) {
      rc = fail_at(ps, ps->tok.line, ps->tok.col,
                   "unexpected end of input in message \"%s\": missing "
                   "\"%c\"",
                   msg->descriptor->name, close);
      break;
    }
    if ((rc = parse_field(ps, msg, seen)) != 0)
      break;
    if ((rc = skip_separator(ps)) != 0)
      break;
  }
  free(seen);
  return rc;
}

inferd_status_t *cfg_text_parse_pos(const ProtobufCMessageDescriptor *desc,
                                    const char *text, size_t len,
                                    const char *filename,
                                    ProtobufCMessage **out,
                                    cfg_pos_table_t *pos) {
  *out = NULL;
  parser_t ps = {.p = text,
                 .end = text + len,
                 .line = 1,
                 .col = 1,
                 .file = filename ? filename : "<text>",
                 .pos = pos};
  ProtobufCMessage *msg = cfg_message_new(desc);
  if (!msg)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  if (next(&ps) == 0)
    parse_message_body(&ps, msg, 0);
  if (ps.err) {
    protobuf_c_message_free_unpacked(msg, NULL);
    return ps.err;
  }
  *out = msg;
  return NULL;
}

inferd_status_t *cfg_text_parse(const ProtobufCMessageDescriptor *desc,
                                const char *text, size_t len,
                                const char *filename, ProtobufCMessage **out) {
  return cfg_text_parse_pos(desc, text, len, filename, out, NULL);
}
