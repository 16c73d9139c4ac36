/*
 * model_config.c: loading a model's config.pbtxt and making it complete:
 * server-side autofill (name, backend, platform from the files of the first
 * version directory; reference §3.6), normalisation (version policy,
 * batching defaults, instance groups, pinned memory) and validation
 * (reference §3.7).
 *
 * Validation only checks that a config is well-formed; whether inferd can
 * serve a feature is decided by the engine. Errors name the config file, the
 * line:column the offending value came from (the parser's position table)
 * and the field path, e.g. `config.pbtxt:9:12: input[1] "INPUT1": dims must
 * be >= 1 or -1, got 0`.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config_internal.h"

#define MAX_CONFIG_BYTES (16u << 20)

typedef struct vctx {
  const cfg_load_options_t *opts;
  cfg_model_t *cfg;
  const char *label; /* file path or description */
  const cfg_pos_table_t *pos;
} vctx_t;

static inferd_status_t *oom(void) {
  return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
}

/* Error at the position of (msg, field, index) when the parser saw it. */
static inferd_status_t *verr(const vctx_t *v, const void *msg,
                             const char *field, size_t index, const char *fmt,
                             ...) INFERD_PRINTF(5, 6);
static inferd_status_t *verr(const vctx_t *v, const void *msg,
                             const char *field, size_t index, const char *fmt,
                             ...) {
  char text[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  const cfg_pos_t *p = field ? cfg_pos_find(v->pos, msg, field, index) : NULL;
  if (p)
    return inferd_status_new(INFERD_INVALID_ARG, "%s:%d:%d: %s", v->label,
                             p->line, p->col, text);
  return inferd_status_new(INFERD_INVALID_ARG, "%s: %s", v->label, text);
}

static bool empty(const char *s) { return !s || !*s; }
static bool eq(const char *s, const char *t) { return s && strcmp(s, t) == 0; }

/* Replaces a string field's value (frees the old unless it is the shared
 * empty default). */
static bool set_str(char **field, const char *value) {
  char *c = strdup(value);
  if (!c)
    return false;
  if (*field && *field != protobuf_c_empty_string)
    free(*field);
  *field = c;
  return true;
}

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", a, b);
  return p;
}

static bool path_exists(const char *dir, const char *name, bool *is_dir) {
  char *p = path_join(dir, name);
  if (!p)
    return false;
  struct stat st;
  bool ok = stat(p, &st) == 0;
  if (ok && is_dir)
    *is_dir = S_ISDIR(st.st_mode);
  free(p);
  return ok;
}

/* ---- autofill ------------------------------------------------------------ */

/* Lowest numeric version directory (reference §4.1 naming rules), malloc'd
 * path or NULL when there is none. */
static char *first_version_dir(const char *model_dir) {
  DIR *d = opendir(model_dir);
  if (!d)
    return NULL;
  struct dirent *e;
  long long best = -1;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    size_t len = strlen(n);
    if (len == 0 || len > 18 || (n[0] == '0' && len > 1))
      continue;
    bool digits = true;
    for (size_t i = 0; i < len; i++)
      if (n[i] < '0' || n[i] > '9')
        digits = false;
    if (!digits)
      continue;
    bool is_dir = false;
    if (!path_exists(model_dir, n, &is_dir) || !is_dir)
      continue;
    long long v = strtoll(n, NULL, 10);
    if (best < 0 || v < best)
      best = v;
  }
  closedir(d);
  if (best < 0)
    return NULL;
  char num[32];
  snprintf(num, sizeof(num), "%lld", best);
  return path_join(model_dir, num);
}

/* The backend a known platform implies, or NULL. */
static const char *backend_of_platform(const char *platform) {
  if (eq(platform, "tensorflow_graphdef") ||
      eq(platform, "tensorflow_savedmodel"))
    return "tensorflow";
  if (eq(platform, "tensorrt_plan"))
    return "tensorrt";
  if (eq(platform, "onnxruntime_onnx"))
    return "onnxruntime";
  if (eq(platform, "pytorch_libtorch") || eq(platform, "libtorch") ||
      eq(platform, "torch_aoti"))
    return "pytorch";
  return NULL;
}

/* Is the file there in the version dir, or named by default_model_filename? */
static bool has_file(const char *vdir, const cfg_model_t *c, const char *name) {
  if (eq(c->default_model_filename, name))
    return true;
  return vdir && path_exists(vdir, name, NULL);
}

