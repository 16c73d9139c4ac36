/*
 * inferd/server.h: the in-process embedding API. The HTTP and gRPC frontends
 * use nothing else, so embedding inferd behaves exactly like talking to it.
 *
 * Thread rules: every function here is thread-safe unless its comment says
 * otherwise. A request object is used by one thread at a time: the thread that
 * builds it until inferd_server_infer_async() succeeds, then the server until
 * the release callback, then the frontend again.
 *
 * Ownership words: "borrowed" pointers stay valid until the named event,
 * "transferred" means the callee owns it (on success only), "shared" means the
 * callee takes its own reference.
 */
#ifndef INFERD_SERVER_H
#define INFERD_SERVER_H

#include "inferd/types.h"
#include "inferd/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================= status ======================================= */

/* New status with a printf-formatted message. Never returns NULL: on
 * allocation failure the static NO_MEMORY status is returned. code must not
 * be INFERD_OK. */
INFERD_API inferd_status_t *inferd_status_new(inferd_code_t code,
                                              const char *fmt, ...)
    INFERD_PRINTF(2, 3);
/* Code of a status; INFERD_OK for NULL. */
INFERD_API inferd_code_t inferd_status_code(const inferd_status_t *st);
/* Message (borrowed, valid until free); "" for NULL. */
INFERD_API const char *inferd_status_message(const inferd_status_t *st);
/* Frees st; NULL and the static NO_MEMORY status are ignored. */
INFERD_API void inferd_status_free(inferd_status_t *st);
/* Returns a status with "<prefix>: <old message>" and the same code; consumes
 * st. NULL stays NULL. */
INFERD_API inferd_status_t *inferd_status_prefix(inferd_status_t *st,
                                                 const char *fmt, ...)
    INFERD_PRINTF(2, 3);
/* Table lookups for a code (unknown codes map as UNKNOWN). */
INFERD_API const char *inferd_code_name(inferd_code_t code); /* "NOT_FOUND" */
INFERD_API int inferd_code_http_status(inferd_code_t code);  /* 404 */
INFERD_API int inferd_code_grpc_status(inferd_code_t code);  /* 5 */

/* Protocol name → data type ("INT32" → INFERD_TYPE_INT32); INVALID when
 * unknown. name need not be NUL-terminated. */
INFERD_API inferd_datatype_t inferd_datatype_from_name(const char *name,
                                                       size_t len);

/* ======================= logging ====================================== */

enum {
  INFERD_LOG_ERROR = 0,
  INFERD_LOG_WARNING = 1,
  INFERD_LOG_INFO = 2,
  INFERD_LOG_VERBOSE = 3,
};
enum { INFERD_LOG_FORMAT_DEFAULT = 0, INFERD_LOG_FORMAT_ISO8601 = 1 };

/* Process-wide log settings (reference §1.15). */
typedef struct inferd_log_settings {
  bool log_info, log_warning, log_error;
  int32_t verbose_level; /* >= 0 */
  int32_t format;        /* INFERD_LOG_FORMAT_* */
} inferd_log_settings_t;
INFERD_API void inferd_log_get(inferd_log_settings_t *out);
INFERD_API void inferd_log_set(const inferd_log_settings_t *s);
/* Writes one line to stderr in the configured format. For verbose lines
 * level = INFERD_LOG_VERBOSE + (verbose level - 1). */
INFERD_API void inferd_log(int32_t level, const char *file, int line,
                           const char *fmt, ...) INFERD_PRINTF(4, 5);
INFERD_API bool inferd_log_enabled(int32_t level);

/* ======================= server ======================================= */

enum {
  INFERD_CONTROL_NONE = 0,
  INFERD_CONTROL_POLL = 1,
  INFERD_CONTROL_EXPLICIT = 2,
};

