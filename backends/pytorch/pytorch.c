/*
 * pytorch.c: the pytorch backend: TorchScript models (model.pt) run through
 * libtorch (Triton's `backend: "pytorch"`, `platform: "pytorch_libtorch"`).
 *
 * model_init loads the file once to check it and to map the config onto
 * forward(): inputs by forward()'s argument names, else by Triton's
 * <name>__<index> convention; outputs by <name>__<index> into the flattened
 * tensor/tuple/list result, else in config order. That first copy is handed
 * to the first instance; every other instance loads its own copy (a module is
 * never shared between instance threads).
 *
 * Threads and JIT (parameters as Triton's pytorch backend names them):
 *  INTRA_OP_THREAD_COUNT   OpenMP threads of each instance thread; default
 *                          max(1, usable CPUs / instances of the model), so
 *                          N instances do not oversubscribe the cores.
 *  INTER_OP_THREAD_COUNT   process-wide inter-op pool (settable once).
 *  ENABLE_JIT_PROFILING    default false: the profiling executor re-profiles
 *                          and re-optimises for every new input shape (2-3
 *                          slow calls per new batch size, measured), which a
 *                          dynamic batcher keeps hitting; the legacy executor
 *                          optimises once. Process-wide in libtorch.
 *  DISABLE_OPTIMIZED_EXECUTION  default false; per instance thread.
 *  WARMUP_ITERATIONS       default 1: forward() calls with zeros at batch 1
 *                          in instance_init (only when every config dim is
 *                          fixed), so the first request is not the slow one.
 * Every forward() runs under c10::InferenceMode (no autograd records).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bk_util.h"
#include "../common/fw_exec.h"
#include "torch_shim.h"

typedef struct pt_model {
  fw_model_io_t io;
  uint32_t *in_pos;      /* config input i → forward() argument in_pos[i] */
  uint32_t *out_pos;     /* config output i → flattened result out_pos[i] */
  int64_t intra_threads; /* 0: derive from the instance count */
  bool optimize;
  int64_t warmup;
  ts_module_t *spare; /* loaded by model_init, taken by the first instance */
  atomic_uint n_instances;
} pt_model_t;

typedef struct pt_instance {
  pt_model_t *model;
  ts_module_t *mod;
  int intra;
} pt_instance_t;

static inferd_status_t *shim_error(inferd_code_t code, char *msg,
                                   const char *fmt_prefix_model,
                                   const char *what) {
  inferd_status_t *st =
      bk_host->status_new(code, "model \"%s\": %s: %s", fmt_prefix_model, what,
                          msg ? msg : "out of memory");
  free(msg);
  return st;
}

static void pt_model_free(pt_model_t *s) {
  if (!s)
    return;
  ts_free(s->spare);
  free(s->in_pos);
  free(s->out_pos);
  fw_model_io_deinit(&s->io);
  free(s);
}

/* Lists forward()'s arguments for error messages. */
static const char *arg_list(const ts_module_t *mod, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < ts_arg_count(mod) && used < size; i++) {
    int n = snprintf(buf + used, size - used, "%s\"%s\"", i ? ", " : "",
                     ts_arg_name(mod, i));
    if (n < 0)
      break;
    used += (size_t)n;
  }
  return buf;
}

static inferd_status_t *map_inputs(const char *model, pt_model_t *s,
                                   const ts_module_t *mod) {
  uint32_t n_args = ts_arg_count(mod);
  char args[512];
  if (n_args != s->io.n_in)
    return bk_host->status_new(
        INFERD_INVALID_ARG,
        "model \"%s\": config has %u inputs, forward() takes %u (%s)", model,
        s->io.n_in, n_args, arg_list(mod, args, sizeof(args)));
  bool by_name = true;
  for (uint32_t i = 0; i < s->io.n_in && by_name; i++) {
    by_name = false;
    for (uint32_t a = 0; a < n_args; a++)
      if (strcmp(s->io.in[i].name, ts_arg_name(mod, a)) == 0) {
        s->in_pos[i] = a;
        by_name = true;
      }
  }
  if (by_name)
    return NULL;
  bool seen[n_args];
  memset(seen, 0, sizeof(seen));
  for (uint32_t i = 0; i < s->io.n_in; i++) {
    int k = fw_index_suffix(s->io.in[i].name);
    if (k < 0 || (uint32_t)k >= n_args || seen[k])
      return bk_host->status_new(
          INFERD_INVALID_ARG,
          "model \"%s\": input \"%s\" matches no argument of forward() (%s); "
          "name inputs after the arguments or <name>__<index> with distinct "
          "indices below %u",
          model, s->io.in[i].name, arg_list(mod, args, sizeof(args)), n_args);
    seen[k] = true;
    s->in_pos[i] = (uint32_t)k;
  }
  return NULL;
}

