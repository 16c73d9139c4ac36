/*
 * grpc_internal.h: what the files of the gRPC frontend share. Prefix grpc_fe_.
 *
 *   grpc_server.c    lifecycle, completion-queue threads, method table, call
 *                    matching, unary replies
 *   grpc_wire.c      ModelInferRequest decoding that leaves raw_input_contents
 *                    in the received buffer; ModelInferResponse encoding that
 *                    points large outputs at the response (no copy)
 *   grpc_infer.c     ModelInfer and ModelStreamInfer: request building,
 *                    response callbacks, the per-stream write queue
 *   grpc_handlers.c  every other RPC (health, metadata, config, statistics,
 *                    repository, logging; UNIMPLEMENTED for trace);
 *                    load/unload answer from the server's callback
 *   grpc_shm.c       the system (and CUDA) shared memory RPCs
 *
 * Completion-queue events carry a grpc_fe_tag_t*; its fn runs on the polling
 * thread that dequeued it.
 */
#ifndef INFERD_GRPC_INTERNAL_H
#define INFERD_GRPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdatomic.h>

#include "grpc/grpc_server.h"
#include "grpc_service.pb-c.h"
#include "health.pb-c.h"
#include "inferd/server.h"

typedef struct grpc_fe_tag {
  void (*fn)(struct grpc_fe_tag *t, bool ok);
} grpc_fe_tag_t;

/* ---- wire: ModelInferRequest decoding ------------------------------------ */

/* One contiguous piece of received bytes (borrowed from the byte buffer). */
typedef struct grpc_fe_piece {
  const uint8_t *p;
  size_t n;
} grpc_fe_piece_t;

/* raw_input_contents[i]: pieces[first .. first+n_pieces) totalling byte_size */
typedef struct grpc_fe_raw {
  size_t first, n_pieces, byte_size;
} grpc_fe_raw_t;

typedef struct grpc_fe_infer_msg {
  Inference__ModelInferRequest *hdr; /* every field but raw_input_contents */
  grpc_fe_piece_t *pieces;
  size_t n_pieces, cap_pieces;
  grpc_fe_raw_t *raw;
  size_t n_raw, cap_raw;
} grpc_fe_infer_msg_t;

/* Decodes a ModelInferRequest given as segments (the slices of a received
 * byte buffer). raw_input_contents are not copied: m->pieces point into segs,
 * which must outlive m. The other fields are unpacked with protobuf-c into
 * m->hdr. Errors: INVALID_ARG "malformed ModelInferRequest: ...". On failure
 * m is left empty (grpc_fe_infer_msg_deinit is still allowed). */
inferd_status_t *grpc_fe_infer_msg_parse(grpc_fe_infer_msg_t *m,
                                         const grpc_fe_piece_t *segs,
                                         size_t n_segs);
void grpc_fe_infer_msg_deinit(grpc_fe_infer_msg_t *m);

/* ---- wire: ModelInferResponse encoding ----------------------------------- */

/* Encodes resp (error-free) as a ModelInferResponse with every output in
 * raw_output_contents (an empty entry for an output that the request's
 * response allocator placed, i.e. one written into the client's shared
 * memory region, as Triton sends); with stream, wrapped as
 * ModelStreamInferResponse field infer_response, plus parameter
 * triton_final_response = final. Takes ownership of resp on success and on
 * failure (large outputs are sent from the response itself, which is freed when
 * gRPC drops the last slice). id may be NULL. */
inferd_status_t *grpc_fe_encode_response(inferd_response_t *resp,
                                         const char *id, bool stream,
                                         bool final, grpc_byte_buffer **out);
/* ModelStreamInferResponse with error_message and an infer_response holding
 * only id/model_name/model_version (any may be NULL); or, when error is NULL,
 * the empty final response (triton_final_response true). */
inferd_status_t *grpc_fe_encode_stream_note(const char *error,
                                            const char *model, int64_t version,
                                            const char *id,
                                            grpc_byte_buffer **out);

/* ---- server ----------------------------------------------------------------
 */

typedef enum grpc_fe_method {
  GRPC_FE_SERVER_LIVE,
  GRPC_FE_SERVER_READY,
  GRPC_FE_MODEL_READY,
  GRPC_FE_SERVER_METADATA,
  GRPC_FE_MODEL_METADATA,
  GRPC_FE_MODEL_INFER,
  GRPC_FE_MODEL_STREAM_INFER,
  GRPC_FE_MODEL_CONFIG,
  GRPC_FE_MODEL_STATISTICS,
  GRPC_FE_REPOSITORY_INDEX,
  GRPC_FE_REPOSITORY_MODEL_LOAD,
  GRPC_FE_REPOSITORY_MODEL_UNLOAD,
  GRPC_FE_SYSTEM_SHM_STATUS,
  GRPC_FE_SYSTEM_SHM_REGISTER,
  GRPC_FE_SYSTEM_SHM_UNREGISTER,
  GRPC_FE_CUDA_SHM_STATUS,
  GRPC_FE_CUDA_SHM_REGISTER,
  GRPC_FE_CUDA_SHM_UNREGISTER,
  GRPC_FE_TRACE_SETTING,
  GRPC_FE_LOG_SETTINGS,
  GRPC_FE_HEALTH_CHECK,
  GRPC_FE_N_METHODS
} grpc_fe_method_t;