typedef struct inferd_server_options {
  /* repository paths (borrowed for the duration of inferd_server_new) */
  const char *const *model_repositories;
  size_t n_model_repositories;
  const char *backend_directory; /* NULL: <dir of executable>/backends */
  const char *server_id;         /* default "inferd" */
  bool strict_readiness;         /* default true */
  bool exit_on_error;            /* default true */
  bool strict_model_config;      /* default false: auto-complete on */
  int32_t model_control_mode;    /* default INFERD_CONTROL_NONE */
  const char *model_config_name; /* configs/<name>.pbtxt; NULL: none */
  uint32_t exit_timeout_secs;    /* default 30 */
  /* explicit mode: models loaded at start (borrowed for the duration of
   * inferd_server_new); a single "*" loads every model. Refused in the other
   * modes. */
  const char *const *startup_models;
  size_t n_startup_models;
  uint32_t repository_poll_secs;    /* poll mode: rescan period; default 15 */
  uint32_t model_load_thread_count; /* parallel loads; default 4 */
  /* how long an unload waits for the requests queued on a model version
   * before failing them with UNAVAILABLE; default 30 000 (executions that
   * have started always finish) */
  uint32_t model_unload_timeout_ms;
  /* inferd extensions for many models (explicit mode only):
   * load_on_demand: a request for a model that a repository has but that is
   * not loaded starts its load and waits for it (see
   * inferd_server_model_load_on_demand_async), for at most
   * load_on_demand_timeout_ms (default 60 000).
   * memory_budget_bytes: 0 = none; else loads evict least recently used
   * idle, unpinned models to stay within it. */
  bool load_on_demand;
  uint32_t load_on_demand_timeout_ms;
  uint64_t memory_budget_bytes;
  /* a model instance's execution thread exits after this long without work
   * and starts again on the next request; default 2 000; 0: never exits */
  uint32_t instance_idle_timeout_ms;
  /* backends that declare execute non-blocking (identity, add_sub) run on
   * the submitting thread when an instance is idle; default true */
  bool inline_execution;
  /* GPU memory, with tritonserver's flags. Used only when a CUDA device is
   * found at start (the CUDA runtime is opened with dlopen); on a CPU-only
   * host they are accepted and logged as unused.
   * pinned_memory_pool_byte_size: host memory pinned with cudaHostAlloc at
   * start (--pinned-memory-pool-byte-size); default 268435456; 0: none.
   * cuda_memory_pool_*: device memory reserved with cudaMalloc at start on
   * each listed device (--cuda-memory-pool-byte-size=<dev>:<bytes>); n
   * entries, devices and byte sizes borrowed until inferd_server_new
   * returns; a device the host lacks fails the start. */
  uint64_t pinned_memory_pool_byte_size;
  const int32_t *cuda_memory_pool_devices;
  const uint64_t *cuda_memory_pool_byte_sizes;
  size_t n_cuda_memory_pools;
} inferd_server_options_t;

/* Fills opts with the defaults above. */
INFERD_API void inferd_server_options_init(inferd_server_options_t *opts);

/* Creates the server and loads the models (control modes none and poll:
 * every model in every repository; explicit: startup_models), blocking until
 * all those loads have finished. A model that
 * fails to load is UNAVAILABLE with its reason; with exit_on_error the first
 * such failure makes this return that error and nothing is created. */
INFERD_API inferd_status_t *inferd_server_new(inferd_server_t **out,
                                              const inferd_server_options_t *o);

/* Stops admitting requests (new ones get UNAVAILABLE "server is stopping"),
 * waits up to timeout_secs for in-flight requests, then unloads all models.
 * If requests are still in flight at the timeout it returns UNAVAILABLE
 * naming the count and leaves the models loaded (their instances are still
 * executing): the server is then abandoned, inferd_server_free does nothing,
 * and the caller is expected to exit the process. Call once, before free. */
INFERD_API inferd_status_t *inferd_server_stop(inferd_server_t *s,
                                               uint32_t timeout_secs);
/* Frees a server. One that was not stopped has its models unloaded first
 * (without waiting for requests). NULL is ignored. */
INFERD_API void inferd_server_free(inferd_server_t *s);

INFERD_API const char *inferd_server_id(const inferd_server_t *s);
INFERD_API size_t inferd_server_extension_count(const inferd_server_t *s);
INFERD_API const char *inferd_server_extension(const inferd_server_t *s,
                                               size_t i);
INFERD_API bool inferd_server_is_live(const inferd_server_t *s);
/* Ready as in reference §1.3 (strict readiness considered). */
INFERD_API bool inferd_server_is_ready(inferd_server_t *s);
/* Requests accepted by infer_async whose release callback has not run. */
INFERD_API size_t inferd_server_inflight_count(const inferd_server_t *s);

