/* Unit tests of http_base64.c: RFC 4648 vectors, every byte value, and each
 * way a value is refused (with its message). */
#include <stdlib.h>

#include "http/http_internal.h"
#include "unit.h"

/* decodes s; returns the decoded string (static buffer) or NULL, and the
 * error message in *msg (static copy) */
static char msg[256];
static char *dec(const char *s, size_t *n) {
  static uint8_t out[256];
  msg[0] = '\0';
  size_t len = strlen(s);
  CHECK(http_base64_decoded_max(len) < sizeof(out));
  inferd_status_t *st = http_base64_decode(s, len, out, n);
  if (st) {
    CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
    snprintf(msg, sizeof(msg), "%s", inferd_status_message(st));
    inferd_status_free(st);
    return NULL;
  }
  out[*n] = '\0';
  return (char *)out;
}

static bool ok(const char *b64, const char *plain) {
  size_t n;
  char *d = dec(b64, &n);
  return d && n == strlen(plain) && memcmp(d, plain, n) == 0;
}

int main(void) {
  /* RFC 4648 §10 */
  CHECK(ok("", ""));
  CHECK(ok("Zg==", "f"));
  CHECK(ok("Zm8=", "fo"));
  CHECK(ok("Zm9v", "foo"));
  CHECK(ok("Zm9vYg==", "foob"));
  CHECK(ok("Zm9vYmE=", "fooba"));
  CHECK(ok("Zm9vYmFy", "foobar"));
  /* every byte value, and the symbols '+' and '/' */
  {
    static const char *all =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEy"
        "MzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2Rl"
        "ZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeY"
        "mZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrL"
        "zM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+"
        "/w==";
    size_t n = 0;
    uint8_t *out = malloc(http_base64_decoded_max(strlen(all)));
    CHECK(out);
    inferd_status_t *st = http_base64_decode(all, strlen(all), out, &n);
    CHECK(!st);
    CHECK(n == 256);
    for (size_t i = 0; !st && i < n; i++)
      CHECK(out[i] == (uint8_t)i);
    free(out);
  }
  size_t n;
  /* refused, each with the reason */
  CHECK(!dec("Zg", &n));
  CHECK(strcmp(msg, "invalid base64: expected a length that is a multiple of "
                    "4, got 2") == 0);
  CHECK(!dec("Zm9vY", &n));
  CHECK_STR_CONTAINS(msg, "multiple of 4, got 5");
  CHECK(!dec("Zm 9", &n));
  CHECK(strcmp(msg, "invalid base64: invalid character at offset 2") == 0);
  CHECK(!dec("Zm9v\nYmFy", &n)); /* no line breaks */
  CHECK(!dec("Zm9-", &n));       /* URL-safe alphabet */
  CHECK(strcmp(msg, "invalid base64: invalid character at offset 3") == 0);
  CHECK(!dec("Zm9_", &n));
  CHECK(!dec("Zg==Zm9v", &n)); /* padding inside */
  CHECK(strcmp(msg, "invalid base64: misplaced padding at offset 2") == 0);
  CHECK(!dec("Z===", &n));
  CHECK(strcmp(msg, "invalid base64: misplaced padding at offset 1") == 0);
  CHECK(!dec("====", &n));
  CHECK(!dec("Zm=v", &n)); /* a symbol after '=' */
  CHECK(strcmp(msg, "invalid base64: misplaced padding at offset 3") == 0);
  CHECK(!dec("Zh==", &n)); /* 'h' leaves non-zero bits before "==" */
  CHECK(strcmp(msg, "invalid base64: non-zero bits before the padding at "
                    "offset 1") == 0);
  CHECK(!dec("Zm9=", &n));
  CHECK(strcmp(msg, "invalid base64: non-zero bits before the padding at "
                    "offset 2") == 0);
  CHECK(dec("Zm8A", &n) && n == 3); /* no padding: all bits are data */
  return UNIT_END();
}
