/*
 * identity.c: the identity backend (as Triton's): every input INPUT<s> is
 * copied to output OUTPUT<s>, any other input X to output X. Any data type
 * (BYTES copied in its framed form), any shape; the output shape is the input
 * shape, batch dimension included. Only the requested outputs are produced.
 *
 * State: the model holds its input→output map (bk_io_map_t), built in
 * model_init and read-only afterwards, so instances share it without locks.
 */
#include <stdlib.h>

#include "../common/bk_util.h"

static inferd_status_t *identity_model_init(inferd_backend_model_t *m) {
  bk_io_map_t *map;
  inferd_status_t *st = bk_io_map_new(m, &map);
  if (st)
    return st;
  bk_host->model_set_state(m, map);
  return NULL;
}

static void identity_model_fini(inferd_backend_model_t *m) {
  free(bk_host->model_state(m));
  bk_host->model_set_state(m, NULL);
}

static inferd_status_t *identity_fill(void *state, inferd_backend_model_t *m,
                                      inferd_request_t *r,
                                      inferd_response_t *resp) {
  return bk_io_map_fill(state, m, r, resp);
}

static inferd_status_t *identity_execute(inferd_backend_instance_t *inst,
                                         inferd_request_t *const *requests,
                                         uint32_t n) {
  inferd_backend_model_t *m = bk_host->instance_model(inst);
  uint64_t start = bk_host->now_ns();
  bk_execute_each(inst, requests, n, bk_batch_size(m, requests, n), start,
                  start, identity_fill, bk_host->model_state(m));
  return NULL;
}

static const inferd_backend_api_t identity_api = {
    INFERD_BACKEND_API_HEADER,
    .model_init = identity_model_init,
    .model_fini = identity_model_fini,
    .execute = identity_execute,
    .flags = INFERD_BACKEND_FLAG_NONBLOCKING, /* pure memory work */
};

INFERD_API inferd_status_t *
inferd_backend_register(const inferd_host_api_t *host,
                        const inferd_backend_api_t **api) {
  return bk_register("identity", host, &identity_api, api);
}