/* ======================= models ======================================= */

/* Finds a READY model version and takes a reference on it. version -1 means
 * the highest READY version. Errors (Triton's texts):
 *   NOT_FOUND   "Request for unknown model: '<m>' is not found"
 *   NOT_FOUND   "Request for unknown model: '<m>' version <v> is not found"
 *   UNAVAILABLE "Request for unknown model: '<m>' version <v> is not at
 *               ready state"
 *   NOT_FOUND   "Request for unknown model: '<m>' has no available versions"
 * name need not be NUL-terminated. */
INFERD_API inferd_status_t *inferd_server_model_acquire(inferd_server_t *s,
                                                        const char *name,
                                                        size_t name_len,
                                                        int64_t version,
                                                        inferd_model_t **out);
INFERD_API void inferd_model_acquire(inferd_model_t *m); /* extra reference */
INFERD_API void inferd_model_release(inferd_model_t *m); /* NULL ignored */

/* READY versions of a model, ascending. *versions is malloc'd; the caller
 * frees it. NOT_FOUND as in model_acquire when the model is unknown. */
INFERD_API inferd_status_t *
inferd_server_model_ready_versions(inferd_server_t *s, const char *name,
                                   size_t name_len, int64_t **versions,
                                   size_t *n);

/* Accessors; returned strings are borrowed until the model is released. */
INFERD_API const char *inferd_model_name(const inferd_model_t *m);
INFERD_API int64_t inferd_model_version(const inferd_model_t *m);
/* config platform if set, else backend name (reference §1.5) */
INFERD_API const char *inferd_model_platform(const inferd_model_t *m);
INFERD_API int32_t inferd_model_max_batch_size(const inferd_model_t *m);
INFERD_API bool inferd_model_is_decoupled(const inferd_model_t *m);
INFERD_API size_t inferd_model_input_count(const inferd_model_t *m);
INFERD_API size_t inferd_model_output_count(const inferd_model_t *m);
/* i-th config input/output: dims exclude the batch dimension. */
INFERD_API void inferd_model_input(const inferd_model_t *m, size_t i,
                                   const char **name, inferd_datatype_t *dt,
                                   const int64_t **dims, size_t *n_dims);
INFERD_API void inferd_model_output(const inferd_model_t *m, size_t i,
                                    const char **name, inferd_datatype_t *dt,
                                    const int64_t **dims, size_t *n_dims);
/* Complete, normalised config as JSON (reference §1.10); borrowed until the
 * model is released. */
INFERD_API const char *inferd_model_config_json(const inferd_model_t *m,
                                                size_t *len);
/* The same config as the protobuf-c message (struct Inference__ModelConfig
 * from model_config.pb-c.h); borrowed until the model is released. */
INFERD_API const void *inferd_model_config_message(const inferd_model_t *m);

/* ======================= repository =================================== */

typedef struct inferd_model_index_entry {
  char *name;
  int64_t version; /* -1: unknown (never loaded) */
  char *state;     /* "READY", "UNAVAILABLE", "LOADING", "UNLOADING",
                      "UNKNOWN"; NULL when version unknown */
  char *reason;    /* NULL or "" when none */
  /* inferd extensions (the same for every version of a model): */
  uint64_t memory_bytes; /* measured memory of the loaded versions */
  uint64_t n_loads;      /* successful loads (and reloads) */
  uint64_t n_evictions;  /* unloads by the memory budget */
  uint64_t n_on_demand;  /* loads started by a request (cold hits) */
  bool pinned;           /* never evicted */
  /* the many-models features are on (load on demand, a memory budget):
   * frontends show the figures above to clients; otherwise they keep
   * Triton's entry as it is */
  bool extended;
} inferd_model_index_entry_t;

/* Repository index (reference §1.12). *entries is owned by the caller: free
 * with inferd_model_index_free. */
INFERD_API inferd_status_t *
inferd_server_model_index(inferd_server_t *s, bool ready_only,
                          inferd_model_index_entry_t **entries, size_t *n);
