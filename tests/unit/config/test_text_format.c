/* test_text_format.c: the protobuf text-format reader: every syntax form,
 * every scalar type, and one test per distinct error message (code and text
 * with file:line:column). */
#include <math.h>
#include <stdlib.h>

#include "config/config.h"
#include "unit.h"

static cfg_model_t *parse_ok(const char *text) {
  ProtobufCMessage *m = NULL;
  inferd_status_t *st = cfg_text_parse(&inference__model_config__descriptor,
                                       text, strlen(text), "config.pbtxt", &m);
  if (st) {
    fprintf(stderr, "unexpected error: %s\n", inferd_status_message(st));
    inferd_status_free(st);
  }
  CHECK(st == NULL && m != NULL);
  return (cfg_model_t *)m;
}

/* Parses text that must fail with exactly `want` as the message. */
static void parse_err(const char *text, const char *want) {
  ProtobufCMessage *m = NULL;
  inferd_status_t *st = cfg_text_parse(&inference__model_config__descriptor,
                                       text, strlen(text), "config.pbtxt", &m);
  CHECK(st != NULL);
  CHECK(m == NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  if (strcmp(inferd_status_message(st), want) != 0) {
    fprintf(stderr, "  got:  %s\n  want: %s\n", inferd_status_message(st),
            want);
    CHECK(!"message mismatch");
  }
  inferd_status_free(st);
}

static char *read_fixture(const char *name, size_t *len) {
  FILE *f = fopen(name, "rb");
  CHECK(f != NULL);
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  *len = fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

static void test_doc_fixtures(void) {
  size_t len;
  char *t = read_fixture("identity_doc.pbtxt", &len);
  cfg_model_t *c = parse_ok(t);
  free(t);
  if (c) {
    CHECK(strcmp(c->name, "identity") == 0);
    CHECK(strcmp(c->backend, "identity") == 0);
    CHECK(c->max_batch_size == 8);
    CHECK(c->n_input == 1 && c->n_output == 1);
    CHECK(strcmp(c->input[0]->name, "INPUT0") == 0);
    CHECK(c->input[0]->data_type == INFERENCE__DATA_TYPE__TYPE_FP32);
    CHECK(c->input[0]->n_dims == 1 && c->input[0]->dims[0] == -1);
    cfg_free(c);
  }
  t = read_fixture("add_sub_doc.pbtxt", &len);
  c = parse_ok(t);
  free(t);
  if (c) {
    CHECK(c->n_input == 2 && c->n_output == 2);
    CHECK(strcmp(c->output[1]->name, "OUTPUT1") == 0);
    CHECK(c->output[1]->dims[0] == 4);
    CHECK(c->n_instance_group == 1);
    CHECK(c->instance_group[0]->kind ==
          INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU);
    CHECK(c->instance_group[0]->count == 2);
    cfg_free(c);
  }
  t = read_fixture("ranker_doc.pbtxt", &len);
  c = parse_ok(t);
  free(t);
  if (c) {
    CHECK(c->version_policy &&
          c->version_policy->policy_choice_case ==
              INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST);
    CHECK(c->version_policy->latest->num_versions == 2);
    CHECK(c->input[1]->optional);
    CHECK(strcmp(c->output[0]->label_filename, "labels.txt") == 0);
    CHECK(c->n_instance_group == 2);
    CHECK(c->instance_group[0]->n_gpus == 1 &&
          c->instance_group[0]->gpus[0] == 0);
    CHECK(c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING);
    const Inference__ModelDynamicBatching *db = c->dynamic_batching;
    CHECK(db->n_preferred_batch_size == 2 && db->preferred_batch_size[1] == 32);
    CHECK(db->max_queue_delay_microseconds == 200);
    CHECK(db->default_queue_policy->max_queue_size == 1024);
    CHECK(db->default_queue_policy->default_timeout_microseconds == 50000);
    CHECK(db->default_queue_policy->allow_timeout_override);
    CHECK(c->n_parameters == 1);
    CHECK(strcmp(c->parameters[0]->key, "intra_op_thread_count") == 0);
    CHECK(strcmp(c->parameters[0]->value->string_value, "4") == 0);
    CHECK(c->n_model_warmup == 1);
    const Inference__ModelWarmup *w = c->model_warmup[0];
    CHECK(w->batch_size == 8 && w->n_inputs == 1);
    CHECK(w->inputs[0]->value->input_data_type_case ==
          INFERENCE__MODEL_WARMUP__INPUT__INPUT_DATA_TYPE_ZERO_DATA);
    CHECK(w->inputs[0]->value->zero_data);
    CHECK(c->response_cache && c->response_cache->enable);
    cfg_free(c);
  }
}

static void test_syntax_forms(void) {
  /* message forms: f { }, f: { }, f < >; repeated by repeating the key;
   * separators; comments; enums by number */
  cfg_model_t *c = parse_ok(
      "name: 'm' ; # comment\n"
      "version_policy: { all { } }\n"
      "optimization < graph < level: -1 > >,\n"
      "input { name: \"a\" data_type: 8 dims: 1 dims: 2 }\n"
      "input: { name: \"b\", data_type: TYPE_INT64; dims: [3] }\n"
      "input [ ]\n"
      "output [ { name: \"o\" }, < name: \"p\" > ]\n"
      "instance_group { gpus: [0, 1] gpus: 2 profile: [\"0\", '1'] }\n"
      "metric_tags { key: \"k1\" value: \"v1\" } metric_tags { key: \"k2\" "
      "value: \"v2\" }\n");
  if (!c)
    return;
  CHECK(strcmp(c->name, "m") == 0);
  CHECK(c->version_policy->policy_choice_case ==
        INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL);
  CHECK(c->optimization->graph->level == -1);
  CHECK(c->n_input == 2);
  CHECK(c->input[0]->data_type == INFERENCE__DATA_TYPE__TYPE_INT32);
  CHECK(c->input[0]->n_dims == 2 && c->input[0]->dims[1] == 2);
  CHECK(c->input[1]->data_type == INFERENCE__DATA_TYPE__TYPE_INT64);
  CHECK(c->n_output == 2 && strcmp(c->output[1]->name, "p") == 0);
  CHECK(c->instance_group[0]->n_gpus == 3 &&
        c->instance_group[0]->gpus[2] == 2);
  CHECK(c->instance_group[0]->n_profile == 2);
  CHECK(c->n_metric_tags == 2 && strcmp(c->metric_tags[1]->value, "v2") == 0);
  cfg_free(c);

  /* sequence batching and ensemble forms from reference §3.4 */
  c = parse_ok(
      "sequence_batching { max_sequence_idle_microseconds: 5000000 direct { } "
      "control_input [ { name: \"START\" control [ { kind: "
      "CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] } ] }");
  if (c) {
    CHECK(c->scheduling_choice_case ==
          INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_SEQUENCE_BATCHING);
    CHECK(c->sequence_batching->max_sequence_idle_microseconds == 5000000);
    CHECK(c->sequence_batching->strategy_choice_case ==
          INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_DIRECT);
    CHECK(c->sequence_batching->control_input[0]
              ->control[0]
              ->int32_false_true[1] == 1);
    cfg_free(c);
  }
  c = parse_ok("platform: \"ensemble\" ensemble_scheduling { step [ { "
               "model_name: \"pre\" model_version: -1 input_map { key: \"IN\" "
               "value: \"raw\" } output_map { key: \"OUT\" value: \"tok\" } "
               "} ] }");
  if (c) {
    const Inference__ModelEnsembling__Step *s = c->ensemble_scheduling->step[0];
    CHECK(s->model_version == -1);
    CHECK(strcmp(s->input_map[0]->key, "IN") == 0);
    CHECK(strcmp(s->output_map[0]->value, "tok") == 0);
    cfg_free(c);
  }
  /* map with a uint64 key */
  c = parse_ok("dynamic_batching { priority_queue_policy { key: 2 value { "
               "timeout_action: DELAY } } }");
  if (c) {
    CHECK(c->dynamic_batching->n_priority_queue_policy == 1);
    CHECK(c->dynamic_batching->priority_queue_policy[0]->key == 2);
    CHECK(
        c->dynamic_batching->priority_queue_policy[0]->value->timeout_action ==
        INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY);
    cfg_free(c);
  }
  /* empty text: an all-default message */
  c = parse_ok("  # nothing\n");
  if (c) {
    CHECK(strcmp(c->name, "") == 0 && c->n_input == 0);
    cfg_free(c);
  }
}

static void test_scalars(void) {
  cfg_model_t *c = parse_ok(
      "max_batch_size: 0x10\n"
      "version_policy { specific { versions: [ -9223372036854775808, "
      "9223372036854775807, 017 ] } }\n"
      "dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 "
      "preserve_ordering: True }\n"
      "instance_group [ { passive: t }, { passive: 1 }, { passive: False }, "
      "{ passive: f }, { passive: 0 }, { passive: true } ]\n"
      "model_metrics { metric_control { histogram_options { buckets: [ 1.5, "
      "-2e3, inf, -inf, nan, .5, 1E-2, 3, 2.5f, -Infinity ] } } }\n");
  if (!c)
    return;
  CHECK(c->max_batch_size == 16);
  const Inference__ModelVersionPolicy__Specific *sp =
      c->version_policy->specific;
  CHECK(sp->n_versions == 3);
  CHECK(sp->versions[0] == INT64_MIN && sp->versions[1] == INT64_MAX);
  CHECK(sp->versions[2] == 15);
  CHECK(c->dynamic_batching->max_queue_delay_microseconds == UINT64_MAX);
  CHECK(c->dynamic_batching->preserve_ordering);
  CHECK(c->n_instance_group == 6);
  CHECK(c->instance_group[0]->passive && c->instance_group[1]->passive);
  CHECK(!c->instance_group[2]->passive && !c->instance_group[3]->passive);
  CHECK(!c->instance_group[4]->passive && c->instance_group[5]->passive);
  const double *b =
      c->model_metrics->metric_control[0]->histogram_options->buckets;
  CHECK(c->model_metrics->metric_control[0]->histogram_options->n_buckets ==
        10);
  CHECK(b[0] == 1.5 && b[1] == -2000.0 && isinf(b[2]) && b[2] > 0);
  CHECK(isinf(b[3]) && b[3] < 0 && isnan(b[4]) && b[5] == 0.5);
  CHECK(b[6] == 0.01 && b[7] == 3.0 && b[8] == 2.5 && isinf(b[9]) && b[9] < 0);
  cfg_free(c);

  /* float field, uint32 and sint-free types through sub-messages */
  c = parse_ok("sequence_batching { direct { minimum_slot_utilization: 0.25 } "
               "control_input { control { fp32_false_true: [ 0, 1.0 ] "
               "bool_false_true: [ false, true ] } } }\n"
               "instance_group { rate_limiter { priority: 4294967295 "
               "resources { name: \"r\" global: true count: 3 } } "
               "secondary_devices { kind: KIND_NVDLA device_id: -5 } }");
  if (c) {
    CHECK(c->sequence_batching->direct->minimum_slot_utilization == 0.25f);
    const Inference__ModelSequenceBatching__Control *ct =
        c->sequence_batching->control_input[0]->control[0];
    CHECK(ct->n_fp32_false_true == 2 && ct->fp32_false_true[1] == 1.0f);
    CHECK(ct->n_bool_false_true == 2 && ct->bool_false_true[1]);
    CHECK(c->instance_group[0]->rate_limiter->priority == UINT32_MAX);
    CHECK(c->instance_group[0]->rate_limiter->resources[0]->global);
    CHECK(c->instance_group[0]->secondary_devices[0]->device_id == -5);
    cfg_free(c);
  }
}

static void test_strings(void) {
  cfg_model_t *c =
      parse_ok("name: \"a\\n\\t\\\\\\\"\\'\\x41\\101\\u00e9\" \"-\" 'x'\n"
               "backend: \"\"");
  if (!c)
    return;
  CHECK(strcmp(c->name, "a\n\t\\\"'AA\xc3\xa9-x") == 0);
  CHECK(strcmp(c->backend, "") == 0);
  cfg_free(c);
}

static void test_errors(void) {
  parse_err("name: \"x\"\n\n\n\n\n\nmax_batch_size: abc\n",
            "config.pbtxt:7:17: field \"max_batch_size\": expected an "
            "integer, got \"abc\"");
  parse_err("max_batch_size: 1.5",
            "config.pbtxt:1:17: field \"max_batch_size\": expected an "
            "integer, got \"1.5\"");
  parse_err("max_batch: 4",
            "config.pbtxt:1:1: unknown field \"max_batch\" in message "
            "\"inference.ModelConfig\"");
  parse_err("input { nme: \"x\" }",
            "config.pbtxt:1:9: unknown field \"nme\" in message "
            "\"inference.ModelInput\"");
  parse_err("name: \"a\"\nname: \"b\"",
            "config.pbtxt:2:1: field \"name\" is set more than once");
  parse_err("version_policy { latest {} }\nversion_policy { all {} }",
            "config.pbtxt:2:1: field \"version_policy\" is set more than "
            "once");
  parse_err("dynamic_batching {}\nsequence_batching {}",
            "config.pbtxt:2:1: field \"sequence_batching\": "
            "\"dynamic_batching\" of the same oneof is already set");
  parse_err("max_batch_size: 2147483648",
            "config.pbtxt:1:17: field \"max_batch_size\": value 2147483648 "
            "out of range for a 32-bit signed integer");
  parse_err("version_policy { latest { num_versions: -1 } }",
            "config.pbtxt:1:41: field \"num_versions\": expected an unsigned "
            "integer, got -1");
  parse_err("version_policy { latest { num_versions: 4294967296 } }",
            "config.pbtxt:1:41: field \"num_versions\": value 4294967296 out "
            "of range for a 32-bit unsigned integer");
  parse_err("input { dims: 9223372036854775808 }",
            "config.pbtxt:1:15: field \"dims\": value 9223372036854775808 out "
            "of range for a 64-bit signed integer");
  parse_err("dynamic_batching { max_queue_delay_microseconds: -1 }",
            "config.pbtxt:1:50: field \"max_queue_delay_microseconds\": "
            "expected an unsigned integer, got -1");
  parse_err("response_cache { enable: yes }",
            "config.pbtxt:1:26: field \"enable\": expected a boolean, got "
            "\"yes\"");
  parse_err("input { data_type: TYPE_FLOAT32 }",
            "config.pbtxt:1:20: field \"data_type\": unknown value "
            "\"TYPE_FLOAT32\" for enum \"inference.DataType\"");
  parse_err("input { data_type: \"TYPE_FP32\" }",
            "config.pbtxt:1:20: field \"data_type\": expected an enum value, "
            "got \"\\\"TYPE_FP32\\\"\"");
  parse_err("name: foo",
            "config.pbtxt:1:7: field \"name\": expected a string, got "
            "\"foo\"");
  parse_err("model_metrics { metric_control { histogram_options { buckets: "
            "x } } }",
            "config.pbtxt:1:63: field \"buckets\": expected a number, got "
            "\"x\"");
  parse_err("name \"x\"",
            "config.pbtxt:1:6: field \"name\": expected \":\", got "
            "\"\\\"x\\\"\"");
  parse_err("version_policy: 3",
            "config.pbtxt:1:17: field \"version_policy\": expected \"{\" or "
            "\"<\", got \"3\"");
  parse_err("name: [ \"a\" ]",
            "config.pbtxt:1:7: field \"name\" is not repeated; a list is not "
            "allowed");
  parse_err("input { dims: [ 1 2 ] }",
            "config.pbtxt:1:19: field \"dims\": expected \",\" or \"]\" in "
            "list, got \"2\"");
  parse_err("input { name: \"x\"",
            "config.pbtxt:1:18: unexpected end of input in message "
            "\"inference.ModelInput\": missing \"}\"");
  parse_err("input < name: \"x\" }",
            "config.pbtxt:1:19: expected a field name in message "
            "\"inference.ModelInput\", got \"}\"");
  parse_err("name: \"abc\n\"", "config.pbtxt:1:7: unterminated string");
  parse_err("name: \"a\" @", "config.pbtxt:1:11: unexpected character \"@\"");
  parse_err("name: \"\\q\"",
            "config.pbtxt:1:8: field \"name\": unknown escape sequence "
            "\"\\q\"");
  parse_err("name: \"\\xZZ\"",
            "config.pbtxt:1:8: field \"name\": \\x escape without hex "
            "digits");
  parse_err("name: \"a\\0b\"",
            "config.pbtxt:1:9: field \"name\": string contains a NUL "
            "character");
  parse_err("name: \"\\777\"",
            "config.pbtxt:1:8: field \"name\": octal escape out of range");
  parse_err("name: \"\\u12\"",
            "config.pbtxt:1:8: field \"name\": \\u escape needs 4 hex "
            "digits");
  parse_err("name: \"\\ud800\"",
            "config.pbtxt:1:8: field \"name\": invalid unicode code point in "
            "escape");
}

/* the reader is generic: any message type */
static void test_other_message(void) {
  ProtobufCMessage *m = NULL;
  const char *t = "name: \"x\" data_type: TYPE_BOOL dims: [1, 2]";
  inferd_status_t *st = cfg_text_parse(&inference__model_output__descriptor, t,
                                       strlen(t), "o.pbtxt", &m);
  CHECK(st == NULL && m != NULL);
  if (m) {
    const Inference__ModelOutput *o = (const Inference__ModelOutput *)m;
    CHECK(o->n_dims == 2 && o->data_type == INFERENCE__DATA_TYPE__TYPE_BOOL);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  inferd_status_free(st);
}

int main(void) {
  test_doc_fixtures();
  test_syntax_forms();
  test_scalars();
  test_strings();
  test_errors();
  test_other_message();
  return UNIT_END();
}
