/* fuzz_config_text.c: libFuzzer target for the config text-format reader
 * and, when the text parses, the JSON printer and reader on its output.
 * Build (not part of the default build):
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     -Ibuild-X/gen fuzz/fuzz_config_text.c src/config/*.c src/core/*.c \
 *     build-X/gen/model_config.pb-c.c -lprotobuf-c -ljansson -lm -lpthread
 * Seeds: tests/unit/config/*.pbtxt. */
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ProtobufCMessage *m = NULL;
  inferd_status_t *st =
      cfg_text_parse(&inference__model_config__descriptor, (const char *)data,
                     size, "fuzz.pbtxt", &m);
  if (st) {
    inferd_status_free(st);
    return 0;
  }
  char *js = NULL;
  size_t len = 0;
  if (!cfg_json_print(m, &js, &len)) {
    ProtobufCMessage *back = NULL;
    st = cfg_json_parse(&inference__model_config__descriptor, js, len, &back);
    inferd_status_free(st);
    if (back)
      protobuf_c_message_free_unpacked(back, NULL);
    free(js);
  }
  cfg_load_options_t o = {.model_name = "fuzz", .autocomplete = true};
  st = cfg_complete(&o, (cfg_model_t *)m);
  inferd_status_free(st);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
