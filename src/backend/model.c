/*
 * model.c: loading and unloading one model version: backend, backend model,
 * instances and scheduler. Features of the config that inferd does not
 * implement yet make the load fail with UNSUPPORTED naming the field, rather
 * than being silently ignored.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/model.h"
#include "backend/warmup.h"
#include "core/clock.h"
#include "core/gpu.h"
#include "core/log.h"
#include "core/str.h"
#include "sched/scheduler.h"

/* resident set of the process, from /proc/self/statm */
static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size = 0, resident = 0;
  if (!f)
    return 0;
  int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void on_zero(core_ref_t *r) {
  inferd_model_t *m = (inferd_model_t *)r;
  if (m->on_unused)
    m->on_unused(m, m->owner_ctx);
}

/* the config features inferd cannot serve yet */
static inferd_status_t *check_supported(const cfg_model_t *c) {
  const char *what = NULL;
  if (c->scheduling_choice_case ==
      INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_SEQUENCE_BATCHING)
    what = "sequence_batching";
  else if (c->scheduling_choice_case ==
               INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_ENSEMBLE_SCHEDULING ||
           (c->platform && strcmp(c->platform, "ensemble") == 0))
    what = "ensemble_scheduling (platform \"ensemble\")";
  else if (c->response_cache && c->response_cache->enable)
    what = "response_cache";
  else if (c->n_batch_input > 0)
    what = "batch_input";
  else if (c->n_batch_output > 0)
    what = "batch_output";
  else if (c->model_repository_agents &&
           c->model_repository_agents->n_agents > 0)
    what = "model_repository_agents";
  if (what)
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "config field \"%s\" is not supported yet", what);
  for (size_t i = 0; i < c->n_input; i++)
    if (c->input[i]->reshape)
      return inferd_status_new(INFERD_UNSUPPORTED,
                               "input \"%s\": config field \"reshape\" is not "
                               "supported yet",
                               c->input[i]->name);
  for (size_t i = 0; i < c->n_output; i++)
    if (c->output[i]->reshape)
      return inferd_status_new(INFERD_UNSUPPORTED,
                               "output \"%s\": config field \"reshape\" is "
                               "not supported yet",
                               c->output[i]->name);
  for (size_t i = 0; i < c->n_instance_group; i++) {
    const Inference__ModelInstanceGroup *g = c->instance_group[i];
    if (g->passive)
      return inferd_status_new(INFERD_UNSUPPORTED,
                               "instance_group \"%s\": \"passive\" is not "
                               "supported yet",
                               g->name ? g->name : "");
    if (g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU) {
      /* the GPU layer's probe at start says whether, and why not */
      const core_gpu_t *gpu = core_gpu_global();
      int32_t n = core_gpu_device_count(gpu);
      if (n == 0)
        return inferd_status_new(INFERD_UNAVAILABLE,
                                 "instance_group \"%s\": KIND_GPU needs a "
                                 "CUDA GPU: %s",
                                 g->name ? g->name : "",
                                 core_gpu_unavailable_reason(gpu));
      for (size_t k = 0; k < g->n_gpus; k++)
        if (g->gpus[k] < 0 || g->gpus[k] >= n)
          return inferd_status_new(INFERD_INVALID_ARG,
                                   "instance_group \"%s\": gpus[%zu]: no "
                                   "CUDA device %d (%d device%s: ids 0..%d)",
                                   g->name ? g->name : "", k, g->gpus[k], n,
                                   n == 1 ? "" : "s", n - 1);
    }
  }
  return NULL;
}

static cfg_model_t *config_copy(const cfg_model_t *c) {
  size_t n = protobuf_c_message_get_packed_size(&c->base);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf)
    return NULL;
  protobuf_c_message_pack(&c->base, buf);
  cfg_model_t *copy = inference__model_config__unpack(NULL, n, buf);
  free(buf);
  return copy;
}

