/* test_grpc_wire.c: ModelInferRequest decoding without copying
 * raw_input_contents, across every segment split, and its errors on
 * malformed input. */
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc_internal.h"
#include "unit.h"

static uint8_t *pack_request(size_t *len) {
  Inference__ModelInferRequest r = INFERENCE__MODEL_INFER_REQUEST__INIT;
  Inference__ModelInferRequest__InferInputTensor in[2];
  Inference__ModelInferRequest__InferInputTensor *inp[2] = {&in[0], &in[1]};
  int64_t shape[2] = {1, 4};
  for (int i = 0; i < 2; i++) {
    inference__model_infer_request__infer_input_tensor__init(&in[i]);
    in[i].name = i ? "INPUT1" : "INPUT0";
    in[i].datatype = "INT32";
    in[i].shape = shape;
    in[i].n_shape = 2;
  }
  static uint8_t d0[16], d1[16];
  for (int i = 0; i < 16; i++)
    d0[i] = (uint8_t)i, d1[i] = (uint8_t)(100 + i);
  ProtobufCBinaryData raw[2] = {{16, d0}, {16, d1}};
  r.model_name = "simple";
  r.model_version = "1";
  r.id = "req-7";
  r.inputs = inp;
  r.n_inputs = 2;
  r.raw_input_contents = raw;
  r.n_raw_input_contents = 2;
  *len = protobuf_c_message_get_packed_size(&r.base);
  uint8_t *p = malloc(*len);
  protobuf_c_message_pack(&r.base, p);
  return p;
}

/* gathers raw entry i into out; checks every piece lies inside buf */
static size_t gather(const grpc_fe_infer_msg_t *m, size_t i, uint8_t *out,
                     const uint8_t *buf, size_t len) {
  size_t n = 0;
  for (size_t k = 0; k < m->raw[i].n_pieces; k++) {
    const grpc_fe_piece_t *pc = &m->pieces[m->raw[i].first + k];
    CHECK(pc->p >= buf && pc->p + pc->n <= buf + len); /* in place */
    memcpy(out + n, pc->p, pc->n);
    n += pc->n;
  }
  return n;
}

static void test_every_split(void) {
  size_t len;
  uint8_t *buf = pack_request(&len);
  for (size_t a = 0; a <= len; a++) {
    for (size_t b = a; b <= len; b += 3) {
      grpc_fe_piece_t segs[3] = {
          {buf, a}, {buf + a, b - a}, {buf + b, len - b}};
      grpc_fe_infer_msg_t m;
      inferd_status_t *st = grpc_fe_infer_msg_parse(&m, segs, 3);
      CHECK(st == NULL);
      if (st) {
        fprintf(stderr, "split %zu/%zu: %s\n", a, b, inferd_status_message(st));
        inferd_status_free(st);
        continue;
      }
      CHECK(strcmp(m.hdr->model_name, "simple") == 0);
      CHECK(strcmp(m.hdr->id, "req-7") == 0);
      CHECK(m.hdr->n_inputs == 2);
      CHECK(m.hdr->n_raw_input_contents == 0); /* not copied into hdr */
      CHECK(m.n_raw == 2);
      uint8_t out[16];
      CHECK(gather(&m, 0, out, buf, len) == 16 && out[3] == 3);
      CHECK(gather(&m, 1, out, buf, len) == 16 && out[15] == 115);
      grpc_fe_infer_msg_deinit(&m);
    }
  }
  free(buf);
}

static void test_truncated(void) {
  size_t len;
  uint8_t *buf = pack_request(&len);
  /* every strict prefix either fails cleanly or (cut between fields)
   * decodes; never crashes or reads past the end */
  size_t failures = 0;
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, buf, cut);
    grpc_fe_piece_t seg = {copy, cut};
    grpc_fe_infer_msg_t m;
    inferd_status_t *st = grpc_fe_infer_msg_parse(&m, &seg, 1);
    if (st) {
      failures++;
      CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
      CHECK_STR_CONTAINS(inferd_status_message(st),
                         "malformed ModelInferRequest");
      inferd_status_free(st);
    }
    grpc_fe_infer_msg_deinit(&m);
    free(copy);
  }
  CHECK(failures > len / 2);
  /* the raw entry cut short names the field */
  grpc_fe_piece_t seg = {buf, len - 5};
  grpc_fe_infer_msg_t m;
  inferd_status_t *st = grpc_fe_infer_msg_parse(&m, &seg, 1);
  CHECK_STR_CONTAINS(inferd_status_message(st), "raw_input_contents");
  inferd_status_free(st);
  free(buf);
}

static void test_garbage(void) {
  const uint8_t group[] = {0x0b, 0x00};          /* wire type 3 */
  const uint8_t zero_field[] = {0x02, 0x00};     /* field 0 */
  const uint8_t long_len[] = {0x0a, 0xff, 0x7f}; /* model_name past end */
  const uint8_t bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  const uint8_t *cases[] = {group, zero_field, long_len, bad_varint};
  size_t lens[] = {sizeof(group), sizeof(zero_field), sizeof(long_len),
                   sizeof(bad_varint)};
  for (size_t i = 0; i < 4; i++) {
    grpc_fe_piece_t seg = {cases[i], lens[i]};
    grpc_fe_infer_msg_t m;
    inferd_status_t *st = grpc_fe_infer_msg_parse(&m, &seg, 1);
    CHECK(st != NULL);
    CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
    CHECK_STR_CONTAINS(inferd_status_message(st), "malformed");
    inferd_status_free(st);
    grpc_fe_infer_msg_deinit(&m);
  }
  /* an empty message is a valid (empty) request */
  grpc_fe_infer_msg_t m;
  CHECK(grpc_fe_infer_msg_parse(&m, NULL, 0) == NULL);
  CHECK(m.hdr && m.n_raw == 0);
  grpc_fe_infer_msg_deinit(&m);
}

static void test_version(void) {
  int64_t v;
  CHECK(grpc_fe_parse_version("", &v) == NULL && v == -1);
  CHECK(grpc_fe_parse_version("12", &v) == NULL && v == 12);
  inferd_status_t *st = grpc_fe_parse_version("1a", &v);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"1a\"");
  inferd_status_free(st);
  st = grpc_fe_parse_version("-3", &v);
  CHECK(st != NULL);
  inferd_status_free(st);
}

int main(void) {
  test_every_split();
  test_truncated();
  test_garbage();
  test_version();
  return UNIT_END();
}