static inferd_status_t *autofill(const vctx_t *v) {
  cfg_model_t *c = v->cfg;
  const cfg_load_options_t *o = v->opts;
  if (empty(c->name) && o->model_name && !set_str(&c->name, o->model_name))
    return oom();
  if (eq(c->platform, "ensemble"))
    return NULL;
  char *vdir = o->model_dir ? first_version_dir(o->model_dir) : NULL;
  const char *backend = NULL, *platform = NULL;
  if (empty(c->backend) && empty(c->platform)) {
    static const struct {
      const char *file, *backend, *platform;
    } known[] = {
        {"model.savedmodel", "tensorflow", "tensorflow_savedmodel"},
        {"model.graphdef", "tensorflow", "tensorflow_graphdef"},
        {"model.plan", "tensorrt", "tensorrt_plan"},
        {"model.onnx", "onnxruntime", "onnxruntime_onnx"},
        {"model.xml", "openvino", NULL},
        {"model.pt", "pytorch", "pytorch_libtorch"},
        {"model.pt2", "pytorch", "torch_aoti"},
        {"model.py", "python", NULL},
        {"model.dali", "dali", NULL},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
      if (has_file(vdir, c, known[i].file)) {
        backend = known[i].backend;
        platform = known[i].platform;
        break;
      }
    if (!backend) {
      /* custom backend: a directory named <name>.<backend> */
      const char *n = o->model_name ? o->model_name : c->name;
      const char *dot = n ? strrchr(n, '.') : NULL;
      if (!dot || !dot[1]) {
        free(vdir);
        return verr(v, NULL, NULL, 0,
                    "Could not determine backend for model \"%s\": the "
                    "config sets neither \"backend\" nor \"platform\" and "
                    "the first version directory has no known model file "
                    "(model.onnx, model.pt, model.py, model.plan, "
                    "model.graphdef, model.savedmodel, ...); a custom "
                    "backend needs a model directory named "
                    "'<name>.<backend>'",
                    n ? n : "");
      }
      backend = dot + 1;
      if (empty(c->default_model_filename)) {
        char fname[256];
        snprintf(fname, sizeof(fname), "model.%s", backend);
        if (!set_str(&c->default_model_filename, fname)) {
          free(vdir);
          return oom();
        }
      }
    }
  } else if (empty(c->backend)) {
    backend = backend_of_platform(c->platform);
    if (!backend) {
      free(vdir);
      return verr(v, c, "platform", 0,
                  "Could not determine backend for model \"%s\": unknown "
                  "platform \"%s\" and no \"backend\" given",
                  c->name, c->platform);
    }
    if (eq(c->platform, "libtorch"))
      platform = "pytorch_libtorch";
  } else if (empty(c->platform)) {
    if (eq(c->backend, "onnxruntime"))
      platform = "onnxruntime_onnx";
    else if (eq(c->backend, "tensorrt"))
      platform = "tensorrt_plan";
    else if (eq(c->backend, "pytorch"))
      platform =
          has_file(vdir, c, "model.pt2") && !has_file(vdir, c, "model.pt")
              ? "torch_aoti"
              : "pytorch_libtorch";
    else if (eq(c->backend, "tensorflow")) {
      if (has_file(vdir, c, "model.savedmodel"))
        platform = "tensorflow_savedmodel";
      else if (has_file(vdir, c, "model.graphdef"))
        platform = "tensorflow_graphdef";
    }
  }
  free(vdir);
  if (backend && empty(c->backend) && !set_str(&c->backend, backend))
    return oom();
  if (platform && (empty(c->platform) || eq(c->platform, "libtorch")) &&
      !set_str(&c->platform, platform))
    return oom();
  return NULL;
}

/* ---- normalisation ------------------------------------------------------- */

static bool is_ensemble(const cfg_model_t *c) {
  return eq(c->platform, "ensemble");
}

static bool append_i32(size_t *n, int32_t **arr, int32_t v) {
  int32_t *na = realloc(*arr, (*n + 1) * sizeof(int32_t));
  if (!na)
    return false;
  na[(*n)++] = v;
  *arr = na;
  return true;
}

static inferd_status_t *normalize(const vctx_t *v) {
  cfg_model_t *c = v->cfg;
  if (!c->version_policy) {
    Inference__ModelVersionPolicy *p = malloc(sizeof(*p));
    Inference__ModelVersionPolicy__Latest *l = malloc(sizeof(*l));
    if (!p || !l) {
      free(p);
      free(l);
      return oom();
    }
    inference__model_version_policy__init(p);
    inference__model_version_policy__latest__init(l);
    l->num_versions = 1;
    p->policy_choice_case =
        INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST;
    p->latest = l;
    c->version_policy = p;
  }
  if (c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING &&
      c->dynamic_batching) {
    Inference__ModelDynamicBatching *db = c->dynamic_batching;
    if (db->n_preferred_batch_size == 0 && c->max_batch_size > 0 &&
        !append_i32(&db->n_preferred_batch_size, &db->preferred_batch_size,
                    c->max_batch_size))
      return oom();
  }
  if (c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_SEQUENCE_BATCHING &&
      c->sequence_batching) {
    Inference__ModelSequenceBatching *sb = c->sequence_batching;
    if (sb->max_sequence_idle_microseconds == 0)
      sb->max_sequence_idle_microseconds = 1000000;
    if (sb->strategy_choice_case ==
        INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE__NOT_SET) {
      Inference__ModelSequenceBatching__StrategyDirect *d =
          (Inference__ModelSequenceBatching__StrategyDirect *)cfg_message_new(
              &inference__model_sequence_batching__strategy_direct__descriptor);
      if (!d)
        return oom();
      sb->strategy_choice_case =
          INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_DIRECT;
      sb->direct = d;
    }
    if (sb->strategy_choice_case ==
            INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_OLDEST &&
        sb->oldest && sb->oldest->n_preferred_batch_size == 0 &&
        c->max_batch_size > 0 &&
        !append_i32(&sb->oldest->n_preferred_batch_size,
                    &sb->oldest->preferred_batch_size, c->max_batch_size))
      return oom();
  }
  if (is_ensemble(c))
    return NULL;

  /* pinned memory defaults */
  if (!c->optimization) {
    c->optimization = (Inference__ModelOptimizationPolicy *)cfg_message_new(
        &inference__model_optimization_policy__descriptor);
    if (!c->optimization)
      return oom();
  }
  Inference__ModelOptimizationPolicy__PinnedMemoryBuffer **pins[2] = {
      &c->optimization->input_pinned_memory,
      &c->optimization->output_pinned_memory};
  for (int i = 0; i < 2; i++)
    if (!*pins[i]) {
      *pins[i] = (Inference__ModelOptimizationPolicy__PinnedMemoryBuffer *)
          cfg_message_new(
              &inference__model_optimization_policy__pinned_memory_buffer__descriptor);
      if (!*pins[i])
        return oom();
      (*pins[i])->enable = 1;
    }

  /* instance groups */
  if (c->n_instance_group == 0) {
    Inference__ModelInstanceGroup *g =
        (Inference__ModelInstanceGroup *)cfg_message_new(
            &inference__model_instance_group__descriptor);
    if (!g)
      return oom();
    c->instance_group = malloc(sizeof(*c->instance_group));
    if (!c->instance_group) {
      free(g);
      return oom();
    }
    c->instance_group[0] = g;
    c->n_instance_group = 1;
  }
  int32_t ngpu = v->opts ? v->opts->gpu_count : 0;
  for (size_t i = 0; i < c->n_instance_group; i++) {
    Inference__ModelInstanceGroup *g = c->instance_group[i];
    if (empty(g->name)) {
      char nm[512];
      snprintf(nm, sizeof(nm), "%s_%zu", c->name ? c->name : "", i);
      if (!set_str(&g->name, nm))
        return oom();
    }
    if (g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_AUTO) {
      bool gpus_ok = ngpu > 0;
      for (size_t k = 0; k < g->n_gpus; k++)
        if (g->gpus[k] < 0 || g->gpus[k] >= ngpu)
          gpus_ok = false;
      g->kind = gpus_ok ? INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU
                        : INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU;
    }
    if (g->count < 1)
      g->count = g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU &&
                         (eq(c->backend, "onnxruntime") ||
                          eq(c->backend, "tensorflow"))
                     ? 2
                     : 1;
    if (g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU &&
        g->n_gpus == 0)
      for (int32_t k = 0; k < ngpu; k++)
        if (!append_i32(&g->n_gpus, &g->gpus, k))
          return oom();
  }
  return NULL;
}

/* ---- validation ---------------------------------------------------------- */

static inferd_status_t *check_platform_backend(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  if (is_ensemble(c)) {
    if (!empty(c->backend))
      return verr(v, c, "backend", 0,
                  "an ensemble (platform \"ensemble\") must not set "
                  "\"backend\", got \"%s\"",
                  c->backend);
    return NULL;
  }
  if (empty(c->backend))
    return verr(v, c, "platform", 0,
                "must specify \"backend\" (or a platform that implies one)");
  static const struct {
    const char *backend;
    const char *platforms[3];
  } pairs[] = {
      {"tensorflow", {"tensorflow_graphdef", "tensorflow_savedmodel", NULL}},
      {"tensorrt", {"tensorrt_plan", NULL, NULL}},
      {"onnxruntime", {"onnxruntime_onnx", NULL, NULL}},
      {"pytorch", {"pytorch_libtorch", "libtorch", "torch_aoti"}},
  };
  const char *implied = backend_of_platform(c->platform);
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
    if (!eq(c->backend, pairs[i].backend))
      continue;
    if (empty(c->platform))
      return NULL;
    for (int k = 0; k < 3; k++)
      if (eq(c->platform, pairs[i].platforms[k]))
        return NULL;
    goto mismatch;
  }
  /* other backends: a known framework platform must not be paired with it */
  if (!implied && !eq(c->platform, "ensemble"))
    return NULL;
mismatch:
  return verr(v, c, "platform", 0,
              "unexpected 'platform' and 'backend' pair: platform \"%s\" "
              "does not go with backend \"%s\"",
              c->platform, c->backend);
}