static inferd_status_t *build_io(inferd_model_t *m) {
  const cfg_model_t *c = m->config;
  m->inputs = calloc(c->n_input + 1, sizeof(model_io_t));
  m->outputs = calloc(c->n_output + 1, sizeof(model_io_t));
  m->output_names = calloc(c->n_output + 1, sizeof(char *));
  if (!m->inputs || !m->outputs || !m->output_names)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < c->n_input; i++) {
    const Inference__ModelInput *in = c->input[i];
    m->inputs[i] = (model_io_t){.name = in->name,
                                .dt = (inferd_datatype_t)in->data_type,
                                .dims = in->dims,
                                .n_dims = (uint32_t)in->n_dims,
                                .optional = in->optional,
                                .allow_ragged_batch = in->allow_ragged_batch,
                                .has_reshape = in->reshape != NULL};
  }
  for (size_t i = 0; i < c->n_output; i++) {
    const Inference__ModelOutput *o = c->output[i];
    m->outputs[i] = (model_io_t){.name = o->name,
                                 .dt = (inferd_datatype_t)o->data_type,
                                 .dims = o->dims,
                                 .n_dims = (uint32_t)o->n_dims,
                                 .has_reshape = o->reshape != NULL};
    m->output_names[i] = o->name;
  }
  m->n_inputs = (uint32_t)c->n_input;
  m->n_outputs = (uint32_t)c->n_output;
  return NULL;
}

static void free_io(inferd_model_t *m) {
  free(m->inputs);
  free(m->outputs);
  free(m->output_names);
  m->inputs = m->outputs = NULL;
  m->output_names = NULL;
  m->n_inputs = m->n_outputs = 0;
}

/* moves the repeated field of src into dst (dst's must be empty) */
#define TAKE(dst, src, field)                                                  \
  do {                                                                         \
    dst->field = src->field;                                                   \
    dst->n_##field = src->n_##field;                                           \
    src->field = NULL;                                                         \
    src->n_##field = 0;                                                        \
  } while (0)

inferd_status_t *model_complete_config(inferd_model_t *m, const char *json) {
  if (!m->in_model_init)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model \"%s\": the config can only be completed "
                             "during model_init",
                             m->name);
  ProtobufCMessage *msg = NULL;
  inferd_status_t *st = cfg_json_parse(&inference__model_config__descriptor,
                                       json, strlen(json), &msg);
  if (st)
    return inferd_status_prefix(st,
                                "model \"%s\": config completion from "
                                "the backend",
                                m->name);
  cfg_model_t *part = (cfg_model_t *)msg;
  cfg_model_t *c = config_copy(m->config);
  if (!c) {
    cfg_free(part);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  bool had_inputs = c->n_input > 0;
  if (!had_inputs && part->n_input)
    TAKE(c, part, input);
  if (c->n_output == 0 && part->n_output)
    TAKE(c, part, output);
  if (!had_inputs && c->max_batch_size == 0 && part->max_batch_size > 0)
    c->max_batch_size = part->max_batch_size;
  cfg_free(part);
  cfg_load_options_t o = {.model_dir = m->model_dir,
                          .model_name = m->name,
                          .model_config_name = NULL,
                          .autocomplete = true,
                          .gpu_count = core_gpu_device_count(core_gpu_global()),
                          .gpu_unavailable_reason =
                              core_gpu_unavailable_reason(core_gpu_global())};
  if ((st = cfg_complete(&o, c))) {
    cfg_free(c);
    return inferd_status_prefix(st,
                                "model \"%s\": config completed by the "
                                "backend",
                                m->name);
  }
  char *json_out = NULL;
  size_t json_len = 0;
  if ((st = cfg_json_print(&c->base, &json_out, &json_len))) {
    cfg_free(c);
    return st;
  }
  cfg_model_t *old = m->config;
  free_io(m);
  m->config = c;
  if ((st = build_io(m))) { /* out of memory: keep the new config */
    free(json_out);
    cfg_free(old);
    return st;
  }
  cfg_free(old);
  free(m->config_json);
  m->config_json = json_out;
  m->config_json_len = json_len;
  m->platform = m->config->platform && *m->config->platform
                    ? m->config->platform
                    : m->config->backend;
  LOG_INFO("model \"%s\" version %lld: config completed by backend \"%s\"",
           m->name, (long long)m->version, m->backend->name);
  return NULL;
}

