/* test_model_warmup.c: validation of model_warmup at config load, one test
 * per message (each with file:line:column), the configs that must pass
 * (auto-complete pending, control inputs, optional inputs, batch_size 0),
 * and the input_data_file path rule. */
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

/* <root>/<name>/config.pbtxt = head + warmup, version dir 1, and
 * warmup/data.bin plus the directory warmup/dir/. */
static void make_model(const char *name, const char *head, const char *warmup) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/1", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/warmup", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/warmup/dir", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/%s/warmup/data.bin", root, name);
  write_file(p, "12345678");
  size_t n = strlen(head) + strlen(warmup) + 1;
  char *text = malloc(n);
  CHECK(text != NULL);
  if (!text)
    return;
  snprintf(text, n, "%s%s", head, warmup);
  snprintf(p, sizeof(p), "%s/%s/config.pbtxt", root, name);
  write_file(p, text);
  free(text);
}

static inferd_status_t *load(const char *name, cfg_model_t **out) {
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/%s", root, name);
  cfg_load_options_t o = {
      .model_dir = dir, .model_name = name, .autocomplete = true};
  return cfg_load(&o, out);
}

/* A batching model (max_batch_size 4) with INT32 INPUT0 [-1,2] and FP32
 * INPUT1 [3]; line 1 is the name, the warmup text starts on line 8. */
#define HEAD(name)                                                             \
  "name: \"" name "\"\n"                                                       \
  "backend: \"identity\"\n"                                                    \
  "max_batch_size: 4\n"                                                        \
  "input [ { name: \"INPUT0\" data_type: TYPE_INT32 dims: [ -1, 2 ] },\n"      \
  "        { name: \"INPUT1\" data_type: TYPE_FP32 dims: [ 3 ] } ]\n"          \
  "output [ { name: \"OUTPUT0\" data_type: TYPE_INT32 dims: [ -1, 2 ] },\n"    \
  "         { name: \"OUTPUT1\" data_type: TYPE_FP32 dims: [ 3 ] } ]\n"

/* the INPUT1 entry every sample below needs */
#define IN1                                                                    \
  "  inputs { key: \"INPUT1\" value { data_type: TYPE_FP32 dims: [ 3 ] "       \
  "zero_data: true } }\n"

static void load_ok(const char *name, const char *head, const char *warmup) {
  make_model(name, head, warmup);
  cfg_model_t *c = NULL;
  inferd_status_t *st = load(name, &c);
  if (st)
    fprintf(stderr, "unexpected (%s): %s\n", name, inferd_status_message(st));
  CHECK(st == NULL && c != NULL);
  inferd_status_free(st);
  cfg_free(c);
}

/* The message must be "<root>/<name>/config.pbtxt:<want>". */
static void load_err(const char *name, const char *head, const char *warmup,
                     const char *want) {
  make_model(name, head, warmup);
  cfg_model_t *c = NULL;
  inferd_status_t *st = load(name, &c);
  CHECK(st != NULL && c == NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  char full[2048];
  snprintf(full, sizeof(full), "%s/%s/config.pbtxt:%s", root, name, want);
  const char *m = inferd_status_message(st);
  if (strcmp(m, full) != 0) {
    fprintf(stderr, "  got:  %s\n  want: %s\n", m, full);
    CHECK(!"message mismatch");
  }
  cfg_free(c);
  inferd_status_free(st);
}

static void test_valid(void) {
  load_ok("ok", HEAD("ok"),
          "model_warmup [ { name: \"s\" batch_size: 4 count: 3\n"
          "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
          "[ 5, 2 ] random_data: true } }\n"
          "  inputs { key: \"INPUT1\" value { data_type: TYPE_FP32 dims: "
          "[ 3 ] input_data_file: \"data.bin\" } } },\n"
          "  { name: \"skipped\" batch_size: 0\n" IN1
          "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
          "[ 0, 2 ] zero_data: false } } } ]\n");
  /* no inputs yet: the backend completes them, the checks wait for that */
  load_ok("later", "name: \"later\"\nbackend: \"identity\"\n",
          "model_warmup { name: \"s\" batch_size: 8 inputs { key: \"x\" "
          "value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } }\n");
  /* optional inputs may be left out; a non-batching model takes 1 */
  load_ok("opt",
          "name: \"opt\"\nbackend: \"identity\"\n"
          "input [ { name: \"A\" data_type: TYPE_BOOL dims: [ 2 ] },\n"
          "        { name: \"B\" data_type: TYPE_BOOL dims: [ 2 ] optional: "
          "true } ]\n"
          "output [ { name: \"A\" data_type: TYPE_BOOL dims: [ 2 ] } ]\n",
          "model_warmup { name: \"s\" batch_size: 1 inputs { key: \"A\" "
          "value { data_type: TYPE_BOOL dims: [ 2 ] random_data: true } } "
          "}\n");
  /* a sequence batcher's control input is fed like Triton's override
   * inputs (the engine refuses sequence batching itself, later) */
  load_ok("ctl", HEAD("ctl"),
          "sequence_batching { control_input [ { name: \"START\" control [ "
          "{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] } "
          "] }\n"
          "model_warmup { name: \"s\" batch_size: 2\n" IN1
          "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
          "[ 1, 2 ] zero_data: true } }\n"
          "  inputs { key: \"START\" value { data_type: TYPE_INT32 dims: "
          "[ 1 ] zero_data: true } } }\n");
}

static void test_input_given_twice(void) {
  load_err("twice", HEAD("twice"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT1\" value { data_type: TYPE_FP32 dims: "
           "[ 3 ] zero_data: true } } }\n",
           "10:3: model_warmup[0] \"s\": input \"INPUT1\" is given twice");
}

static void test_no_data_source(void) {
  load_err("nosrc", HEAD("nosrc"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 2 ] } } }\n",
           "10:3: model_warmup[0] \"s\": input \"INPUT0\": one of zero_data, "
           "random_data or input_data_file must be set");
}

