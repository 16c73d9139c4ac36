/*
 * shm_registry.c: the system shared memory registry (reference §1.13).
 * Regions are POSIX shared memory objects mapped read-write and shared;
 * requests read inputs from them and backends write outputs into them
 * directly, without a copy.
 *
 * Invariants: one list of the regions of every server (each tagged with its
 * owner), guarded by one mutex that is never held across a system call
 * other than the list walk's; a region's refcount counts the registry's
 * reference (while its name is registered) plus one per acquire, and the
 * mapping is removed by whoever drops the last one. A name is unique per
 * owner among registered regions only: once unregistered, the name may be
 * registered again while the old mapping still serves the requests that
 * hold it.
 *
 * The list is process-wide rather than a field of the server so that the
 * registry needs nothing from the server object but its address; a server
 * forgets its regions in srv_shm_forget_server.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/str.h"
#include "server/shm_registry.h"

struct inferd_shm_region {
  atomic_int refs;
  const void *owner; /* the server */
  char *name;
  char *key;
  uint64_t offset, byte_size;
  void *map_base; /* what mmap returned (page-aligned offset) */
  size_t map_len;
  uint8_t *base; /* the region's first byte */
  struct inferd_shm_region *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static inferd_shm_region_t *g_head; /* registered regions, oldest first */

/* malloc'd NUL-terminated copy of s[0..n); NULL when out of memory */
static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static void region_unref(inferd_shm_region_t *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1)
    return;
  munmap(r->map_base, r->map_len);
  free(r->name);
  free(r->key);
  free(r);
}

/* Registered region (owner, name), or NULL. Caller holds g_mu. */
static inferd_shm_region_t *find_locked(const void *owner, const char *name,
                                        size_t name_len) {
  for (inferd_shm_region_t *r = g_head; r; r = r->next)
    if (r->owner == owner && strlen(r->name) == name_len &&
        memcmp(r->name, name, name_len) == 0)
      return r;
  return NULL;
}

/* A POSIX shared memory name: "/" then 1..NAME_MAX-1 bytes without "/",
 * NUL or "..". shm_open resolves it under /dev/shm, so anything else could
 * name a file elsewhere. */
static bool key_ok(const char *key, size_t len) {
  if (len < 2 || len > NAME_MAX || key[0] != '/')
    return false;
  for (size_t i = 1; i < len; i++) {
    if (key[i] == '/' || key[i] == '\0')
      return false;
    if (key[i] == '.' && i + 1 < len && key[i + 1] == '.')
      return false;
  }
  return true;
}

