/*
 * test_backend_loader.c: finding and loading backend libraries. Tiny
 * backends are compiled at test time from C strings (`cc -shared`) into a
 * temporary backend directory: one with this server's ABI (loads, shared
 * by two users), one with a newer minor (loads), one with another major
 * (refused, both versions named), one without the register symbol and one
 * whose register function fails (refused with the reason); a backend that
 * does not exist gives NOT_FOUND naming it and where it was looked for; bad
 * backend names are refused before any file is looked at. The search order
 * (version dir, model dir, backend dir/<name>/, backend dir) is checked with
 * copies of the same library. Ends with every backend released and the
 * temporary directory removed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend_loader.h"
#include "unit.h"

static char dir[256];

/* snprintf that treats truncation as a broken test setup. */
#define FMT(buf, ...)                                                          \
  do {                                                                         \
    int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                        \
    if (n_ < 0 || (size_t)n_ >= sizeof(buf)) {                                 \
      fprintf(stderr, "%s:%d: text too long\n", __FILE__, __LINE__);           \
      exit(2);                                                                 \
    }                                                                          \
  } while (0)

/* Writes src to <dir>/<name>.c and compiles it to out_path. */
static int compile(const char *name, const char *src, const char *out_path) {
  char c_path[512], cmd[2048];
  FMT(c_path, "%s/%s.c", dir, name);
  FILE *f = fopen(c_path, "w");
  if (!f) {
    perror(c_path);
    return -1;
  }
  fputs(src, f);
  fclose(f);
  const char *cc = getenv("CC");
  FMT(cmd, "%s -std=c11 -shared -fPIC -I'%s/include' -o '%s' '%s'",
      cc && *cc ? cc : "cc", INFERD_SOURCE_DIR, out_path, c_path);
  int rc = system(cmd);
  if (rc != 0)
    fprintf(stderr, "failed: %s\n", cmd);
  return rc;
}

/* A backend whose table says ABI major.minor; register_fails makes the
 * register function return an error instead. The library counts its
 * backend_init calls in `fake_inits` (read with dlsym). */
static int build_backend(const char *lib_path, const char *tag,
                         const char *major, const char *minor,
                         bool register_fails, bool export_register) {
  char src[4096];
  FMT(src,
      "#include <stddef.h>\n"
      "#include \"inferd/backend.h\"\n"
      "int fake_inits;\n"
      "static inferd_status_t *init(inferd_backend_t *b) {\n"
      "  (void)b; fake_inits++; return NULL; }\n"
      "static inferd_status_t *exec(inferd_backend_instance_t *i,\n"
      "    inferd_request_t *const *r, uint32_t n) {\n"
      "  (void)i; (void)r; (void)n; return NULL; }\n"
      "static const inferd_backend_api_t api = {\n"
      "  %s, %s, (uint32_t)sizeof(inferd_backend_api_t),\n"
      "  .backend_init = init, .execute = exec };\n"
      "%s inferd_status_t *%s(const inferd_host_api_t *h,\n"
      "    const inferd_backend_api_t **out) {\n"
      "  if (%d) return h->status_new(INFERD_INTERNAL, \"%s says no\");\n"
      "  *out = &api; return NULL; }\n",
      major, minor, export_register ? "" : "static",
      export_register ? "inferd_backend_register" : "not_the_register_fn",
      register_fails ? 1 : 0, tag);
  if (!export_register)
    /* keep the static function referenced so the compiler is quiet */
    strncat(src, "void *keep_it = (void *)not_the_register_fn;\n",
            sizeof(src) - strlen(src) - 1);
  return compile(tag, src, lib_path);
}

static void lib_path(char *out, size_t n, const char *where, const char *name) {
  int len = snprintf(out, n, "%s/libinferd_%s.so", where, name);
  if (len < 0 || (size_t)len >= n) {
    fprintf(stderr, "path too long\n");
    exit(2);
  }
}

