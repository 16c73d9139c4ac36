/*
 * stats.c: recording per-model statistics (reference §1.11). Hot counters
 * are relaxed atomics; the per-batch-size table grows under a mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/model.h"

void model_stats_init(model_stats_t *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->batch_mu, NULL);
}

void model_stats_deinit(model_stats_t *s) {
  free(s->batch);
  s->batch = NULL;
  pthread_mutex_destroy(&s->batch_mu);
}

void model_stats_add(model_duration_t *d, uint64_t ns) {
  atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&d->ns, ns, memory_order_relaxed);
}

void model_stats_batch(model_stats_t *s, uint64_t batch_size, uint64_t input_ns,
                       uint64_t infer_ns, uint64_t output_ns) {
  pthread_mutex_lock(&s->batch_mu);
  model_batch_stat_t *b = NULL;
  for (uint32_t i = 0; i < s->n_batch; i++)
    if (s->batch[i].batch_size == batch_size)
      b = &s->batch[i];
  if (!b) {
    if (s->n_batch == s->cap_batch) {
      uint32_t nc = s->cap_batch ? s->cap_batch * 2 : 8;
      model_batch_stat_t *p = realloc(s->batch, sizeof(*p) * nc);
      if (!p) {
        pthread_mutex_unlock(&s->batch_mu);
        return; /* statistics are best effort under memory pressure */
      }
      s->batch = p;
      s->cap_batch = nc;
    }
    b = &s->batch[s->n_batch++];
    memset(b, 0, sizeof(*b));
    b->batch_size = batch_size;
  }
  model_stats_add(&b->compute_input, input_ns);
  model_stats_add(&b->compute_infer, infer_ns);
  model_stats_add(&b->compute_output, output_ns);
  pthread_mutex_unlock(&s->batch_mu);
}