static void map_outputs(pt_model_t *s) {
  bool by_index = true;
  for (uint32_t i = 0; i < s->io.n_out && by_index; i++)
    by_index = fw_index_suffix(s->io.out[i].name) >= 0;
  for (uint32_t i = 0; i < s->io.n_out; i++)
    s->out_pos[i] = by_index ? (uint32_t)fw_index_suffix(s->io.out[i].name) : i;
}

static inferd_status_t *pt_model_init(inferd_backend_model_t *m) {
  const char *model = bk_host->model_name(m);
  pt_model_t *s = calloc(1, sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  s->optimize = true;
  s->warmup = 1;
  inferd_status_t *st = fw_model_io_init(m, &s->io);
  if (st) {
    free(s);
    return st;
  }
  for (uint32_t i = 0; i < s->io.n_in + s->io.n_out && !st; i++) {
    bool out = i >= s->io.n_in;
    const fw_io_t *c = out ? &s->io.out[i - s->io.n_in] : &s->io.in[i];
    if (!ts_dtype_supported(c->dt))
      st = bk_host->status_new(
          INFERD_UNSUPPORTED,
          "model \"%s\": %s \"%s\": data type %s is not supported by the "
          "pytorch backend (BOOL, UINT8, INT8/16/32/64, FP16, BF16, FP32, "
          "FP64)",
          model, out ? "output" : "input", c->name,
          inferd_datatype_name(c->dt));
  }
  bool disable_opt = false, profiling = false;
  int64_t inter = 0;
  if (!st)
    st = bk_param_int(m, "INTRA_OP_THREAD_COUNT", 0, 1024, &s->intra_threads);
  if (!st)
    st = bk_param_int(m, "INTER_OP_THREAD_COUNT", 0, 1024, &inter);
  if (!st)
    st = bk_param_int(m, "WARMUP_ITERATIONS", 0, 100, &s->warmup);
  if (!st)
    st = bk_param_bool(m, "DISABLE_OPTIMIZED_EXECUTION", &disable_opt);
  if (!st)
    st = bk_param_bool(m, "ENABLE_JIT_PROFILING", &profiling);
  if (st) {
    pt_model_free(s);
    return st;
  }
  s->optimize = !disable_opt;
  /* Process-wide: the last model that sets it wins, as in Triton. */
  ts_set_profiling(profiling);
  if (inter > 0) {
    char *err = ts_set_interop_threads((int)inter);
    if (err) {
      pt_model_free(s);
      return shim_error(INFERD_INVALID_ARG, err, model,
                        "parameter \"INTER_OP_THREAD_COUNT\"");
    }
  }
  s->in_pos = calloc(s->io.n_in, sizeof(*s->in_pos));
  s->out_pos = calloc(s->io.n_out, sizeof(*s->out_pos));
  if (!s->in_pos || !s->out_pos) {
    pt_model_free(s);
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate state", model);
  }
  const char *path = bk_host->model_file_path(m);
  uint64_t t0 = bk_host->now_ns();
  char *err = ts_load(path, -1, &s->spare);
  if (err) {
    pt_model_free(s);
    char what[1200];
    snprintf(what, sizeof(what), "cannot load TorchScript file \"%s\"", path);
    return shim_error(INFERD_INVALID_ARG, err, model, what);
  }
  st = map_inputs(model, s, s->spare);
  if (st) {
    pt_model_free(s);
    return st;
  }
  map_outputs(s);
  BK_LOG(BK_LOG_INFO,
         "model \"%s\": TorchScript \"%s\" loaded by libtorch in %.0f ms "
         "(profiling executor %s, optimized execution %s)",
         model, path, (double)(bk_host->now_ns() - t0) / 1e6,
         profiling ? "on" : "off", s->optimize ? "on" : "off");
  bk_host->model_set_state(m, s);
  return NULL;
}

static void pt_model_fini(inferd_backend_model_t *m) {
  pt_model_free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

/* ---- running ---- */

static inferd_status_t *pt_run(void *ctx, const fw_tensor_t *inputs,
                               uint32_t n_in, const bool *want,
                               fw_tensor_t *outputs, void **result) {
  (void)want; /* TorchScript computes every output anyway */
  pt_instance_t *pi = ctx;
  pt_model_t *s = pi->model;
  ts_input_t args[n_in];
  for (uint32_t i = 0; i < n_in; i++) {
    ts_input_t *a = &args[s->in_pos[i]];
    a->dt = inputs[i].dt;
    a->shape = inputs[i].shape;
    a->n_dims = inputs[i].n_dims;
    a->data = inputs[i].data;
  }
  ts_result_t *r = NULL;
  char *err = ts_forward(pi->mod, args, n_in, &r);
  if (err) {
    inferd_status_t *st =
        bk_host->status_new(INFERD_INTERNAL, "pytorch forward() failed: %s",
                            err ? err : "out of memory");
    free(err);
    return st;
  }
  uint32_t n_res = ts_result_count(r);
  for (uint32_t o = 0; o < s->io.n_out; o++) {
    fw_tensor_t *t = &outputs[o];
    if (s->out_pos[o] >= n_res) {
      ts_result_free(r);
      return bk_host->status_new(
          INFERD_INTERNAL,
          "output \"%s\": maps to result %u of forward(), which returned %u "
          "tensor(s)",
          s->io.out[o].name, s->out_pos[o], n_res);
    }
    int32_t dt;
    const int64_t *shape;
    uint32_t nd;
    ts_result_tensor(r, s->out_pos[o], &dt, &shape, &nd, &t->data,
                     &t->byte_size);
    if (nd > FW_MAX_DIMS) {
      ts_result_free(r);
      return bk_host->status_new(INFERD_UNSUPPORTED,
                                 "output \"%s\": more than %d dims",
                                 s->io.out[o].name, FW_MAX_DIMS);
    }
    t->dt = dt;
    t->n_dims = nd;
    memcpy(t->shape, shape, nd * sizeof(int64_t));
  }
  *result = r;
  return NULL;
}

static void pt_release(void *ctx, void *result) {
  (void)ctx;
  ts_result_free(result);
}

static int default_intra(const pt_model_t *s) {
  if (s->intra_threads > 0)
    return (int)s->intra_threads;
  unsigned n = atomic_load(&s->n_instances);
  int cpus = fw_cpu_count();
  int t = n ? cpus / (int)n : cpus;
  return t > 0 ? t : 1;
}

/* Runs forward() on zeros at batch 1 when every dim is known. */
static inferd_status_t *warm_up(const char *model, pt_instance_t *pi) {
  pt_model_t *s = pi->model;
  if (s->warmup <= 0)
    return NULL;
  uint32_t n = s->io.n_in;
  fw_tensor_t ins[n];
  void *bufs[n];
  memset(bufs, 0, sizeof(bufs));
  inferd_status_t *st = NULL;
  bool batching = s->io.max_batch_size > 0;
  for (uint32_t i = 0; i < n && !st; i++) {
    const fw_io_t *c = &s->io.in[i];
    fw_tensor_t *t = &ins[i];
    t->dt = c->dt;
    t->n_dims = 0;
    if (batching)
      t->shape[t->n_dims++] = 1;
    uint64_t count = 1;
    for (uint32_t d = 0; d < c->n_dims; d++) {
      if (c->dims[d] < 0) {
        BK_LOG(BK_LOG_VERBOSE,
               "model \"%s\": no warm-up: input \"%s\" has a variable dim",
               model, c->name);
        for (uint32_t k = 0; k < i; k++)
          free(bufs[k]);
        return NULL;
      }
      t->shape[t->n_dims++] = c->dims[d];
      count *= (uint64_t)c->dims[d];
    }
    t->byte_size = count * inferd_datatype_size(c->dt);
    bufs[i] = calloc(1, t->byte_size ? (size_t)t->byte_size : 1);
    if (!bufs[i])
      st = bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": warm-up: out of memory", model);
    t->data = bufs[i];
  }
  for (int64_t it = 0; it < s->warmup && !st; it++) {
    fw_tensor_t outs[s->io.n_out];
    bool want[s->io.n_out];
    void *res = NULL;
    memset(want, 1, sizeof(want));
    st = pt_run(pi, ins, n, want, outs, &res);
    if (res)
      pt_release(pi, res);
  }
  for (uint32_t i = 0; i < n; i++)
    free(bufs[i]);
  if (st) {
    inferd_status_t *w = bk_host->status_new(
        bk_host->status_code(st), "model \"%s\": warm-up with zeros failed: %s",
        model, bk_host->status_message(st));
    bk_host->status_free(st);
    return w;
  }
  return NULL;
}

static inferd_status_t *pt_instance_init(inferd_backend_instance_t *inst) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  const char *model = bk_host->model_name(m);
  pt_model_t *s = bk_host->model_state(m);
  int32_t kind = bk_host->instance_kind(inst);
  int device = -1;
  if (kind == INFERD_INSTANCE_KIND_GPU) {
    int32_t id = bk_host->instance_device_id(inst);
    if (!ts_cuda_available())
      return bk_host->status_new(
          INFERD_UNSUPPORTED,
          "model \"%s\": instance \"%s\": KIND_GPU needs a CUDA-enabled "
          "libtorch and a GPU; this libtorch reports none "
          "(torch::cuda::is_available() is false)",
          model, bk_host->instance_name(inst));
    if (id < 0 || id >= ts_cuda_device_count())
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": instance \"%s\": GPU %d does "
                                 "not exist (libtorch sees %d)",
                                 model, bk_host->instance_name(inst), (int)id,
                                 ts_cuda_device_count());
    device = id;
  }
  pt_instance_t *pi = calloc(1, sizeof(*pi));
  if (!pi)
    return bk_host->status_new(INFERD_NO_MEMORY,
                               "model \"%s\": cannot allocate instance", model);
  pi->model = s;
  if (s->spare && device < 0) {
    pi->mod = s->spare;
    s->spare = NULL;
  } else {
    char *err = ts_load(bk_host->model_file_path(m), device, &pi->mod);
    if (err) {
      free(pi);
      return shim_error(INFERD_INTERNAL, err, model,
                        "instance: cannot load the TorchScript file");
    }
  }
  inferd_status_t *st = warm_up(model, pi);
  if (st) {
    ts_free(pi->mod);
    free(pi);
    return st;
  }
  atomic_fetch_add(&s->n_instances, 1);
  bk_host->instance_set_state(inst, pi);
  return NULL;
}

