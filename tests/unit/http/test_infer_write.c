/* Unit tests of http_infer_write.c and the JSON string writer of
 * http_buf.c: response JSON layout, every data type, BYTES framing errors,
 * invalid UTF-8 replacement, FP16 in JSON refused. */
#include <math.h>
#include <stdlib.h>

#include "http/http_internal.h"
#include "unit.h"

static char *write1(http_out_tensor_t *o, size_t n, const char *id,
                    inferd_status_t **st) {
  http_buf_t b;
  http_buf_init(&b);
  *st = http_infer_write(&b, "m", 3, id, NULL, 0, o, n);
  http_buf_append(&b, "", 1);
  size_t len;
  return http_buf_take(&b, &len);
}

int main(void) {
  inferd_status_t *st;
  int64_t shape[2] = {1, 3};
  int32_t i32[3] = {-1, 0, 2147483647};
  http_out_tensor_t o = {"OUT", INFERD_TYPE_INT32, shape, 2, i32, 12, false};
  char *s = write1(&o, 1, "req-1", &st);
  CHECK(st == NULL);
  CHECK(strcmp(s,
               "{\"id\":\"req-1\",\"model_name\":\"m\",\"model_version\":"
               "\"3\",\"outputs\":[{\"name\":\"OUT\",\"datatype\":"
               "\"INT32\",\"shape\":[1,3],\"data\":[-1,0,2147483647]}]}") == 0);
  free(s);

  o.binary = true;
  s = write1(&o, 1, "", &st);
  CHECK(st == NULL);
  CHECK_STR_CONTAINS(s, "\"parameters\":{\"binary_data_size\":12}}");
  CHECK(strstr(s, "\"id\"") == NULL);
  free(s);

  /* floats, bool, uint64 */
  float f[3] = {1.5f, NAN, -INFINITY};
  http_out_tensor_t of = {"F", INFERD_TYPE_FP32, shape, 2, f, 12, false};
  s = write1(&of, 1, NULL, &st);
  CHECK_STR_CONTAINS(s, "\"data\":[1.5,NaN,-Infinity]");
  free(s);
  uint64_t u[3] = {18446744073709551615ull, 0, 7};
  http_out_tensor_t ou = {"U", INFERD_TYPE_UINT64, shape, 2, u, 24, false};
  s = write1(&ou, 1, NULL, &st);
  CHECK_STR_CONTAINS(s, "[18446744073709551615,0,7]");
  free(s);
  unsigned char bo[3] = {1, 0, 1};
  http_out_tensor_t ob = {"B", INFERD_TYPE_BOOL, shape, 2, bo, 3, false};
  s = write1(&ob, 1, NULL, &st);
  CHECK_STR_CONTAINS(s, "[true,false,true]");
  free(s);

  /* BYTES: wire form → strings; invalid UTF-8 → U+FFFD; escapes */
  const char bytes[] = "\x00\x00\x00\x00"
                       "\x03\x00\x00\x00"
                       "a\"\n"
                       "\x02\x00\x00\x00"
                       "\xff\x41";
  http_out_tensor_t ostr = {"S",   INFERD_TYPE_BYTES, shape, 2,
                            bytes, sizeof(bytes) - 1, false};
  s = write1(&ostr, 1, NULL, &st);
  CHECK(st == NULL);
  CHECK_STR_CONTAINS(s, "\"data\":[\"\",\"a\\\"\\n\",\"\xEF\xBF\xBD"
                        "A\"]");
  free(s);
  ostr.byte_size = 10; /* element 1 overruns */
  s = write1(&ostr, 1, NULL, &st);
  CHECK(inferd_status_code(st) == INFERD_INTERNAL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "malformed BYTES data");
  inferd_status_free(st);
  free(s);

  /* FP16 in JSON is refused, binary is fine */
  uint16_t h[3] = {0x3c00, 0, 0};
  http_out_tensor_t oh = {"H", INFERD_TYPE_FP16, shape, 2, h, 6, false};
  s = write1(&oh, 1, NULL, &st);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "output \"H\": FP16 data cannot be returned as JSON");
  inferd_status_free(st);
  free(s);
  oh.binary = true;
  s = write1(&oh, 1, NULL, &st);
  CHECK(st == NULL);
  free(s);

  /* response parameters */
  http_buf_t b;
  http_buf_init(&b);
  int64_t iv = -5;
  bool bv = true;
  http_out_param_t p[3] = {{"k", INFERD_PARAM_STRING, "v"},
                           {"i", INFERD_PARAM_INT, &iv},
                           {"b", INFERD_PARAM_BOOL, &bv}};
  st = http_infer_write(&b, "m", 1, NULL, p, 3, NULL, 0);
  CHECK(st == NULL);
  http_buf_append(&b, "", 1);
  CHECK_STR_CONTAINS(b.data,
                     "\"parameters\":{\"k\":\"v\",\"i\":-5,\"b\":true}");
  CHECK_STR_CONTAINS(b.data, "\"outputs\":[]");
  http_buf_deinit(&b);

  http_buf_init(&b);
  http_buf_error_json(&b, "bad \"x\"\x01");
  http_buf_append(&b, "", 1);
  CHECK(strcmp(b.data, "{\"error\":\"bad \\\"x\\\"\\u0001\"}") == 0);
  http_buf_deinit(&b);
  return UNIT_END();
}
