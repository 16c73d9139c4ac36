/*
 * dynamic_batcher.c: Triton's dynamic batcher (reference §3.3, §8).
 *
 * One batcher thread per model version owns the queues: it rejects or
 * delays timed-out requests, drops cancelled ones, and when an instance is
 * idle forms a batch: requests in priority order (level 1 first; within a
 * level the normal queue, then requests delayed by the DELAY timeout
 * action), as many batch elements as fit in max_batch_size, stopping at the
 * first request whose non-batch shapes differ (unless every input allows
 * ragged batching). A batch that can still grow is held back until the
 * largest preferred size is reached or the oldest request has waited
 * max_queue_delay_microseconds; then the largest preferred prefix is sent
 * (or everything when no prefix has a preferred size). Each instance has
 * its own execution thread and receives batches through its slot.
 *
 * Idle threads exit: a slot's thread that waited idle_ns without a batch,
 * and the batcher once its queues are empty, no slot executes and idle_ns
 * passed. Each decides under mu, where whoever hands it work (the batcher
 * for a slot, enqueue or kick for the batcher) sees it gone and starts a new
 * one, so nothing is stranded. While a slot executes the batcher stays, so
 * the end of an execution always finds it. An exited thread is joined when
 * its successor's successor starts (long after it ended) or at stop.
 *
 * preserve_ordering: the batcher numbers requests as they arrive and holds
 * responses and releases back until all earlier requests were delivered.
 *
 * Locking: `mu` guards queues, slots and the ordering state; no lock is held
 * while a backend runs or a frontend callback is called.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/completion.h"
#include "core/log.h"
#include "sched/scheduler.h"

typedef struct db_queue {
  inferd_request_t *head, *tail;   /* waiting */
  inferd_request_t *dhead, *dtail; /* delayed (DELAY action) */
  uint32_t n;
  uint32_t max_size; /* 0 = unbounded */
  uint64_t default_timeout_us;
  bool allow_override;
  bool delay_action;
} db_queue_t;

typedef struct dyn_sched dyn_sched_t;

/* A thread handle that may be replaced while its predecessor still awaits
 * its join; changed only under mu while not stopping. */
typedef struct db_thread {
  pthread_t cur, prev;
  bool joinable, prev_joinable;
  bool alive; /* started and has not decided to exit */
} db_thread_t;

typedef struct db_slot {
  dyn_sched_t *s;
  uint32_t instance;
  db_thread_t th;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  inferd_request_t **batch;
  uint32_t n;
  bool busy; /* holds a batch (given, or executing) */
} db_slot_t;

/* per-request ordering record (preserve_ordering) */
typedef struct po_event {
  inferd_response_t *resp;
  uint32_t flags;
} po_event_t;

typedef struct po_rec {
  inferd_request_t *req;
  inferd_response_cb response_cb;
  inferd_release_cb release_cb;
  void *userp;
  po_event_t *events;
  uint32_t n_events, cap_events;
  bool released;
  struct po_rec *next; /* arrival order */
} po_rec_t;

struct dyn_sched {
  sched_t base;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* wakes the batcher */
  db_queue_t *queues;
  uint32_t n_levels, default_level; /* default_level is an index */
  uint64_t max_batch;
  uint64_t *preferred; /* ascending */
  uint32_t n_preferred;
  uint64_t max_delay_ns;
  db_slot_t *slots;
  uint32_t n_slots;
  bool stopping;
  bool wake;        /* a cancel arrived */
  uint64_t idle_ns; /* 0: threads never exit */
  db_thread_t batcher;
  inferd_request_t **plan_buf; /* the batcher's, max_batch + 1 */
  /* preserve_ordering */
  bool preserve;
  pthread_mutex_t po_mu;
  po_rec_t *po_head, *po_tail;
  bool po_draining;
};

/* ---------------------------------------------------------------- queues */

static void q_push(inferd_request_t **h, inferd_request_t **t,
                   inferd_request_t *r) {
  r->next = NULL;
  if (*t)
    (*t)->next = r;
  else
    *h = r;
  *t = r;
}

