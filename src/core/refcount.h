/*
 * refcount.h: the reference count embedded at the start of long-lived shared
 * objects (model versions). Every holder (the repository's table, each
 * request and response, a statistics reader) owns one reference; the
 * release that brings the count to zero calls on_zero (from the releasing
 * thread), which must not destroy the object in place: it hands it to its
 * owner for finalisation (the repository thread queues it). Nobody waits
 * for a count to fall. Acquiring requires already holding a reference (or
 * a lock under which a holder's reference is known to exist), so a count
 * never rises from zero.
 *
 * Threads: acquire and release are thread-safe (atomics).
 */
#ifndef INFERD_CORE_REFCOUNT_H
#define INFERD_CORE_REFCOUNT_H
#include <stdatomic.h>

typedef struct core_ref {
  atomic_int refs;
  void (*on_zero)(struct core_ref *r);
} core_ref_t;

static inline void core_ref_init(core_ref_t *r, void (*on_zero)(core_ref_t *)) {
  atomic_init(&r->refs, 1);
  r->on_zero = on_zero;
}

static inline void core_ref_acquire(core_ref_t *r) {
  atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

static inline void core_ref_release(core_ref_t *r) {
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1 &&
      r->on_zero)
    r->on_zero(r);
}
#endif