static void test_no_data_type(void) {
  load_err("notype", HEAD("notype"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { dims: [ 1, 2 ] zero_data: "
           "true } } }\n",
           "10:3: model_warmup[0] \"s\": input \"INPUT0\": \"data_type\" "
           "must be set (not TYPE_INVALID)");
}

static void test_negative_dim(void) {
  load_err("negdim", HEAD("negdim"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ -1, 2 ] zero_data: true } } }\n",
           "10:64: model_warmup[0] \"s\": input \"INPUT0\": dims must be >= "
           "0 (a variable-size dimension needs a size for warmup), got -1");
}

static void test_bad_file_paths(void) {
  static const char *bad[] = {"../config.pbtxt", "/etc/passwd", "a//b",
                              "./data.bin",      "dir/..",      ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char warmup[512], want[512];
    snprintf(warmup, sizeof(warmup),
             "model_warmup { name: \"s\" batch_size: 1\n" IN1
             "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 "
             "input_data_file: \"%s\" dims: [ 1, 2 ] } } }\n",
             bad[i]);
    snprintf(want, sizeof(want),
             "10:73: model_warmup[0] \"s\": input \"INPUT0\": "
             "input_data_file \"%s\" must be a relative path inside the "
             "model's warmup/ directory (not absolute, no \"..\" or \".\" or "
             "empty component)",
             bad[i]);
    load_err("badpath", HEAD("badpath"), warmup, want);
  }
  CHECK(cfg_warmup_file_path_ok("data.bin"));
  CHECK(cfg_warmup_file_path_ok("a/b/c.bin"));
  CHECK(cfg_warmup_file_path_ok("..data"));
  CHECK(!cfg_warmup_file_path_ok("a/"));
  CHECK(!cfg_warmup_file_path_ok(NULL));
}

static void test_missing_file(void) {
  char want[1024];
  snprintf(want, sizeof(want),
           "10:73: model_warmup[0] \"s\": input \"INPUT0\": input_data_file "
           "\"nope.bin\": cannot open %s/nofile/warmup/nope.bin: No such "
           "file or directory",
           root);
  load_err("nofile", HEAD("nofile"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 "
           "input_data_file: \"nope.bin\" dims: [ 1, 2 ] } } }\n",
           want);
}

static void test_file_is_a_directory(void) {
  char want[1024];
  snprintf(want, sizeof(want),
           "10:73: model_warmup[0] \"s\": input \"INPUT0\": input_data_file "
           "\"dir\": %s/isdir/warmup/dir is not a regular file",
           root);
  load_err("isdir", HEAD("isdir"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 "
           "input_data_file: \"dir\" dims: [ 1, 2 ] } } }\n",
           want);
}

static void test_unknown_input(void) {
  load_err("unknown", HEAD("unknown"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT9\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 2 ] zero_data: true } } }\n",
           "10:3: model_warmup[0] \"s\": input \"INPUT9\" is not an input of "
           "the model");
}

