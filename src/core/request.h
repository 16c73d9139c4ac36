/*
 * request.h: the internal layout of requests and responses, shared by the
 * core (building), the schedulers (queueing) and the backend host functions
 * (reading). Prefix core_.
 *
 * Ownership: a request owns its strings, shapes and parameter copies (in its
 * arena) but borrows its input data buffers until its release callback. It
 * holds one reference on its model. A response owns its output buffers and
 * holds its own model reference, so a frontend may keep a response after the
 * request is gone.
 *
 * Threads: see server.h. `cancelled` and `next` are the only fields touched
 * by other threads than the current owner (cancel flag; scheduler queue link
 * under the queue's lock).
 */
#ifndef INFERD_CORE_REQUEST_H
#define INFERD_CORE_REQUEST_H

#include <stdatomic.h>

#include "core/arena.h"
#include "core/refcount.h"
#include "inferd/server.h"

typedef struct core_buffer {
  const void *base;
  uint64_t size;
  inferd_memtype_t mem_type;
  int64_t device_id;
} core_buffer_t;

typedef struct core_input {
  const char *name; /* arena */
  inferd_datatype_t dt;
  uint32_t n_dims;
  int64_t *shape; /* arena */
  uint64_t byte_size;
  uint32_t n_buffers, cap_buffers;
  core_buffer_t *buffers; /* inline_buffer or malloc'd */
  core_buffer_t inline_buffer;
} core_input_t;

typedef struct core_param {
  const char *key; /* arena */
  inferd_param_type_t type;
  union {
    const char *s; /* arena */
    int64_t i;
    bool b;
    double d;
  } v;
} core_param_t;

struct inferd_request {
  inferd_model_t *model;  /* one reference */
  core_ref_t *model_ref;  /* the same object, as its refcount */
  const char *model_name; /* borrowed from the model */
  int64_t model_version;
  core_arena_t arena;
  _Alignas(16) char arena_buf[768]; /* the arena's inline block */
  const char *id;                   /* "" or arena */
  uint32_t flags;
  uint64_t correlation_id;
  const char *correlation_id_str; /* NULL or arena */
  uint64_t priority;
  uint64_t timeout_us;

  core_input_t *inputs; /* malloc'd */
  uint32_t n_inputs, cap_inputs;
  const char **requested; /* requested output names (arena), malloc'd array */
  uint32_t n_requested, cap_requested;
  core_param_t *params; /* malloc'd */
  uint32_t n_params, cap_params;

  inferd_response_cb response_cb;
  inferd_release_cb release_cb;
  void *userp;
  inferd_output_alloc_fn out_alloc; /* NULL: server CPU memory */
  inferd_output_release_fn out_release;
  void *out_userp;

  atomic_bool cancelled;
  bool final_sent; /* the FINAL response went out */

  /* filled by the server when it accepts the request */
  inferd_server_t *server;
  uint64_t batch_size; /* first dim when the model batches, else 1 */
  uint64_t t_request_ns, t_queue_ns, t_exec_ns;
  /* outputs the backend should produce (requested, or all model outputs) */
  const char *const *out_names;
  uint32_t n_out_names;
  struct inferd_request *next; /* scheduler queue link */

  /* scheduler-private state (the request's current scheduler owns it) */
  uint64_t sched_deadline_ns; /* queue timeout; 0 = none */
  uint32_t sched_level;       /* priority level index */
  bool sched_delayed;         /* timed out under the DELAY action */
  void *sched_data;
  void *sched_owner; /* the scheduler that queued it */
  /* called by inferd_request_cancel (any thread) while a scheduler holds the
   * request; must not call back into the frontend */
  _Atomic(void (*)(inferd_request_t *r)) on_cancel; /* atomic: the batcher
                                                       clears it while a
                                                       frontend cancels */
};

typedef struct core_output {
  char *name;
  inferd_datatype_t dt;
  uint32_t n_dims;
  int64_t *shape; /* the output's block: shape, name, [data] */
  void *data;     /* where the frontend reads the output */
  uint64_t byte_size;
  inferd_memtype_t mem_type;
  int64_t device_id;
  void *buffer_userp; /* the allocator's, when it gave data */
  bool external;      /* data is the allocator's: release it there */
  /* the backend writes here when it cannot write where data is; copied
   * into data once, at send (NULL: it writes data directly) */
  void *staging;
  inferd_memtype_t staging_type;
  int64_t staging_device;
} core_output_t;

struct inferd_response {
  /* the request's allocator, copied: a response may outlive its request */
  inferd_output_alloc_fn out_alloc;
  inferd_output_release_fn out_release;
  void *out_userp;
  core_ref_t *model_ref;
  inferd_model_t *model;
  const char *model_name; /* borrowed from the model */
  int64_t model_version;
  inferd_request_t *request; /* until sent; NULL afterwards */
  inferd_status_t *error;
  core_output_t *outputs;
  uint32_t n_outputs, cap_outputs;
  core_param_t *params;
  uint32_t n_params, cap_params;
  core_arena_t *arena; /* lazily allocated, for params */
};

/* Allocates an empty request for model (the caller gives the request one
 * model reference, which the request releases on destroy). */
inferd_status_t *core_request_alloc(inferd_model_t *model, core_ref_t *ref,
                                    inferd_request_t **out);
void core_request_destroy(inferd_request_t *r);
/* index of input by name, or -1 */
int32_t core_request_find_input(const inferd_request_t *r, const char *name,
                                size_t len);

/* New response for r; takes a model reference. */
inferd_status_t *core_response_alloc(inferd_request_t *r,
                                     inferd_response_t **out);
/* Adds an output. Without an allocator its buffer is CPU memory in the
 * output's own block; with one, the allocator places it. preferred_* is
 * the memory the backend writes best; *mem_type and *device_id (may be NULL)
 * say where *buffer is (the backend's preference, or CPU when that cannot
 * be had). */
inferd_status_t *core_response_add_output(
    inferd_response_t *resp, const char *name, inferd_datatype_t dt,
    const int64_t *shape, uint32_t n_dims, uint64_t byte_size,
    inferd_memtype_t preferred_type, int64_t preferred_device, void **buffer,
    inferd_memtype_t *mem_type, int64_t *device_id);
/* Copies staged outputs to where their allocator put them (at send). */
inferd_status_t *core_response_commit_outputs(inferd_response_t *resp);
inferd_status_t *core_response_set_param(inferd_response_t *resp,
                                         const char *key,
                                         inferd_param_type_t type,
                                         const void *value);
/* Frees every output (an error response carries none). */
void core_response_drop_outputs(inferd_response_t *resp);
/* Drops outputs that the request did not ask for. */
void core_response_filter_outputs(inferd_response_t *resp,
                                  const inferd_request_t *r);
#endif
