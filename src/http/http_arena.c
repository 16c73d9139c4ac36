/*
 * http_arena.c: the per-request bump allocator of the HTTP frontend. The
 * first HTTP_ARENA_INLINE bytes come from the arena struct itself (which
 * lives in the per-request state), so a typical small infer request makes no
 * allocation for its parsed inputs; larger requests chain malloc'd blocks,
 * all freed by http_arena_deinit.
 */
#include <stdlib.h>

#include "http/http_internal.h"

struct http_arena_block {
  http_arena_block_t *next;
  size_t size;
  _Alignas(16) char data[];
};

void http_arena_init(http_arena_t *a) {
  a->cur = a->inline_buf;
  a->left = sizeof(a->inline_buf);
  a->blocks = NULL;
}

void http_arena_deinit(http_arena_t *a) {
  http_arena_block_t *b = a->blocks;
  while (b) {
    http_arena_block_t *next = b->next;
    free(b);
    b = next;
  }
  http_arena_init(a);
}

void *http_arena_alloc(http_arena_t *a, size_t n) {
  size_t need = (n + 15u) & ~(size_t)15u;
  if (need < n)
    return NULL; /* overflow */
  if (need <= a->left) {
    void *p = a->cur;
    a->cur += need;
    a->left -= need;
    return p;
  }
  size_t size = need > 16384 ? need : 16384;
  if (size > SIZE_MAX - sizeof(http_arena_block_t))
    return NULL;
  http_arena_block_t *b = malloc(sizeof(*b) + size);
  if (!b)
    return NULL;
  b->size = size;
  b->next = a->blocks;
  a->blocks = b;
  if (size == need)
    return b->data; /* a big one-off: keep the current block for small ones */
  a->cur = b->data + need;
  a->left = size - need;
  return b->data;
}