INFERD_API void inferd_model_index_free(inferd_model_index_entry_t *entries,
                                        size_t n);
/* A file given with a load request: its contents replace the model
 * directory (reference §1.12 "file:<version>/<path>"). path is relative to
 * the model directory, e.g. "1/model.onnx"; absolute paths, "..", empty
 * components and NUL bytes are refused. Both pointers are borrowed for the
 * duration of the load call (the server copies what it keeps). */
typedef struct inferd_model_file {
  const char *path;
  size_t path_len;
  const void *data;
  size_t byte_size;
} inferd_model_file_t;

typedef struct inferd_model_load_options {
  /* JSON ModelConfig overriding the repository's config.pbtxt; NULL: none.
   * Borrowed for the duration of the call. A config always forces a
   * reload. */
  const char *config_json;
  size_t config_json_len;
  /* files of an override model directory (need config_json); the model is
   * then served from a private temporary directory, never the repository */
  const inferd_model_file_t *files;
  size_t n_files;
  /* inferd extension (load parameter "pinned"): never evicted by the
   * memory budget */
  bool pinned;
} inferd_model_load_options_t;

/* Completion of an asynchronous load or unload: st is NULL on success, else
 * the error (transferred: the callee frees it). Called once, from a server
 * thread (the repository thread); it must not block and must not call the
 * synchronous inferd_server_model_load/unload. */
typedef void (*inferd_repository_cb)(inferd_status_t *st, void *userp);

/* Loads (or reloads) a model in explicit control mode. A model that is
 * already loaded is reloaded beside the serving version(s): traffic moves to
 * the new version(s) when they are READY and the old ones finish what they
 * hold, then unload; a reload that fails leaves the old version(s) serving.
 * Loading an unchanged, loaded model without a config is a no-op success.
 * opts may be NULL. Synchronous errors (returned, callback never called):
 *   INVALID_ARG "invalid model name ..."  name empty, with '/', NUL, ".."
 *   INVALID_ARG  a bad file path, or files without a config
 *   UNAVAILABLE "explicit model load / unload is not allowed if polling is
 *               enabled" in control modes none and poll
 *   UNAVAILABLE "server is stopping"
 * Asynchronous errors (callback): the load error, or INVALID_ARG
 * "failed to load '<m>', failed to poll from model repository" for a name
 * that no repository has. name need not be NUL-terminated. */
INFERD_API inferd_status_t *
inferd_server_model_load_async(inferd_server_t *s, const char *name,
                               size_t name_len,
                               const inferd_model_load_options_t *opts,
                               inferd_repository_cb cb, void *userp);
/* Unloads every version of a model (explicit mode): new requests are
 * refused at once; queued and executing ones finish (queued ones fail with
 * UNAVAILABLE after model_unload_timeout_ms); the callback runs when the
 * model has left the table, not when its last request ends. Unloading a
 * known model that is not loaded succeeds. unload_dependents is accepted
 * (no model has dependents until ensembles exist). Errors as for load;
 * INVALID_ARG "failed to unload '<m>', no version is available" for a name
 * the server does not know. */
INFERD_API inferd_status_t *
inferd_server_model_unload_async(inferd_server_t *s, const char *name,
                                 size_t name_len, bool unload_dependents,
                                 inferd_repository_cb cb, void *userp);
/* Load on demand (options.load_on_demand): call when a request for `name`
 * found no READY version. If a repository has the model, its load starts
 * (or the one running is joined: concurrent callers share one load) and
 * *waiting is set: cb then runs once when the model is READY (st NULL:
 * acquire it again) or failed (st: the load's error, or UNAVAILABLE when
 * load_on_demand_timeout_ms passed first). *waiting false (and NULL
 * returned): nothing to wait for (the feature is off, the model is READY
 * already, or no repository has it): answer the original error. */
INFERD_API inferd_status_t *inferd_server_model_load_on_demand_async(
    inferd_server_t *s, const char *name, size_t name_len,
    inferd_repository_cb cb, void *userp, bool *waiting);

/* Blocking forms of the two calls above (for embedders and tests; never
 * call them from a callback or a frontend event loop). */
INFERD_API inferd_status_t *inferd_server_model_load(inferd_server_t *s,
                                                     const char *name,
                                                     const char *config_json);