static bool tensorrt(const cfg_model_t *c) {
  return eq(c->platform, "tensorrt_plan") || eq(c->backend, "tensorrt");
}

/* Products of the segments between -1 wildcards; false on overflow. */
static bool segments(const int64_t *d, size_t n, int64_t *seg, size_t *nseg) {
  size_t k = 0;
  int64_t prod = 1;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || d[i] == -1) {
      if (k >= 65)
        return false;
      seg[k++] = prod;
      prod = 1;
      continue;
    }
    if (d[i] > 0 && prod > INT64_MAX / d[i])
      return false;
    prod *= d[i];
  }
  *nseg = k;
  return true;
}

static void dims_text(const int64_t *d, size_t n, char *buf, size_t cap) {
  size_t j = 0;
  j += (size_t)snprintf(buf + j, cap - j, "[");
  for (size_t i = 0; i < n && j + 24 < cap; i++)
    j += (size_t)snprintf(buf + j, cap - j, "%s%" PRId64, i ? "," : "", d[i]);
  snprintf(buf + j, cap - j, "]");
}

/* One input or output; kind "input"/"output". */
static inferd_status_t *
check_io(const vctx_t *v, const void *msg, const char *kind, size_t idx,
         const char *name, int data_type, const int64_t *dims, size_t n_dims,
         const Inference__ModelTensorReshape *reshape, bool shape_tensor,
         bool non_linear, int format) {
  const cfg_model_t *c = v->cfg;
  char who[300];
  snprintf(who, sizeof(who), "%s[%zu] \"%.200s\"", kind, idx, name ? name : "");
  if (empty(name))
    return verr(v, msg, "name", 0, "%s[%zu]: \"name\" must be set", kind, idx);
  if (data_type == INFERENCE__DATA_TYPE__TYPE_INVALID)
    return verr(v, msg, "data_type", 0,
                "%s: \"data_type\" must be set (not TYPE_INVALID)", who);
  if (n_dims == 0)
    return verr(v, msg, "name", 0,
                "%s: \"dims\" must not be empty (use dims: [ 1 ] with "
                "reshape: { shape: [ ] } for a scalar)",
                who);
  for (size_t i = 0; i < n_dims; i++)
    if (dims[i] < 1 && dims[i] != -1)
      return verr(v, msg, "dims", i,
                  "%s: dims must be >= 1 or -1, got %" PRId64, who, dims[i]);
  if (format == INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NHWC ||
      format == INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NCHW) {
    if (n_dims != 3)
      return verr(v, msg, "format", 0,
                  "%s: format %s needs exactly 3 dims (without the batch "
                  "dimension), got %zu",
                  who,
                  format == INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NHWC
                      ? "FORMAT_NHWC"
                      : "FORMAT_NCHW",
                  n_dims);
  }
  if (shape_tensor && !tensorrt(c))
    return verr(v, msg, "is_shape_tensor", 0,
                "%s: shape tensors are only supported for TensorRT models",
                who);
  if (non_linear) {
    if (!tensorrt(c))
      return verr(v, msg, "is_non_linear_format_io", 0,
                  "%s: non-linear format IO is only supported for TensorRT "
                  "models",
                  who);
    if (n_dims != 3)
      return verr(v, msg, "is_non_linear_format_io", 0,
                  "%s: non-linear format IO needs 3 dims, got %zu", who,
                  n_dims);
  }
  if (reshape) {
    char a[200], b[200];
    dims_text(dims, n_dims, a, sizeof(a));
    dims_text(reshape->shape, reshape->n_shape, b, sizeof(b));
    for (size_t i = 0; i < reshape->n_shape; i++)
      if (reshape->shape[i] < 1 && reshape->shape[i] != -1)
        return verr(v, reshape, "shape", i,
                    "%s: reshape dims must be >= 1 or -1, got %" PRId64, who,
                    reshape->shape[i]);
    if (reshape->n_shape == 0) {
      bool one = true;
      for (size_t i = 0; i < n_dims; i++)
        if (dims[i] != 1)
          one = false;
      if (c->max_batch_size <= 0 || !one)
        return verr(v, msg, "reshape", 0,
                    "%s: an empty reshape is only allowed when "
                    "max_batch_size > 0 and dims have 1 element, got dims %s",
                    who, a);
      return NULL;
    }
    int64_t s1[66], s2[66];
    size_t n1 = 0, n2 = 0;
    if (!segments(dims, n_dims, s1, &n1) ||
        !segments(reshape->shape, reshape->n_shape, s2, &n2) || n1 != n2)
      goto bad_reshape;
    for (size_t i = 0; i < n1; i++)
      if (s1[i] != s2[i])
        goto bad_reshape;
    return NULL;
  bad_reshape:
    return verr(v, msg, "reshape", 0,
                "%s: reshape %s has a different element count than dims %s",
                who, b, a);
  }
  return NULL;
}