static inferd_status_t *create_instances(inferd_model_t *m) {
  const cfg_model_t *c = m->config;
  uint32_t total = 0;
  for (size_t g = 0; g < c->n_instance_group; g++) {
    const Inference__ModelInstanceGroup *grp = c->instance_group[g];
    uint32_t per = grp->count > 0 ? (uint32_t)grp->count : 1;
    uint32_t devices = grp->n_gpus > 0 ? (uint32_t)grp->n_gpus : 1;
    total += per * devices;
  }
  if (total == 0)
    total = 1; /* the config layer normalises; be safe anyway */
  m->instances = calloc(total, sizeof(inferd_backend_instance_t));
  if (!m->instances)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  m->n_instances = total; /* names are freed over all slots on failure */
  uint32_t k = 0;
  for (size_t g = 0; g < c->n_instance_group; g++) {
    const Inference__ModelInstanceGroup *grp = c->instance_group[g];
    uint32_t per = grp->count > 0 ? (uint32_t)grp->count : 1;
    uint32_t devices = grp->n_gpus > 0 ? (uint32_t)grp->n_gpus : 1;
    for (uint32_t d = 0; d < devices; d++)
      for (uint32_t j = 0; j < per; j++) {
        inferd_backend_instance_t *inst = &m->instances[k];
        inst->model = m;
        inst->index = k;
        inst->kind = (int32_t)grp->kind;
        inst->device_id = grp->n_gpus > 0 ? grp->gpus[d] : 0;
        char name[256];
        snprintf(name, sizeof(name), "%s_%u",
                 grp->name && *grp->name ? grp->name : m->name, d * per + j);
        if (!(inst->name = core_strdup(name)))
          return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
        k++;
      }
  }
  if (k == 0) { /* no group at all: one CPU instance */
    inferd_backend_instance_t *inst = &m->instances[0];
    inst->model = m;
    inst->kind = INFERD_INSTANCE_KIND_CPU;
    char name[256];
    snprintf(name, sizeof(name), "%s_0", m->name);
    if (!(inst->name = core_strdup(name)))
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    k = 1;
  }
  m->n_instances = k;
  for (uint32_t i = 0; i < k; i++) {
    if (m->backend->api->instance_init) {
      inferd_status_t *st = m->backend->api->instance_init(&m->instances[i]);
      if (st)
        return inferd_status_prefix(st, "instance \"%s\"",
                                    m->instances[i].name);
    }
    m->instances[i].initialised = true;
  }
  return NULL;
}

static void model_destroy(inferd_model_t *m, bool model_initialised) {
  if (m->sched) {
    m->sched->ops->stop(m->sched);
    m->sched->ops->free(m->sched);
  }
  for (uint32_t i = 0; i < m->n_instances; i++) {
    if (m->instances[i].initialised && m->backend->api->instance_fini)
      m->backend->api->instance_fini(&m->instances[i]);
  }
  for (uint32_t i = 0; i < m->n_instances; i++)
    free(m->instances[i].name);
  free(m->instances);
  if (model_initialised && m->backend->api->model_fini)
    m->backend->api->model_fini(model_to_be(m));
  be_release(m->backend);
  model_stats_deinit(&m->stats);
  free_io(m);
  free(m->config_json);
  cfg_free(m->config);
  free(m->name);
  free(m->model_dir);
  free(m->version_dir);
  free(m->file_path);
  free(m);
}