struct grpc_frontend {
  inferd_server_t *server;
  grpc_server *gs;
  void *methods[GRPC_FE_N_METHODS];
  size_t n_cqs;
  grpc_completion_queue **cqs;
  size_t n_threads;
  pthread_t *threads;
  uint16_t port;
  bool quiesced;
  grpc_fe_tag_t shutdown_tag;
  pthread_mutex_t mu; /* with cv: shutdown_done, n_repo_ops */
  pthread_cond_t cv;
  bool shutdown_done;
  /* server callbacks still to come: load/unload, and waits for a load on
   * demand (grpc_fe_ops_add) */
  size_t n_repo_ops;
};

/* A packed reply message (malloc'd bytes). */
typedef struct grpc_fe_buf {
  uint8_t *data;
  size_t len;
} grpc_fe_buf_t;

/* Packs msg into b. NO_MEMORY on failure. */
inferd_status_t *grpc_fe_pack(const ProtobufCMessage *msg, grpc_fe_buf_t *b);

/* Counts a server callback still to come (d = +1 before starting the
 * operation) or one that has run (d = -1, as its last step):
 * grpc_frontend_free waits until none is left. Any thread. */
void grpc_fe_ops_add(grpc_frontend_t *fe, int d);

/* Unary handlers (grpc_handlers.c, grpc_shm.c): decodes the request bytes
 * (req, len) into var, or returns INVALID_ARG naming the message. */
#define UNPACK(type, desc, var)                                                \
  type *var = (type *)protobuf_c_message_unpack(&(desc), NULL, len, req);      \
  if (!var)                                                                    \
    return inferd_status_new(INFERD_INVALID_ARG,                               \
                             "malformed %s: protobuf decoding failed",         \
                             (desc).name);

#define FREE_MSG(var) protobuf_c_message_free_unpacked(&(var)->base, NULL)

/* Handler of a unary RPC other than ModelInfer, ModelMetadata, ModelConfig
 * and the repository load/unload: req is the request message bytes (contiguous,
 * borrowed). On success fills reply. */
typedef inferd_status_t *(*grpc_fe_unary_fn)(grpc_frontend_t *fe,
                                             const uint8_t *req, size_t len,
                                             grpc_fe_buf_t *reply);
grpc_fe_unary_fn grpc_fe_unary_handler(grpc_fe_method_t m);
/* The shared memory RPCs' handlers (grpc_shm.c); NULL for other methods. */
grpc_fe_unary_fn grpc_fe_shm_handler(grpc_fe_method_t m);

/* Sends initial metadata, the reply (may be NULL) and the status (code from
 * st, NULL = OK) in one batch with RECV_CLOSE_ON_SERVER; takes the call
 * reference, reply and st. Any thread. */
void grpc_fe_reply(grpc_call *call, grpc_byte_buffer *reply,
                   inferd_status_t *st);

/* RepositoryModelLoad (load) or RepositoryModelUnload on a matched call:
 * decodes req (borrowed during this call only), starts the server's
 * asynchronous load/unload and returns without waiting; the call (taken) is
 * answered from the completion callback, or at once on a synchronous error.
 * grpc_frontend_free waits for the callbacks still to come. */
void grpc_fe_repository_start(grpc_frontend_t *fe, grpc_call *call, bool load,
                              const uint8_t *req, size_t len);

/* ModelMetadata (config false) or ModelConfig on a matched call: decodes
 * req (borrowed during this call only) and answers at once, unless the
 * model is not READY and the server loads it on demand (issue 9): then the
 * server's callback answers once the load has finished (call taken). */
void grpc_fe_model_info_start(grpc_frontend_t *fe, grpc_call *call, bool config,
                              const uint8_t *req, size_t len);

/* Starts ModelInfer on a matched call (takes the call and payload). A model
 * that is not READY may be loaded on demand first: the server's callback
 * then builds and submits the request (ModelStreamInfer: the same, per
 * request). */
void grpc_fe_infer_start(grpc_frontend_t *fe, grpc_call *call,
                         grpc_byte_buffer *payload);
/* Starts ModelStreamInfer on a matched call (takes the call); md are the
 * client's initial metadata (borrowed during this call only). */
void grpc_fe_stream_start(grpc_frontend_t *fe, grpc_call *call,
                          const grpc_metadata_array *md);

/* Version string of a request: "" → -1; else decimal digits. */
inferd_status_t *grpc_fe_parse_version(const char *s, int64_t *out);

#endif /* INFERD_GRPC_INTERNAL_H */
