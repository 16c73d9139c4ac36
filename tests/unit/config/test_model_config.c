/* test_model_config.c: cfg_load/cfg_complete on temporary model directories:
 * autofill of name/backend/platform, normalisation, and one test per
 * validation message (with file:line:column where the value came from). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "unit.h"

static char root[256];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f)
    return;
  fputs(text, f);
  fclose(f);
}

/* Creates <root>/<name>/ with config (NULL: none) and version 1 holding
 * `file` (NULL: empty; a name ending in '/' becomes a directory). */
static void make_model(const char *name, const char *config, const char *file) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/config.pbtxt", root, name);
  unlink(p);
  if (config)
    write_file(p, config);
  snprintf(p, sizeof(p), "%s/%s/1", root, name);
  mkdir(p, 0755);
  if (file) {
    size_t n = strlen(file);
    snprintf(p, sizeof(p), "%s/%s/1/%s", root, name, file);
    if (file[n - 1] == '/')
      mkdir(p, 0755);
    else
      write_file(p, "x");
  }
}

static inferd_status_t *load(const char *name, bool autocomplete, int32_t gpus,
                             cfg_model_t **out) {
  static char dir[512];
  snprintf(dir, sizeof(dir), "%s/%s", root, name);
  cfg_load_options_t o = {.model_dir = dir,
                          .model_name = name,
                          .autocomplete = autocomplete,
                          .gpu_count = gpus};
  return cfg_load(&o, out);
}

static cfg_model_t *load_ok(const char *name, const char *config,
                            const char *file, int32_t gpus) {
  make_model(name, config, file);
  cfg_model_t *c = NULL;
  inferd_status_t *st = load(name, true, gpus, &c);
  if (st)
    fprintf(stderr, "unexpected: %s\n", inferd_status_message(st));
  CHECK(st == NULL && c != NULL);
  inferd_status_free(st);
  return c;
}

/* Loading must fail; the message must end with `want` (the start is the
 * temporary directory path) and contain the file name. */
static void load_err(const char *name, const char *config, const char *file,
                     int32_t gpus, inferd_code_t code, const char *want) {
  make_model(name, config, file);
  cfg_model_t *c = NULL;
  inferd_status_t *st = load(name, true, gpus, &c);
  CHECK(st != NULL && c == NULL);
  CHECK(inferd_status_code(st) == code);
  const char *m = inferd_status_message(st);
  size_t lm = strlen(m), lw = strlen(want);
  if (lm < lw || strcmp(m + lm - lw, want) != 0) {
    fprintf(stderr, "  got:  %s\n  want: ...%s\n", m, want);
    CHECK(!"message mismatch");
  }
  cfg_free(c);
  inferd_status_free(st);
}

static void test_identity_doc(void) {
  cfg_model_t *c = load_ok("identity",
                           "name: \"identity\"\nbackend: \"identity\"\n"
                           "max_batch_size: 8\n"
                           "input [ { name: \"INPUT0\" data_type: TYPE_FP32 "
                           "dims: [ -1 ] } ]\n"
                           "output [ { name: \"OUTPUT0\" data_type: TYPE_FP32 "
                           "dims: [ -1 ] } ]\n",
                           NULL, 0);
  if (!c)
    return;
  CHECK(c->version_policy->policy_choice_case ==
        INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST);
  CHECK(c->version_policy->latest->num_versions == 1);
  CHECK(c->n_instance_group == 1);
  CHECK(strcmp(c->instance_group[0]->name, "identity_0") == 0);
  CHECK(c->instance_group[0]->kind ==
        INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU);
  CHECK(c->instance_group[0]->count == 1);
  CHECK(c->optimization->input_pinned_memory->enable);
  CHECK(c->optimization->output_pinned_memory->enable);
  CHECK(strcmp(c->platform, "") == 0);
  CHECK(strcmp(cfg_default_model_filename(c), "model.identity") == 0);
  char *js = NULL;
  CHECK(cfg_json_print(&c->base, &js, NULL) == NULL);
  CHECK_STR_CONTAINS(js, "\"instance_group\":[{\"name\":\"identity_0\","
                         "\"count\":1,\"gpus\":[],\"kind\":\"KIND_CPU\"");
  free(js);
  cfg_free(c);
}

