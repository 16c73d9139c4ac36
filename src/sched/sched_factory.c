/*
 * sched_factory.c: chooses a model version's scheduler from its config.
 */
#include "sched/scheduler.h"

inferd_status_t *sched_new_for_model(const sched_instance_set_t *set,
                                     sched_t **out) {
  if (set->config->scheduling_choice_case ==
      INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING)
    return sched_dynamic_new(set, out);
  return sched_default_new(set, out);
}