/* removes r (whose predecessor is prev, or NULL) from the list */
static void q_unlink(inferd_request_t **h, inferd_request_t **t,
                     inferd_request_t *prev, inferd_request_t *r) {
  if (prev)
    prev->next = r->next;
  else
    *h = r->next;
  if (*t == r)
    *t = prev;
  r->next = NULL;
}

/* ------------------------------------------------------ preserve ordering */

/* Delivers, in arrival order, every event that may leave: the events of the
 * oldest request, and once it is released, those of the next one. One
 * thread drains at a time; others only append. */
static void po_drain(dyn_sched_t *s) {
  pthread_mutex_lock(&s->po_mu);
  if (s->po_draining) {
    pthread_mutex_unlock(&s->po_mu);
    return;
  }
  s->po_draining = true;
  for (;;) {
    po_rec_t *rec = s->po_head;
    if (!rec || (rec->n_events == 0 && !rec->released))
      break;
    po_event_t *ev = rec->events;
    uint32_t n = rec->n_events;
    bool released = rec->released;
    rec->events = NULL;
    rec->n_events = rec->cap_events = 0;
    if (released) {
      s->po_head = rec->next;
      if (!s->po_head)
        s->po_tail = NULL;
    }
    pthread_mutex_unlock(&s->po_mu);
    for (uint32_t i = 0; i < n; i++)
      if (rec->response_cb)
        rec->response_cb(ev[i].resp, ev[i].flags, rec->userp);
      else
        inferd_response_free(ev[i].resp);
    free(ev);
    if (released) {
      inferd_release_cb cb = rec->release_cb;
      inferd_request_t *req = rec->req;
      void *userp = rec->userp;
      free(rec);
      if (cb)
        cb(req, userp);
    }
    pthread_mutex_lock(&s->po_mu);
  }
  s->po_draining = false;
  pthread_mutex_unlock(&s->po_mu);
}

static void po_response(inferd_response_t *resp, uint32_t flags, void *p) {
  po_rec_t *rec = p;
  dyn_sched_t *s = (dyn_sched_t *)rec->req->sched_owner;
  pthread_mutex_lock(&s->po_mu);
  if (rec->n_events == rec->cap_events) {
    uint32_t nc = rec->cap_events ? rec->cap_events * 2 : 2;
    po_event_t *e = realloc(rec->events, nc * sizeof(*e));
    if (!e) {
      pthread_mutex_unlock(&s->po_mu);
      /* cannot hold it back: deliver out of order rather than lose it */
      LOG_ERROR("out of memory ordering responses; delivering out of order");
      if (rec->response_cb)
        rec->response_cb(resp, flags, rec->userp);
      return;
    }
    rec->events = e;
    rec->cap_events = nc;
  }
  rec->events[rec->n_events++] = (po_event_t){resp, flags};
  pthread_mutex_unlock(&s->po_mu);
  po_drain(s);
}

static void po_release(inferd_request_t *req, void *p) {
  po_rec_t *rec = p;
  dyn_sched_t *s = (dyn_sched_t *)req->sched_owner;
  pthread_mutex_lock(&s->po_mu);
  rec->released = true;
  pthread_mutex_unlock(&s->po_mu);
  po_drain(s);
}

/* Interposes the ordering callbacks; called under no lock before the
 * request is queued. */
static inferd_status_t *po_attach(dyn_sched_t *s, inferd_request_t *r) {
  po_rec_t *rec = calloc(1, sizeof(*rec));
  if (!rec)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  rec->req = r;
  rec->response_cb = r->response_cb;
  rec->release_cb = r->release_cb;
  rec->userp = r->userp;
  r->response_cb = po_response;
  r->release_cb = po_release;
  r->userp = rec;
  pthread_mutex_lock(&s->po_mu);
  if (s->po_tail)
    s->po_tail->next = rec;
  else
    s->po_head = rec;
  s->po_tail = rec;
  pthread_mutex_unlock(&s->po_mu);
  return NULL;
}