static void test_autofill(void) {
  static const struct {
    const char *name, *file, *backend, *platform, *deffile;
    int count;
  } cases[] = {
      {"onnx", "model.onnx", "onnxruntime", "onnxruntime_onnx", "model.onnx",
       2},
      {"onnxdir", "model.onnx/", "onnxruntime", "onnxruntime_onnx",
       "model.onnx", 2},
      {"torch", "model.pt", "pytorch", "pytorch_libtorch", "model.pt", 1},
      {"aoti", "model.pt2", "pytorch", "torch_aoti", "model.pt2", 1},
      {"py", "model.py", "python", "", "model.py", 1},
      {"trt", "model.plan", "tensorrt", "tensorrt_plan", "model.plan", 1},
      {"tfgd", "model.graphdef", "tensorflow", "tensorflow_graphdef",
       "model.graphdef", 2},
      {"tfsm", "model.savedmodel/", "tensorflow", "tensorflow_savedmodel",
       "model.savedmodel", 2},
      {"ov", "model.xml", "openvino", "", "model.xml", 1},
      {"dali", "model.dali", "dali", "", "model.dali", 1},
      {"thing.mybackend", NULL, "mybackend", "", "model.mybackend", 1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    /* no config at all: autocomplete fills everything */
    cfg_model_t *c = load_ok(cases[i].name, NULL, cases[i].file, 0);
    if (!c)
      continue;
    CHECK(strcmp(c->name, cases[i].name) == 0);
    CHECK(strcmp(c->backend, cases[i].backend) == 0);
    CHECK(strcmp(c->platform, cases[i].platform) == 0);
    CHECK(strcmp(cfg_default_model_filename(c), cases[i].deffile) == 0);
    CHECK(c->instance_group[0]->count == cases[i].count);
    if (strcmp(c->backend, cases[i].backend) != 0 ||
        c->instance_group[0]->count != cases[i].count)
      fprintf(stderr, "  case %s: backend %s count %d\n", cases[i].name,
              c->backend, c->instance_group[0]->count);
    cfg_free(c);
  }
  /* platform → backend, backend → platform */
  cfg_model_t *c = load_ok("p2b", "platform: \"pytorch_libtorch\"", NULL, 0);
  if (c) {
    CHECK(strcmp(c->backend, "pytorch") == 0);
    cfg_free(c);
  }
  c = load_ok("libt", "platform: \"libtorch\"", NULL, 0);
  if (c) {
    CHECK(strcmp(c->backend, "pytorch") == 0);
    CHECK(strcmp(c->platform, "pytorch_libtorch") == 0);
    cfg_free(c);
  }
  c = load_ok("b2p", "backend: \"onnxruntime\"", NULL, 0);
  if (c) {
    CHECK(strcmp(c->platform, "onnxruntime_onnx") == 0);
    cfg_free(c);
  }
  c = load_ok("tfb", "backend: \"tensorflow\"", "model.graphdef", 0);
  if (c) {
    CHECK(strcmp(c->platform, "tensorflow_graphdef") == 0);
    cfg_free(c);
  }
  /* the lowest numeric version directory is inspected; 01 is ignored */
  make_model("vers", NULL, NULL);
  char p[512];
  snprintf(p, sizeof(p), "%s/vers/1", root);
  rmdir(p);
  snprintf(p, sizeof(p), "%s/vers/01", root);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/vers/01/model.plan", root);
  write_file(p, "x");
  snprintf(p, sizeof(p), "%s/vers/7", root);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/vers/7/model.py", root);
  write_file(p, "x");
  c = NULL;
  inferd_status_t *st = load("vers", true, 0, &c);
  CHECK(st == NULL);
  inferd_status_free(st);
  if (c) {
    CHECK(strcmp(c->backend, "python") == 0);
    cfg_free(c);
  }
}

static void test_normalise(void) {
  cfg_model_t *c =
      load_ok("norm",
              "backend: \"identity\" max_batch_size: 16 dynamic_batching { }\n"
              "instance_group [ { count: 0 }, { name: \"g\" kind: KIND_AUTO "
              "gpus: [ 1 ] }, { kind: KIND_MODEL count: 3 } ]",
              NULL, 2);
  if (c) {
    CHECK(c->dynamic_batching->n_preferred_batch_size == 1);
    CHECK(c->dynamic_batching->preferred_batch_size[0] == 16);
    const Inference__ModelInstanceGroup *g0 = c->instance_group[0];
    CHECK(g0->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU);
    CHECK(g0->count == 1 && g0->n_gpus == 2 && g0->gpus[1] == 1);
    CHECK(strcmp(g0->name, "norm_0") == 0);
    const Inference__ModelInstanceGroup *g1 = c->instance_group[1];
    CHECK(strcmp(g1->name, "g") == 0);
    CHECK(g1->kind == INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_GPU);
    CHECK(g1->n_gpus == 1 && g1->gpus[0] == 1);
    CHECK(c->instance_group[2]->count == 3);
    CHECK(strcmp(c->instance_group[2]->name, "norm_2") == 0);
    cfg_free(c);
  }
  c = load_ok("seq",
              "backend: \"identity\" max_batch_size: 4 sequence_batching { "
              "oldest { } }\noptimization { input_pinned_memory { enable: "
              "false } }",
              NULL, 0);
  if (c) {
    CHECK(c->sequence_batching->max_sequence_idle_microseconds == 1000000);
    CHECK(c->sequence_batching->oldest->n_preferred_batch_size == 1);
    CHECK(c->sequence_batching->oldest->preferred_batch_size[0] == 4);
    CHECK(!c->optimization->input_pinned_memory->enable);
    CHECK(c->optimization->output_pinned_memory->enable);
    cfg_free(c);
  }
  c = load_ok("seqd", "backend: \"identity\" sequence_batching { }", NULL, 0);
  if (c) {
    CHECK(c->sequence_batching->strategy_choice_case ==
          INFERENCE__MODEL_SEQUENCE_BATCHING__STRATEGY_CHOICE_DIRECT);
    cfg_free(c);
  }
  c = load_ok("ens",
              "platform: \"ensemble\"\n"
              "input [ { name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
              "output [ { name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
              "ensemble_scheduling { step [ { model_name: \"a\" "
              "model_version: -1 input_map { key: \"x\" value: \"IN\" } "
              "output_map { key: \"y\" value: \"mid\" } }, { model_name: "
              "\"b\" input_map { key: \"x\" value: \"mid\" } output_map { "
              "key: \"y\" value: \"OUT\" } } ] }",
              NULL, 0);
  if (c) {
    CHECK(c->n_instance_group == 0 && c->optimization == NULL);
    CHECK(strcmp(c->backend, "") == 0);
    CHECK(strcmp(cfg_default_model_filename(c), "") == 0);
    cfg_free(c);
  }
}

static void test_config_file_choice(void) {
  cfg_model_t *c = NULL;
  make_model("strict", NULL, "model.onnx");
  inferd_status_t *st = load("strict", false, 0, &c);
  CHECK(st != NULL && c == NULL);
  CHECK(inferd_status_code(st) == INFERD_NOT_FOUND);
  CHECK_STR_CONTAINS(inferd_status_message(st), "strict/config.pbtxt: No "
                                                "such file or directory");
  inferd_status_free(st);

  make_model("alt", "backend: \"identity\" max_batch_size: 1", NULL);
  char p[512];
  snprintf(p, sizeof(p), "%s/alt/configs", root);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/alt/configs/big.pbtxt", root);
  write_file(p, "backend: \"identity\" max_batch_size: 64");
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/alt", root);
  cfg_load_options_t o = {.model_dir = dir,
                          .model_name = "alt",
                          .model_config_name = "big",
                          .autocomplete = false};
  st = cfg_load(&o, &c);
  CHECK(st == NULL);
  if (c) {
    CHECK(c->max_batch_size == 64);
    cfg_free(c);
    c = NULL;
  }
  o.model_config_name = "absent"; /* falls back to config.pbtxt */
  st = cfg_load(&o, &c);
  CHECK(st == NULL);
  if (c) {
    CHECK(c->max_batch_size == 1);
    cfg_free(c);
    c = NULL;
  }
  /* errors in an alternative file name that file */
  write_file(p, "backend: \"identity\" max_batch_size: x");
  o.model_config_name = "big";
  st = cfg_load(&o, &c);
  CHECK(st != NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st),
                     "alt/configs/big.pbtxt:1:37: field \"max_batch_size\"");
  inferd_status_free(st);

  /* parse errors come through with the path */
  load_err("syntax", "backend: \"identity\"\nmax_batch_size: abc\n", NULL, 0,
           INFERD_INVALID_ARG,
           "syntax/config.pbtxt:2:17: field \"max_batch_size\": expected an "
           "integer, got \"abc\"");
}

