/*
 * grpc_server.h: the KServe v2 gRPC frontend (service
 * inference.GRPCInferenceService plus grpc.health.v1.Health/Check) on the
 * gRPC C core with protobuf-c messages. It calls only
 * include/inferd/server.h. Prefix grpc_frontend_ (public) and grpc_fe_
 * (internal): the gRPC C core already owns grpc_server, grpc_server_start and
 * friends, so our names must not be grpc_server_*.
 *
 * Threads: start/quiesce/free from the main thread only. The frontend runs
 * thread_count completion queues with infer_thread_count polling threads
 * each; inference never parks one of them (responses are sent from inferd's
 * response callback).
 */
#ifndef INFERD_GRPC_SERVER_H
#define INFERD_GRPC_SERVER_H

#include "inferd/server.h"

typedef struct grpc_frontend grpc_frontend_t;

typedef struct grpc_frontend_options {
  const char *address;         /* --grpc-address, "0.0.0.0" default */
  uint16_t port;               /* --grpc-port, 8001 default; 0 = any free */
  uint32_t thread_count;       /* --grpc-thread-count: completion queues
                                  (default: online CPU count) */
  uint32_t infer_thread_count; /* --grpc-infer-thread-count: polling threads
                                  per completion queue (default 1) */
  /* keepalive (reference §5); 0 = gRPC's own default unless noted */
  int32_t keepalive_time_ms;                            /* 7200000 */
  int32_t keepalive_timeout_ms;                         /* 20000 */
  bool keepalive_permit_without_calls;                  /* false */
  int32_t http2_max_pings_without_data;                 /* 2 */
  int32_t http2_min_recv_ping_interval_without_data_ms; /* 300000 */
  int32_t http2_max_ping_strikes;                       /* 2 */
  int32_t max_connection_age_ms;                        /* -1 = unset */
  int32_t max_connection_age_grace_ms;                  /* -1 = unset */
} grpc_frontend_options_t;

/* Fills o with the defaults above. */
void grpc_frontend_options_init(grpc_frontend_options_t *o);

/* Binds address:port and starts serving s (borrowed until
 * grpc_frontend_free). Errors: UNAVAILABLE naming the address when the port
 * cannot be bound, INVALID_ARG for bad options. On failure nothing is left
 * running. */
inferd_status_t *grpc_frontend_start(inferd_server_t *s,
                                     const grpc_frontend_options_t *o,
                                     grpc_frontend_t **out);
/* The port actually bound (useful with port 0). */
uint16_t grpc_frontend_port(const grpc_frontend_t *g);
/* Stops admitting new RPCs (clients get UNAVAILABLE); RPCs in flight go on,
 * including open streams. */
void grpc_frontend_quiesce(grpc_frontend_t *g);
/* After inferd_server_stop (nothing in flight in the server any more):
 * cancels the RPCs still open, stops the threads and frees. NULL ignored. */
void grpc_frontend_free(grpc_frontend_t *g);

#endif /* INFERD_GRPC_SERVER_H */