/* Undoes po_attach for a request that was refused at enqueue. */
static void po_detach(dyn_sched_t *s, inferd_request_t *r) {
  po_rec_t *rec = r->userp;
  pthread_mutex_lock(&s->po_mu);
  po_rec_t *prev = NULL;
  for (po_rec_t *x = s->po_head; x; prev = x, x = x->next)
    if (x == rec) {
      if (prev)
        prev->next = x->next;
      else
        s->po_head = x->next;
      if (s->po_tail == x)
        s->po_tail = prev;
      break;
    }
  pthread_mutex_unlock(&s->po_mu);
  r->response_cb = rec->response_cb;
  r->release_cb = rec->release_cb;
  r->userp = rec->userp;
  free(rec);
  po_drain(s); /* later requests may have been waiting behind it */
}

/* ------------------------------------------------------- batch formation */

static bool same_shapes(const inferd_request_t *a, const inferd_request_t *b,
                        const cfg_model_t *c) {
  if (a->n_inputs != b->n_inputs)
    return false;
  for (uint32_t i = 0; i < a->n_inputs; i++) {
    const core_input_t *x = &a->inputs[i];
    int32_t j = core_request_find_input(b, x->name, strlen(x->name));
    if (j < 0)
      return false;
    const core_input_t *y = &b->inputs[j];
    bool ragged = false;
    for (size_t k = 0; k < c->n_input; k++)
      if (strcmp(c->input[k]->name, x->name) == 0)
        ragged = c->input[k]->allow_ragged_batch;
    if (ragged)
      continue;
    if (x->n_dims != y->n_dims)
      return false;
    /* dimension 0 is the batch */
    for (uint32_t d = 1; d < x->n_dims; d++)
      if (x->shape[d] != y->shape[d])
        return false;
  }
  return true;
}

static bool is_preferred(const dyn_sched_t *s, uint64_t size) {
  for (uint32_t i = 0; i < s->n_preferred; i++)
    if (s->preferred[i] == size)
      return true;
  return false;
}

/* Removes r from whichever list of its level it is in. */
static void remove_queued(dyn_sched_t *s, inferd_request_t *r) {
  db_queue_t *q = &s->queues[r->sched_level];
  inferd_request_t **h = r->sched_delayed ? &q->dhead : &q->head;
  inferd_request_t **t = r->sched_delayed ? &q->dtail : &q->tail;
  inferd_request_t *prev = NULL;
  for (inferd_request_t *x = *h; x; prev = x, x = x->next)
    if (x == r) {
      q_unlink(h, t, prev, r);
      q->n--;
      return;
    }
}

typedef struct batch_plan {
  inferd_request_t **reqs; /* in order, up to max_batch entries */
  uint32_t n;              /* requests taken */
  uint32_t n_pref;         /* prefix length with the largest preferred size */
  uint64_t size;
  bool can_grow;      /* every queued request fit: more may still come */
  uint64_t oldest_ns; /* t_queue of the first request */
} batch_plan_t;

/* Walks the queues in scheduling order and plans the next batch. */
static void plan_batch(dyn_sched_t *s, batch_plan_t *p) {
  const cfg_model_t *m = s->base.set->config;
  p->n = p->n_pref = 0;
  p->size = 0;
  p->can_grow = true;
  for (uint32_t l = 0; l < s->n_levels && p->can_grow; l++) {
    for (int pass = 0; pass < 2 && p->can_grow; pass++) {
      inferd_request_t *r = pass == 0 ? s->queues[l].head : s->queues[l].dhead;
      for (; r && p->can_grow; r = r->next) {
        if (p->n > 0 && (p->size + r->batch_size > s->max_batch ||
                         !same_shapes(p->reqs[0], r, m))) {
          p->can_grow = false;
          break;
        }
        if (p->n == 0)
          p->oldest_ns = r->t_queue_ns;
        p->reqs[p->n++] = r;
        p->size += r->batch_size;
        if (is_preferred(s, p->size))
          p->n_pref = p->n;
        if (p->size >= s->max_batch)
          p->can_grow = false;
      }
    }
  }
}

