/*
 * The system shared memory registry's checks (src/server/shm_registry.c):
 * keys (only POSIX shared memory names), names registered twice, the object
 * too small for offset + byte_size, status of one and of all, lookups with
 * out-of-range offset and size (Triton's texts), a non-page-aligned offset,
 * writes through the mapping seen by the creator, unregister while a
 * reference is held (still mapped until released, the name free at once),
 * unregister all, and regions kept apart per server. The registry needs
 * only the server's address, so two dummy addresses stand in for servers.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/shm_registry.h"
#include "unit.h"

static char srv_a_storage, srv_b_storage;
#define SA ((inferd_server_t *)&srv_a_storage)
#define SB ((inferd_server_t *)&srv_b_storage)

static char key1[64], key2[64];

/* Creates a POSIX shm object of n bytes filled with bytes i % 251. */
static void make_object(const char *key, size_t n) {
  int fd = shm_open(key, O_RDWR | O_CREAT | O_EXCL, 0600);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, (off_t)n) == 0);
  uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(p != MAP_FAILED);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i % 251);
  munmap(p, n);
  close(fd);
}

/* Number of mappings of /dev/shm<key> in this process. */
static int mapped(const char *key) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    return -1;
  char line[4096], want[128];
  snprintf(want, sizeof(want), "/dev/shm%s", key);
  int n = 0;
  while (fgets(line, sizeof(line), f)) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    size_t ll = strlen(line), wl = strlen(want);
    if (ll >= wl && strcmp(line + ll - wl, want) == 0)
      n++;
  }
  fclose(f);
  return n;
}

static void expect(inferd_status_t *st, inferd_code_t code, const char *text) {
  CHECK(inferd_status_code(st) == code);
  CHECK_STR_CONTAINS(inferd_status_message(st), text);
  if (inferd_status_code(st) != code)
    fprintf(stderr, "  got: %s\n", inferd_status_message(st));
  inferd_status_free(st);
}

static inferd_status_t *reg(inferd_server_t *s, const char *name,
                            const char *key, uint64_t off, uint64_t size) {
  return inferd_server_shm_register(s, name, strlen(name), key, strlen(key),
                                    off, size);
}

