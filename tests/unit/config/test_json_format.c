/* test_json_format.c: the JSON printer (exact output) and reader (round
 * trip, overrides syntax, error messages). */
#include <stdlib.h>

#include "config/config.h"
#include "unit.h"

static ProtobufCMessage *text(const ProtobufCMessageDescriptor *d,
                              const char *t) {
  ProtobufCMessage *m = NULL;
  inferd_status_t *st = cfg_text_parse(d, t, strlen(t), "t.pbtxt", &m);
  CHECK(st == NULL);
  inferd_status_free(st);
  return m;
}

static void expect_json(const ProtobufCMessageDescriptor *d, const char *t,
                        const char *want) {
  ProtobufCMessage *m = text(d, t);
  if (!m)
    return;
  char *out = NULL;
  size_t len = 0;
  inferd_status_t *st = cfg_json_print(m, &out, &len);
  CHECK(st == NULL && out != NULL);
  if (out && strcmp(out, want) != 0) {
    fprintf(stderr, "  got:  %s\n  want: %s\n", out, want);
    CHECK(!"json mismatch");
  }
  CHECK(out && len == strlen(out));
  free(out);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void test_print(void) {
  expect_json(&inference__model_input__descriptor,
              "name: \"x\" data_type: TYPE_FP32 dims: [ -1, 4 ]",
              "{\"name\":\"x\",\"data_type\":\"TYPE_FP32\",\"format\":"
              "\"FORMAT_NONE\",\"dims\":[-1,4],\"is_shape_tensor\":false,"
              "\"allow_ragged_batch\":false,\"optional\":false,"
              "\"is_non_linear_format_io\":false}");
  expect_json(&inference__model_version_policy__descriptor,
              "latest { num_versions: 2 }",
              "{\"latest\":{\"num_versions\":2}}");
  expect_json(&inference__model_dynamic_batching__descriptor,
              "max_queue_delay_microseconds: 18446744073709551615 "
              "priority_queue_policy { key: 1 value { max_queue_size: 3 } }",
              "{\"preferred_batch_size\":[],\"max_queue_delay_microseconds\":"
              "18446744073709551615,\"preserve_ordering\":false,"
              "\"priority_levels\":0,\"default_priority_level\":0,"
              "\"priority_queue_policy\":{\"1\":{\"timeout_action\":"
              "\"REJECT\",\"default_timeout_microseconds\":0,"
              "\"allow_timeout_override\":false,\"max_queue_size\":3}}}");
  expect_json(
      &inference__model_metrics__metric_control__histogram_options__descriptor,
      "buckets: [ 0.1, 2, -1.5e300, inf, -inf, nan ]",
      "{\"buckets\":[0.1,2,-1.5e+300,\"Infinity\",\"-Infinity\","
      "\"NaN\"]}");
  expect_json(&inference__model_sequence_batching__strategy_direct__descriptor,
              "minimum_slot_utilization: 0.1",
              "{\"max_queue_delay_microseconds\":0,"
              "\"minimum_slot_utilization\":0.1}");
  expect_json(&inference__model_parameter__descriptor,
              "string_value: \"a\\\"b\\\\c\\n\\x01\"",
              "{\"string_value\":\"a\\\"b\\\\c\\n\\u0001\"}");
  /* oneof member printed only when set, even when its value is default */
  expect_json(&inference__model_warmup__input__descriptor,
              "data_type: TYPE_INT8 zero_data: false",
              "{\"data_type\":\"TYPE_INT8\",\"dims\":[],\"zero_data\":false}");
  expect_json(&inference__model_warmup__input__descriptor, "",
              "{\"data_type\":\"TYPE_INVALID\",\"dims\":[]}");
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *n) {
  *n = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(*n + 1);
  protobuf_c_message_pack(m, b);
  return b;
}

static void test_round_trip(void) {
  FILE *f = fopen("ranker_doc.pbtxt", "rb");
  CHECK(f != NULL);
  if (!f)
    return;
  char buf[8192];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* add fields of every kind the fixture lacks */
  const char *extra =
      "\nmodel_metrics { metric_control { histogram_options { buckets: [ "
      "0.5, 100 ] } } }\nmetric_tags { key: \"a\" value: \"b\" }\n"
      "optimization { graph { level: -1 } cuda { graph_spec { batch_size: 2 "
      "input { key: \"x\" value { dim: [ 1, 2 ] } } } } }\n";
  char all[10000];
  snprintf(all, sizeof(all), "%s%s", buf, extra);
  ProtobufCMessage *a = text(&inference__model_config__descriptor, all);
  if (!a)
    return;
  char *js = NULL;
  size_t jl = 0;
  CHECK(cfg_json_print(a, &js, &jl) == NULL);
  ProtobufCMessage *b = NULL;
  inferd_status_t *st =
      cfg_json_parse(&inference__model_config__descriptor, js, jl, &b);
  if (st)
    fprintf(stderr, "%s\n", inferd_status_message(st));
  CHECK(st == NULL && b != NULL);
  inferd_status_free(st);
  if (b) {
    size_t na, nb;
    uint8_t *pa = pack(a, &na), *pb = pack(b, &nb);
    CHECK(na == nb && memcmp(pa, pb, na) == 0);
    free(pa);
    free(pb);
    char *js2 = NULL;
    CHECK(cfg_json_print(b, &js2, NULL) == NULL);
    CHECK(js2 && strcmp(js, js2) == 0);
    free(js2);
    protobuf_c_message_free_unpacked(b, NULL);
  }
  free(js);
  protobuf_c_message_free_unpacked(a, NULL);
}

static void test_parse_forms(void) {
  const char *j = "{\"name\":\"m\",\"maxBatchSize\":4,\"max_batch_size\":null,"
                  "\"input\":[{\"name\":\"x\",\"data_type\":\"type_fp32\","
                  "\"dims\":[\"-1\",3]}],"
                  "\"dynamic_batching\":{\"max_queue_delay_microseconds\":"
                  "\"18446744073709551615\",\"priority_queue_policy\":{\"2\":"
                  "{\"timeout_action\":\"delay\"}}},"
                  "\"parameters\":{\"p\":{\"string_value\":\"v\"}},"
                  "\"instance_group\":[{\"kind\":2,\"count\":3.0}]}";
  ProtobufCMessage *m = NULL;
  inferd_status_t *st =
      cfg_json_parse(&inference__model_config__descriptor, j, strlen(j), &m);
  if (st)
    fprintf(stderr, "%s\n", inferd_status_message(st));
  CHECK(st == NULL);
  inferd_status_free(st);
  cfg_model_t *c = (cfg_model_t *)m;
  if (!c)
    return;
  CHECK(strcmp(c->name, "m") == 0 && c->max_batch_size == 4);
  CHECK(c->input[0]->data_type == INFERENCE__DATA_TYPE__TYPE_FP32);
  CHECK(c->input[0]->dims[0] == -1 && c->input[0]->dims[1] == 3);
  CHECK(c->dynamic_batching->max_queue_delay_microseconds == UINT64_MAX);
  CHECK(c->dynamic_batching->priority_queue_policy[0]->key == 2);
  CHECK(c->dynamic_batching->priority_queue_policy[0]->value->timeout_action ==
        INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY);
  CHECK(strcmp(c->parameters[0]->value->string_value, "v") == 0);
  CHECK(c->instance_group[0]->kind ==
        INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU);
  CHECK(c->instance_group[0]->count == 3);
  cfg_free(c);
}

static void json_err(const char *j, const char *want) {
  ProtobufCMessage *m = NULL;
  inferd_status_t *st =
      cfg_json_parse(&inference__model_config__descriptor, j, strlen(j), &m);
  CHECK(st != NULL && m == NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  if (strcmp(inferd_status_message(st), want) != 0) {
    fprintf(stderr, "  got:  %s\n  want: %s\n", inferd_status_message(st),
            want);
    CHECK(!"message mismatch");
  }
  inferd_status_free(st);
}

static void test_parse_errors(void) {
  json_err("{\"max_batch\":1}",
           "config JSON: unknown field \"max_batch\" in message "
           "\"inference.ModelConfig\"");
  json_err("{\"input\":[{\"name\":\"a\",\"bogus\":1}]}",
           "config JSON: unknown field \"input[0].bogus\" in message "
           "\"inference.ModelInput\"");
  json_err("{\"max_batch_size\":\"abc\"}",
           "config JSON: field \"max_batch_size\": expected a 32-bit "
           "integer, got a string");
  json_err("{\"max_batch_size\":4294967296}",
           "config JSON: field \"max_batch_size\": expected a 32-bit "
           "integer, got an integer");
  json_err("{\"version_policy\":{\"latest\":{\"num_versions\":-1}}}",
           "config JSON: field \"version_policy.latest.num_versions\": "
           "expected a 32-bit unsigned integer, got an integer");
  json_err("{\"input\":[{\"dims\":[1.5]}]}",
           "config JSON: field \"input[0].dims[0]\": expected a 64-bit "
           "integer, got a number");
  json_err("{\"dynamic_batching\":{\"priority_levels\":\"-1\"}}",
           "config JSON: field \"dynamic_batching.priority_levels\": "
           "expected a 64-bit unsigned integer, got a string");
  json_err("{\"input\":[{\"data_type\":\"FP32\"}]}",
           "config JSON: field \"input[0].data_type\": unknown value "
           "\"FP32\" for enum \"inference.DataType\"");
  json_err("{\"input\":[{\"data_type\":true}]}",
           "config JSON: field \"input[0].data_type\": expected an enum "
           "name, got a boolean");
  json_err("{\"name\":3}",
           "config JSON: field \"name\": expected a string, got an integer");
  json_err("{\"response_cache\":{\"enable\":1}}",
           "config JSON: field \"response_cache.enable\": expected a "
           "boolean, got an integer");
  json_err("{\"input\":{}}",
           "config JSON: field \"input\": expected an array, got an object");
  json_err("{\"version_policy\":[]}",
           "config JSON: field \"version_policy\": expected an object, got "
           "an array");
  json_err("{\"metric_tags\":[]}",
           "config JSON: field \"metric_tags\": expected an object (map), "
           "got an array");
  json_err("{\"parameters\":{\"k\":null}}",
           "config JSON: field \"parameters[\"k\"]\": map value must not be "
           "null");
  json_err("{\"dynamic_batching\":{\"priority_queue_policy\":{\"x\":{}}}}",
           "config JSON: field \"dynamic_batching.priority_queue_policy[\"x\"]"
           "\": expected a 64-bit unsigned integer, got a string");
  json_err("{\"dynamic_batching\":{},\"sequence_batching\":{}}",
           "config JSON: field \"sequence_batching\": \"dynamic_batching\" "
           "of the same oneof is already set");
  json_err("{\"model_metrics\":{\"metric_control\":[{\"histogram_options\":"
           "{\"buckets\":[\"x\"]}}]}}",
           "config JSON: field "
           "\"model_metrics.metric_control[0].histogram_options.buckets[0]\""
           ": expected a number, got string \"x\"");
  json_err("[1]", "config JSON: expected an object at the top level");
  json_err("{\"name\":", "config JSON:1:8: unexpected token near end of file");
}

int main(void) {
  test_print();
  test_round_trip();
  test_parse_forms();
  test_parse_errors();
  return UNIT_END();
}
