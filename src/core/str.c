/* str.c: small string helpers of the core; no I/O. */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

char *core_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}
