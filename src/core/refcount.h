/*
 * refcount.h: the reference count embedded at the start of long-lived shared
 * objects (model versions). The owner that will destroy the object keeps one
 * reference and waits until it is the last user: when a release brings the
 * count down to 1, on_last_user is called (from the releasing thread) so
 * that the owner can be woken. Nothing is ever destroyed by a release, so a
 * request thread never ends up joining its own thread.
 */
#ifndef INFERD_CORE_REFCOUNT_H
#define INFERD_CORE_REFCOUNT_H
#include <stdatomic.h>

typedef struct core_ref {
  atomic_int refs;
  void (*on_last_user)(struct core_ref *r);
} core_ref_t;

static inline void core_ref_acquire(core_ref_t *r) {
  atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

static inline void core_ref_release(core_ref_t *r) {
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 2 &&
      r->on_last_user)
    r->on_last_user(r);
}
#endif
