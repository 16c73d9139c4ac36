/*
 * grpc_echo_server.c: the baseline of bench/grpc_bench.sh: a bare gRPC C-core
 * unary server that answers every call of any method with the bytes it
 * received (one batch: metadata, message, status, close), on <threads>
 * completion queues with one thread each, like inferd's default layout.
 *
 * usage: grpc_echo_server <port> <threads>
 */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  int state; /* 0: waiting for a call, 1: replying */
  grpc_server *srv;
  void *method;
  grpc_completion_queue *cq;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  int cancelled;
} slot_t;

static void arm(slot_t *s) {
  s->state = 0;
  s->payload = NULL;
  grpc_metadata_array_init(&s->md);
  grpc_server_request_registered_call(s->srv, s->method, &s->call, &s->deadline,
                                      &s->md, &s->payload, s->cq, s->cq, s);
}

static void *loop(void *arg) {
  grpc_completion_queue *cq = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      return NULL;
    slot_t *s = ev.tag;
    if (s->state == 0) {
      if (!ev.success)
        continue;
      grpc_op ops[4];
      memset(ops, 0, sizeof(ops));
      ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
      ops[1].op = GRPC_OP_SEND_MESSAGE;
      ops[1].data.send_message.send_message = s->payload;
      ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
      ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
      ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
      ops[3].data.recv_close_on_server.cancelled = &s->cancelled;
      s->state = 1;
      grpc_call_start_batch(s->call, ops, s->payload ? 4 : 1, s, NULL);
    } else {
      if (s->payload)
        grpc_byte_buffer_destroy(s->payload);
      grpc_metadata_array_destroy(&s->md);
      grpc_call_unref(s->call);
      arm(s);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s port threads\n", argv[0]);
    return 2;
  }
  int nt = (int)strtol(argv[2], NULL, 10);
  if (nt < 1)
    nt = 1;
  grpc_init();
  grpc_server *srv = grpc_server_create(NULL, NULL);
  void *m = grpc_server_register_method(
      srv, "/inference.GRPCInferenceService/ModelInfer", NULL,
      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  grpc_completion_queue **cqs = calloc((size_t)nt, sizeof(*cqs));
  for (int i = 0; i < nt; i++) {
    cqs[i] = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv, cqs[i], NULL);
  }
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[1]);
  grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
  if (!grpc_server_add_http2_port(srv, addr, cr)) {
    fprintf(stderr, "cannot bind %s\n", addr);
    return 1;
  }
  grpc_server_credentials_release(cr);
  grpc_server_start(srv);
  for (int i = 0; i < nt; i++)
    for (int k = 0; k < 16; k++) {
      slot_t *s = calloc(1, sizeof(*s));
      s->srv = srv, s->method = m, s->cq = cqs[i];
      arm(s);
    }
  printf("echo server on %s\n", addr);
  fflush(stdout);
  pthread_t *th = calloc((size_t)nt, sizeof(*th));
  for (int i = 0; i < nt; i++)
    pthread_create(&th[i], NULL, loop, cqs[i]);
  for (int i = 0; i < nt; i++)
    pthread_join(th[i], NULL);
  return 0;
}
