/*
 * cuda_add_sub.c: the add_sub model (Triton's `simple`) on a CUDA GPU, the
 * backend that proves the GPU layer (issue 10). INPUT0 and INPUT1 (INT32 or
 * FP32, equal shapes) give OUTPUT0 = INPUT0 + INPUT1 and OUTPUT1 = INPUT0 -
 * INPUT1, computed by a kernel on the instance's device and stream.
 *
 * Memory: inputs are read with their memory type (request_input_buffer);
 * one contiguous buffer already on the instance's device is used in place,
 * anything else is copied to a per-instance device scratch. Outputs are
 * asked for in device memory (ABI 1.2 response_output_memory); when the
 * server gives host memory instead the result is copied back from scratch.
 *
 * Only KIND_GPU instances: instance_init refuses a host without a CUDA
 * device (quoting cudaGetDeviceCount) and any other kind. Each instance owns
 * one stream and its scratch; execute runs on the instance's thread only.
 */
#include <cuda_runtime_api.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bk_util.h"
#include "add_sub_kernel.h"

typedef struct cas_instance {
  inferd_datatype_t dt;
  int device;
  cudaStream_t stream;
  char *scratch; /* device memory: in0, in1, out0, out1 */
  size_t scratch_bytes;
} cas_instance_t;

static inferd_status_t *cuda_status(int code, cudaError_t e, const char *what,
                                    const char *who) {
  return bk_host->status_new(code, "%s: %s: error %d %s: %s", who, what, (int)e,
                             cudaGetErrorName(e), cudaGetErrorString(e));
}

static inferd_status_t *cas_model_init(inferd_backend_model_t *m) {
  const char *model = bk_host->model_name(m);
  if (bk_host->abi_minor < 2 ||
      bk_host->struct_size <
          offsetof(inferd_host_api_t, response_output_memory) + sizeof(void *))
    return bk_host->status_new(INFERD_UNSUPPORTED,
                               "model \"%s\": backend cuda_add_sub needs a "
                               "host with backend ABI 1.2, got 1.%u",
                               model, bk_host->abi_minor);
  static const char *const names[4] = {"INPUT0", "INPUT1", "OUTPUT0",
                                       "OUTPUT1"};
  inferd_datatype_t first = INFERD_TYPE_INVALID;
  for (int k = 0; k < 4; k++) {
    bool out = k >= 2, found = false;
    uint32_t n =
        out ? bk_host->model_output_count(m) : bk_host->model_input_count(m);
    for (uint32_t i = 0; i < n && !found; i++) {
      const char *nm;
      inferd_datatype_t dt;
      const int64_t *dims;
      uint32_t nd;
      if (out)
        bk_host->model_output(m, i, &nm, &dt, &dims, &nd);
      else
        bk_host->model_input(m, i, &nm, &dt, &dims, &nd);
      if (strcmp(nm, names[k]) != 0)
        continue;
      found = true;
      if (dt != INFERD_TYPE_INT32 && dt != INFERD_TYPE_FP32)
        return bk_host->status_new(INFERD_UNSUPPORTED,
                                   "model \"%s\": %s \"%s\": backend "
                                   "cuda_add_sub supports INT32 and FP32, "
                                   "got %s",
                                   model, out ? "output" : "input", names[k],
                                   inferd_datatype_name(dt));
      if (k == 0)
        first = dt;
      else if (dt != first)
        return bk_host->status_new(INFERD_INVALID_ARG,
                                   "model \"%s\": %s \"%s\": expected %s (as "
                                   "\"INPUT0\"), got %s",
                                   model, out ? "output" : "input", names[k],
                                   inferd_datatype_name(first),
                                   inferd_datatype_name(dt));
    }
    if (!found)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": backend cuda_add_sub needs "
                                 "an %s named \"%s\"",
                                 model, out ? "output" : "input", names[k]);
  }
  return NULL;
}