INFERD_API inferd_status_t *inferd_server_model_unload(inferd_server_t *s,
                                                       const char *name,
                                                       bool unload_dependents);

/* ======================= statistics =================================== */

typedef struct inferd_duration_stat {
  uint64_t count, ns;
} inferd_duration_stat_t;

typedef struct inferd_batch_stat {
  uint64_t batch_size;
  inferd_duration_stat_t compute_input, compute_infer, compute_output;
} inferd_batch_stat_t;

/* One model version's statistics (reference §1.11); durations in ns. */
typedef struct inferd_model_stats {
  char *name;
  int64_t version;
  uint64_t last_inference_ms; /* ms since the epoch, 0 = never */
  uint64_t inference_count;   /* batch elements */
  uint64_t execution_count;   /* backend executions */
  inferd_duration_stat_t success, fail, queue, compute_input, compute_infer,
      compute_output, cache_hit, cache_miss;
  inferd_batch_stat_t *batch; /* ascending batch_size */
  size_t n_batch;
  uint64_t memory_bytes; /* measured at load (CPU memory) */
} inferd_model_stats_t;

/* Statistics of the READY versions: of every model when name is NULL, of
 * one model (all its READY versions when version is -1, else that version).
 * Errors as in inferd_server_model_acquire. *out: free with
 * inferd_model_stats_free. */
INFERD_API inferd_status_t *
inferd_server_model_statistics(inferd_server_t *s, const char *name,
                               size_t name_len, int64_t version,
                               inferd_model_stats_t **out, size_t *n);
INFERD_API void inferd_model_stats_free(inferd_model_stats_t *stats, size_t n);

/* ======================= inference ==================================== */

/* Called for each response; the callee owns resp (inferd_response_free) and
 * may keep it. flags has INFERD_RESPONSE_FLAG_FINAL on the last one; resp
 * may be NULL on a flags-only final (decoupled models). Called from a server
 * thread (instance or scheduler thread); must not block for long. */
typedef void (*inferd_response_cb)(inferd_response_t *resp, uint32_t flags,
                                   void *userp);
/* Called once, after the last response callback of the request, when the
 * server holds nothing of the request any more: input buffers may be freed
 * and the request freed or reused. Called from a server thread. */
typedef void (*inferd_release_cb)(inferd_request_t *req, void *userp);

/* New empty request for model m (shared: the request takes its own ref). */
INFERD_API inferd_status_t *inferd_request_new(inferd_request_t **out,
                                               inferd_model_t *m);
/* Frees a request that is not in flight (never submitted, or after its
 * release callback). NULL ignored. */
INFERD_API void inferd_request_free(inferd_request_t *req);
INFERD_API inferd_model_t *inferd_request_model(const inferd_request_t *req);

/* Strings are copied; they need not be NUL-terminated. */
INFERD_API inferd_status_t *inferd_request_set_id(inferd_request_t *req,
                                                  const char *id, size_t len);
INFERD_API const char *inferd_request_id(const inferd_request_t *req);
INFERD_API void inferd_request_set_flags(inferd_request_t *req, uint32_t flags);
INFERD_API void inferd_request_set_correlation_id(inferd_request_t *req,
                                                  uint64_t id);
INFERD_API inferd_status_t *
inferd_request_set_correlation_id_string(inferd_request_t *req, const char *id,
                                         size_t len);
INFERD_API void inferd_request_set_priority(inferd_request_t *req,
                                            uint64_t priority);
INFERD_API void inferd_request_set_timeout_us(inferd_request_t *req,
                                              uint64_t timeout_us);

/* Custom request parameters (visible to backends). Keys and string values
 * are copied. */
INFERD_API inferd_status_t *
inferd_request_set_param_string(inferd_request_t *req, const char *key,
                                size_t key_len, const char *val,
                                size_t val_len);
INFERD_API inferd_status_t *inferd_request_set_param_int(inferd_request_t *req,
                                                         const char *key,
                                                         size_t key_len,
                                                         int64_t val);
INFERD_API inferd_status_t *inferd_request_set_param_bool(inferd_request_t *req,
                                                          const char *key,
                                                          size_t key_len,
                                                          bool val);