#define IO1 "input [ { name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"

static void test_validation_errors(void) {
  inferd_code_t E = INFERD_INVALID_ARG;
  load_err("nobackend", NULL, NULL, 0, E,
           "nobackend/config.pbtxt: Could not determine backend for model "
           "\"nobackend\": the config sets neither \"backend\" nor "
           "\"platform\" and the first version directory has no known model "
           "file (model.onnx, model.pt, model.py, model.plan, "
           "model.graphdef, model.savedmodel, ...); a custom backend needs a "
           "model directory named '<name>.<backend>'");
  load_err("badplat", "platform: \"caffe2_netdef\"", NULL, 0, E,
           "badplat/config.pbtxt:1:11: Could not determine backend for model "
           "\"badplat\": unknown platform \"caffe2_netdef\" and no "
           "\"backend\" given");
  load_err("dirname", "name: \"other\"\nbackend: \"identity\"", NULL, 0, E,
           "dirname/config.pbtxt:1:7: name \"other\" does not match the "
           "model directory name \"dirname\"");
  load_err("pair", "backend: \"pytorch\"\nplatform: \"onnxruntime_onnx\"", NULL,
           0, E,
           "pair/config.pbtxt:2:11: unexpected 'platform' and 'backend' pair: "
           "platform \"onnxruntime_onnx\" does not go with backend "
           "\"pytorch\"");
  load_err("pair2", "backend: \"identity\"\nplatform: \"tensorrt_plan\"", NULL,
           0, E,
           "pair2/config.pbtxt:2:11: unexpected 'platform' and 'backend' "
           "pair: platform \"tensorrt_plan\" does not go with backend "
           "\"identity\"");
  load_err("ensb",
           "platform: \"ensemble\"\nbackend: \"identity\"\n"
           "ensemble_scheduling { step { model_name: \"a\" } }",
           NULL, 0, E,
           "ensb/config.pbtxt:2:10: an ensemble (platform \"ensemble\") must "
           "not set \"backend\", got \"identity\"");
  load_err("mbs", "backend: \"identity\"\nmax_batch_size: -1", NULL, 0, E,
           "mbs/config.pbtxt:2:17: max_batch_size must be >= 0, got -1");
  load_err("dims0",
           "name: \"dims0\"\n"
           "backend: \"identity\"\n"
           "max_batch_size: 0\n"
           "input [\n"
           "  { name: \"INPUT0\" data_type: TYPE_FP32 dims: [ 4 ] },\n"
           "  {\n"
           "   name: \"INPUT1\"\n"
           "   data_type: TYPE_FP32\n"
           "   dims: [ 0 ]\n"
           "  }\n"
           "]\n",
           NULL, 0, E,
           "dims0/config.pbtxt:9:12: input[1] \"INPUT1\": dims must be >= 1 "
           "or -1, got 0");
  load_err("noname", "backend: \"identity\"\ninput { data_type: TYPE_FP32 }",
           NULL, 0, E, "noname/config.pbtxt: input[0]: \"name\" must be set");
  load_err("notype", "backend: \"identity\"\ninput { name: \"a\" dims: 1 }",
           NULL, 0, E,
           "notype/config.pbtxt: input[0] \"a\": \"data_type\" must be set "
           "(not TYPE_INVALID)");
  load_err("nodims",
           "backend: \"identity\"\noutput { name: \"a\" data_type: "
           "TYPE_INT8 }",
           NULL, 0, E,
           "nodims/config.pbtxt:2:16: output[0] \"a\": \"dims\" must not be "
           "empty (use dims: [ 1 ] with reshape: { shape: [ ] } for a "
           "scalar)");
  load_err("dup",
           "backend: \"identity\"\n" IO1
           "input [ { name: \"IN\" data_type: TYPE_FP32 dims: [ 4 ] } ]",
           NULL, 0, E,
           "dup/config.pbtxt:3:17: input[1]: duplicate input name \"IN\" "
           "(also input[0])");
  load_err("reshape",
           "backend: \"identity\"\ninput { name: \"a\" data_type: TYPE_FP32 "
           "dims: [ 2, 3 ]\nreshape { shape: [ 5 ] } }",
           NULL, 0, E,
           "reshape/config.pbtxt:3:1: input[0] \"a\": reshape [5] has a "
           "different element count than dims [2,3]");
  load_err("reshape0",
           "backend: \"identity\"\ninput { name: \"a\" data_type: TYPE_FP32 "
           "dims: [ 1 ] reshape { } }",
           NULL, 0, E,
           "reshape0/config.pbtxt:2:52: input[0] \"a\": an empty reshape is "
           "only allowed when max_batch_size > 0 and dims have 1 element, got "
           "dims [1]");
  load_err("fmt",
           "backend: \"identity\"\ninput { name: \"a\" data_type: TYPE_FP32 "
           "dims: [ 3, 4 ] format: FORMAT_NCHW }",
           NULL, 0, E,
           "fmt/config.pbtxt:2:63: input[0] \"a\": format FORMAT_NCHW needs "
           "exactly 3 dims (without the batch dimension), got 2");
  load_err("shapet",
           "backend: \"onnxruntime\"\ninput { name: \"a\" data_type: "
           "TYPE_INT32 dims: [ 2 ] is_shape_tensor: true }",
           NULL, 0, E,
           "shapet/config.pbtxt:2:70: input[0] \"a\": shape tensors are only "
           "supported for TensorRT models");
  load_err("pref",
           "backend: \"identity\"\nmax_batch_size: 8\ndynamic_batching { "
           "preferred_batch_size: [ 4, 16 ] }",
           NULL, 0, E,
           "pref/config.pbtxt:3:47: dynamic_batching.preferred_batch_size[1]: "
           "must be in [1, max_batch_size = 8], got 16");
  load_err("prio",
           "backend: \"identity\"\ndynamic_batching { priority_levels: 2 "
           "default_priority_level: 3 }",
           NULL, 0, E,
           "prio/config.pbtxt:2:63: dynamic_batching.default_priority_level: "
           "must be in [1, priority_levels = 2], got 3");
  load_err("prio0",
           "backend: \"identity\"\ndynamic_batching { default_priority_level: "
           "1 }",
           NULL, 0, E,
           "prio0/config.pbtxt:2:44: dynamic_batching.default_priority_level: "
           "must be 0 when priority_levels is 0, got 1");
  load_err("pqkey",
           "backend: \"identity\"\ndynamic_batching { priority_levels: 2 "
           "default_priority_level: 1\npriority_queue_policy { key: 3 value "
           "{ } } }",
           NULL, 0, E,
           "pqkey/config.pbtxt:3:1: dynamic_batching.priority_queue_policy: "
           "key 3 is not in [1, priority_levels = 2]");
  load_err("order",
           "backend: \"identity\"\ndynamic_batching { preserve_ordering: true "
           "default_queue_policy { timeout_action: DELAY } }",
           NULL, 0, E,
           "order/config.pbtxt:2:39: dynamic_batching: preserve_ordering "
           "cannot be combined with timeout_action DELAY");
  load_err("corrid",
           "backend: \"identity\"\nsequence_batching { control_input { name: "
           "\"C\" control { kind: CONTROL_SEQUENCE_CORRID data_type: "
           "TYPE_FP32 } } }",
           NULL, 0, E,
           "corrid/config.pbtxt:2:98: sequence_batching.control_input[0] "
           "\"C\": CONTROL_SEQUENCE_CORRID data_type must be TYPE_UINT64, "
           "TYPE_INT64, TYPE_UINT32, TYPE_INT32 or TYPE_STRING");
  load_err("ctl",
           "backend: \"identity\"\nsequence_batching { control_input { name: "
           "\"S\" control { kind: CONTROL_SEQUENCE_START int32_false_true: [ "
           "1 ] } } }",
           NULL, 0, E,
           "ctl/config.pbtxt:2:63: sequence_batching.control_input[0] \"S\": "
           "a START/END/READY control needs exactly one of int32_false_true, "
           "fp32_false_true, bool_false_true with 2 values");
  load_err("slot",
           "backend: \"identity\"\nsequence_batching { direct { "
           "minimum_slot_utilization: 1.5 } }",
           NULL, 0, E,
           "slot/config.pbtxt:2:56: "
           "sequence_batching.direct.minimum_slot_utilization: must be in [0, "
           "1], got 1.5");
  load_err("seqcache",
           "backend: \"identity\"\nsequence_batching { }\nresponse_cache { "
           "enable: true }",
           NULL, 0, E,
           "seqcache/config.pbtxt:3:26: response_cache cannot be enabled "
           "with sequence_batching");
  load_err("decoupled",
           "backend: \"identity\"\nmodel_transaction_policy { decoupled: "
           "true }\nresponse_cache { enable: true }",
           NULL, 0, E,
           "decoupled/config.pbtxt:3:26: response_cache cannot be enabled "
           "for a decoupled model");
  load_err("gpu0", "backend: \"identity\"\ninstance_group { kind: KIND_GPU }",
           NULL, 0, E,
           "gpu0/config.pbtxt:2:24: instance_group[0] \"gpu0_0\": kind "
           "KIND_GPU needs a CUDA GPU: no GPU is available (use KIND_CPU or "
           "KIND_AUTO)");
  load_err("gpuid",
           "backend: \"identity\"\ninstance_group { kind: KIND_GPU gpus: [ 0, "
           "5 ] }",
           NULL, 2, E,
           "gpuid/config.pbtxt:2:44: instance_group[0] \"gpuid_0\": invalid "
           "GPU id 5 (2 GPUs available: ids 0..1)");
  load_err("cpugpu",
           "backend: \"identity\"\ninstance_group { name: \"x\" kind: "
           "KIND_CPU gpus: [ 0 ] }",
           NULL, 1, E,
           "cpugpu/config.pbtxt:2:51: instance_group[0] \"x\": kind KIND_CPU "
           "must not list GPUs");
  load_err("autogpu", "backend: \"identity\"\ninstance_group { gpus: [ 0 ] }",
           NULL, 0, E,
           "autogpu/config.pbtxt:2:26: instance_group[0] \"autogpu_0\": kind "
           "KIND_CPU must not list GPUs");
  load_err("profile",
           "backend: \"tensorrt\"\ninstance_group { profile: [ \"0\", \"x\" ] "
           "}",
           NULL, 0, E,
           "profile/config.pbtxt:2:34: instance_group[0] \"profile_0\": "
           "profile must be a non-negative integer, got \"x\"");
  load_err("profile2",
           "backend: \"identity\"\ninstance_group { profile: \"0\" }", NULL, 0,
           E,
           "profile2/config.pbtxt:2:27: instance_group[0] \"profile2_0\": "
           "\"profile\" is only supported for TensorRT models");
  load_err("spec", "backend: \"identity\"\nversion_policy { specific { } }",
           NULL, 0, E,
           "spec/config.pbtxt:2:18: version_policy.specific: at least one "
           "version is required");
  load_err("specneg",
           "backend: \"identity\"\nversion_policy { specific { versions: [ 1, "
           "-2 ] } }",
           NULL, 0, E,
           "specneg/config.pbtxt:2:44: version_policy.specific.versions[1]: "
           "must be >= 0, got -2");
  load_err("enssched",
           "backend: \"identity\"\nensemble_scheduling { step { model_name: "
           "\"a\" } }",
           NULL, 0, E,
           "enssched/config.pbtxt:2:1: ensemble_scheduling requires platform "
           "\"ensemble\"");
  load_err("ensnostep", "platform: \"ensemble\"", NULL, 0, E,
           "ensnostep/config.pbtxt:1:11: an ensemble needs "
           "ensemble_scheduling with at least one step");
  load_err("ensgroup",
           "platform: \"ensemble\"\nensemble_scheduling { step { model_name: "
           "\"a\" } }\ninstance_group { }",
           NULL, 0, E,
           "ensgroup/config.pbtxt:3:1: instance_group is not allowed for an "
           "ensemble");
  load_err("ensflow",
           "platform: \"ensemble\"\n" IO1
           "ensemble_scheduling { step { model_name: \"a\" input_map { key: "
           "\"x\" value: \"IN\" }\ninput_map { key: \"z\" value: \"nowhere\" "
           "} } }",
           NULL, 0, E,
           "ensflow/config.pbtxt:4:1: ensemble_scheduling.step[0] (model "
           "\"a\"): tensor \"nowhere\" is neither an ensemble input nor "
           "produced by a step");
  load_err("ensout",
           "platform: \"ensemble\"\n" IO1
           "output [ { name: \"OUT\" data_type: TYPE_FP32 dims: [ 4 ] } ]\n"
           "ensemble_scheduling { step { model_name: \"a\" input_map { key: "
           "\"x\" value: \"IN\" } } }",
           NULL, 0, E,
           "ensout/config.pbtxt:3:18: ensemble output \"OUT\" is not produced "
           "by any step");
}