/* Fails (REJECT) or moves behind (DELAY) requests whose queue timeout
 * passed, and fails cancelled ones. Collects failures in *out (linked by
 * next) to be completed without the lock. Returns the earliest pending
 * deadline (0 = none). */
static uint64_t expire(dyn_sched_t *s, uint64_t now, inferd_request_t **out) {
  uint64_t next = 0;
  for (uint32_t l = 0; l < s->n_levels; l++) {
    db_queue_t *q = &s->queues[l];
    for (int pass = 0; pass < 2; pass++) {
      inferd_request_t **h = pass ? &q->dhead : &q->head;
      inferd_request_t **t = pass ? &q->dtail : &q->tail;
      inferd_request_t *prev = NULL, *r = *h;
      while (r) {
        inferd_request_t *nx = r->next;
        bool cancelled = atomic_load(&r->cancelled);
        bool timed_out =
            !pass && r->sched_deadline_ns && r->sched_deadline_ns <= now;
        if (cancelled || (timed_out && !q->delay_action)) {
          q_unlink(h, t, prev, r);
          q->n--;
          r->sched_deadline_ns = cancelled ? 0 : 1; /* reason for the error */
          r->next = *out;
          *out = r;
        } else if (timed_out) { /* DELAY: behind every waiting request */
          q_unlink(h, t, prev, r);
          r->sched_delayed = true;
          q_push(&q->dhead, &q->dtail, r);
        } else {
          if (!pass && r->sched_deadline_ns &&
              (!next || r->sched_deadline_ns < next))
            next = r->sched_deadline_ns;
          prev = r;
        }
        r = nx;
      }
    }
  }
  return next;
}

static void fail_list(inferd_request_t *r) {
  while (r) {
    inferd_request_t *nx = r->next;
    r->next = NULL;
    atomic_store(&r->on_cancel, NULL);
    bool cancelled = r->sched_deadline_ns == 0;
    core_request_fail(
        r, cancelled ? inferd_status_new(INFERD_CANCELLED, "request cancelled")
                     : inferd_status_new(INFERD_UNAVAILABLE,
                                         "request timeout expired"));
    r = nx;
  }
}

/* Starts fn(arg) as t's thread; under mu, t not alive, not stopping. The
 * predecessor joined here exited before t's last thread started. */
static bool spawn(dyn_sched_t *s, db_thread_t *t, void *(*fn)(void *),
                  void *arg, const char *what) {
  if (t->prev_joinable) {
    pthread_join(t->prev, NULL);
    t->prev_joinable = false;
  }
  pthread_t th;
  int rc = pthread_create(&th, NULL, fn, arg);
  if (rc != 0) {
    LOG_ERROR("model \"%s\" version %lld: cannot start %s (error %d)",
              s->base.set->name, (long long)s->base.set->version, what, rc);
    return false;
  }
  if (t->joinable) {
    t->prev = t->cur;
    t->prev_joinable = true;
  }
  t->cur = th;
  t->joinable = true;
  t->alive = true;
  return true;
}

/* Joins every thread t ever started; when no thread can start t any more. */
static void join_all(db_thread_t *t) {
  if (t->prev_joinable)
    pthread_join(t->prev, NULL);
  if (t->joinable)
    pthread_join(t->cur, NULL);
  t->prev_joinable = t->joinable = false;
}

static void *slot_main(void *p);

/* The slot for the next batch: an idle one whose thread runs if there is
 * one (no thread start on a busy model), else an idle one to start. */
static db_slot_t *pick_slot(dyn_sched_t *s) {
  db_slot_t *cold = NULL;
  for (uint32_t i = 0; i < s->n_slots; i++) {
    db_slot_t *sl = &s->slots[i];
    if (sl->busy)
      continue;
    if (sl->th.alive)
      return sl;
    if (!cold)
      cold = sl;
  }
  return cold;
}

static bool queues_empty(const dyn_sched_t *s) {
  for (uint32_t l = 0; l < s->n_levels; l++)
    if (s->queues[l].n)
      return false;
  return true;
}