static inferd_status_t *cas_instance_init(inferd_backend_instance_t *inst) {
  const char *who = bk_host->instance_name(inst);
  int n = 0; /* left unwritten on failure */
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess)
    return bk_host->status_new(
        INFERD_UNAVAILABLE,
        "backend cuda_add_sub needs a CUDA GPU: no CUDA device "
        "(cudaGetDeviceCount: error %d %s: %s)",
        (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
  if (n == 0)
    return bk_host->status_new(INFERD_UNAVAILABLE,
                               "backend cuda_add_sub needs a CUDA GPU: no "
                               "CUDA device (cudaGetDeviceCount: 0 devices)");
  if (bk_host->instance_kind(inst) != INFERD_INSTANCE_KIND_GPU)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "backend cuda_add_sub runs only on KIND_GPU "
                               "instances, got kind %d",
                               (int)bk_host->instance_kind(inst));
  int dev = bk_host->instance_device_id(inst);
  if (dev < 0 || dev >= n)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "backend cuda_add_sub: no CUDA device %d (%d "
                               "devices)",
                               dev, n);
  cas_instance_t *s = calloc(1, sizeof(*s));
  if (!s)
    return bk_host->status_new(INFERD_NO_MEMORY, "out of memory");
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  const char *nm;
  const int64_t *dims;
  uint32_t nd;
  bk_host->model_input(m, 0, &nm, &s->dt, &dims, &nd);
  s->device = dev;
  if ((e = cudaSetDevice(dev)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) !=
          cudaSuccess) {
    free(s);
    return cuda_status(INFERD_INTERNAL, e, "creating the stream", who);
  }
  bk_host->instance_set_state(inst, s);
  BK_LOG(BK_LOG_INFO, "instance \"%s\": CUDA device %d", who, dev);
  return NULL;
}

static void cas_instance_fini(inferd_backend_instance_t *inst) {
  cas_instance_t *s = bk_host->instance_state(inst);
  if (!s)
    return;
  cudaSetDevice(s->device);
  cudaFree(s->scratch);
  cudaStreamDestroy(s->stream);
  free(s);
  bk_host->instance_set_state(inst, NULL);
}

#define ALIGN_UP(x) (((x) + 255u) & ~(size_t)255u)

/* Device pointer for input k: in place when it is one buffer on our device,
 * else copied (on the stream) into scratch at dst. */
static inferd_status_t *input_on_device(cas_instance_t *s, inferd_request_t *r,
                                        const bk_input_t *in, char *dst,
                                        const void **out) {
  const void *base;
  uint64_t size;
  inferd_memtype_t mt;
  int64_t dev;
  inferd_status_t *st;
  if (in->n_buffers == 1) {
    if ((st = bk_host->request_input_buffer(r, in->index, 0, &base, &size, &mt,
                                            &dev)))
      return st;
    if (mt == INFERD_MEM_GPU && dev == s->device) {
      *out = base;
      return NULL;
    }
  }
  uint64_t off = 0;
  for (uint32_t b = 0; b < in->n_buffers; b++) {
    if ((st = bk_host->request_input_buffer(r, in->index, b, &base, &size, &mt,
                                            &dev)))
      return st;
    /* cudaMemcpyDefault: the pointer says where it lives (unified
     * addressing), host or any device */
    cudaError_t e =
        cudaMemcpyAsync(dst + off, base, size, cudaMemcpyDefault, s->stream);
    if (e != cudaSuccess)
      return cuda_status(INFERD_INTERNAL, e, "copying an input", in->name);
    off += size;
  }
  *out = dst;
  return NULL;
}

