/* Unit tests of request building: arena, inputs and their buffers,
 * parameters, requested outputs, duplicates. */
#include <stdlib.h>

#include "core/request.h"
#include "unit.h"

int main(void) {
  inferd_request_t *r = NULL;
  CHECK(core_request_alloc(NULL, NULL, &r) == NULL);
  CHECK(strcmp(inferd_request_id(r), "") == 0);
  CHECK(inferd_request_set_id(r, "abcdef", 3) == NULL);
  CHECK(strcmp(inferd_request_id(r), "abc") == 0);

  /* many inputs force the inputs array to move; inline buffers must follow */
  static int32_t data[16];
  for (int i = 0; i < 20; i++) {
    char name[16];
    int n = snprintf(name, sizeof(name), "IN%d", i);
    int64_t shape[2] = {1, 16};
    uint32_t idx = 99;
    CHECK(inferd_request_add_input(r, name, (size_t)n, INFERD_TYPE_INT32, shape,
                                   2, &idx) == NULL);
    CHECK(idx == (uint32_t)i);
    CHECK(inferd_request_append_input_data(r, idx, data, 32, INFERD_MEM_CPU,
                                           0) == NULL);
  }
  CHECK(r->n_inputs == 20);
  for (uint32_t i = 0; i < r->n_inputs; i++) {
    CHECK(r->inputs[i].buffers == &r->inputs[i].inline_buffer);
    CHECK(r->inputs[i].buffers[0].base == data);
  }
  /* several buffers for one input */
  for (int k = 0; k < 5; k++)
    CHECK(inferd_request_append_input_data(r, 3, data + k, 4, INFERD_MEM_CPU,
                                           0) == NULL);
  CHECK(r->inputs[3].n_buffers == 6);
  CHECK(r->inputs[3].byte_size == 32 + 20);
  CHECK(r->inputs[3].buffers[5].base == data + 4);
  CHECK(core_request_find_input(r, "IN3", 3) == 3);
  CHECK(core_request_find_input(r, "IN", 2) == -1);

  int64_t shape[1] = {1};
  inferd_status_t *st =
      inferd_request_add_input(r, "IN0", 3, INFERD_TYPE_FP32, shape, 1, NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "input \"IN0\" given twice");
  inferd_status_free(st);
  st = inferd_request_append_input_data(r, 77, data, 4, INFERD_MEM_CPU, 0);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  inferd_status_free(st);

  CHECK(inferd_request_set_param_int(r, "k", 1, 5) == NULL);
  CHECK(inferd_request_set_param_string(r, "s", 1, "hello", 5) == NULL);
  st = inferd_request_set_param_bool(r, "k", 1, true);
  CHECK_STR_CONTAINS(inferd_status_message(st), "parameter \"k\" given twice");
  inferd_status_free(st);
  CHECK(r->n_params == 2 && r->params[1].v.s[4] == 'o');

  CHECK(inferd_request_add_requested_output(r, "OUT0", 4) == NULL);
  st = inferd_request_add_requested_output(r, "OUT0", 4);
  CHECK_STR_CONTAINS(inferd_status_message(st), "requested twice");
  inferd_status_free(st);

  /* a big id goes to an overflow arena block */
  char big[5000];
  memset(big, 'x', sizeof(big));
  CHECK(inferd_request_set_id(r, big, sizeof(big)) == NULL);
  CHECK(strlen(inferd_request_id(r)) == sizeof(big));
  core_request_destroy(r);
  core_request_destroy(NULL);
  return UNIT_END();
}