static inferd_status_t *check_ios(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  inferd_status_t *st;
  for (size_t i = 0; i < c->n_input; i++) {
    const Inference__ModelInput *in = c->input[i];
    if ((st = check_io(v, in, "input", i, in->name, in->data_type, in->dims,
                       in->n_dims, in->reshape, in->is_shape_tensor,
                       in->is_non_linear_format_io, in->format)))
      return st;
    for (size_t k = 0; k < i; k++)
      if (eq(c->input[k]->name, in->name))
        return verr(v, in, "name", 0,
                    "input[%zu]: duplicate input name \"%s\" (also input[%zu])",
                    i, in->name, k);
  }
  for (size_t i = 0; i < c->n_output; i++) {
    const Inference__ModelOutput *out = c->output[i];
    if ((st = check_io(v, out, "output", i, out->name, out->data_type,
                       out->dims, out->n_dims, out->reshape,
                       out->is_shape_tensor, out->is_non_linear_format_io,
                       INFERENCE__MODEL_INPUT__FORMAT__FORMAT_NONE)))
      return st;
    for (size_t k = 0; k < i; k++)
      if (eq(c->output[k]->name, out->name))
        return verr(v, out, "name", 0,
                    "output[%zu]: duplicate output name \"%s\" (also "
                    "output[%zu])",
                    i, out->name, k);
  }
  return NULL;
}

static inferd_status_t *check_preferred(const vctx_t *v, const void *msg,
                                        const char *where, const int32_t *p,
                                        size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] <= 0 || p[i] > v->cfg->max_batch_size)
      return verr(v, msg, "preferred_batch_size", i,
                  "%s.preferred_batch_size[%zu]: must be in [1, "
                  "max_batch_size = %d], got %d",
                  where, i, v->cfg->max_batch_size, p[i]);
  return NULL;
}

static inferd_status_t *check_dynamic(const vctx_t *v) {
  const Inference__ModelDynamicBatching *db = v->cfg->dynamic_batching;
  inferd_status_t *st =
      check_preferred(v, db, "dynamic_batching", db->preferred_batch_size,
                      db->n_preferred_batch_size);
  if (st)
    return st;
  if (db->priority_levels == 0) {
    if (db->default_priority_level != 0)
      return verr(v, db, "default_priority_level", 0,
                  "dynamic_batching.default_priority_level: must be 0 when "
                  "priority_levels is 0, got %" PRIu64,
                  db->default_priority_level);
    if (db->n_priority_queue_policy > 0)
      return verr(v, db, "priority_queue_policy", 0,
                  "dynamic_batching.priority_queue_policy: not allowed when "
                  "priority_levels is 0");
  } else {
    if (db->default_priority_level < 1 ||
        db->default_priority_level > db->priority_levels)
      return verr(v, db, "default_priority_level", 0,
                  "dynamic_batching.default_priority_level: must be in [1, "
                  "priority_levels = %" PRIu64 "], got %" PRIu64,
                  db->priority_levels, db->default_priority_level);
    for (size_t i = 0; i < db->n_priority_queue_policy; i++) {
      uint64_t k = db->priority_queue_policy[i]->key;
      if (k < 1 || k > db->priority_levels)
        return verr(v, db, "priority_queue_policy", i,
                    "dynamic_batching.priority_queue_policy: key %" PRIu64
                    " is not in [1, priority_levels = %" PRIu64 "]",
                    k, db->priority_levels);
    }
  }
  if (db->preserve_ordering) {
    if (db->priority_levels > 1)
      return verr(v, db, "preserve_ordering", 0,
                  "dynamic_batching: preserve_ordering needs at most one "
                  "priority level, got priority_levels %" PRIu64,
                  db->priority_levels);
    bool delay = db->default_queue_policy &&
                 db->default_queue_policy->timeout_action ==
                     INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY;
    for (size_t i = 0; i < db->n_priority_queue_policy; i++) {
      const Inference__ModelQueuePolicy *q =
          db->priority_queue_policy[i]->value;
      if (q && q->timeout_action ==
                   INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY)
        delay = true;
    }
    if (delay)
      return verr(v, db, "preserve_ordering", 0,
                  "dynamic_batching: preserve_ordering cannot be combined "
                  "with timeout_action DELAY");
  }
  return NULL;
}