inferd_status_t *inferd_server_shm_register(inferd_server_t *s,
                                            const char *name, size_t name_len,
                                            const char *key, size_t key_len,
                                            uint64_t offset,
                                            uint64_t byte_size) {
  if (!name || name_len == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "'region name' is necessary to register system "
                             "shared memory region");
  if (memchr(name, '\0', name_len))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "failed to register shared memory region: the "
                             "region name contains a NUL byte");
  int nl = name_len > INT_MAX ? INT_MAX : (int)name_len;
  int kl = key_len > 300 ? 300 : (int)key_len;
  if (!key || !key_ok(key, key_len))
    return inferd_status_new(
        INFERD_INVALID_ARG,
        "failed to register shared memory region '%.*s': invalid key "
        "\"%.*s\": expected a POSIX shared memory key (\"/\" followed by 1 to "
        "%d characters, no other \"/\", no \"..\", no NUL); paths are not "
        "accepted",
        nl, name, key ? kl : 0, key ? key : "", NAME_MAX - 1);
  if (byte_size == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "failed to register shared memory region '%.*s': "
                             "invalid args (byte_size is 0)",
                             nl, name);

  pthread_mutex_lock(&g_mu);
  bool taken = find_locked(s, name, name_len) != NULL;
  pthread_mutex_unlock(&g_mu);
  if (taken)
    return inferd_status_new(INFERD_ALREADY_EXISTS,
                             "shared memory region '%.*s' already in manager",
                             nl, name);

  inferd_shm_region_t *r = calloc(1, sizeof(*r));
  if (!r)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  r->name = dupn(name, name_len);
  r->key = dupn(key, key_len);
  if (!r->name || !r->key) {
    free(r->name);
    free(r->key);
    free(r);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  inferd_status_t *st = NULL;
  int fd = shm_open(r->key, O_RDWR, 0);
  if (fd < 0) {
    st = inferd_status_new(INFERD_INTERNAL,
                           "Unable to open shared memory region: '%s' (%s)",
                           r->key, strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0) {
    st = inferd_status_new(INFERD_INTERNAL,
                           "Invalid shared memory region: '%s'", r->key);
    close(fd);
    goto fail;
  }
  uint64_t size = (uint64_t)sb.st_size;
  if (offset > size || byte_size > size - offset) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "failed to register shared memory region '%s': "
                           "invalid args (offset %" PRIu64 " + byte_size "
                           "%" PRIu64 " is beyond the %" PRIu64 " bytes of "
                           "'%s')",
                           r->name, offset, byte_size, size, r->key);
    close(fd);
    goto fail;
  }
  /* mmap wants a page-aligned file offset: map from the page holding
   * `offset` and point base at it */
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t map_off = offset - offset % page;
  uint64_t map_len = byte_size + (offset - map_off);
  if (map_len > SIZE_MAX || map_off > (uint64_t)INT64_MAX) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "failed to register shared memory region '%s': "
                           "invalid args (region too large)",
                           r->name);
    close(fd);
    goto fail;
  }
  void *m = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                 (off_t)map_off);
  int merr = errno;
  close(fd); /* the mapping keeps the object */
  if (m == MAP_FAILED) {
    st = inferd_status_new(INFERD_INVALID_ARG,
                           "failed to register shared memory region '%s': "
                           "unable to process address space: %s",
                           r->name, strerror(merr));
    goto fail;
  }
  r->map_base = m;
  r->map_len = (size_t)map_len;
  r->base = (uint8_t *)m + (offset - map_off);
  r->owner = s;
  r->offset = offset;
  r->byte_size = byte_size;
  atomic_init(&r->refs, 1);

  pthread_mutex_lock(&g_mu);
  if (find_locked(s, name, name_len)) { /* registered meanwhile */
    pthread_mutex_unlock(&g_mu);
    st = inferd_status_new(INFERD_ALREADY_EXISTS,
                           "shared memory region '%s' already in manager",
                           r->name);
    region_unref(r);
    return st;
  }
  inferd_shm_region_t **tail = &g_head;
  while (*tail)
    tail = &(*tail)->next;
  *tail = r;
  pthread_mutex_unlock(&g_mu);
  return NULL;

fail:
  free(r->name);
  free(r->key);
  free(r);
  return st;
}

/* Unlinks the owner's regions matching name (all when name is NULL) into a
 * private list, so that their references are dropped without the lock. */
static inferd_shm_region_t *unlink_matching(const void *owner, const char *name,
                                            size_t name_len) {
  inferd_shm_region_t *out = NULL;
  pthread_mutex_lock(&g_mu);
  inferd_shm_region_t **pp = &g_head;
  while (*pp) {
    inferd_shm_region_t *r = *pp;
    if (r->owner == owner &&
        (!name || (strlen(r->name) == name_len &&
                   memcmp(r->name, name, name_len) == 0))) {
      *pp = r->next;
      r->next = out;
      out = r;
    } else {
      pp = &r->next;
    }
  }
  pthread_mutex_unlock(&g_mu);
  return out;
}

inferd_status_t *inferd_server_shm_unregister(inferd_server_t *s,
                                              const char *name,
                                              size_t name_len) {
  inferd_shm_region_t *r = unlink_matching(s, name, name_len);
  while (r) {
    inferd_shm_region_t *next = r->next;
    region_unref(r);
    r = next;
  }
  return NULL;
}