INFERD_API inferd_status_t *
inferd_request_set_param_double(inferd_request_t *req, const char *key,
                                size_t key_len, double val);

/* Adds an input tensor (name and shape copied). The shape includes the
 * batch dimension when the model batches. *index receives the input's index
 * for append_input_data. Duplicate names → INVALID_ARG. */
INFERD_API inferd_status_t *
inferd_request_add_input(inferd_request_t *req, const char *name,
                         size_t name_len, inferd_datatype_t dt,
                         const int64_t *shape, size_t n_dims, uint32_t *index);
/* Appends a data buffer to input `index` (inputs may arrive in several
 * pieces). The buffer is borrowed until the release callback: it is not
 * copied. BYTES data is the wire form: per element a 4-byte little-endian
 * length and the bytes. */
INFERD_API inferd_status_t *
inferd_request_append_input_data(inferd_request_t *req, uint32_t index,
                                 const void *base, size_t byte_size,
                                 inferd_memtype_t mem_type, int64_t device_id);
/* Restricts the response to the named outputs (copied). Without any call,
 * every model output is returned. Unknown names fail at infer_async. */
INFERD_API inferd_status_t *
inferd_request_add_requested_output(inferd_request_t *req, const char *name,
                                    size_t name_len);
INFERD_API void inferd_request_set_callbacks(inferd_request_t *req,
                                             inferd_response_cb response_cb,
                                             inferd_release_cb release_cb,
                                             void *userp);
/* Response allocator: decides where each output of the request's responses
 * is written (the caller's own buffer, a shared-memory region, device
 * memory). alloc is called from a server thread (the instance executing the
 * request) once per output, with the output's name, its byte size and the
 * memory the backend prefers; it returns the buffer and its actual memory
 * type and device, or *buffer NULL (no error) to let the server allocate
 * CPU memory as without an allocator. When the actual memory differs from
 * what the backend can write, the server stages the output and copies it
 * once, at send. release is called once per buffer alloc gave, when the
 * response is freed or the output dropped (any thread). The allocator's
 * userp and functions must stay valid until every response of the request
 * is freed. An error from alloc fails that output (the backend sees it). */
typedef inferd_status_t *(*inferd_output_alloc_fn)(
    void *userp, const char *tensor_name, size_t byte_size,
    inferd_memtype_t preferred_type, int64_t preferred_device, void **buffer,
    void **buffer_userp, inferd_memtype_t *actual_type, int64_t *actual_device);
typedef void (*inferd_output_release_fn)(void *userp, void *buffer,
                                         void *buffer_userp, size_t byte_size,
                                         inferd_memtype_t type, int64_t device);
INFERD_API void inferd_request_set_response_allocator(
    inferd_request_t *req, inferd_output_alloc_fn alloc,
    inferd_output_release_fn release, void *userp);

/* Marks the request cancelled; one still queued gets a CANCELLED response.
 * Thread-safe; may be called until the release callback. */
INFERD_API void inferd_request_cancel(inferd_request_t *req);

/* Validates the request against the model's config (input names, data types,
 * shapes incl. batch size, byte sizes, BYTES element framing, missing
 * inputs, requested outputs) and queues it. On success the request belongs
 * to the server until its release callback. On failure the callbacks are
 * never called and the caller still owns the request. Never blocks on
 * execution. */
INFERD_API inferd_status_t *inferd_server_infer_async(inferd_server_t *s,
                                                      inferd_request_t *req);

/* Wake-up batching for a frontend's event loop (optional, per thread).
 * While the calling thread defers, requests it hands to
 * inferd_server_infer_async are queued without waking the models'
 * execution threads; inferd_thread_defer_wakeups(false) then wakes each
 * scheduler that received requests, once. An event-loop iteration thus
 * hands over all its requests with one wake-up instead of one each. The
 * thread must not wait for a response between the two calls. */
INFERD_API void inferd_thread_defer_wakeups(bool defer);