static void test_missing_backend(be_registry_t *reg) {
  be_backend_t *b = NULL;
  inferd_status_t *st = be_acquire(reg, "nosuchbackend", NULL, NULL, &b);
  CHECK(st != NULL);
  CHECK(b == NULL);
  CHECK(inferd_status_code(st) == INFERD_NOT_FOUND);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"nosuchbackend\"");
  CHECK_STR_CONTAINS(inferd_status_message(st), "libinferd_nosuchbackend.so");
  CHECK_STR_CONTAINS(inferd_status_message(st), dir);
  inferd_status_free(st);

  /* a model directory that lacks it too: still NOT_FOUND */
  st = be_acquire(reg, "nosuchbackend", dir, NULL, &b);
  CHECK(st != NULL && inferd_status_code(st) == INFERD_NOT_FOUND);
  inferd_status_free(st);
}

static void test_bad_names(be_registry_t *reg) {
  const char *bad[] = {"", "../good", "a/b", "..", "good.so"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    be_backend_t *b = NULL;
    inferd_status_t *st = be_acquire(reg, bad[i], NULL, NULL, &b);
    CHECK(st != NULL);
    CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
    CHECK(b == NULL);
    inferd_status_free(st);
  }
  be_backend_t *b = NULL;
  inferd_status_t *st = be_acquire(reg, NULL, NULL, NULL, &b);
  CHECK(st != NULL && inferd_status_code(st) == INFERD_INVALID_ARG);
  inferd_status_free(st);
}

static void test_abi_major_mismatch(be_registry_t *reg) {
  char p[512];
  lib_path(p, sizeof(p), dir, "future");
  CHECK(build_backend(p, "future", "INFERD_BACKEND_ABI_MAJOR + 1", "3", false,
                      true) == 0);
  be_backend_t *b = NULL;
  inferd_status_t *st = be_acquire(reg, "future", NULL, NULL, &b);
  CHECK(st != NULL);
  CHECK(b == NULL);
  CHECK(inferd_status_code(st) == INFERD_UNSUPPORTED);
  char theirs[32], ours[32];
  FMT(theirs, "%u.3", INFERD_BACKEND_ABI_MAJOR + 1);
  FMT(ours, "%u.%u", INFERD_BACKEND_ABI_MAJOR, INFERD_BACKEND_ABI_MINOR);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"future\"");
  CHECK_STR_CONTAINS(inferd_status_message(st), theirs);
  CHECK_STR_CONTAINS(inferd_status_message(st), ours);
  inferd_status_free(st);

  /* an older major is refused the same way */
  lib_path(p, sizeof(p), dir, "past");
  CHECK(build_backend(p, "past", "INFERD_BACKEND_ABI_MAJOR - 1", "9", false,
                      true) == 0);
  st = be_acquire(reg, "past", NULL, NULL, &b);
  CHECK(st != NULL && inferd_status_code(st) == INFERD_UNSUPPORTED);
  FMT(theirs, "%u.9", INFERD_BACKEND_ABI_MAJOR - 1);
  CHECK_STR_CONTAINS(inferd_status_message(st), theirs);
  CHECK_STR_CONTAINS(inferd_status_message(st), ours);
  inferd_status_free(st);
  /* a refused library is not kept */
  CHECK(reg->list == NULL);
}

static void test_register_problems(be_registry_t *reg) {
  char p[512];
  lib_path(p, sizeof(p), dir, "nosym");
  CHECK(build_backend(p, "nosym", "INFERD_BACKEND_ABI_MAJOR",
                      "INFERD_BACKEND_ABI_MINOR", false, false) == 0);
  be_backend_t *b = NULL;
  inferd_status_t *st = be_acquire(reg, "nosym", NULL, NULL, &b);
  CHECK(st != NULL && b == NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"nosym\"");
  CHECK_STR_CONTAINS(inferd_status_message(st), INFERD_BACKEND_REGISTER_SYMBOL);
  inferd_status_free(st);

  lib_path(p, sizeof(p), dir, "refuses");
  CHECK(build_backend(p, "refuses", "INFERD_BACKEND_ABI_MAJOR",
                      "INFERD_BACKEND_ABI_MINOR", true, true) == 0);
  st = be_acquire(reg, "refuses", NULL, NULL, &b);
  CHECK(st != NULL && b == NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"refuses\"");
  CHECK_STR_CONTAINS(inferd_status_message(st), "refuses says no");
  inferd_status_free(st);

  /* not a shared object at all */
  lib_path(p, sizeof(p), dir, "garbage");
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("this is not an ELF file\n", f);
    fclose(f);
  }
  st = be_acquire(reg, "garbage", NULL, NULL, &b);
  CHECK(st != NULL && b == NULL);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"garbage\"");
  inferd_status_free(st);
  CHECK(reg->list == NULL);
}