static bool any_busy(const dyn_sched_t *s) {
  for (uint32_t i = 0; i < s->n_slots; i++)
    if (s->slots[i].busy)
      return true;
  return false;
}

static void *batcher_main(void *p) {
  dyn_sched_t *s = p;
  inferd_request_t **buf = s->plan_buf;
  uint64_t idle_since = 0;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    uint64_t now = core_now_ns();
    inferd_request_t *failed = NULL;
    uint64_t wake_at = expire(s, now, &failed);
    s->wake = false;
    if (failed) {
      pthread_mutex_unlock(&s->mu);
      fail_list(failed);
      pthread_mutex_lock(&s->mu);
      continue; /* state may have changed meanwhile */
    }
    db_slot_t *idle = pick_slot(s);
    if (idle) {
      batch_plan_t plan = {.reqs = buf};
      plan_batch(s, &plan);
      if (plan.n > 0) {
        uint64_t due = plan.oldest_ns + s->max_delay_ns;
        bool ready =
            !plan.can_grow || s->max_delay_ns == 0 || now >= due ||
            (s->n_preferred && plan.size >= s->preferred[s->n_preferred - 1]);
        if (ready) {
          uint32_t take = plan.n_pref ? plan.n_pref : plan.n;
          bool started = idle->th.alive || spawn(s, &idle->th, slot_main, idle,
                                                 "an execution thread");
          for (uint32_t i = 0; i < take; i++) {
            remove_queued(s, buf[i]);
            atomic_store(&buf[i]->on_cancel, NULL);
            idle->batch[i] = buf[i];
          }
          if (!started) { /* answer rather than strand the batch */
            pthread_mutex_unlock(&s->mu);
            for (uint32_t i = 0; i < take; i++)
              core_request_fail(idle->batch[i], sched_err_no_thread(&s->base));
            pthread_mutex_lock(&s->mu);
            continue;
          }
          idle->n = take;
          idle->busy = true;
          pthread_cond_signal(&idle->cv);
          continue;
        }
        if (!wake_at || due < wake_at)
          wake_at = due;
      }
    }
    if (s->wake)
      continue;
    if (s->idle_ns && queues_empty(s) && !any_busy(s)) {
      /* nothing to do and nothing that will come back to it: exit when
       * this lasted idle_ns (enqueue starts a new batcher) */
      if (!idle_since)
        idle_since = now;
      else if (now - idle_since >= s->idle_ns)
        break;
      wake_at = idle_since + s->idle_ns;
    } else {
      idle_since = 0;
    }
    if (wake_at) {
      struct timespec ts;
      sched_timespec_at(&ts, wake_at);
      pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    } else {
      pthread_cond_wait(&s->cv, &s->mu);
    }
  }
  s->batcher.alive = false;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void *slot_main(void *p) {
  db_slot_t *slot = p;
  dyn_sched_t *s = slot->s;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    bool timed_out = false;
    if (!slot->n && !s->stopping) {
      struct timespec ts;
      if (s->idle_ns)
        sched_timespec_at(&ts, core_now_ns() + s->idle_ns);
      while (!slot->n && !s->stopping && !timed_out)
        if (!s->idle_ns)
          pthread_cond_wait(&slot->cv, &s->mu);
        else
          timed_out =
              pthread_cond_timedwait(&slot->cv, &s->mu, &ts) == ETIMEDOUT;
    }
    if (!slot->n) /* stopping, or idle too long: the batcher sees it gone */
      break;
    uint32_t n = slot->n;
    pthread_mutex_unlock(&s->mu);
    s->base.set->execute(s->base.set->ctx, slot->instance, slot->batch, n);
    pthread_mutex_lock(&s->mu);
    slot->n = 0;
    slot->busy = false;
    pthread_cond_signal(&s->cv);
  }
  slot->th.alive = false;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* -------------------------------------------------------------- sched ops */

/* Wakes the batcher, starting one if it exited; under mu, not stopping.
 * False when none runs and none could start. */
static bool wake_batcher(dyn_sched_t *s) {
  if (s->batcher.alive) {
    pthread_cond_signal(&s->cv);
    return true;
  }
  return spawn(s, &s->batcher, batcher_main, s, "the batcher thread");
}