static inferd_status_t *check_sequence(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  const Inference__ModelSequenceBatching *sb = c->sequence_batching;
  for (size_t i = 0; i < sb->n_control_input; i++) {
    const Inference__ModelSequenceBatching__ControlInput *ci =
        sb->control_input[i];
    if (empty(ci->name))
      return verr(v, sb, "control_input", i,
                  "sequence_batching.control_input[%zu]: \"name\" must be set",
                  i);
    if (ci->n_control == 0)
      return verr(v, sb, "control_input", i,
                  "sequence_batching.control_input[%zu] \"%s\": at least one "
                  "control is required",
                  i, ci->name);
    for (size_t k = 0; k < ci->n_control; k++) {
      const Inference__ModelSequenceBatching__Control *ct = ci->control[k];
      size_t nvals = (ct->n_int32_false_true > 0) +
                     (ct->n_fp32_false_true > 0) + (ct->n_bool_false_true > 0);
      if (ct->kind ==
          INFERENCE__MODEL_SEQUENCE_BATCHING__CONTROL__KIND__CONTROL_SEQUENCE_CORRID) {
        if (nvals)
          return verr(v, ct, "kind", 0,
                      "sequence_batching.control_input[%zu] \"%s\": "
                      "CONTROL_SEQUENCE_CORRID takes no false/true values",
                      i, ci->name);
        int dt = ct->data_type;
        if (dt != INFERENCE__DATA_TYPE__TYPE_UINT64 &&
            dt != INFERENCE__DATA_TYPE__TYPE_INT64 &&
            dt != INFERENCE__DATA_TYPE__TYPE_UINT32 &&
            dt != INFERENCE__DATA_TYPE__TYPE_INT32 &&
            dt != INFERENCE__DATA_TYPE__TYPE_STRING)
          return verr(v, ct, "data_type", 0,
                      "sequence_batching.control_input[%zu] \"%s\": "
                      "CONTROL_SEQUENCE_CORRID data_type must be TYPE_UINT64, "
                      "TYPE_INT64, TYPE_UINT32, TYPE_INT32 or TYPE_STRING",
                      i, ci->name);
        continue;
      }
      size_t n = ct->n_int32_false_true + ct->n_fp32_false_true +
                 ct->n_bool_false_true;
      if (nvals != 1 || n != 2)
        return verr(v, ct, "kind", 0,
                    "sequence_batching.control_input[%zu] \"%s\": a "
                    "START/END/READY control needs exactly one of "
                    "int32_false_true, fp32_false_true, bool_false_true with "
                    "2 values",
                    i, ci->name);
    }
  }
  if (sb->strategy_choice_case ==
          INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_OLDEST &&
      sb->oldest) {
    inferd_status_t *st = check_preferred(
        v, sb->oldest, "sequence_batching.oldest",
        sb->oldest->preferred_batch_size, sb->oldest->n_preferred_batch_size);
    if (st)
      return st;
  }
  if (sb->strategy_choice_case ==
          INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_DIRECT &&
      sb->direct) {
    float u = sb->direct->minimum_slot_utilization;
    if (!(u >= 0.0f && u <= 1.0f))
      return verr(v, sb->direct, "minimum_slot_utilization", 0,
                  "sequence_batching.direct.minimum_slot_utilization: must be "
                  "in [0, 1], got %g",
                  (double)u);
  }
  if (c->response_cache && c->response_cache->enable)
    return verr(v, c->response_cache, "enable", 0,
                "response_cache cannot be enabled with sequence_batching");
  return NULL;
}

static inferd_status_t *check_groups(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  int32_t ngpu = v->opts ? v->opts->gpu_count : 0;
  for (size_t i = 0; i < c->n_instance_group; i++) {
    const Inference__ModelInstanceGroup *g = c->instance_group[i];
    char who[300];
    snprintf(who, sizeof(who), "instance_group[%zu] \"%.200s\"", i,
             g->name ? g->name : "");
    if (g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU) {
      if (ngpu <= 0)
        return verr(v, g, "kind", 0,
                    "%s: kind KIND_GPU needs a CUDA GPU: %s (use KIND_CPU or "
                    "KIND_AUTO)",
                    who,
                    v->opts && v->opts->gpu_unavailable_reason
                        ? v->opts->gpu_unavailable_reason
                        : "no GPU is available");
      for (size_t k = 0; k < g->n_gpus; k++)
        if (g->gpus[k] < 0 || g->gpus[k] >= ngpu)
          return verr(v, g, "gpus", k,
                      "%s: invalid GPU id %d (%d GPU%s available: ids 0..%d)",
                      who, g->gpus[k], ngpu, ngpu == 1 ? "" : "s", ngpu - 1);
    } else if (g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU ||
               g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_MODEL) {
      if (g->n_gpus > 0)
        return verr(v, g, "gpus", 0, "%s: kind %s must not list GPUs", who,
                    g->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU
                        ? "KIND_CPU"
                        : "KIND_MODEL");
    } else if (g->kind != INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_AUTO) {
      return verr(v, g, "kind", 0, "%s: unknown kind %d", who, (int)g->kind);
    }
    if (g->count < 1)
      return verr(v, g, "count", 0, "%s: count must be >= 1, got %d", who,
                  g->count);
    for (size_t k = 0; k < g->n_profile; k++) {
      const char *p = g->profile[k];
      if (!tensorrt(c))
        return verr(v, g, "profile", k,
                    "%s: \"profile\" is only supported for TensorRT models",
                    who);
      bool ok = p && *p;
      for (const char *q = p; ok && *q; q++)
        if (*q < '0' || *q > '9')
          ok = false;
      if (!ok)
        return verr(v, g, "profile", k,
                    "%s: profile must be a non-negative integer, got \"%s\"",
                    who, p ? p : "");
    }
  }
  return NULL;
}