inferd_status_t *model_load(inferd_server_t *s, be_registry_t *reg,
                            const char *name, int64_t version,
                            const char *model_dir, const cfg_model_t *cfg,
                            const model_run_opts_t *run,
                            model_unused_cb on_unused, void *ctx,
                            inferd_model_t **out) {
  uint64_t t0 = core_now_ns();
  inferd_model_t *m = calloc(1, sizeof(*m));
  if (!m)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  core_ref_init(&m->ref, on_zero);
  m->on_unused = on_unused;
  m->owner_ctx = ctx;
  model_stats_init(&m->stats);
  m->server = s;
  m->version = version;
  bool model_initialised = false;
  inferd_status_t *st = NULL;

  char vdir[4096];
  snprintf(vdir, sizeof(vdir), "%s/%lld", model_dir, (long long)version);
  m->name = core_strdup(name);
  m->model_dir = core_strdup(model_dir);
  m->version_dir = core_strdup(vdir);
  m->config = config_copy(cfg);
  if (!m->name || !m->model_dir || !m->version_dir || !m->config) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    goto fail;
  }
  char fpath[4096 + 256];
  snprintf(fpath, sizeof(fpath), "%s/%s", vdir,
           cfg_default_model_filename(m->config));
  if (!(m->file_path = core_strdup(fpath))) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
    goto fail;
  }
  m->platform = m->config->platform && *m->config->platform
                    ? m->config->platform
                    : m->config->backend;
  m->decoupled = m->config->model_transaction_policy &&
                 m->config->model_transaction_policy->decoupled;
  if ((st = check_supported(m->config)))
    goto fail;
  if ((st = cfg_json_print(&m->config->base, &m->config_json,
                           &m->config_json_len)))
    goto fail;
  if ((st = build_io(m)))
    goto fail;
  if ((st = be_acquire(reg, m->config->backend, model_dir, vdir, &m->backend)))
    goto fail;
  uint64_t rss0 = rss_bytes();
  m->in_model_init = true;
  if (m->backend->api->model_init)
    st = m->backend->api->model_init(model_to_be(m));
  m->in_model_init = false;
  if (st)
    goto fail;
  model_initialised = true;
  if ((st = create_instances(m)))
    goto fail;
  {
    const inferd_backend_api_t *api = m->backend->api;
    uint64_t rss1 = rss_bytes();
    if (api->struct_size >= offsetof(inferd_backend_api_t, model_memory_bytes) +
                                sizeof(void *) &&
        api->model_memory_bytes)
      m->memory_bytes = api->model_memory_bytes(model_to_be(m));
    else
      m->memory_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
  }
  m->iset = (sched_instance_set_t){.name = m->name,
                                   .version = m->version,
                                   .n_instances = m->n_instances,
                                   .config = m->config,
                                   .ref = &m->ref,
                                   .execute = model_execute,
                                   .ctx = m};
  m->iset.instance_idle_timeout_ms = run->idle_timeout_ms;
  {
    const inferd_backend_api_t *api = m->backend->api;
    m->iset.inline_ok =
        run->inline_execution &&
        api->struct_size >=
            offsetof(inferd_backend_api_t, flags) + sizeof(uint64_t) &&
        (api->flags & INFERD_BACKEND_FLAG_NONBLOCKING);
  }
  if ((st = sched_new_for_model(&m->iset, &m->sched)))
    goto fail;
  if ((st = model_warmup(m)))
    goto fail;
  m->load_ns = core_now_ns() - t0;
  LOG_INFO("loaded model \"%s\" version %lld (%u instance%s, backend \"%s\", "
           "scheduler \"%s\") in %.1f ms",
           name, (long long)version, m->n_instances,
           m->n_instances == 1 ? "" : "s", m->backend->name,
           m->sched->ops->name, (double)m->load_ns / 1e6);
  *out = m;
  return NULL;

fail:
  model_destroy(m, model_initialised);
  return st;
}

void model_drain(inferd_model_t *m) {
  if (m->sched)
    m->sched->ops->drain(m->sched);
}

void model_unload(inferd_model_t *m) {
  LOG_INFO("unloading model \"%s\" version %lld", m->name,
           (long long)m->version);
  model_destroy(m, true);
}