static int inits_of(be_backend_t *b) {
  int *n = dlsym(b->dl, "fake_inits");
  return n ? *n : -1;
}

static void test_load_and_share(be_registry_t *reg) {
  char p[512];
  lib_path(p, sizeof(p), dir, "good");
  CHECK(build_backend(p, "good", "INFERD_BACKEND_ABI_MAJOR",
                      "INFERD_BACKEND_ABI_MINOR", false, true) == 0);
  be_backend_t *a = NULL, *b = NULL;
  inferd_status_t *st = be_acquire(reg, "good", NULL, NULL, &a);
  CHECK(st == NULL && a != NULL);
  inferd_status_free(st);
  st = be_acquire(reg, "good", NULL, NULL, &b);
  CHECK(st == NULL && b == a); /* one library, shared */
  inferd_status_free(st);
  if (a) {
    CHECK(inits_of(a) == 1);
    CHECK(a->api->abi_major == INFERD_BACKEND_ABI_MAJOR);
  }
  be_release(b);
  be_release(a);
  CHECK(reg->list == NULL);

  /* a newer minor of the same major loads */
  lib_path(p, sizeof(p), dir, "newer");
  CHECK(build_backend(p, "newer", "INFERD_BACKEND_ABI_MAJOR",
                      "INFERD_BACKEND_ABI_MINOR + 5", false, true) == 0);
  st = be_acquire(reg, "newer", NULL, NULL, &a);
  CHECK(st == NULL && a != NULL);
  if (st)
    fprintf(stderr, "newer minor: %s\n", inferd_status_message(st));
  inferd_status_free(st);
  if (!st)
    be_release(a);
  be_release(NULL); /* does nothing */
  CHECK(reg->list == NULL);
}

static void mkdir_or_die(const char *p) {
  if (mkdir(p, 0755) != 0 && errno != EEXIST) {
    perror(p);
    exit(2);
  }
}

/* version dir, then model dir, then <backend dir>/<name>/, then the backend
 * dir: each copy says a different minor, so the one loaded is known. */
static void test_search_order(be_registry_t *reg) {
  char model[300], version[320], sub[300], p[512];
  FMT(model, "%s/m", dir);
  FMT(version, "%s/m/1", dir);
  FMT(sub, "%s/where", dir);
  mkdir_or_die(model);
  mkdir_or_die(version);
  mkdir_or_die(sub);
  struct {
    const char *at;
    const char *minor;
  } copies[] = {{dir, "40"}, {sub, "30"}, {model, "20"}, {version, "10"}};
  uint32_t expect_minor[] = {40, 30, 20, 10};
  for (int i = 0; i < 4; i++) {
    lib_path(p, sizeof(p), copies[i].at, "where");
    CHECK(build_backend(p, "where", "INFERD_BACKEND_ABI_MAJOR", copies[i].minor,
                        false, true) == 0);
    be_backend_t *b = NULL;
    inferd_status_t *st = be_acquire(reg, "where", model, version, &b);
    CHECK(st == NULL && b != NULL);
    if (st) {
      fprintf(stderr, "search order: %s\n", inferd_status_message(st));
      inferd_status_free(st);
      continue;
    }
    CHECK(b->api->abi_minor == expect_minor[i]);
    CHECK(strstr(b->path, copies[i].at) == b->path);
    be_release(b);
  }
  CHECK(reg->list == NULL);
}

int main(void) {
  FMT(dir, "/tmp/inferd_backends_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  be_registry_t reg;
  inferd_status_t *st = be_registry_init(&reg, dir);
  CHECK(st == NULL);
  if (st) {
    fprintf(stderr, "%s\n", inferd_status_message(st));
    return 1;
  }
  test_missing_backend(&reg);
  test_bad_names(&reg);
  test_abi_major_mismatch(&reg);
  test_register_problems(&reg);
  test_load_and_share(&reg);
  test_search_order(&reg);
  be_registry_deinit(&reg);
  char cmd[300];
  FMT(cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return UNIT_END();
}
