/*
 * inferd/backend.h: the backend plug-in ABI.
 *
 * A backend is a shared library named libinferd_<name>.so, searched in
 *   <model>/<version>/, <model>/, <backend-dir>/<name>/, <backend-dir>/
 * It exports one C function, INFERD_BACKEND_REGISTER_SYMBOL:
 *
 *   inferd_status_t *inferd_backend_register(const inferd_host_api_t *host,
 *                                            const inferd_backend_api_t **api);
 *
 * The server passes its table of host functions (valid until the library is
 * unloaded) and receives the backend's table of hooks (static storage in the
 * backend). Both tables start with abi_major, abi_minor and struct_size and
 * only grow at their end: read a field only if struct_size covers it. A
 * backend whose abi_major differs from the server's is refused with both
 * versions named; a backend needing a newer host minor checks
 * host->abi_minor / host->struct_size itself.
 *
 * Lifecycle, per backend library: backend_init once after registration,
 * then for each model version model_init, instance_init per instance,
 * execute (many times), instance_fini per instance, model_fini; backend_fini
 * after the last model. Every hook but execute is optional (NULL).
 *
 * Threads:
 *  - backend/model/instance init and fini run on the repository thread, never
 *    concurrently for one model. Different models may load concurrently.
 *  - execute runs on the instance's execution thread; it is never called
 *    concurrently for one instance; different instances run in parallel.
 *    An instance idle for --instance-idle-timeout-ms loses its thread and
 *    gets a new one on its next request: keep per-thread setup (thread
 *    pools, thread-local settings) keyed to the OS thread, not done once per
 *    instance.
 *  - host->response_send, send_final and request_release may be called from
 *    any thread (e.g. a worker thread of a decoupled model or the reader
 *    thread of an out-of-process backend); all other host request/response
 *    functions must be called by the thread that currently owns the
 *    request/response.
 *  - no host lock is held while a hook runs.
 *
 * Requests (execute): on success the backend owns every request passed in
 * (not the array) and must, for each one, send its FINAL response (or
 * send_final) and then call request_release, possibly later and from another
 * thread. If execute returns an error, the server keeps ownership and fails
 * every request of the batch with that error; the backend must then not have
 * sent any response for them.
 *
 * Outputs are allocated by the server (response_output), so that they can
 * land straight in the frontend's buffer or in client shared memory.
 */
#ifndef INFERD_BACKEND_H
#define INFERD_BACKEND_H

#include "inferd/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define INFERD_BACKEND_ABI_MAJOR 1
#define INFERD_BACKEND_ABI_MINOR 2
#define INFERD_BACKEND_REGISTER_SYMBOL "inferd_backend_register"

typedef struct inferd_backend inferd_backend_t;                   /* library */
typedef struct inferd_backend_model inferd_backend_model_t;       /* version */
typedef struct inferd_backend_instance inferd_backend_instance_t; /* instance */

/* Table of the server's functions handed to the backend. The first four
 * members (abi_major, abi_minor, struct_size, status_new) keep their places
 * in every ABI major, so that a backend can always build the status that
 * refuses a server of another major. */
