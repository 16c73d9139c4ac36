/* unit.h: the tiny assertion kit of the C unit tests. A failed CHECK prints
 * file:line and the expression and counts a failure; UNIT_END returns the
 * process exit code. */
#ifndef INFERD_UNIT_H
#define INFERD_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failures_;
static int unit_checks_;
#define CHECK(e)                                                               \
  do {                                                                         \
    unit_checks_++;                                                            \
    if (!(e)) {                                                                \
      unit_failures_++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #e);    \
    }                                                                          \
  } while (0)
#define CHECK_STR_CONTAINS(hay, needle)                                        \
  do {                                                                         \
    const char *h_ = (hay);                                                    \
    unit_checks_++;                                                            \
    if (!h_ || !strstr(h_, (needle))) {                                        \
      unit_failures_++;                                                        \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,     \
              __LINE__, h_ ? h_ : "(null)", (needle));                         \
    }                                                                          \
  } while (0)
#define UNIT_END()                                                             \
  (fprintf(stderr, "%d checks, %d failed\n", unit_checks_, unit_failures_),    \
   unit_failures_ ? 1 : 0)
#endif