static void pt_instance_fini(inferd_backend_instance_t *inst) {
  pt_instance_t *pi = bk_host->instance_state(inst);
  if (!pi)
    return;
  atomic_fetch_sub(&pi->model->n_instances, 1);
  ts_free(pi->mod);
  free(pi);
  bk_host->instance_set_state(inst, NULL);
}

static inferd_status_t *pt_execute(inferd_backend_instance_t *inst,
                                   inferd_request_t *const *requests,
                                   uint32_t n) {
  pt_instance_t *pi = bk_host->instance_state(inst);
  /* libtorch's settings are per OS thread, and the server may run an
   * instance on a new thread after it was idle: set up each thread once
   * (a thread serves one instance only) */
  static _Thread_local bool thread_ready;
  if (!thread_ready) {
    pi->intra = default_intra(pi->model);
    ts_thread_setup(pi->intra, pi->model->optimize);
    thread_ready = true;
    BK_LOG(BK_LOG_VERBOSE, "instance \"%s\": %d intra-op thread(s)",
           bk_host->instance_name(inst), pi->intra);
  }
  return fw_execute(inst, &pi->model->io, requests, n, pt_run, pt_release, pi);
}

static const inferd_backend_api_t pt_api = {
    INFERD_BACKEND_API_HEADER,         .model_init = pt_model_init,
    .model_fini = pt_model_fini,       .instance_init = pt_instance_init,
    .instance_fini = pt_instance_fini, .execute = pt_execute,
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("pytorch", host, &pt_api, api);
}