static void test_type_mismatch(void) {
  load_err("type", HEAD("type"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_FP32 dims: "
           "[ 1, 2 ] zero_data: true } } }\n",
           "10:45: model_warmup[0] \"s\": input \"INPUT0\": expected "
           "data_type TYPE_INT32 (as the model input), got TYPE_FP32");
}

static void test_dims_mismatch(void) {
  load_err("dims", HEAD("dims"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 3 ] zero_data: true } } }\n",
           "10:64: model_warmup[0] \"s\": input \"INPUT0\": expected dims "
           "[-1,2] (as the model input, without the batch dimension), got "
           "[1,3]");
  /* the batch dimension given as well: one dimension too many */
  load_err("dims2", HEAD("dims2"),
           "model_warmup { name: \"s\" batch_size: 1\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 1, 2 ] zero_data: true } } }\n",
           "10:64: model_warmup[0] \"s\": input \"INPUT0\": expected dims "
           "[-1,2] (as the model input, without the batch dimension), got "
           "[1,1,2]");
}

static void test_batch_size_non_batching(void) {
  load_err("nb",
           "name: \"nb\"\nbackend: \"identity\"\n"
           "input [ { name: \"A\" data_type: TYPE_BOOL dims: [ 2 ] } ]\n"
           "output [ { name: \"A\" data_type: TYPE_BOOL dims: [ 2 ] } ]\n",
           "model_warmup {\n"
           "  name: \"s\"\n"
           "  batch_size: 2\n"
           "  inputs { key: \"A\" value { data_type: TYPE_BOOL dims: [ 2 ] "
           "zero_data: true } } }\n",
           "7:15: model_warmup[0] \"s\": batch_size must be 0 or 1 for a "
           "model that does not batch (max_batch_size 0), got 2");
}

static void test_batch_size_above_max(void) {
  load_err("big", HEAD("big"),
           "model_warmup [ { name: \"a\" batch_size: 4\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 2 ] zero_data: true } } },\n"
           "  { name: \"b\" batch_size: 5\n" IN1
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 2 ] zero_data: true } } } ]\n",
           "11:27: model_warmup[1] \"b\": batch_size 5 is out of range: it "
           "must be between 0 and max_batch_size 4");
}

static void test_missing_input(void) {
  load_err("missing", HEAD("missing"),
           "model_warmup [\n"
           "  { name: \"s\" batch_size: 1\n"
           "  inputs { key: \"INPUT0\" value { data_type: TYPE_INT32 dims: "
           "[ 1, 2 ] zero_data: true } } } ]\n",
           "9:3: model_warmup[0] \"s\": missing input \"INPUT1\" (every "
           "non-optional model input needs warmup data)");
}

static void test_count_is_unsigned(void) {
  make_model("negcount", HEAD("negcount"),
             "model_warmup { name: \"s\" count: -1 }\n");
  cfg_model_t *c = NULL;
  inferd_status_t *st = load("negcount", &c);
  CHECK(st != NULL && c == NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "config.pbtxt:8:");
  CHECK_STR_CONTAINS(inferd_status_message(st), "count");
  inferd_status_free(st);
}

/* The JSON form (load override) goes through the same checks, without
 * positions. */
static void test_json_override(void) {
  const char *j =
      "{\"name\":\"mem\",\"backend\":\"identity\",\"max_batch_size\":2,"
      "\"input\":[{\"name\":\"x\",\"data_type\":\"TYPE_FP32\",\"dims\":[2]}],"
      "\"output\":[{\"name\":\"x\",\"data_type\":\"TYPE_FP32\",\"dims\":[2]}],"
      "\"model_warmup\":[{\"name\":\"w\",\"batch_size\":3,\"inputs\":{\"x\":"
      "{\"data_type\":\"TYPE_FP32\",\"dims\":[2],\"zero_data\":true}}}]}";
  ProtobufCMessage *m = NULL;
  inferd_status_t *st =
      cfg_json_parse(&inference__model_config__descriptor, j, strlen(j), &m);
  CHECK(st == NULL && m != NULL);
  inferd_status_free(st);
  if (!m)
    return;
  cfg_load_options_t o = {.model_name = "mem", .autocomplete = true};
  st = cfg_complete(&o, (cfg_model_t *)m);
  CHECK(st && strcmp(inferd_status_message(st),
                     "model \"mem\" config: model_warmup[0] \"w\": batch_size "
                     "3 is out of range: it must be between 0 and "
                     "max_batch_size 2") == 0);
  inferd_status_free(st);
  cfg_free((cfg_model_t *)m);
}

static void rm_rf(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  CHECK(system(cmd) == 0);
}

int main(void) {
  snprintf(root, sizeof(root), "/tmp/inferd_warmup_cfg_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  test_valid();
  test_input_given_twice();
  test_no_data_source();
  test_no_data_type();
  test_negative_dim();
  test_bad_file_paths();
  test_missing_file();
  test_file_is_a_directory();
  test_unknown_input();
  test_type_mismatch();
  test_dims_mismatch();
  test_batch_size_non_batching();
  test_batch_size_above_max();
  test_missing_input();
  test_count_is_unsigned();
  test_json_override();
  rm_rf(root);
  return UNIT_END();
}
