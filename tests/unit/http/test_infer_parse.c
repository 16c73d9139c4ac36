/* Unit tests of http_infer_parse.c: header length parsing, JSON data (nested
 * and flat, every type's range, BYTES framing, FP16 refused), binary blobs
 * (order, short, leftover), raw bodies, parameters and outputs. Every bad
 * input checks the code and the message. */
#include <stdlib.h>

#include "http/http_internal.h"
#include "unit.h"

static http_arena_t arena;
static http_infer_t inf;

/* Parses JSON s (whole body, no header) and returns the status. */
static inferd_status_t *parse(const char *s) {
  return http_infer_parse(&arena, s, strlen(s), SIZE_MAX, 1 << 20, &inf);
}

static void expect_err(const char *body, inferd_code_t code, const char *msg) {
  inferd_status_t *st = parse(body);
  CHECK(inferd_status_code(st) == code);
  CHECK_STR_CONTAINS(inferd_status_message(st), msg);
  inferd_status_free(st);
}

#define IN(dt, shape, data)                                                    \
  "{\"inputs\":[{\"name\":\"X\",\"datatype\":\"" dt "\",\"shape\":" shape      \
  ",\"data\":" data "}]}"

int main(void) {
  http_arena_init(&arena);
  size_t hl;
  inferd_status_t *st;

  /* Inference-Header-Content-Length */
  CHECK(http_parse_header_length("12", 20, &hl) == NULL && hl == 12);
  CHECK(http_parse_header_length("0", 0, &hl) == NULL && hl == 0);
  st = http_parse_header_length("abc", 20, &hl);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"abc\" is not an integer");
  inferd_status_free(st);
  st = http_parse_header_length("-1", 20, &hl);
  CHECK_STR_CONTAINS(inferd_status_message(st), "-1 is out of range");
  inferd_status_free(st);
  st = http_parse_header_length("2147483648", SIZE_MAX, &hl);
  CHECK_STR_CONTAINS(inferd_status_message(st), "out of range");
  inferd_status_free(st);
  st = http_parse_header_length("21", 20, &hl);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st), "21 exceeds the body size 20");
  inferd_status_free(st);
  st = http_parse_header_length("12x", 20, &hl);
  CHECK_STR_CONTAINS(inferd_status_message(st), "not an integer");
  inferd_status_free(st);

  /* nested and flat data */
  CHECK(parse(IN("INT32", "[2,2]", "[[1,2],[3,-4]]")) == NULL);
  CHECK(inf.n_inputs == 1 && inf.inputs[0].byte_size == 16);
  CHECK(((const int32_t *)inf.inputs[0].data)[3] == -4);
  CHECK(inf.inputs[0].n_dims == 2 && inf.inputs[0].shape[1] == 2);
  http_infer_deinit(&inf);
  CHECK(parse(IN("INT32", "[2,2]", "[1,2,3,4]")) == NULL);
  http_infer_deinit(&inf);
  expect_err(IN("INT32", "[2,2]", "[1,2,3]"), INFERD_INVALID_ARG,
             "input \"X\": shape [2,2] needs 4 elements, data has 3");
  expect_err(IN("INT32", "[1]", "[1,2]"), INFERD_INVALID_ARG,
             "data has more than the 1 elements of shape [1]");
  expect_err(IN("INT32", "[1]", "[\"a\"]"), INFERD_INVALID_ARG,
             "element 0: expected an integer for INT32, got string");

  /* integer ranges */
  expect_err(IN("INT8", "[1]", "[128]"), INFERD_INVALID_ARG,
             "element 0: value 128 is out of range for INT8");
  expect_err(IN("UINT8", "[2]", "[0,-1]"), INFERD_INVALID_ARG,
             "element 1: value -1 is out of range for UINT8");
  expect_err(IN("INT16", "[1]", "[-32769]"), INFERD_INVALID_ARG,
             "out of range for INT16");
  expect_err(IN("UINT16", "[1]", "[65536]"), INFERD_INVALID_ARG,
             "out of range for UINT16");
  expect_err(IN("INT32", "[1]", "[2147483648]"), INFERD_INVALID_ARG,
             "out of range for INT32");
  expect_err(IN("UINT32", "[1]", "[4294967296]"), INFERD_INVALID_ARG,
             "out of range for UINT32");
  expect_err(IN("UINT64", "[1]", "[-1]"), INFERD_INVALID_ARG,
             "out of range for UINT64");
  expect_err(IN("INT64", "[1]", "[1.5]"), INFERD_INVALID_ARG,
             "expected an integer for INT64, got number");
  CHECK(parse(IN("UINT64", "[2]", "[18446744073709551615, 5]")) == NULL);
  CHECK(((const uint64_t *)inf.inputs[0].data)[0] == UINT64_MAX);
  http_infer_deinit(&inf);
  CHECK(parse(IN("INT64", "[1]", "[-9223372036854775808]")) == NULL);
  http_infer_deinit(&inf);

  /* BOOL, floats */
  CHECK(parse(IN("BOOL", "[2]", "[true,false]")) == NULL);
  CHECK(((const uint8_t *)inf.inputs[0].data)[0] == 1);
  http_infer_deinit(&inf);
  expect_err(IN("BOOL", "[1]", "[1]"), INFERD_INVALID_ARG,
             "expected true or false for BOOL, got integer");
  CHECK(parse(IN("FP32", "[2]", "[1, 2.5]")) == NULL);
  CHECK(((const float *)inf.inputs[0].data)[1] == 2.5f);
  http_infer_deinit(&inf);
  expect_err(IN("FP64", "[1]", "[\"1\"]"), INFERD_INVALID_ARG,
             "expected a number for FP64, got string");
  expect_err(IN("FP16", "[1]", "[1.0]"), INFERD_INVALID_ARG,
             "input \"X\": FP16 data cannot be sent as JSON");
  expect_err(IN("BF16", "[1]", "[1.0]"), INFERD_INVALID_ARG,
             "BF16 data cannot be sent as JSON");

  /* BYTES framing: 4-byte LE length + bytes */
  CHECK(parse(IN("BYTES", "[3]", "[\"\",\"ab\",\"\\u00e9\"]")) == NULL);
  CHECK(inf.inputs[0].byte_size == 4 + 6 + 6);
  CHECK(memcmp(inf.inputs[0].data, "\0\0\0\0\2\0\0\0ab\2\0\0\0\xc3\xa9", 16) ==
        0);
  http_infer_deinit(&inf);
  expect_err(IN("BYTES", "[1]", "[1]"), INFERD_INVALID_ARG,
             "expected a string for BYTES, got integer");

  /* structure errors */
  expect_err("{", INFERD_INVALID_ARG, "failed to parse the request JSON");
  expect_err("[]", INFERD_INVALID_ARG, "must be an object");
  expect_err("{}", INFERD_INVALID_ARG, "must have an \"inputs\" array");
  expect_err("{\"inputs\":[{\"datatype\":\"INT32\"}]}", INFERD_INVALID_ARG,
             "inputs[0]: missing string \"name\"");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT33\",\"shape\":"
             "[1],\"data\":[1]}]}",
             INFERD_INVALID_ARG, "unknown datatype \"INT33\"");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT32\",\"shape\":"
             "[-1],\"data\":[1]}]}",
             INFERD_INVALID_ARG, "shape element 0 must be a non-negative");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT32\",\"shape\":"
             "[1]}]}",
             INFERD_INVALID_ARG, "must set exactly one of \"data\"");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT32\",\"shape\":"
             "[1],\"data\":[1],\"parameters\":{\"binary_data_size\":4}}]}",
             INFERD_INVALID_ARG, "must set exactly one of");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT32\",\"shape\":"
             "[1],\"parameters\":{\"shared_memory_region\":\"r\"}}]}",
             INFERD_INVALID_ARG, "shared_memory_byte_size is required");
  expect_err("{\"inputs\":[{\"name\":\"X\",\"datatype\":\"INT32\",\"shape\":"
             "[1],\"parameters\":{\"binary_data_size\":4}}]}",
             INFERD_INVALID_ARG, "no Inference-Header-Content-Length header");
  expect_err("{\"id\":5,\"inputs\":[]}", INFERD_INVALID_ARG,
             "\"id\" must be a string");

  /* parameters */
  CHECK(parse("{\"id\":\"abc\",\"parameters\":{\"sequence_id\":7,"
              "\"sequence_start\":true,\"priority\":2,\"timeout\":100,"
              "\"binary_data_output\":true,\"custom\":\"v\",\"n\":1.5},"
              "\"inputs\":[]}") == NULL);
  CHECK(inf.id_len == 3 && inf.has_seq_id && inf.seq_id == 7);
  CHECK(inf.flags == INFERD_REQUEST_FLAG_SEQUENCE_START);
  CHECK(inf.priority == 2 && inf.timeout_us == 100 && inf.binary_data_output);
  CHECK(inf.n_params == 2);
  CHECK(http_output_is_binary(&inf, "ANY"));
  http_infer_deinit(&inf);
  expect_err("{\"parameters\":{\"triton_x\":1},\"inputs\":[]}",
             INFERD_INVALID_ARG, "parameter \"triton_x\" is reserved");
  expect_err("{\"parameters\":{\"priority\":-1},\"inputs\":[]}",
             INFERD_INVALID_ARG,
             "parameter \"priority\" must be a non-negative integer");
  expect_err("{\"parameters\":{\"sequence_end\":1},\"inputs\":[]}",
             INFERD_INVALID_ARG, "parameter \"sequence_end\" must be a bool");
  expect_err("{\"parameters\":{\"x\":[1]},\"inputs\":[]}", INFERD_INVALID_ARG,
             "parameter \"x\" must be a string, integer, number or boolean");

  /* outputs */
  CHECK(parse("{\"inputs\":[],\"outputs\":[{\"name\":\"A\",\"parameters\":"
              "{\"binary_data\":true}},{\"name\":\"B\"}]}") == NULL);
  CHECK(inf.has_outputs && inf.n_outputs == 2);
  CHECK(http_output_is_binary(&inf, "A") && !http_output_is_binary(&inf, "B"));
  http_infer_deinit(&inf);
  expect_err("{\"inputs\":[],\"outputs\":[{\"name\":\"A\",\"parameters\":"
             "{\"classification\":2}}]}",
             INFERD_UNSUPPORTED, "classification extension is not supported");
  expect_err("{\"inputs\":[],\"outputs\":[{\"name\":\"A\",\"parameters\":"
             "{\"binary_data\":1}}]}",
             INFERD_INVALID_ARG, "binary_data must be a boolean");

  /* binary blobs, consumed in order of the binary inputs */
  const char hdr[] =
      "{\"inputs\":[{\"name\":\"A\",\"datatype\":\"INT32\",\"shape\":[1],"
      "\"parameters\":{\"binary_data_size\":4}},{\"name\":\"J\",\"datatype\":"
      "\"INT32\",\"shape\":[1],\"data\":[9]},{\"name\":\"B\",\"datatype\":"
      "\"INT8\",\"shape\":[2],\"parameters\":{\"binary_data_size\":2}}]}";
  size_t hlen = sizeof(hdr) - 1;
  char body[512];
  memcpy(body, hdr, hlen);
  memcpy(body + hlen, "\x01\x00\x00\x00\x05\x06", 6);
  st = http_infer_parse(&arena, body, hlen + 6, hlen, 1 << 20, &inf);
  CHECK(st == NULL);
  CHECK(inf.inputs[0].data == body + hlen && inf.inputs[0].byte_size == 4);
  CHECK(inf.inputs[2].data == body + hlen + 4 && inf.inputs[2].byte_size == 2);
  http_infer_deinit(&inf);
  st = http_infer_parse(&arena, body, hlen + 5, hlen, 1 << 20, &inf);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "unexpected size for input \"B\": binary_data_size is 2 "
                     "bytes but only 1 bytes");
  inferd_status_free(st);
  memcpy(body + hlen + 6, "zz", 2);
  st = http_infer_parse(&arena, body, hlen + 8, hlen, 1 << 20, &inf);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "unexpected additional input data: 2 bytes");
  inferd_status_free(st);
  st = http_infer_parse(&arena, body, hlen + 6, hlen, 3, &inf);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "binary_data_size 4 is larger than the maximum input "
                     "size of 3 bytes");
  inferd_status_free(st);

  /* raw binary body */
  int64_t dims[2] = {-1, 2};
  const char raw[16] = {0};
  st = http_infer_parse_raw(&arena, raw, 16, "IN", INFERD_TYPE_INT32, dims, 2,
                            4, &inf);
  CHECK(st == NULL);
  CHECK(inf.raw && inf.inputs[0].n_dims == 3 && inf.inputs[0].shape[0] == 1 &&
        inf.inputs[0].shape[1] == 2 && inf.inputs[0].shape[2] == 2);
  CHECK(http_output_is_binary(&inf, "X"));
  st = http_infer_parse_raw(&arena, raw, 12, "IN", INFERD_TYPE_INT32, dims, 2,
                            0, &inf);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "12 bytes is not a whole number of elements of input "
                     "\"IN\"");
  inferd_status_free(st);
  int64_t fixed[1] = {4};
  st = http_infer_parse_raw(&arena, raw, 12, "IN", INFERD_TYPE_INT32, fixed, 1,
                            0, &inf);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "unexpected size for input \"IN\": raw binary body is 12 "
                     "bytes, expected 16");
  inferd_status_free(st);

  http_arena_deinit(&arena);
  return UNIT_END();
}
