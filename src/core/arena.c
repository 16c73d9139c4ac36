/*
 * arena.c: the per-request bump allocator. Most requests fit in the inline
 * block; bigger ones chain malloc'd blocks, all freed at once on deinit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/request.h"

void core_arena_init(core_arena_t *a) {
  a->blocks = NULL;
  a->used = 0;
}

void core_arena_deinit(core_arena_t *a) {
  core_arena_block_t *b = a->blocks;
  while (b) {
    core_arena_block_t *n = b->next;
    free(b);
    b = n;
  }
  a->blocks = NULL;
  a->used = 0;
}

void *core_arena_alloc(core_arena_t *a, size_t n) {
  n = (n + 7u) & ~(size_t)7u;
  if (n == 0)
    n = 8;
  if (a->used + n <= sizeof(a->inline_buf)) {
    void *p = a->inline_buf + a->used;
    a->used += n;
    return p;
  }
  core_arena_block_t *b = a->blocks;
  if (b && b->used + n <= b->cap) {
    void *p = b->data + b->used;
    b->used += n;
    return p;
  }
  size_t cap = n > 4096 ? n : 4096;
  b = malloc(sizeof(*b) + cap);
  if (!b)
    return NULL;
  b->cap = cap;
  b->used = n;
  b->next = a->blocks;
  a->blocks = b;
  return b->data;
}

char *core_arena_strndup(core_arena_t *a, const char *s, size_t n) {
  char *p = core_arena_alloc(a, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}
