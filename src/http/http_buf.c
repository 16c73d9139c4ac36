/*
 * http_buf.c: a growable byte buffer for response bodies and the JSON string
 * writer. Appends never fail loudly: an allocation failure sets `oom` and
 * further appends are dropped, so a writer checks once at the end.
 *
 * JSON strings: BYTES outputs may hold any bytes, but JSON text must be
 * valid UTF-8. Invalid sequences are replaced by U+FFFD (as Python's
 * errors="replace" does); clients that need the exact bytes ask for the
 * output with binary_data. Control characters are escaped as \uXXXX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

void http_buf_init(http_buf_t *b) { memset(b, 0, sizeof(*b)); }

void http_buf_deinit(http_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

char *http_buf_take(http_buf_t *b, size_t *len) {
  char *d = b->data;
  *len = b->len;
  memset(b, 0, sizeof(*b));
  return d;
}

static bool reserve(http_buf_t *b, size_t n) {
  if (b->oom)
    return false;
  if (b->cap - b->len >= n)
    return true;
  size_t cap = b->cap ? b->cap : 512;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) {
      b->oom = true;
      return false;
    }
    cap *= 2;
  }
  char *d = realloc(b->data, cap);
  if (!d) {
    b->oom = true;
    return false;
  }
  b->data = d;
  b->cap = cap;
  return true;
}

void http_buf_append(http_buf_t *b, const void *p, size_t n) {
  if (n == 0 || !reserve(b, n))
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void http_buf_puts(http_buf_t *b, const char *s) {
  http_buf_append(b, s, strlen(s));
}

void http_buf_printf(http_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[128];
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = true;
    return;
  }
  if ((size_t)n < sizeof(small)) {
    http_buf_append(b, small, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n + 1))
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

void http_buf_json_string(http_buf_t *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  http_buf_append(b, "\"", 1);
  size_t run = 0; /* start of the pending run of plain bytes */
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    size_t seq = c >= 0x80 ? utf8_seq(s + i, n - i) : 0;
    if (seq > 1) {
      i += seq;
      continue;
    }
    http_buf_append(b, s + run, i - run);
    char esc[8];
    switch (c) {
    case '"':
      http_buf_append(b, "\\\"", 2);
      break;
    case '\\':
      http_buf_append(b, "\\\\", 2);
      break;
    case '\n':
      http_buf_append(b, "\\n", 2);
      break;
    case '\r':
      http_buf_append(b, "\\r", 2);
      break;
    case '\t':
      http_buf_append(b, "\\t", 2);
      break;
    default:
      if (c < 0x20) {
        snprintf(esc, sizeof(esc), "\\u%04x", c);
        http_buf_append(b, esc, 6);
      } else {
        http_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
      }
    }
    i++;
    run = i;
  }
  http_buf_append(b, s + run, n - run);
  http_buf_append(b, "\"", 1);
}

void http_buf_error_json(http_buf_t *b, const char *msg) {
  http_buf_puts(b, "{\"error\":");
  http_buf_json_string(b, msg, strlen(msg));
  http_buf_append(b, "}", 1);
}
