/*
 * http_base64.c: strict base64 decoding (RFC 4648 §4, standard alphabet) for
 * the "file:<path>" load parameters, which carry model files over JSON.
 * Strict because a model file that decodes "mostly" would load as a
 * different model: padding is required, nothing but the 64 symbols and the
 * final '=' is accepted (no whitespace, no URL-safe alphabet), and the bits
 * that padding leaves over must be zero, so each byte string has exactly one
 * accepted encoding.
 */
#include <stdlib.h>

#include "http/http_internal.h"

/* 0..63 for a symbol, -1 otherwise */
static int sym(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

size_t http_base64_decoded_max(size_t len) { return len / 4 * 3; }

static inferd_status_t *bad(const char *why, size_t where) {
  return inferd_status_new(INFERD_INVALID_ARG,
                           "invalid base64: %s at offset %zu", why, where);
}

inferd_status_t *http_base64_decode(const char *in, size_t len, uint8_t *out,
                                    size_t *out_len) {
  *out_len = 0;
  if (len % 4 != 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid base64: expected a length that is a "
                             "multiple of 4, got %zu",
                             len);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    bool last = i + 4 == len;
    int v[4];
    int n_pad = 0;
    for (int k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)in[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        n_pad++;
        continue;
      }
      v[k] = sym(c);
      if (v[k] < 0 || n_pad) /* a symbol after '=' is misplaced too */
        return bad(c == '=' || n_pad ? "misplaced padding"
                                     : "invalid character",
                   i + (size_t)k);
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                 (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if ((n_pad == 1 && (w & 0xff)) || (n_pad == 2 && (w & 0xffff)))
      return bad("non-zero bits before the padding", i + 3 - (size_t)n_pad);
    out[o++] = (uint8_t)(w >> 16);
    if (n_pad < 2)
      out[o++] = (uint8_t)(w >> 8);
    if (n_pad < 1)
      out[o++] = (uint8_t)w;
  }
  *out_len = o;
  return NULL;
}