static void test_keys(void) {
  static const char *const bad[] = {
      "input",    "/", "/a/b", "/../etc/passwd", "/..",          "//x",
      "/dev/shm", "",  "../x", "/a..b",          "relative/key",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect(reg(SA, "r", bad[i], 0, 8), INFERD_INVALID_ARG, "invalid key");
  /* a NUL byte inside the key */
  expect(inferd_server_shm_register(SA, "r", 1, "/ab\0c", 5, 0, 8),
         INFERD_INVALID_ARG, "invalid key");
  char longkey[300];
  longkey[0] = '/';
  memset(longkey + 1, 'k', sizeof(longkey) - 2);
  longkey[sizeof(longkey) - 1] = '\0';
  expect(reg(SA, "r", longkey, 0, 8), INFERD_INVALID_ARG, "invalid key");
  expect(reg(SA, "", key1, 0, 8), INFERD_INVALID_ARG,
         "'region name' is necessary to register system shared memory "
         "region");
  /* a well-formed key that does not exist: Triton's text and code */
  expect(reg(SA, "r", "/inferd_test_no_such_key", 0, 8), INFERD_INTERNAL,
         "Unable to open shared memory region: '/inferd_test_no_such_key'");
  size_t n = 1;
  inferd_shm_region_status_t *st = NULL;
  CHECK(inferd_server_shm_status(SA, NULL, 0, &st, &n) == NULL);
  CHECK(n == 0); /* nothing was registered by the failures */
  inferd_shm_region_status_free(st, n);
}

static void test_register_and_status(void) {
  CHECK(reg(SA, "in", key1, 0, 4096) == NULL);
  expect(reg(SA, "in", key2, 0, 16), INFERD_ALREADY_EXISTS,
         "shared memory region 'in' already in manager");
  /* the object is 8192 bytes */
  expect(reg(SA, "big", key1, 0, 8193), INFERD_INVALID_ARG,
         "failed to register shared memory region 'big': invalid args");
  expect(reg(SA, "big", key1, 8000, 200), INFERD_INVALID_ARG,
         "failed to register shared memory region 'big': invalid args");
  expect(reg(SA, "big", key1, UINT64_MAX, 2), INFERD_INVALID_ARG,
         "invalid args");
  expect(reg(SA, "zero", key1, 0, 0), INFERD_INVALID_ARG, "invalid args");
  /* the same key twice under two names, one at an unaligned offset */
  CHECK(reg(SA, "mid", key1, 4100, 92) == NULL);
  CHECK(reg(SA, "out", key2, 0, 1024) == NULL);

  inferd_shm_region_status_t *st = NULL;
  size_t n = 0;
  CHECK(inferd_server_shm_status(SA, NULL, 0, &st, &n) == NULL);
  CHECK(n == 3);
  if (n == 3) {
    CHECK(strcmp(st[0].name, "in") == 0 && strcmp(st[0].key, key1) == 0);
    CHECK(st[0].offset == 0 && st[0].byte_size == 4096);
    CHECK(strcmp(st[1].name, "mid") == 0 && st[1].offset == 4100);
    CHECK(st[1].byte_size == 92);
    CHECK(strcmp(st[2].name, "out") == 0 && strcmp(st[2].key, key2) == 0);
  }
  inferd_shm_region_status_free(st, n);
  CHECK(inferd_server_shm_status(SA, "out", 3, &st, &n) == NULL);
  CHECK(n == 1 && strcmp(st[0].name, "out") == 0 && st[0].byte_size == 1024);
  inferd_shm_region_status_free(st, n);
  expect(inferd_server_shm_status(SA, "nope", 4, &st, &n), INFERD_NOT_FOUND,
         "Unable to find system shared memory region: 'nope'");
  CHECK(st == NULL && n == 0);
  CHECK(mapped(key1) == 2 && mapped(key2) == 1);
}

static void test_acquire(void) {
  inferd_shm_region_t *r = NULL;
  void *p = NULL;
  expect(inferd_server_shm_acquire(SA, "nope", 4, 0, 4, &r, &p),
         INFERD_NOT_FOUND, "Unable to find shared memory region: 'nope'");
  expect(inferd_server_shm_acquire(SA, "in", 2, 4096, 1, &r, &p),
         INFERD_INVALID_ARG, "Invalid offset for shared memory region: 'in'");
  expect(inferd_server_shm_acquire(SA, "in", 2, 4000, 97, &r, &p),
         INFERD_INVALID_ARG,
         "Invalid offset + byte size for shared memory region: 'in'");
  expect(inferd_server_shm_acquire(SA, "in", 2, 8, UINT64_MAX, &r, &p),
         INFERD_INVALID_ARG, "Invalid offset + byte size");
  /* the whole region, and the bytes it maps */
  CHECK(inferd_server_shm_acquire(SA, "in", 2, 0, 4096, &r, &p) == NULL);
  CHECK(((uint8_t *)p)[0] == 0 && ((uint8_t *)p)[4095] == 4095 % 251);
  inferd_shm_region_release(r);
  /* an unaligned registration offset plus a lookup offset: object byte
   * 4100 + 10 */
  CHECK(inferd_server_shm_acquire(SA, "mid", 3, 10, 82, &r, &p) == NULL);
  CHECK(((uint8_t *)p)[0] == 4110 % 251);
  CHECK(((uint8_t *)p)[81] == (4110 + 81) % 251);
  /* writes land in the object */
  ((uint8_t *)p)[0] = 0xAB;
  inferd_shm_region_release(r);
  int fd = shm_open(key1, O_RDONLY, 0);
  uint8_t b = 0;
  CHECK(fd >= 0 && pread(fd, &b, 1, 4110) == 1 && b == 0xAB);
  close(fd);
  /* a region of server A is not server B's */
  expect(inferd_server_shm_acquire(SB, "in", 2, 0, 4, &r, &p), INFERD_NOT_FOUND,
         "Unable to find shared memory region: 'in'");
}

static void test_unregister_while_held(void) {
  inferd_shm_region_t *r = NULL;
  void *p = NULL;
  CHECK(inferd_server_shm_acquire(SA, "out", 3, 16, 16, &r, &p) == NULL);
  CHECK(inferd_server_shm_unregister(SA, "out", 3) == NULL);
  /* gone from the registry, still mapped for the holder */
  inferd_shm_region_t *r2 = NULL;
  void *p2 = NULL;
  expect(inferd_server_shm_acquire(SA, "out", 3, 0, 4, &r2, &p2),
         INFERD_NOT_FOUND, "Unable to find shared memory region: 'out'");
  CHECK(mapped(key2) == 1);
  memset(p, 7, 16); /* ASan: the memory is still there */
  /* the name is free again while the old mapping lives */
  CHECK(reg(SA, "out", key2, 0, 64) == NULL);
  CHECK(mapped(key2) == 2);
  inferd_shm_region_release(r);
  CHECK(mapped(key2) == 1);
  /* unknown names unregister fine (Triton) */
  CHECK(inferd_server_shm_unregister(SA, "never", 5) == NULL);
}

static void test_servers_apart_and_unregister_all(void) {
  CHECK(reg(SB, "in", key2, 0, 8) == NULL); /* same name, other server */
  inferd_shm_region_status_t *st = NULL;
  size_t n = 0;
  CHECK(inferd_server_shm_status(SB, NULL, 0, &st, &n) == NULL);
  CHECK(n == 1);
  inferd_shm_region_status_free(st, n);
  inferd_shm_region_t *r = NULL;
  void *p = NULL;
  CHECK(inferd_server_shm_acquire(SA, "in", 2, 0, 8, &r, &p) == NULL);
  CHECK(inferd_server_shm_unregister(SA, NULL, 0) == NULL);
  CHECK(inferd_server_shm_status(SA, NULL, 0, &st, &n) == NULL);
  CHECK(n == 0);
  inferd_shm_region_status_free(st, n);
  CHECK(mapped(key1) == 1); /* "in" is held; "mid" is gone */
  inferd_shm_region_release(r);
  CHECK(mapped(key1) == 0);
  CHECK(inferd_server_shm_status(SB, NULL, 0, &st, &n) == NULL);
  CHECK(n == 1); /* B's region untouched */
  inferd_shm_region_status_free(st, n);
  srv_shm_forget_server(SB);
  CHECK(inferd_server_shm_status(SB, NULL, 0, &st, &n) == NULL);
  CHECK(n == 0);
  inferd_shm_region_status_free(st, n);
  CHECK(mapped(key2) == 0);
}

int main(void) {
  snprintf(key1, sizeof(key1), "/inferd_test_shm1_%d", (int)getpid());
  snprintf(key2, sizeof(key2), "/inferd_test_shm2_%d", (int)getpid());
  make_object(key1, 8192);
  make_object(key2, 4096);
  test_keys();
  test_register_and_status();
  test_acquire();
  test_unregister_while_held();
  test_servers_apart_and_unregister_all();
  shm_unlink(key1);
  shm_unlink(key2);
  return UNIT_END();
}