static void on_cancel(inferd_request_t *r) {
  dyn_sched_t *s = (dyn_sched_t *)r->sched_owner;
  pthread_mutex_lock(&s->mu);
  s->wake = true;
  /* a queued request with no batcher awaits a deferred kick, which starts
   * one that will see the cancel */
  if (s->batcher.alive)
    pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static inferd_status_t *enqueue(sched_t *base, inferd_request_t *r) {
  r->sched_owner = base;
  dyn_sched_t *s = (dyn_sched_t *)base;
  uint32_t level = s->default_level;
  if (s->n_levels > 1 && r->priority >= 1 && r->priority <= s->n_levels)
    level = (uint32_t)r->priority - 1;
  db_queue_t *q = &s->queues[level];
  uint64_t timeout_us = q->default_timeout_us;
  if (q->allow_override && r->timeout_us &&
      (!timeout_us || r->timeout_us < timeout_us))
    timeout_us = r->timeout_us;
  r->sched_level = level;
  r->sched_delayed = false;
  r->sched_deadline_ns = timeout_us ? r->t_queue_ns + timeout_us * 1000u : 0;
  if (s->preserve) {
    inferd_status_t *st = po_attach(s, r);
    if (st)
      return st;
  }
  pthread_mutex_lock(&s->mu);
  inferd_status_t *st = NULL;
  if (s->stopping)
    st = sched_err_unloading(base);
  else if (q->max_size && q->n >= q->max_size)
    st = inferd_status_new(INFERD_UNAVAILABLE,
                           "model \"%s\" version %lld: exceeds maximum queue "
                           "size %u",
                           base->set->name, (long long)base->set->version,
                           q->max_size);
  bool defer = !st && sched_defer_wakeup(base);
  if (!st && !defer && !wake_batcher(s))
    st = sched_err_no_thread(base);
  if (st) {
    pthread_mutex_unlock(&s->mu);
    if (s->preserve)
      po_detach(s, r);
    return st;
  }
  atomic_store(&r->on_cancel, on_cancel);
  q_push(&q->head, &q->tail, r);
  q->n++;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Unlinks every queued request into one list (linked by next); under mu. */
static inferd_request_t *take_queues(dyn_sched_t *s) {
  inferd_request_t *failed = NULL;
  for (uint32_t l = 0; l < s->n_levels; l++) {
    db_queue_t *q = &s->queues[l];
    for (int pass = 0; pass < 2; pass++) {
      inferd_request_t *r = pass ? q->dhead : q->head;
      while (r) {
        inferd_request_t *nx = r->next;
        r->next = failed;
        failed = r;
        r = nx;
      }
    }
    q->head = q->tail = q->dhead = q->dtail = NULL;
    q->n = 0;
  }
  return failed;
}

static void kick(sched_t *base) {
  dyn_sched_t *s = (dyn_sched_t *)base;
  inferd_request_t *stranded = NULL;
  pthread_mutex_lock(&s->mu);
  if (!s->stopping && !wake_batcher(s))
    stranded = take_queues(s); /* deferred requests no batcher can run */
  pthread_mutex_unlock(&s->mu);
  sched_fail_list(stranded, sched_err_no_thread, base);
}

static void drain(sched_t *base) {
  dyn_sched_t *s = (dyn_sched_t *)base;
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  inferd_request_t *failed = take_queues(s);
  pthread_cond_broadcast(&s->cv);
  for (uint32_t i = 0; i < s->n_slots; i++)
    pthread_cond_broadcast(&s->slots[i].cv);
  pthread_mutex_unlock(&s->mu);
  sched_fail_list(failed, sched_err_unloading, base);
}

static void stop(sched_t *base) {
  dyn_sched_t *s = (dyn_sched_t *)base;
  drain(base);
  /* stopping is set: only the batcher could still start slot threads, and
   * it stops first; the threads need mu to finish, so join without it */
  join_all(&s->batcher);
  for (uint32_t i = 0; i < s->n_slots; i++)
    join_all(&s->slots[i].th);
}

static void sched_free(sched_t *base) {
  dyn_sched_t *s = (dyn_sched_t *)base;
  for (uint32_t i = 0; i < s->n_slots; i++) {
    pthread_cond_destroy(&s->slots[i].cv);
    free(s->slots[i].batch);
  }
  free(s->slots);
  free(s->plan_buf);
  free(s->queues);
  free(s->preferred);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->po_mu);
  free(s);
}

static const sched_ops_t dyn_ops = {.name = "dynamic_batching",
                                    .enqueue = enqueue,
                                    .drain = drain,
                                    .stop = stop,
                                    .kick = kick,
                                    .free = sched_free};

static void policy_from(db_queue_t *q, const Inference__ModelQueuePolicy *p) {
  if (!p)
    return;
  q->max_size = p->max_queue_size;
  q->default_timeout_us = p->default_timeout_microseconds;
  q->allow_override = p->allow_timeout_override;
  q->delay_action =
      p->timeout_action == INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

inferd_status_t *sched_dynamic_new(const sched_instance_set_t *set,
                                   sched_t **out) {
  const cfg_model_t *c = set->config;
  const Inference__ModelDynamicBatching *db = c->dynamic_batching;
  if (set->n_instances == 0)
    return inferd_status_new(INFERD_INTERNAL, "model \"%s\": no instance",
                             set->name);
  uint64_t idle_ns;
  inferd_status_t *st = sched_idle_timeout_ns(set, &idle_ns);
  if (st)
    return st;
  dyn_sched_t *s = calloc(1, sizeof(*s));
  if (!s)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  s->base.ops = &dyn_ops;
  s->base.set = set;
  s->idle_ns = idle_ns;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->po_mu, NULL);
  sched_cond_init(&s->cv);
  s->max_batch = c->max_batch_size > 0 ? (uint64_t)c->max_batch_size : 1;
  s->max_delay_ns = db->max_queue_delay_microseconds * 1000u;
  s->preserve = db->preserve_ordering;
  s->n_levels = db->priority_levels > 0 ? (uint32_t)db->priority_levels : 1;
  s->default_level = db->priority_levels > 0 && db->default_priority_level > 0
                         ? (uint32_t)db->default_priority_level - 1
                         : 0;
  if (s->default_level >= s->n_levels)
    s->default_level = s->n_levels - 1;
  s->queues = calloc(s->n_levels, sizeof(db_queue_t));
  s->preferred = calloc(db->n_preferred_batch_size + 1, sizeof(uint64_t));
  s->slots = calloc(set->n_instances, sizeof(db_slot_t));
  s->plan_buf = calloc(s->max_batch + 1, sizeof(inferd_request_t *));
  if (!s->queues || !s->preferred || !s->slots || !s->plan_buf) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < db->n_preferred_batch_size; i++)
    if (db->preferred_batch_size[i] > 0)
      s->preferred[s->n_preferred++] = (uint64_t)db->preferred_batch_size[i];
  qsort(s->preferred, s->n_preferred, sizeof(uint64_t), cmp_u64);
  for (uint32_t l = 0; l < s->n_levels; l++)
    policy_from(&s->queues[l], db->default_queue_policy);
  for (size_t i = 0; i < db->n_priority_queue_policy; i++) {
    uint64_t key = db->priority_queue_policy[i]->key;
    if (key >= 1 && key <= s->n_levels)
      policy_from(&s->queues[key - 1], db->priority_queue_policy[i]->value);
  }
  s->n_slots = set->n_instances;
  for (uint32_t i = 0; i < s->n_slots; i++) {
    db_slot_t *sl = &s->slots[i];
    sl->s = s;
    sl->instance = i;
    sched_cond_init(&sl->cv);
    sl->batch = calloc(s->max_batch, sizeof(inferd_request_t *));
    if (!sl->batch) {
      st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
      goto fail;
    }
  }
  /* the batcher and the slots' threads start with the first request */
  *out = &s->base;
  return NULL;
fail:
  sched_free(&s->base);
  return st;
}