/* Does a map<string,string> (entries as messages) have this value? */
static bool in_map(void *const *entries, size_t n, const char *value) {
  for (size_t i = 0; i < n; i++) {
    const ProtobufCMessage *e = entries[i];
    const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
    if (eq(*(char *const *)((const char *)e + vf->offset), value))
      return true;
  }
  return false;
}

static inferd_status_t *check_ensemble(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  bool sched = c->scheduling_choice_case ==
               INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_ENSEMBLE_SCHEDULING;
  if (!is_ensemble(c)) {
    if (sched)
      return verr(v, c, "ensemble_scheduling", 0,
                  "ensemble_scheduling requires platform \"ensemble\"");
    return NULL;
  }
  if (!sched || !c->ensemble_scheduling || c->ensemble_scheduling->n_step == 0)
    return verr(v, c, "platform", 0,
                "an ensemble needs ensemble_scheduling with at least one "
                "step");
  if (c->n_instance_group > 0)
    return verr(v, c, "instance_group", 0,
                "instance_group is not allowed for an ensemble");
  if (c->optimization)
    return verr(v, c, "optimization", 0,
                "optimization is not allowed for an ensemble");
  if (c->n_model_warmup > 0)
    return verr(v, c, "model_warmup", 0,
                "model_warmup is not allowed for an ensemble");
  const Inference__ModelEnsembling *e = c->ensemble_scheduling;
  for (size_t s = 0; s < e->n_step; s++) {
    const Inference__ModelEnsembling__Step *st = e->step[s];
    if (empty(st->model_name))
      return verr(v, e, "step", s,
                  "ensemble_scheduling.step[%zu]: \"model_name\" must be set",
                  s);
    /* every consumed tensor must be an ensemble input or a step output */
    for (size_t k = 0; k < st->n_input_map; k++) {
      const char *t = st->input_map[k]->value;
      bool ok = false;
      for (size_t i = 0; i < c->n_input && !ok; i++)
        ok = eq(c->input[i]->name, t);
      for (size_t s2 = 0; s2 < e->n_step && !ok; s2++)
        ok = in_map((void *const *)e->step[s2]->output_map,
                    e->step[s2]->n_output_map, t);
      if (!ok)
        return verr(v, st, "input_map", k,
                    "ensemble_scheduling.step[%zu] (model \"%s\"): tensor "
                    "\"%s\" is neither an ensemble input nor produced by a "
                    "step",
                    s, st->model_name, t ? t : "");
    }
  }
  for (size_t i = 0; i < c->n_input; i++) {
    bool used = false;
    for (size_t s = 0; s < e->n_step && !used; s++)
      used = in_map((void *const *)e->step[s]->input_map,
                    e->step[s]->n_input_map, c->input[i]->name);
    if (!used)
      return verr(v, c->input[i], "name", 0,
                  "ensemble input \"%s\" is not used by any step",
                  c->input[i]->name);
  }
  for (size_t i = 0; i < c->n_output; i++) {
    bool made = false;
    for (size_t s = 0; s < e->n_step && !made; s++)
      made = in_map((void *const *)e->step[s]->output_map,
                    e->step[s]->n_output_map, c->output[i]->name);
    if (!made)
      return verr(v, c->output[i], "name", 0,
                  "ensemble output \"%s\" is not produced by any step",
                  c->output[i]->name);
  }
  return NULL;
}

/* ---- model_warmup ------------------------------------------------------- */

bool cfg_warmup_file_path_ok(const char *path) {
  if (empty(path) || path[0] == '/')
    return false;
  for (const char *p = path;;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') ||
        (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    if (!e)
      return true;
    p = e + 1;
  }
}

static const char *type_name(int dt) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
      &inference__data_type__descriptor, dt);
  return ev ? ev->name : "TYPE_INVALID";
}

/* A warmup input that is a sequence batcher control tensor rather than a
 * model input (Triton feeds those as override inputs). */
static bool is_control_input(const cfg_model_t *c, const char *name) {
  if (c->scheduling_choice_case !=
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_SEQUENCE_BATCHING ||
      !c->sequence_batching)
    return false;
  const Inference__ModelSequenceBatching *sb = c->sequence_batching;
  for (size_t i = 0; i < sb->n_control_input; i++)
    if (eq(sb->control_input[i]->name, name))
      return true;
  return false;
}

/* One input of sample `who`; `known` says whether the model's inputs and
 * max_batch_size are final (not left to the backend's auto-complete). */