typedef struct inferd_host_api {
  uint32_t abi_major, abi_minor, struct_size;

  /* -- status (see server.h for semantics) -- */
  inferd_status_t *(*status_new)(inferd_code_t code, const char *fmt,
                                 ...)INFERD_PRINTF(2, 3);
  inferd_code_t (*status_code)(const inferd_status_t *st);
  const char *(*status_message)(const inferd_status_t *st);
  void (*status_free)(inferd_status_t *st);

  /* -- logging (levels INFERD_LOG_* of server.h: 0 error, 1 warning, 2 info,
   *    3+ verbose) -- */
  void (*log)(int32_t level, const char *file, int line, const char *fmt, ...)
      INFERD_PRINTF(4, 5);
  bool (*log_enabled)(int32_t level);
  /* monotonic clock, nanoseconds */
  uint64_t (*now_ns)(void);

  /* -- backend -- */
  const char *(*backend_name)(const inferd_backend_t *b);
  /* --backend-config=<name>,<key>=<value>; NULL if not given */
  const char *(*backend_config)(const inferd_backend_t *b, const char *key);
  void (*backend_set_state)(inferd_backend_t *b, void *state);
  void *(*backend_state)(const inferd_backend_t *b);

  /* -- model (one loaded version) -- */
  inferd_backend_t *(*model_backend)(const inferd_backend_model_t *m);
  const char *(*model_name)(const inferd_backend_model_t *m);
  int64_t (*model_version)(const inferd_backend_model_t *m);
  const char *(*model_dir)(const inferd_backend_model_t *m); /* <repo>/<m> */
  /* <repo>/<m>/<version>/<default_model_filename>, whether or not it exists */
  const char *(*model_file_path)(const inferd_backend_model_t *m);
  /* complete config as JSON (reference §1.10), borrowed until model_fini */
  const char *(*model_config_json)(const inferd_backend_model_t *m);
  /* config parameters { key: K value { string_value: V } } → V or NULL */
  const char *(*model_parameter)(const inferd_backend_model_t *m,
                                 const char *key);
  int32_t (*model_max_batch_size)(const inferd_backend_model_t *m);
  uint32_t (*model_input_count)(const inferd_backend_model_t *m);
  uint32_t (*model_output_count)(const inferd_backend_model_t *m);
  /* config input/output i; dims exclude the batch dimension */
  void (*model_input)(const inferd_backend_model_t *m, uint32_t i,
                      const char **name, inferd_datatype_t *dt,
                      const int64_t **dims, uint32_t *n_dims);
  void (*model_output)(const inferd_backend_model_t *m, uint32_t i,
                       const char **name, inferd_datatype_t *dt,
                       const int64_t **dims, uint32_t *n_dims);
  void (*model_set_state)(inferd_backend_model_t *m, void *state);
  void *(*model_state)(const inferd_backend_model_t *m);

  /* -- instance -- */
  inferd_backend_model_t *(*instance_model)(const inferd_backend_instance_t *i);
  const char *(*instance_name)(const inferd_backend_instance_t *i);
  int32_t (*instance_kind)(const inferd_backend_instance_t *i); /* KIND_* */
  int32_t (*instance_device_id)(const inferd_backend_instance_t *i);
  void (*instance_set_state)(inferd_backend_instance_t *i, void *state);
  void *(*instance_state)(const inferd_backend_instance_t *i);

  /* -- requests -- */
  const char *(*request_id)(const inferd_request_t *r); /* "" if none */
  uint64_t (*request_correlation_id)(const inferd_request_t *r);
  const char *(*request_correlation_id_string)(const inferd_request_t *r);
  uint32_t (*request_flags)(const inferd_request_t *r);
  uint32_t (*request_input_count)(const inferd_request_t *r);
  /* Properties of input i: shape includes the batch dimension when the model
   * batches; byte_size is the total over all buffers. Pointers borrowed until
   * request_release. */
  inferd_status_t *(*request_input)(const inferd_request_t *r, uint32_t i,
                                    const char **name, inferd_datatype_t *dt,
                                    const int64_t **shape, uint32_t *n_dims,
                                    uint64_t *byte_size, uint32_t *n_buffers);
  /* NOT_FOUND if the request has no input of that name */
  inferd_status_t *(*request_input_index)(const inferd_request_t *r,
                                          const char *name, uint32_t *i);
  inferd_status_t *(*request_input_buffer)(const inferd_request_t *r,
                                           uint32_t input, uint32_t buffer,
                                           const void **base, uint64_t *size,
                                           inferd_memtype_t *mem_type,
                                           int64_t *device_id);
  /* Outputs the backend should produce: the requested ones, or all config
   * outputs when the client requested none. Outputs produced but not
   * requested are dropped by the server. */
  uint32_t (*request_output_count)(const inferd_request_t *r);
  const char *(*request_output_name)(const inferd_request_t *r, uint32_t i);
  uint32_t (*request_parameter_count)(const inferd_request_t *r);
  /* value as in inferd_response_param (server.h) */
  inferd_status_t *(*request_parameter)(const inferd_request_t *r, uint32_t i,
                                        const char **key,
                                        inferd_param_type_t *type,
                                        const void **value);
  bool (*request_is_cancelled)(const inferd_request_t *r);
  /* The backend is done with the request and its input buffers. Must follow
   * the request's final response. Any thread. */
  void (*request_release)(inferd_request_t *r);

  /* -- responses -- */
  inferd_status_t *(*response_new)(inferd_response_t **out,
                                   inferd_request_t *r);
  /* Adds an output and returns its buffer (host memory, byte_size bytes,
   * owned by the response: the server's, or where the request's response
   * allocator put it). For BYTES, byte_size is the framed size. */
  inferd_status_t *(*response_output)(inferd_response_t *resp, const char *name,
                                      inferd_datatype_t dt,
                                      const int64_t *shape, uint32_t n_dims,
                                      uint64_t byte_size, void **buffer);
  inferd_status_t *(*response_set_param_string)(inferd_response_t *resp,
                                                const char *key,
                                                const char *value);
  inferd_status_t *(*response_set_param_int)(inferd_response_t *resp,
                                             const char *key, int64_t value);
  inferd_status_t *(*response_set_param_bool)(inferd_response_t *resp,
                                              const char *key, bool value);
  inferd_status_t *(*response_set_param_double)(inferd_response_t *resp,
                                                const char *key, double value);
  /* Sends resp (transferred, also on failure). error (transferred, may be
   * NULL) turns it into an error response: outputs are dropped. flags:
   * INFERD_RESPONSE_FLAG_FINAL on the request's last response. Any thread. */
  inferd_status_t *(*response_send)(inferd_response_t *resp, uint32_t flags,
                                    inferd_status_t *error);
  /* Discards an unsent response. */
  void (*response_free)(inferd_response_t *resp);
  /* Flags-only final (decoupled models that end without a last response). */
  inferd_status_t *(*request_send_final)(inferd_request_t *r);

  /* -- statistics (nanosecond timestamps from now_ns) -- */
  void (*instance_report_statistics)(inferd_backend_instance_t *i,
                                     inferd_request_t *r, bool success,
                                     uint64_t exec_start_ns,
                                     uint64_t compute_start_ns,
                                     uint64_t compute_end_ns,
                                     uint64_t exec_end_ns);
  void (*instance_report_batch_statistics)(
      inferd_backend_instance_t *i, uint64_t batch_size, uint64_t exec_start_ns,
      uint64_t compute_start_ns, uint64_t compute_end_ns, uint64_t exec_end_ns);

  /* ---- ABI 1.1 ---- */
  /* Config auto-completion (reference §3.6), from model_init only: json is
   * a partial ModelConfig in the JSON form of reference §3.5, e.g.
   * {"max_batch_size":4,"input":[...],"output":[...]}. Inputs and outputs
   * are taken when the config has none, max_batch_size when the config has
   * no inputs and says 0. The result is validated like a config file;
   * afterwards model_input*, model_output*, model_max_batch_size and
   * model_config_json reflect it. Errors name the field. */
  inferd_status_t *(*model_set_config_json)(inferd_backend_model_t *m,
                                            const char *json);

  /* ---- ABI 1.2 ---- */
  /* response_output with the memory the backend writes best
   * (preferred_type, preferred_device: a GPU backend asks for its device).
   * The request's response allocator places the output (the frontend's or
   * embedder's choice, e.g. a client's shared-memory region); *buffer is
   * where the backend writes, in *mem_type / *device_id: the preferred
   * memory when it could be had, else host memory (the server then copies
   * once, at send, only because the two differ). */
  inferd_status_t *(*response_output_memory)(
      inferd_response_t *resp, const char *name, inferd_datatype_t dt,
      const int64_t *shape, uint32_t n_dims, uint64_t byte_size,
      inferd_memtype_t preferred_type, int64_t preferred_device, void **buffer,
      inferd_memtype_t *mem_type, int64_t *device_id);
} inferd_host_api_t;

