/*
 * arena.c: the per-request bump allocator (see arena.h). Blocks are 16 KiB,
 * or exactly the size asked for a larger one-off, which then leaves the
 * current block in use for the small allocations that follow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

#define BLOCK_SIZE 16384

struct core_arena_block {
  core_arena_block_t *next;
  size_t size;
  _Alignas(16) char data[];
};

void core_arena_init(core_arena_t *a, void *inline_buf, size_t inline_size) {
  a->inline_buf = inline_buf;
  a->inline_size = inline_buf ? inline_size : 0;
  a->cur = inline_buf;
  a->left = a->inline_size;
  a->blocks = NULL;
}

void core_arena_deinit(core_arena_t *a) {
  core_arena_block_t *b = a->blocks;
  while (b) {
    core_arena_block_t *next = b->next;
    free(b);
    b = next;
  }
  core_arena_init(a, a->inline_buf, a->inline_size);
}

void *core_arena_alloc(core_arena_t *a, size_t n) {
  size_t need = (n + 15u) & ~(size_t)15u;
  if (need < n)
    return NULL; /* overflow */
  if (need == 0)
    need = 16; /* a distinct, non-NULL pointer even without an inline buffer */
  if (need <= a->left) {
    void *p = a->cur;
    a->cur += need;
    a->left -= need;
    return p;
  }
  size_t size = need > BLOCK_SIZE ? need : BLOCK_SIZE;
  if (size > SIZE_MAX - sizeof(core_arena_block_t))
    return NULL;
  core_arena_block_t *b = malloc(sizeof(*b) + size);
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

char *core_arena_strndup(core_arena_t *a, const char *s, size_t n) {
  if (n == SIZE_MAX)
    return NULL;
  char *p = core_arena_alloc(a, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}