/* ---- responses --------------------------------------------------------- */
/* Error of the response (borrowed), NULL when it succeeded. */
INFERD_API const inferd_status_t *
inferd_response_error(const inferd_response_t *r);
INFERD_API const char *inferd_response_model_name(const inferd_response_t *r);
INFERD_API int64_t inferd_response_model_version(const inferd_response_t *r);
INFERD_API size_t inferd_response_output_count(const inferd_response_t *r);
/* Outputs in the order the backend produced them, already filtered to the
 * requested outputs. Pointers are borrowed until inferd_response_free. */
INFERD_API void inferd_response_output(const inferd_response_t *r, size_t i,
                                       const char **name, inferd_datatype_t *dt,
                                       const int64_t **shape, size_t *n_dims,
                                       const void **base, size_t *byte_size);
/* Where output i lives: memory type, device, and the buffer_userp its
 * allocator gave (NULL for server-allocated CPU memory). */
INFERD_API void inferd_response_output_memory(const inferd_response_t *r,
                                              size_t i, inferd_memtype_t *type,
                                              int64_t *device_id,
                                              void **buffer_userp);
INFERD_API size_t inferd_response_param_count(const inferd_response_t *r);
/* *value is the NUL-terminated string itself for STRING, else it points to
 * an int64_t (INT), bool (BOOL) or double (DOUBLE). */
INFERD_API void inferd_response_param(const inferd_response_t *r, size_t i,
                                      const char **key,
                                      inferd_param_type_t *type,
                                      const void **value);
INFERD_API void inferd_response_free(inferd_response_t *r);

/* ======================= metrics ====================================== */
/* What the Prometheus endpoint (src/metrics) and the dashboard read: one
 * entry per READY model version, built from the same counters as
 * inferd_server_model_statistics (one source of truth) plus what only the
 * metrics need. Taking a snapshot copies the table of READY versions under
 * the repository's short lock, then reads each version's atomics with no
 * lock held: it never blocks inference and costs O(versions). */

/* Failure reasons of nv_inference_request_failure (reference §6). */
enum {
  INFERD_FAIL_REJECTED = 0, /* queue timeout, queue full */
  INFERD_FAIL_CANCELED = 1, /* cancelled by the client */
  INFERD_FAIL_BACKEND = 2,  /* the model's execution failed */
  INFERD_FAIL_OTHER = 3,    /* anything else (e.g. failed while unloading) */
  INFERD_FAIL_N = 4
};

/* Upper bounds (µs) of the buckets of the inferd_* latency histograms; the
 * last bucket (+Inf) is implicit. */
#define INFERD_METRICS_N_BUCKETS 16
/* Upper bounds (ms) of Triton's nv_inference_first_response_histogram_ms */
#define INFERD_METRICS_N_FIRST_BUCKETS 4

typedef struct inferd_model_metrics {
  inferd_model_stats_t stats; /* as inferd_server_model_statistics gives */
  /* failures by reason; they sum to stats.fail.count */
  uint64_t fail[INFERD_FAIL_N];
  /* requests accepted (infer_async succeeded) whose final response has not
   * been sent: queued, in the backlog or executing */
  int64_t pending;
  uint64_t load_ns; /* how long this version's load took */
  /* per bucket (not cumulative) counts; index INFERD_METRICS_N_BUCKETS is
   * +Inf. queue: successful requests' queue time; request: every finished
   * request's end-to-end time. */
  uint64_t queue_hist[INFERD_METRICS_N_BUCKETS + 1];
  uint64_t request_hist[INFERD_METRICS_N_BUCKETS + 1];
  /* request → first response (Triton's histogram), per bucket, + Inf last;
   * sum in ns */
  uint64_t first_hist[INFERD_METRICS_N_FIRST_BUCKETS + 1];
  uint64_t first_sum_ns;
  /* metric_tags of the config: keys and values, n_tags of each (owned) */
  char **tag_keys, **tag_values;
  size_t n_tags;
} inferd_model_metrics_t;

/* Bucket bounds: µs for the inferd_* histograms, ms for the first-response
 * histogram (100, 500, 2000, 5000 as Triton). Static arrays. */
INFERD_API const uint64_t *inferd_metrics_bucket_bounds_us(void);
INFERD_API const uint64_t *inferd_metrics_first_bucket_bounds_ms(void);

/* Snapshot of every READY model version (see above). *out: free with
 * inferd_model_metrics_free. Thread-safe. */
