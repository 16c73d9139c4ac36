/*
 * status.c: status objects (errors with a code and a message) and the lookups
 * of the one status table in include/inferd/types.h.
 *
 * Invariant: a status is never INFERD_OK; NULL means success. The static
 * out-of-memory status is returned whenever an allocation fails, so creating
 * a status never fails, and freeing it is a no-op.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status_internal.h"
#include "inferd/server.h"

struct inferd_status {
  inferd_code_t code;
  char msg[]; /* NUL-terminated */
};

static struct {
  inferd_code_t code;
  char msg[16];
} no_memory_status = {INFERD_NO_MEMORY, "out of memory"};

#define NO_MEMORY ((inferd_status_t *)&no_memory_status)

static inferd_status_t *status_vnew(inferd_code_t code, const char *old_msg,
                                    const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    n = 0;
  size_t plen = old_msg ? strlen(old_msg) + 2 : 0;
  inferd_status_t *st = malloc(sizeof(*st) + (size_t)n + plen + 1);
  if (!st)
    return NO_MEMORY;
  st->code = code == INFERD_OK ? INFERD_UNKNOWN : code;
  vsnprintf(st->msg, (size_t)n + 1, fmt, ap);
  if (old_msg) {
    /* the formatted text is the new prefix; the old message follows */
    memcpy(st->msg + n, ": ", 2);
    memcpy(st->msg + n + 2, old_msg, plen - 2);
    st->msg[n + plen] = '\0';
  }
  return st;
}

inferd_status_t *core_status_vnew(inferd_code_t code, const char *fmt,
                                  va_list ap) {
  return status_vnew(code, NULL, fmt, ap);
}

inferd_status_t *inferd_status_new(inferd_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  inferd_status_t *st = status_vnew(code, NULL, fmt, ap);
  va_end(ap);
  return st;
}

inferd_status_t *inferd_status_prefix(inferd_status_t *st, const char *fmt,
                                      ...) {
  if (!st)
    return NULL;
  if (st == NO_MEMORY)
    return st;
  va_list ap;
  va_start(ap, fmt);
  inferd_status_t *n = status_vnew(st->code, st->msg, fmt, ap);
  va_end(ap);
  if (n == NO_MEMORY)
    return st; /* keep the original message rather than lose it */
  free(st);
  return n;
}

inferd_code_t inferd_status_code(const inferd_status_t *st) {
  return st ? st->code : INFERD_OK;
}

const char *inferd_status_message(const inferd_status_t *st) {
  return st ? st->msg : "";
}

void inferd_status_free(inferd_status_t *st) {
  if (st && st != NO_MEMORY)
    free(st);
}

const char *inferd_code_name(inferd_code_t code) {
  switch (code) {
#define NAME_(name, val, text, http, grpc)                                     \
  case val:                                                                    \
    return #name;
    INFERD_STATUS_MAP(NAME_)
#undef NAME_
  default:
    return "UNKNOWN";
  }
}

int inferd_code_http_status(inferd_code_t code) {
  switch (code) {
#define HTTP_(name, val, text, http, grpc)                                     \
  case val:                                                                    \
    return http;
    INFERD_STATUS_MAP(HTTP_)
#undef HTTP_
  default:
    return 400;
  }
}

int inferd_code_grpc_status(inferd_code_t code) {
  switch (code) {
#define GRPC_(name, val, text, http, grpc)                                     \
  case val:                                                                    \
    return grpc;
    INFERD_STATUS_MAP(GRPC_)
#undef GRPC_
  default:
    return 2;
  }
}

inferd_datatype_t inferd_datatype_from_name(const char *name, size_t len) {
#define DT_(n, val, text, size)                                                \
  if (len == sizeof(text) - 1 && memcmp(name, text, len) == 0 && val != 0)     \
    return val;
  INFERD_DATATYPE_MAP(DT_)
#undef DT_
  return INFERD_TYPE_INVALID;
}