/* Table of the backend's hooks. */
typedef struct inferd_backend_api {
  uint32_t abi_major, abi_minor, struct_size;
  inferd_status_t *(*backend_init)(inferd_backend_t *b);
  void (*backend_fini)(inferd_backend_t *b);
  /* Reads the config (model_config_json / model_parameter), loads files. */
  inferd_status_t *(*model_init)(inferd_backend_model_t *m);
  void (*model_fini)(inferd_backend_model_t *m);
  inferd_status_t *(*instance_init)(inferd_backend_instance_t *i);
  void (*instance_fini)(inferd_backend_instance_t *i);
  /* Mandatory. requests[0..n) form one batch; see ownership rules above. */
  inferd_status_t *(*execute)(inferd_backend_instance_t *i,
                              inferd_request_t *const *requests, uint32_t n);
  /* ---- ABI 1.2 (optional; NULL or a shorter table: the server measures
   * the process's resident memory across the model's load instead) ---- */
  /* Bytes of host memory the model holds (weights, arenas, per-instance
   * state), after every instance_init. Called once per load, from the
   * loading thread; used by the memory budget (--model-memory-budget). */
  uint64_t (*model_memory_bytes)(inferd_backend_model_t *m);
  /* INFERD_BACKEND_FLAG_* */
  uint64_t flags;
} inferd_backend_api_t;

/* execute never blocks: no I/O, no sleeping, no waiting on other threads,
 * bounded CPU time. The server may then run it on the thread that
 * submitted the request (a frontend's event loop) when the instance is
 * idle and nothing is queued, saving two thread wake-ups per request
 * (--inline-execution). Never set it for a backend that calls out to
 * anything that may wait. */
#define INFERD_BACKEND_FLAG_NONBLOCKING 1u

typedef inferd_status_t *(*inferd_backend_register_fn)(
    const inferd_host_api_t *host, const inferd_backend_api_t **api);

/* Convenience for backends: fill the three leading fields. */
#define INFERD_BACKEND_API_HEADER                                              \
  INFERD_BACKEND_ABI_MAJOR, INFERD_BACKEND_ABI_MINOR,                          \
      (uint32_t)sizeof(inferd_backend_api_t)

#ifdef __cplusplus
}
#endif
#endif /* INFERD_BACKEND_H */