INFERD_API inferd_status_t *
inferd_server_model_metrics(inferd_server_t *s, inferd_model_metrics_t **out,
                            size_t *n);
INFERD_API void inferd_model_metrics_free(inferd_model_metrics_t *m, size_t n);

/* ======================= system shared memory ========================= */
/* The system shared memory extension (reference §1.13): a client on the
 * same host registers a POSIX shared memory object under a region name, and
 * requests then pass tensors by (region, offset, byte_size) instead of by
 * value. Both frontends share one registry per server. Regions live in one
 * name space per server; every function here is thread-safe. */

/* A mapped region, refcounted: the registry holds one reference while the
 * name is registered, and every acquire one more. The mapping is removed
 * when the last reference goes, so a region in use by a request stays
 * mapped until the request lets go even if it was unregistered meanwhile. */
typedef struct inferd_shm_region inferd_shm_region_t;

/* Maps byte_size bytes at offset of the POSIX shared memory object key
 * (shm_open(key, O_RDWR), mmap shared, read-write) and registers them as
 * region `name`. key must be a POSIX shared memory name: "/" followed by 1
 * to 254 bytes with no "/", no ".." and no NUL; paths are refused. Strings
 * need not be NUL-terminated and are copied. Errors (Triton's texts first):
 *   INVALID_ARG    "'region name' is necessary to register system shared
 *                  memory region" (empty name)
 *   INVALID_ARG    "failed to register shared memory region '<r>': invalid
 *                  key ..." (not a POSIX shared memory name)
 *   ALREADY_EXISTS "shared memory region '<r>' already in manager"
 *   INTERNAL       "Unable to open shared memory region: '<key>'..."
 *   INVALID_ARG    "failed to register shared memory region '<r>': invalid
 *                  args ..." (byte_size 0, or offset + byte_size beyond the
 *                  object's size) */
INFERD_API inferd_status_t *
inferd_server_shm_register(inferd_server_t *s, const char *name,
                           size_t name_len, const char *key, size_t key_len,
                           uint64_t offset, uint64_t byte_size);
/* Unregisters region `name`, or every region when name is NULL. The name is
 * free again at once; the mapping goes when no request holds it. An
 * unknown name is not an error (as in Triton). */
INFERD_API inferd_status_t *inferd_server_shm_unregister(inferd_server_t *s,
                                                         const char *name,
                                                         size_t name_len);

typedef struct inferd_shm_region_status {
  char *name;
  char *key;
  uint64_t offset;    /* into the shared memory object */
  uint64_t byte_size; /* registered size */
} inferd_shm_region_status_t;

/* Status of region `name`, or of every region (in registration order) when
 * name is NULL. *out is owned by the caller: free with
 * inferd_shm_region_status_free (also when *n is 0). Errors: NOT_FOUND
 * "Unable to find system shared memory region: '<r>'". */
INFERD_API inferd_status_t *
inferd_server_shm_status(inferd_server_t *s, const char *name, size_t name_len,
                         inferd_shm_region_status_t **out, size_t *n);
INFERD_API void inferd_shm_region_status_free(inferd_shm_region_status_t *st,
                                              size_t n);

/* Looks up byte_size bytes at offset into region `name` (offset counts from
 * the start of the registered region) and takes a reference on the region:
 * *ptr stays valid until inferd_shm_region_release(*region). Errors
 * (Triton's texts, details after them):
 *   NOT_FOUND   "Unable to find shared memory region: '<r>'"
 *   INVALID_ARG "Invalid offset for shared memory region: '<r>'"
 *   INVALID_ARG "Invalid offset + byte size for shared memory region:
 *               '<r>'" */
INFERD_API inferd_status_t *
inferd_server_shm_acquire(inferd_server_t *s, const char *name, size_t name_len,
                          uint64_t offset, uint64_t byte_size,
                          inferd_shm_region_t **region, void **ptr);
/* Drops a reference from inferd_server_shm_acquire; unmaps the region when
 * it was the last one. Any thread; NULL ignored. */
INFERD_API void inferd_shm_region_release(inferd_shm_region_t *r);

#ifdef __cplusplus
}
#endif
#endif /* INFERD_SERVER_H */
