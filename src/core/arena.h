/*
 * arena.h: the per-request bump allocator (core_ prefix), used by requests,
 * responses and the HTTP frontend's request state. The first bytes come from
 * an inline buffer the owner provides (inside its own struct), so a small
 * request makes no allocation; larger ones chain malloc'd blocks, all freed
 * at once by core_arena_deinit. One owner thread at a time.
 */
#ifndef INFERD_CORE_ARENA_H
#define INFERD_CORE_ARENA_H
#include <stddef.h>

typedef struct core_arena_block core_arena_block_t;

typedef struct core_arena {
  char *cur;                  /* next free byte */
  size_t left;                /* bytes left at cur */
  core_arena_block_t *blocks; /* malloc'd blocks */
  char *inline_buf;           /* the owner's, 16-byte aligned; may be NULL */
  size_t inline_size;
} core_arena_t;

/* inline_buf (borrowed for the arena's life) may be NULL with size 0. */
void core_arena_init(core_arena_t *a, void *inline_buf, size_t inline_size);
/* Frees the blocks; the arena is empty and usable again afterwards. */
void core_arena_deinit(core_arena_t *a);
/* 16-byte aligned; NULL on allocation failure or overflow. n == 0 gives a
 * valid non-NULL pointer. */
void *core_arena_alloc(core_arena_t *a, size_t n);
/* NUL-terminated copy of s[0..n); NULL on allocation failure. */
char *core_arena_strndup(core_arena_t *a, const char *s, size_t n);
#endif