static inferd_status_t *check_warmup_input(const vctx_t *v, const char *who,
                                           const Inference__ModelWarmup *w,
                                           size_t k, bool known) {
  const cfg_model_t *c = v->cfg;
  const Inference__ModelWarmup__InputsEntry *e = w->inputs[k];
  const Inference__ModelWarmup__Input *in = e->value;
  const char *name = e->key ? e->key : "";
  for (size_t j = 0; j < k; j++)
    if (eq(w->inputs[j]->key, name))
      return verr(v, w, "inputs", k, "%s: input \"%s\" is given twice", who,
                  name);
  if (!in || in->input_data_type_case ==
                 INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE__NOT_SET)
    return verr(v, w, "inputs", k,
                "%s: input \"%s\": one of zero_data, random_data or "
                "input_data_file must be set",
                who, name);
  if (in->data_type == INFERENCE__DATA_TYPE__TYPE_INVALID)
    return verr(v, w, "inputs", k,
                "%s: input \"%s\": \"data_type\" must be set (not "
                "TYPE_INVALID)",
                who, name);
  for (size_t d = 0; d < in->n_dims; d++)
    if (in->dims[d] < 0)
      return verr(v, in, "dims", d,
                  "%s: input \"%s\": dims must be >= 0 (a variable-size "
                  "dimension needs a size for warmup), got %" PRId64,
                  who, name, in->dims[d]);
  if (in->input_data_type_case ==
      INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE_INPUT_DATA_FILE) {
    const char *f = in->input_data_file;
    if (!cfg_warmup_file_path_ok(f))
      return verr(v, in, "input_data_file", 0,
                  "%s: input \"%s\": input_data_file \"%s\" must be a "
                  "relative path inside the model's warmup/ directory (not "
                  "absolute, no \"..\" or \".\" or empty component)",
                  who, name, f ? f : "");
    if (v->opts && v->opts->model_dir) {
      size_t n = strlen(v->opts->model_dir) + strlen(f) + 16;
      char *p = malloc(n);
      if (!p)
        return oom();
      snprintf(p, n, "%s/warmup/%s", v->opts->model_dir, f);
      struct stat sb;
      inferd_status_t *st = NULL;
      if (stat(p, &sb) != 0)
        st = verr(v, in, "input_data_file", 0,
                  "%s: input \"%s\": input_data_file \"%s\": cannot open "
                  "%s: %s",
                  who, name, f, p, strerror(errno));
      else if (!S_ISREG(sb.st_mode))
        st = verr(v, in, "input_data_file", 0,
                  "%s: input \"%s\": input_data_file \"%s\": %s is not a "
                  "regular file",
                  who, name, f, p);
      free(p);
      if (st)
        return st;
    }
  }
  if (!known || is_control_input(c, name))
    return NULL;
  const Inference__ModelInput *mi = NULL;
  for (size_t i = 0; i < c->n_input && !mi; i++)
    if (eq(c->input[i]->name, name))
      mi = c->input[i];
  if (!mi)
    return verr(v, w, "inputs", k,
                "%s: input \"%s\" is not an input of the "
                "model",
                who, name);
  if (in->data_type != mi->data_type)
    return verr(v, in, "data_type", 0,
                "%s: input \"%s\": expected data_type %s (as the model "
                "input), got %s",
                who, name, type_name(mi->data_type), type_name(in->data_type));
  bool same = in->n_dims == mi->n_dims;
  for (size_t d = 0; d < in->n_dims && same; d++)
    same = mi->dims[d] == -1 || mi->dims[d] == in->dims[d];
  if (!same) {
    char want[200], got[200];
    dims_text(mi->dims, mi->n_dims, want, sizeof(want));
    dims_text(in->dims, in->n_dims, got, sizeof(got));
    return verr(v, in, in->n_dims ? "dims" : "data_type", 0,
                "%s: input \"%s\": expected dims %s (as the model input, "
                "without the batch dimension), got %s",
                who, name, want, got);
  }
  return NULL;
}

static inferd_status_t *check_warmup(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  /* with auto-complete and no inputs yet, the backend fills in inputs and
   * max_batch_size at load; the config is validated again then */
  bool known = c->n_input > 0 || !(v->opts && v->opts->autocomplete);
  for (size_t i = 0; i < c->n_model_warmup; i++) {
    const Inference__ModelWarmup *w = c->model_warmup[i];
    char who[300];
    snprintf(who, sizeof(who), "model_warmup[%zu] \"%.200s\"", i,
             w->name ? w->name : "");
    inferd_status_t *st;
    for (size_t k = 0; k < w->n_inputs; k++)
      if ((st = check_warmup_input(v, who, w, k, known)))
        return st;
    if (!known)
      continue;
    if (c->max_batch_size == 0 && w->batch_size > 1)
      return verr(v, w, "batch_size", 0,
                  "%s: batch_size must be 0 or 1 for a model that does not "
                  "batch (max_batch_size 0), got %u",
                  who, w->batch_size);
    if (c->max_batch_size > 0 && w->batch_size > (uint32_t)c->max_batch_size)
      return verr(v, w, "batch_size", 0,
                  "%s: batch_size %u is out of range: it must be between 0 "
                  "and max_batch_size %d",
                  who, w->batch_size, c->max_batch_size);
    for (size_t j = 0; j < c->n_input; j++) {
      const Inference__ModelInput *mi = c->input[j];
      bool given = mi->optional;
      for (size_t k = 0; k < w->n_inputs && !given; k++)
        given = eq(w->inputs[k]->key, mi->name);
      if (!given)
        return verr(v, c, "model_warmup", i,
                    "%s: missing input \"%s\" (every non-optional model "
                    "input needs warmup data)",
                    who, mi->name);
    }
  }
  return NULL;
}

static inferd_status_t *validate(const vctx_t *v) {
  const cfg_model_t *c = v->cfg;
  const cfg_load_options_t *o = v->opts;
  inferd_status_t *st;
  if (empty(c->name))
    return verr(v, NULL, NULL, 0, "\"name\" must be set");
  if (o && o->model_name && !eq(c->name, o->model_name))
    return verr(v, c, "name", 0,
                "name \"%s\" does not match the model directory name \"%s\"",
                c->name, o->model_name);
  if ((st = check_platform_backend(v)))
    return st;
  if (c->max_batch_size < 0)
    return verr(v, c, "max_batch_size", 0,
                "max_batch_size must be >= 0, got %d", c->max_batch_size);
  const Inference__ModelVersionPolicy *vp = c->version_policy;
  if (!vp)
    return verr(v, NULL, NULL, 0, "\"version_policy\" must be set");
  if (vp->policy_choice_case ==
      INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC) {
    const Inference__ModelVersionPolicy__Specific *sp = vp->specific;
    if (!sp || sp->n_versions == 0)
      return verr(v, vp, "specific", 0,
                  "version_policy.specific: at least one version is "
                  "required");
    for (size_t i = 0; i < sp->n_versions; i++)
      if (sp->versions[i] < 0)
        return verr(v, sp, "versions", i,
                    "version_policy.specific.versions[%zu]: must be >= 0, "
                    "got %" PRId64,
                    i, sp->versions[i]);
  }
  if (c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING &&
      c->dynamic_batching && (st = check_dynamic(v)))
    return st;
  if (c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_SEQUENCE_BATCHING &&
      c->sequence_batching && (st = check_sequence(v)))
    return st;
  if ((st = check_ensemble(v)))
    return st;
  if (c->model_transaction_policy && c->model_transaction_policy->decoupled &&
      c->response_cache && c->response_cache->enable)
    return verr(v, c->response_cache, "enable", 0,
                "response_cache cannot be enabled for a decoupled model");
  if ((st = check_ios(v)))
    return st;
  if ((st = check_warmup(v)))
    return st;
  if (!is_ensemble(c) && c->n_instance_group == 0)
    return verr(v, NULL, NULL, 0, "at least one instance_group is required");
  return check_groups(v);
}