void srv_shm_forget_server(const inferd_server_t *s) {
  inferd_shm_region_t *r = unlink_matching(s, NULL, 0);
  while (r) {
    inferd_shm_region_t *next = r->next;
    region_unref(r);
    r = next;
  }
}

void inferd_shm_region_status_free(inferd_shm_region_status_t *st, size_t n) {
  if (!st)
    return;
  for (size_t i = 0; i < n; i++) {
    free(st[i].name);
    free(st[i].key);
  }
  free(st);
}

inferd_status_t *inferd_server_shm_status(inferd_server_t *s, const char *name,
                                          size_t name_len,
                                          inferd_shm_region_status_t **out,
                                          size_t *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&g_mu);
  size_t count = 0;
  for (inferd_shm_region_t *r = g_head; r; r = r->next)
    if (r->owner == s && (!name || (strlen(r->name) == name_len &&
                                    memcmp(r->name, name, name_len) == 0)))
      count++;
  if (name && count == 0) {
    pthread_mutex_unlock(&g_mu);
    int nl = name_len > INT_MAX ? INT_MAX : (int)name_len;
    return inferd_status_new(INFERD_NOT_FOUND,
                             "Unable to find system shared memory region: "
                             "'%.*s'",
                             nl, name);
  }
  inferd_shm_region_status_t *v = calloc(count ? count : 1, sizeof(*v));
  size_t k = 0;
  bool oom = v == NULL;
  for (inferd_shm_region_t *r = g_head; r && !oom; r = r->next) {
    if (r->owner != s || (name && (strlen(r->name) != name_len ||
                                   memcmp(r->name, name, name_len) != 0)))
      continue;
    v[k].name = core_strdup(r->name);
    v[k].key = core_strdup(r->key);
    v[k].offset = r->offset;
    v[k].byte_size = r->byte_size;
    k++;
    oom = !v[k - 1].name || !v[k - 1].key;
  }
  pthread_mutex_unlock(&g_mu);
  if (oom) {
    inferd_shm_region_status_free(v, k);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  *out = v;
  *n = k;
  return NULL;
}

inferd_status_t *inferd_server_shm_acquire(inferd_server_t *s, const char *name,
                                           size_t name_len, uint64_t offset,
                                           uint64_t byte_size,
                                           inferd_shm_region_t **region,
                                           void **ptr) {
  int nl = name_len > INT_MAX ? INT_MAX : (int)name_len;
  pthread_mutex_lock(&g_mu);
  inferd_shm_region_t *r = find_locked(s, name, name_len);
  if (!r) {
    pthread_mutex_unlock(&g_mu);
    return inferd_status_new(INFERD_NOT_FOUND,
                             "Unable to find shared memory region: '%.*s'", nl,
                             name);
  }
  uint64_t size = r->byte_size;
  if (offset >= size) {
    pthread_mutex_unlock(&g_mu);
    return inferd_status_new(INFERD_INVALID_ARG,
                             "Invalid offset for shared memory region: "
                             "'%.*s' (offset %" PRIu64 ", region size "
                             "%" PRIu64 ")",
                             nl, name, offset, size);
  }
  if (byte_size > size - offset) {
    pthread_mutex_unlock(&g_mu);
    return inferd_status_new(INFERD_INVALID_ARG,
                             "Invalid offset + byte size for shared memory "
                             "region: '%.*s' (offset %" PRIu64 " + byte_size "
                             "%" PRIu64 " > region size %" PRIu64 ")",
                             nl, name, offset, byte_size, size);
  }
  atomic_fetch_add(&r->refs, 1);
  pthread_mutex_unlock(&g_mu);
  *region = r;
  *ptr = r->base + offset;
  return NULL;
}

void inferd_shm_region_release(inferd_shm_region_t *r) {
  if (r)
    region_unref(r);
}
