/*
 * grpc_shm.c: the shared memory RPCs (reference §1.13, §2.3) on the
 * server's registry (inferd/server.h), with the same answers as the REST
 * routes (src/http/http_shm.c): an empty name means every region for
 * status and unregister. This build has no CUDA support: CudaSharedMemory-
 * Register answers UNIMPLEMENTED naming it, while CUDA status lists no
 * region and CUDA unregister has nothing to do, as a Triton built without
 * GPUs does (Triton's shm clients unregister all CUDA regions first).
 */
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc_internal.h"

static inferd_status_t *sys_status(grpc_frontend_t *fe, const uint8_t *req,
                                   size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__SystemSharedMemoryStatusRequest,
         inference__system_shared_memory_status_request__descriptor, in);
  bool all = !in->name || !*in->name;
  inferd_shm_region_status_t *st = NULL;
  size_t n = 0;
  inferd_status_t *e = inferd_server_shm_status(
      fe->server, all ? NULL : in->name, all ? 0 : strlen(in->name), &st, &n);
  FREE_MSG(in);
  if (e)
    return e;
  Inference__SystemSharedMemoryStatusResponse__RegionStatus *rs =
      calloc(n ? n : 1, sizeof(*rs));
  Inference__SystemSharedMemoryStatusResponse__RegionsEntry *re =
      calloc(n ? n : 1, sizeof(*re));
  Inference__SystemSharedMemoryStatusResponse__RegionsEntry **rp =
      calloc(n ? n : 1, sizeof(*rp));
  if (!rs || !re || !rp) {
    e = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  } else {
    for (size_t i = 0; i < n; i++) {
      inference__system_shared_memory_status_response__region_status__init(
          &rs[i]);
      rs[i].name = st[i].name;
      rs[i].key = st[i].key;
      rs[i].offset = st[i].offset;
      rs[i].byte_size = st[i].byte_size;
      inference__system_shared_memory_status_response__regions_entry__init(
          &re[i]);
      re[i].key = st[i].name;
      re[i].value = &rs[i];
      rp[i] = &re[i];
    }
    Inference__SystemSharedMemoryStatusResponse r =
        INFERENCE__SYSTEM_SHARED_MEMORY_STATUS_RESPONSE__INIT;
    r.regions = rp;
    r.n_regions = n;
    e = grpc_fe_pack(&r.base, reply);
  }
  free(rs), free(re), free(rp);
  inferd_shm_region_status_free(st, n);
  return e;
}

static inferd_status_t *sys_register(grpc_frontend_t *fe, const uint8_t *req,
                                     size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__SystemSharedMemoryRegisterRequest,
         inference__system_shared_memory_register_request__descriptor, in);
  const char *name = in->name ? in->name : "";
  const char *key = in->key ? in->key : "";
  inferd_status_t *st =
      inferd_server_shm_register(fe->server, name, strlen(name), key,
                                 strlen(key), in->offset, in->byte_size);
  FREE_MSG(in);
  if (st)
    return st;
  Inference__SystemSharedMemoryRegisterResponse r =
      INFERENCE__SYSTEM_SHARED_MEMORY_REGISTER_RESPONSE__INIT;
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *sys_unregister(grpc_frontend_t *fe, const uint8_t *req,
                                       size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__SystemSharedMemoryUnregisterRequest,
         inference__system_shared_memory_unregister_request__descriptor, in);
  bool all = !in->name || !*in->name;
  inferd_status_t *st = inferd_server_shm_unregister(
      fe->server, all ? NULL : in->name, all ? 0 : strlen(in->name));
  FREE_MSG(in);
  if (st)
    return st;
  Inference__SystemSharedMemoryUnregisterResponse r =
      INFERENCE__SYSTEM_SHARED_MEMORY_UNREGISTER_RESPONSE__INIT;
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *cuda_status(grpc_frontend_t *fe, const uint8_t *req,
                                    size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__CudaSharedMemoryStatusRequest,
         inference__cuda_shared_memory_status_request__descriptor, in);
  inferd_status_t *e = NULL;
  if (in->name && *in->name) {
    /* one name space for both kinds (Triton): say which it is */
    inferd_shm_region_status_t *st = NULL;
    size_t n = 0;
    e = inferd_server_shm_status(fe->server, in->name, strlen(in->name), &st,
                                 &n);
    inferd_shm_region_status_free(st, n);
    if (!e) {
      e = inferd_status_new(INFERD_NOT_FOUND,
                            "The region named '%s' is registered as system "
                            "shared memory, not CUDA shared memory",
                            in->name);
    } else {
      inferd_status_free(e);
      e = inferd_status_new(INFERD_NOT_FOUND,
                            "Unable to find cuda shared memory region: '%s'",
                            in->name);
    }
  }
  FREE_MSG(in);
  if (e)
    return e;
  Inference__CudaSharedMemoryStatusResponse r =
      INFERENCE__CUDA_SHARED_MEMORY_STATUS_RESPONSE__INIT;
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *cuda_register(grpc_frontend_t *fe, const uint8_t *req,
                                      size_t len, grpc_fe_buf_t *reply) {
  (void)fe, (void)reply;
  UNPACK(Inference__CudaSharedMemoryRegisterRequest,
         inference__cuda_shared_memory_register_request__descriptor, in);
  inferd_status_t *st = inferd_status_new(
      INFERD_UNSUPPORTED,
      "failed to register CUDA shared memory region: '%s', GPUs not "
      "supported (this inferd has no CUDA support: CUDA shared memory needs "
      "the GPU layer)",
      in->name ? in->name : "");
  FREE_MSG(in);
  return st;
}

static inferd_status_t *cuda_unregister(grpc_frontend_t *fe, const uint8_t *req,
                                        size_t len, grpc_fe_buf_t *reply) {
  (void)fe;
  UNPACK(Inference__CudaSharedMemoryUnregisterRequest,
         inference__cuda_shared_memory_unregister_request__descriptor, in);
  FREE_MSG(in); /* no CUDA region can exist: nothing to do */
  Inference__CudaSharedMemoryUnregisterResponse r =
      INFERENCE__CUDA_SHARED_MEMORY_UNREGISTER_RESPONSE__INIT;
  return grpc_fe_pack(&r.base, reply);
}

grpc_fe_unary_fn grpc_fe_shm_handler(grpc_fe_method_t m) {
  switch (m) {
  case GRPC_FE_SYSTEM_SHM_STATUS:
    return sys_status;
  case GRPC_FE_SYSTEM_SHM_REGISTER:
    return sys_register;
  case GRPC_FE_SYSTEM_SHM_UNREGISTER:
    return sys_unregister;
  case GRPC_FE_CUDA_SHM_STATUS:
    return cuda_status;
  case GRPC_FE_CUDA_SHM_REGISTER:
    return cuda_register;
  case GRPC_FE_CUDA_SHM_UNREGISTER:
    return cuda_unregister;
  default:
    return NULL;
  }
}
