/*
 * grpc_bench_client.c: closed-loop unary load generator on the gRPC C core.
 * Keeps <concurrency> calls of <method> in flight on one channel, each
 * sending the bytes of <payload file>, for <seconds>; prints calls/s.
 * Any non-OK status is counted and the first one printed.
 *
 * usage: grpc_bench_client <host:port> <method> <payload> <concurrency> <s>
 */
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct call {
  grpc_call *call;
  grpc_metadata_array md, trailing;
  grpc_byte_buffer *req, *resp;
  grpc_status_code status;
  grpc_slice details;
} call_t;

static grpc_channel *ch;
static grpc_completion_queue *cq;
static grpc_slice method;
static grpc_slice payload; /* each call gets its own byte buffer: the
                            core takes the slices of a sent buffer */

static void start(call_t *c) {
  memset(c, 0, sizeof(*c));
  c->call =
      grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                               NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_metadata_array_init(&c->md);
  grpc_metadata_array_init(&c->trailing);
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  c->req = grpc_raw_byte_buffer_create(&payload, 1);
  ops[1].data.send_message.send_message = c->req;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &c->resp;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
  ops[5].data.recv_status_on_client.status = &c->status;
  ops[5].data.recv_status_on_client.status_details = &c->details;
  if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK) {
    fprintf(stderr, "start_batch failed\n");
    exit(1);
  }
}

static void finish(call_t *c) {
  grpc_byte_buffer_destroy(c->req);
  if (c->resp)
    grpc_byte_buffer_destroy(c->resp);
  grpc_metadata_array_destroy(&c->md);
  grpc_metadata_array_destroy(&c->trailing);
  grpc_slice_unref(c->details);
  grpc_call_unref(c->call);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr,
            "usage: %s host:port method payload concurrency "
            "seconds\n",
            argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[3], "rb");
  if (!f) {
    perror(argv[3]);
    return 2;
  }
  static char buf[1 << 24];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  int conc = (int)strtol(argv[4], NULL, 10);
  double secs = strtod(argv[5], NULL);
  if (conc < 1 || secs <= 0) {
    fprintf(stderr, "bad concurrency or seconds\n");
    return 2;
  }
  grpc_init();
  grpc_channel_credentials *cr = grpc_insecure_credentials_create();
  ch = grpc_channel_create(argv[1], cr, NULL);
  grpc_channel_credentials_release(cr);
  cq = grpc_completion_queue_create_for_next(NULL);
  method = grpc_slice_from_copied_string(argv[2]);
  payload = grpc_slice_from_copied_buffer(buf, n);
  call_t *calls = calloc((size_t)conc, sizeof(*calls));
  for (int i = 0; i < conc; i++)
    start(&calls[i]);
  gpr_timespec t0 = gpr_now(GPR_CLOCK_MONOTONIC);
  gpr_timespec warm_end =
      gpr_time_add(t0, gpr_time_from_millis(500, GPR_TIMESPAN));
  gpr_timespec end = gpr_time_add(
      warm_end, gpr_time_from_millis((int64_t)(secs * 1000), GPR_TIMESPAN));
  long done = 0, errors = 0;
  int reported = 0;
  int measuring = 0, active = conc;
  while (active > 0) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE)
      continue;
    call_t *c = ev.tag;
    if (c->status != GRPC_STATUS_OK || !ev.success) {
      errors++;
      if (!reported++) {
        char *d = grpc_slice_to_c_string(c->details);
        fprintf(stderr, "first error: status %d: %s\n", c->status, d);
        gpr_free(d);
      }
    }
    finish(c);
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (!measuring && gpr_time_cmp(now, warm_end) >= 0)
      measuring = 1, done = 0, errors = 0;
    if (measuring)
      done++;
    if (gpr_time_cmp(now, end) >= 0) {
      active--;
      continue;
    }
    start(c);
  }
  printf("%.0f calls/s (%ld calls, %ld errors, concurrency %d)\n", done / secs,
         done, errors, conc);
  grpc_slice_unref(method);
  grpc_slice_unref(payload);
  grpc_completion_queue_shutdown(cq);
  while (
      grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
          .type != GRPC_QUEUE_SHUTDOWN)
    ;
  grpc_completion_queue_destroy(cq);
  grpc_channel_destroy(ch);
  free(calls);
  grpc_shutdown();
  return errors ? 1 : 0;
}
