/*
 * statistics.c: snapshots of per-model statistics for the statistics
 * extension (reference §1.11). Counters are read with relaxed atomics, so a
 * snapshot taken during traffic may mix counts from neighbouring requests;
 * once traffic stops the numbers are exact.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/model.h"
#include "repository/repository.h"
#include "server/server_internal.h"

static inferd_duration_stat_t dur(model_duration_t *d) {
  return (inferd_duration_stat_t){
      atomic_load_explicit(&d->count, memory_order_relaxed),
      atomic_load_explicit(&d->ns, memory_order_relaxed)};
}

static int cmp_batch(const void *a, const void *b) {
  uint64_t x = ((const inferd_batch_stat_t *)a)->batch_size;
  uint64_t y = ((const inferd_batch_stat_t *)b)->batch_size;
  return x < y ? -1 : x > y;
}

inferd_status_t *srv_stats_snapshot(inferd_model_t *m,
                                    inferd_model_stats_t *o) {
  model_stats_t *s = &m->stats;
  memset(o, 0, sizeof(*o));
  size_t len = strlen(m->name) + 1;
  if (!(o->name = malloc(len)))
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  memcpy(o->name, m->name, len);
  o->version = m->version;
  o->memory_bytes = m->memory_bytes;
  o->last_inference_ms = atomic_load(&s->last_inference_ms);
  o->inference_count = atomic_load(&s->inference_count);
  o->execution_count = atomic_load(&s->execution_count);
  o->success = dur(&s->success);
  o->fail = dur(&s->fail);
  o->queue = dur(&s->queue);
  o->compute_input = dur(&s->compute_input);
  o->compute_infer = dur(&s->compute_infer);
  o->compute_output = dur(&s->compute_output);
  pthread_mutex_lock(&s->batch_mu);
  if (s->n_batch) {
    o->batch = calloc(s->n_batch, sizeof(inferd_batch_stat_t));
    if (!o->batch) {
      pthread_mutex_unlock(&s->batch_mu);
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    }
    for (uint32_t i = 0; i < s->n_batch; i++) {
      o->batch[i].batch_size = s->batch[i].batch_size;
      o->batch[i].compute_input = dur(&s->batch[i].compute_input);
      o->batch[i].compute_infer = dur(&s->batch[i].compute_infer);
      o->batch[i].compute_output = dur(&s->batch[i].compute_output);
    }
    o->n_batch = s->n_batch;
  }
  pthread_mutex_unlock(&s->batch_mu);
  if (o->n_batch > 1)
    qsort(o->batch, o->n_batch, sizeof(inferd_batch_stat_t), cmp_batch);
  return NULL;
}

inferd_status_t *
inferd_server_model_statistics(inferd_server_t *s, const char *name,
                               size_t name_len, int64_t version,
                               inferd_model_stats_t **out, size_t *n) {
  inferd_model_t **models = NULL;
  size_t n_models = 0;
  inferd_status_t *st = NULL;
  if (name && version >= 0) {
    inferd_model_t *m = NULL;
    if ((st = repo_acquire(s->repo, name, name_len, version, &m)))
      return st;
    models = malloc(sizeof(*models));
    if (!models) {
      inferd_model_release(m);
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    }
    models[0] = m;
    n_models = 1;
  } else if ((st = repo_acquire_ready(s->repo, name, name_len, &models,
                                      &n_models))) {
    return st;
  }
  inferd_model_stats_t *res = calloc(n_models + 1, sizeof(*res));
  size_t k = 0;
  if (!res)
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; !st && i < n_models; i++, k++)
    st = srv_stats_snapshot(models[i], &res[i]);
  for (size_t i = 0; i < n_models; i++)
    inferd_model_release(models[i]);
  free(models);
  if (st) {
    inferd_model_stats_free(res, k);
    return st;
  }
  *out = res;
  *n = n_models;
  return NULL;
}

void inferd_model_stats_free(inferd_model_stats_t *stats, size_t n) {
  if (!stats)
    return;
  for (size_t i = 0; i < n; i++) {
    free(stats[i].name);
    free(stats[i].batch);
  }
  free(stats);
}
