/*
 * sched_factory.c: chooses a model version's scheduler from its config.
 */
#include "sched/scheduler.h"

inferd_status_t *sched_new_for_model(inferd_model_t *m, sched_t **out) {
  const cfg_model_t *c = m->config;
  if (c->scheduling_choice_case ==
      INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING)
    return sched_dynamic_new(m, out);
  return sched_default_new(m, out);
}