/* ---- entry points -------------------------------------------------------- */

inferd_status_t *cfg_complete_at(const cfg_load_options_t *opts,
                                 cfg_model_t *cfg, const char *label,
                                 const cfg_pos_table_t *pos) {
  vctx_t v = {opts, cfg, label, pos};
  inferd_status_t *st = autofill(&v);
  if (!st)
    st = normalize(&v);
  if (!st)
    st = validate(&v);
  return st;
}

inferd_status_t *cfg_complete(const cfg_load_options_t *opts,
                              cfg_model_t *cfg) {
  char label[300];
  snprintf(label, sizeof(label), "model \"%.200s\" config",
           opts && opts->model_name ? opts->model_name
                                    : (cfg->name ? cfg->name : ""));
  return cfg_complete_at(opts, cfg, label, NULL);
}

static inferd_status_t *read_file(const char *path, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return inferd_status_new(INFERD_INVALID_ARG, "%s: cannot open: %s", path,
                             strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return oom();
  }
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_CONFIG_BYTES) {
        free(buf);
        fclose(f);
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "%s: file is larger than %u bytes", path,
                                 MAX_CONFIG_BYTES);
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        return oom();
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return inferd_status_new(INFERD_INVALID_ARG, "%s: read error", path);
  }
  *data = buf;
  *len = n;
  return NULL;
}

inferd_status_t *cfg_load(const cfg_load_options_t *opts, cfg_model_t **out) {
  *out = NULL;
  if (!opts || !opts->model_dir)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "cfg_load: model directory not given");
  char *path = NULL;
  if (opts->model_config_name && *opts->model_config_name) {
    size_t n = strlen(opts->model_dir) + strlen(opts->model_config_name) + 16;
    path = malloc(n);
    if (!path)
      return oom();
    snprintf(path, n, "%s/configs/%s.pbtxt", opts->model_dir,
             opts->model_config_name);
    struct stat st;
    if (stat(path, &st) != 0) {
      free(path);
      path = NULL;
    }
  }
  if (!path && !(path = path_join(opts->model_dir, "config.pbtxt")))
    return oom();

  inferd_status_t *st = NULL;
  cfg_model_t *cfg = NULL;
  cfg_pos_table_t pos = {0};
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT || !opts->autocomplete) {
      st = inferd_status_new(
          errno == ENOENT ? INFERD_NOT_FOUND : INFERD_INVALID_ARG, "%s: %s%s",
          path, strerror(errno),
          errno == ENOENT ? " (a config file is required when auto-complete "
                            "is off, i.e. with strict model config)"
                          : "");
      goto out;
    }
    cfg = malloc(sizeof(*cfg));
    if (!cfg) {
      st = oom();
      goto out;
    }
    inference__model_config__init(cfg);
  } else if (S_ISDIR(sb.st_mode)) {
    st = inferd_status_new(INFERD_INVALID_ARG, "%s: is a directory", path);
    goto out;
  } else {
    char *text = NULL;
    size_t len = 0;
    if ((st = read_file(path, &text, &len)))
      goto out;
    ProtobufCMessage *m = NULL;
    st = cfg_text_parse_pos(&inference__model_config__descriptor, text, len,
                            path, &m, &pos);
    free(text);
    if (st)
      goto out;
    cfg = (cfg_model_t *)m;
  }
  st = cfg_complete_at(opts, cfg, path, &pos);
out:
  cfg_pos_table_deinit(&pos);
  free(path);
  if (st) {
    cfg_free(cfg);
    return st;
  }
  *out = cfg;
  return NULL;
}

const char *cfg_default_model_filename(const cfg_model_t *cfg) {
  if (!empty(cfg->default_model_filename))
    return cfg->default_model_filename;
  const char *p = cfg->platform, *b = cfg->backend;
  if (eq(p, "tensorrt_plan") || eq(b, "tensorrt"))
    return "model.plan";
  if (eq(p, "onnxruntime_onnx") || eq(b, "onnxruntime"))
    return "model.onnx";
  if (eq(p, "torch_aoti"))
    return "model.pt2";
  if (eq(p, "pytorch_libtorch") || eq(p, "libtorch") || eq(b, "pytorch"))
    return "model.pt";
  if (eq(p, "tensorflow_savedmodel"))
    return "model.savedmodel";
  if (eq(p, "tensorflow_graphdef"))
    return "model.graphdef";
  if (eq(b, "tensorflow"))
    return "model.savedmodel";
  if (eq(b, "openvino"))
    return "model.xml";
  if (eq(b, "python"))
    return "model.py";
  if (eq(b, "dali"))
    return "model.dali";
  if (eq(p, "ensemble"))
    return "";
  if (empty(b))
    return "";
  /* model.<backend> in static storage per thread: cfg is const */
  static _Thread_local char buf[256];
  snprintf(buf, sizeof(buf), "model.%s", b);
  return buf;
}

void cfg_free(cfg_model_t *cfg) {
  if (cfg)
    protobuf_c_message_free_unpacked(&cfg->base, NULL);
}
