/* Unit tests of the status table, status objects and data type helpers. */
#include "inferd/server.h"
#include "unit.h"

int main(void) {
  inferd_status_t *st =
      inferd_status_new(INFERD_NOT_FOUND, "model \"%s\"", "x");
  CHECK(inferd_status_code(st) == INFERD_NOT_FOUND);
  CHECK(strcmp(inferd_status_message(st), "model \"x\"") == 0);
  st = inferd_status_prefix(st, "load %d", 3);
  CHECK(strcmp(inferd_status_message(st), "load 3: model \"x\"") == 0);
  CHECK(inferd_status_code(st) == INFERD_NOT_FOUND);
  inferd_status_free(st);
  CHECK(inferd_status_prefix(NULL, "x") == NULL);
  CHECK(inferd_status_code(NULL) == INFERD_OK);
  CHECK(strcmp(inferd_status_message(NULL), "") == 0);
  inferd_status_free(NULL);

  /* an OK code is never a status */
  st = inferd_status_new(INFERD_OK, "odd");
  CHECK(inferd_status_code(st) == INFERD_UNKNOWN);
  inferd_status_free(st);

  /* Triton's HTTP mapping (reference §1.1) and gRPC codes */
  CHECK(inferd_code_http_status(INFERD_INTERNAL) == 500);
  CHECK(inferd_code_http_status(INFERD_NOT_FOUND) == 404);
  CHECK(inferd_code_http_status(INFERD_UNAVAILABLE) == 503);
  CHECK(inferd_code_http_status(INFERD_UNSUPPORTED) == 501);
  CHECK(inferd_code_http_status(INFERD_INVALID_ARG) == 400);
  CHECK(inferd_code_http_status(INFERD_UNKNOWN) == 400);
  CHECK(inferd_code_http_status(INFERD_ALREADY_EXISTS) == 400);
  CHECK(inferd_code_http_status(INFERD_CANCELLED) == 400);
  CHECK(inferd_code_http_status(12345) == 400);
  CHECK(inferd_code_grpc_status(INFERD_NOT_FOUND) == 5);
  CHECK(inferd_code_grpc_status(INFERD_INVALID_ARG) == 3);
  CHECK(inferd_code_grpc_status(INFERD_UNAVAILABLE) == 14);
  CHECK(inferd_code_grpc_status(INFERD_UNSUPPORTED) == 12);
  CHECK(inferd_code_grpc_status(INFERD_INTERNAL) == 13);
  CHECK(strcmp(inferd_code_name(INFERD_NOT_FOUND), "NOT_FOUND") == 0);

  /* data types */
  CHECK(inferd_datatype_from_name("INT32", 5) == INFERD_TYPE_INT32);
  CHECK(inferd_datatype_from_name("BYTES", 5) == INFERD_TYPE_BYTES);
  CHECK(inferd_datatype_from_name("BF16", 4) == INFERD_TYPE_BF16);
  CHECK(inferd_datatype_from_name("INT3", 4) == INFERD_TYPE_INVALID);
  CHECK(inferd_datatype_from_name("INVALID", 7) == INFERD_TYPE_INVALID);
  CHECK(inferd_datatype_from_name("INT32X", 5) == INFERD_TYPE_INT32);
  CHECK(inferd_datatype_size(INFERD_TYPE_FP16) == 2);
  CHECK(inferd_datatype_size(INFERD_TYPE_FP64) == 8);
  CHECK(inferd_datatype_size(INFERD_TYPE_BOOL) == 1);
  CHECK(inferd_datatype_size(INFERD_TYPE_BYTES) == 0);
  CHECK(strcmp(inferd_datatype_name(INFERD_TYPE_UINT16), "UINT16") == 0);
  CHECK(strcmp(inferd_datatype_name(99), "INVALID") == 0);
  for (int t = 1; t < INFERD_TYPE_COUNT_; t++) {
    const char *n = inferd_datatype_name(t);
    CHECK(inferd_datatype_from_name(n, strlen(n)) == t);
  }
  return UNIT_END();
}