static void test_complete_in_memory(void) {
  const char *j = "{\"backend\":\"identity\",\"input\":[{\"name\":\"a\","
                  "\"data_type\":\"TYPE_FP32\",\"dims\":[0]}]}";
  ProtobufCMessage *m = NULL;
  inferd_status_t *st =
      cfg_json_parse(&inference__model_config__descriptor, j, strlen(j), &m);
  CHECK(st == NULL && m != NULL);
  cfg_load_options_t o = {.model_name = "mem", .autocomplete = true};
  st = cfg_complete(&o, (cfg_model_t *)m);
  CHECK(st != NULL);
  CHECK(st && strcmp(inferd_status_message(st),
                     "model \"mem\" config: input[0] \"a\": dims must be >= 1 "
                     "or -1, got 0") == 0);
  inferd_status_free(st);
  cfg_free((cfg_model_t *)m);

  /* the defaults table */
  cfg_model_t c;
  inference__model_config__init(&c);
  c.backend = "tensorrt";
  CHECK(strcmp(cfg_default_model_filename(&c), "model.plan") == 0);
  c.backend = "tensorflow";
  c.platform = "tensorflow_graphdef";
  CHECK(strcmp(cfg_default_model_filename(&c), "model.graphdef") == 0);
  c.default_model_filename = "custom.bin";
  CHECK(strcmp(cfg_default_model_filename(&c), "custom.bin") == 0);
  cfg_free(NULL);
}

static void rm_rf(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  CHECK(system(cmd) == 0);
}

int main(void) {
  snprintf(root, sizeof(root), "/tmp/inferd_cfg_test_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  test_identity_doc();
  test_autofill();
  test_normalise();
  test_config_file_choice();
  test_validation_errors();
  test_complete_in_memory();
  rm_rf(root);
  return UNIT_END();
}