static inferd_status_t *cas_fill(void *state, inferd_backend_model_t *m,
                                 inferd_request_t *r, inferd_response_t *resp) {
  cas_instance_t *s = state;
  const char *model = bk_host->model_name(m);
  static const char *const in_names[2] = {"INPUT0", "INPUT1"};
  bk_input_t in[2];
  inferd_status_t *st;
  for (int k = 0; k < 2; k++) {
    if ((st = bk_input_get(r, in_names[k], &in[k])))
      return st;
    if (in[k].dt != s->dt)
      return bk_host->status_new(
          INFERD_INVALID_ARG, "model \"%s\": input \"%s\": expected %s, got %s",
          model, in_names[k], inferd_datatype_name(s->dt),
          inferd_datatype_name(in[k].dt));
  }
  uint64_t count;
  if (!bk_element_count(in[0].shape, in[0].n_dims, &count) ||
      in[0].byte_size != count * 4 || in[1].byte_size != in[0].byte_size)
    return bk_host->status_new(INFERD_INVALID_ARG,
                               "model \"%s\": inputs \"INPUT0\" and \"INPUT1\" "
                               "must have the same shape and %" PRIu64 " bytes",
                               model, count * 4);
  size_t bytes = (size_t)in[0].byte_size, slot = ALIGN_UP(bytes);
  cudaError_t e = cudaSetDevice(s->device);
  if (e == cudaSuccess && s->scratch_bytes < 4 * slot) {
    cudaFree(s->scratch);
    s->scratch = NULL;
    s->scratch_bytes = 0;
    if ((e = cudaMalloc((void **)&s->scratch, 4 * slot)) == cudaSuccess)
      s->scratch_bytes = 4 * slot;
  }
  if (e != cudaSuccess)
    return cuda_status(INFERD_INTERNAL, e, "device scratch", model);
  const void *a, *b;
  if ((st = input_on_device(s, r, &in[0], s->scratch, &a)) ||
      (st = input_on_device(s, r, &in[1], s->scratch + slot, &b)))
    return st;
  /* outputs: in device memory when the server can place them there */
  void *dev_out[2] = {NULL, NULL}, *host_out[2] = {NULL, NULL};
  uint32_t n_req = bk_host->request_output_count(r);
  for (uint32_t o = 0; o < n_req; o++) {
    const char *name = bk_host->request_output_name(r, o);
    int k = name && strcmp(name, "OUTPUT0") == 0   ? 0
            : name && strcmp(name, "OUTPUT1") == 0 ? 1
                                                   : -1;
    if (k < 0)
      return bk_host->status_new(INFERD_INVALID_ARG,
                                 "model \"%s\": unexpected output \"%s\"",
                                 model, name ? name : "");
    void *buf = NULL;
    inferd_memtype_t mt;
    int64_t dev;
    if ((st = bk_host->response_output_memory(
             resp, name, s->dt, in[0].shape, in[0].n_dims, bytes,
             INFERD_MEM_GPU, s->device, &buf, &mt, &dev)))
      return st;
    if (mt == INFERD_MEM_GPU && dev == s->device)
      dev_out[k] = buf;
    else {
      dev_out[k] = s->scratch + (size_t)(2 + k) * slot;
      host_out[k] = buf;
    }
  }
  if ((e = (cudaError_t)cas_launch(s->dt == INFERD_TYPE_FP32, a, b, dev_out[0],
                                   dev_out[1], count, s->stream)) !=
      cudaSuccess)
    return cuda_status(INFERD_INTERNAL, e, "kernel launch", model);
  for (int k = 0; k < 2; k++)
    if (host_out[k] && bytes &&
        (e = cudaMemcpyAsync(host_out[k], dev_out[k], bytes,
                             cudaMemcpyDeviceToHost, s->stream)) != cudaSuccess)
      return cuda_status(INFERD_INTERNAL, e, "copying an output", model);
  if ((e = cudaStreamSynchronize(s->stream)) != cudaSuccess)
    return cuda_status(INFERD_INTERNAL, e, "stream", model);
  return NULL;
}

static inferd_status_t *cas_execute(inferd_backend_instance_t *inst,
                                    inferd_request_t *const *requests,
                                    uint32_t n) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  uint64_t start = bk_host->now_ns();
  bk_execute_each(inst, requests, n, bk_batch_size(m, requests, n), start,
                  start, cas_fill, bk_host->instance_state(inst));
  return NULL;
}

static const inferd_backend_api_t cas_api = {
    INFERD_BACKEND_API_HEADER,
    .model_init = cas_model_init,
    .instance_init = cas_instance_init,
    .instance_fini = cas_instance_fini,
    .execute = cas_execute, /* waits on the stream: not NONBLOCKING */
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("cuda_add_sub", host, &cas_api, api);
}
