/*
 * repo_files.c: model directories, fingerprints and override directories
 * (see repo_files.h). Names and paths coming from clients are checked
 * before anything is joined to them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "repository/repo_files.h"
#include "repository/repository.h"

#define OOM() inferd_status_new(INFERD_NO_MEMORY, "out of memory")

inferd_status_t *repo_check_model_name(const char *name, size_t len) {
  if (len == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name: the name is empty");
  if (memchr(name, '\0', len))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name: it contains a NUL byte");
  if (memchr(name, '/', len) || memchr(name, '\\', len))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name '%.*s': it contains a path "
                             "separator",
                             (int)len, name);
  if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
    return inferd_status_new(INFERD_INVALID_ARG, "invalid model name '%.*s'",
                             (int)len, name);
  if (len > 255)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name: longer than 255 bytes");
  return NULL;
}

inferd_status_t *repo_check_file_path(const char *path, size_t len) {
  if (len == 0)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid file path in load parameter \"file:\": "
                             "the path is empty");
  if (memchr(path, '\0', len))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid file path in load parameter "
                             "\"file:%.*s\": it contains a NUL byte",
                             (int)strnlen(path, len), path);
  if (path[0] == '/')
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid file path in load parameter "
                             "\"file:%.*s\": absolute paths are not allowed",
                             (int)len, path);
  if (len > 1024)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid file path in load parameter \"file:\": "
                             "longer than 1024 bytes");
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && path[i] != '/')
      continue;
    size_t clen = i - start;
    const char *c = path + start;
    if (clen == 0 || (clen == 1 && c[0] == '.') ||
        (clen == 2 && c[0] == '.' && c[1] == '.'))
      return inferd_status_new(INFERD_INVALID_ARG,
                               "invalid file path in load parameter "
                               "\"file:%.*s\": empty, \".\" or \"..\" "
                               "components are not allowed",
                               (int)len, path);
    start = i + 1;
  }
  return NULL;
}

/* ------------------------------------------------------------- scanning */

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const repo_dir_entry_t *)a)->name,
                ((const repo_dir_entry_t *)b)->name);
}

static bool is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

void repo_dir_list_free(repo_dir_entry_t *list, size_t n) {
  if (!list)
    return;
  for (size_t i = 0; i < n; i++) {
    free(list[i].name);
    free(list[i].dir);
  }
  free(list);
}

inferd_status_t *repo_scan(const char *const *repos, size_t n_repos,
                           repo_dir_entry_t **out, size_t *n_out) {
  repo_dir_entry_t *list = NULL;
  size_t n = 0, cap = 0;
  inferd_status_t *st = NULL;
  for (size_t i = 0; i < n_repos && !st; i++) {
    DIR *d = opendir(repos[i]);
    if (!d) {
      st = inferd_status_new(INFERD_INVALID_ARG, "model repository \"%s\": %s",
                             repos[i], strerror(errno));
      break;
    }
    struct dirent *e;
    while (!st && (e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char path[4096];
      int len = snprintf(path, sizeof(path), "%s/%s", repos[i], e->d_name);
      if (len <= 0 || (size_t)len >= sizeof(path) || !is_dir(path))
        continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        repo_dir_entry_t *p = realloc(list, cap * sizeof(*p));
        if (!p) {
          st = OOM();
          break;
        }
        list = p;
      }
      list[n].name = core_strdup(e->d_name);
      list[n].dir = core_strdup(path);
      list[n].duplicate = false;
      n++;
      if (!list[n - 1].name || !list[n - 1].dir)
        st = OOM();
    }
    closedir(d);
  }
  if (st) {
    repo_dir_list_free(list, n);
    return st;
  }
  if (n > 1)
    qsort(list, n, sizeof(*list), cmp_entry);
  /* fold names found in several repositories into one duplicate entry */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && strcmp(list[k - 1].name, list[i].name) == 0) {
      if (!list[k - 1].duplicate)
        LOG_ERROR("model \"%s\" appears in two or more repositories (\"%s\" "
                  "and \"%s\"); it will not be loaded",
                  list[i].name, list[k - 1].dir, list[i].dir);
      list[k - 1].duplicate = true;
      free(list[i].name);
      free(list[i].dir);
      continue;
    }
    list[k++] = list[i];
  }
  for (size_t i = 0; i < k; i++)
    if (list[i].duplicate) {
      free(list[i].dir);
      list[i].dir = NULL;
    }
  *out = list;
  *n_out = k;
  return NULL;
}

inferd_status_t *repo_find_dir(const char *const *repos, size_t n_repos,
                               const char *name, char **dir, bool *duplicate) {
  *dir = NULL;
  *duplicate = false;
  for (size_t i = 0; i < n_repos; i++) {
    char path[4096];
    int len = snprintf(path, sizeof(path), "%s/%s", repos[i], name);
    if (len <= 0 || (size_t)len >= sizeof(path) || !is_dir(path))
      continue;
    if (*dir) {
      *duplicate = true;
      free(*dir);
      *dir = NULL;
      return NULL;
    }
    if (!(*dir = core_strdup(path)))
      return OOM();
  }
  return NULL;
}

/* ---------------------------------------------------------- fingerprints */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

#define SMALL_FILE (1u << 20)

/* one file's contribution; summed, so the directory order does not matter */
static uint64_t file_print(const char *rel, const char *path,
                           const struct stat *sb) {
  uint64_t h = fnv(1469598103934665603ull, rel, strlen(rel) + 1);
  h = fnv(h, &sb->st_size, sizeof(sb->st_size));
  if (S_ISREG(sb->st_mode) && sb->st_size <= SMALL_FILE) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[16384];
      ssize_t k;
      while ((k = read(fd, buf, sizeof(buf))) > 0)
        h = fnv(h, buf, (size_t)k);
      close(fd);
    }
  } else if (S_ISREG(sb->st_mode)) {
    h = fnv(h, &sb->st_mtim, sizeof(sb->st_mtim));
    h = fnv(h, &sb->st_ino, sizeof(sb->st_ino));
  }
  return mix(h);
}

static bool numeric(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* walks dir (relative name rel), skipping numeric entries at depth 0 when
 * skip_versions */
static uint64_t walk(const char *dir, const char *rel, bool skip_versions,
                     int depth) {
  uint64_t sum = 0;
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (skip_versions && depth == 0 && numeric(e->d_name))
      continue;
    char path[4096], r[4096];
    int a = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    int b = snprintf(r, sizeof(r), "%s/%s", rel, e->d_name);
    if (a <= 0 || (size_t)a >= sizeof(path) || b <= 0 || (size_t)b >= sizeof(r))
      continue;
    struct stat sb;
    if (stat(path, &sb) != 0)
      continue;
    if (S_ISDIR(sb.st_mode)) {
      sum += mix(fnv(7, r, strlen(r) + 1));
      if (depth < 16)
        sum += walk(path, r, false, depth + 1);
    } else {
      sum += file_print(r, path, &sb);
    }
  }
  closedir(d);
  return sum;
}

uint64_t repo_fingerprint_base(const char *model_dir) {
  return walk(model_dir, "", true, 0);
}

uint64_t repo_fingerprint_version(const char *model_dir, int64_t version) {
  char path[4096], rel[32];
  snprintf(path, sizeof(path), "%s/%lld", model_dir, (long long)version);
  snprintf(rel, sizeof(rel), "%lld", (long long)version);
  return walk(path, rel, false, 1) + 1;
}

/* ------------------------------------------------------ override files */

static inferd_status_t *write_file(const char *root, const char *rel,
                                   const void *data, size_t size) {
  char path[4096];
  int len = snprintf(path, sizeof(path), "%s/%s", root, rel);
  if (len <= 0 || (size_t)len >= sizeof(path))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "load parameter \"file:%s\": path too long", rel);
  /* parent directories (components were checked: no "..", no ".") */
  for (char *p = path + strlen(root) + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
      int e = errno;
      *p = '/';
      return inferd_status_new(INFERD_INTERNAL,
                               "load parameter \"file:%s\": cannot create "
                               "its directory: %s",
                               rel, strerror(e));
    }
    *p = '/';
  }
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return inferd_status_new(errno == EEXIST ? INFERD_INVALID_ARG
                                             : INFERD_INTERNAL,
                             "load parameter \"file:%s\": %s", rel,
                             errno == EEXIST ? "given twice, or a directory "
                                               "of another file"
                                             : strerror(errno));
  const char *b = data;
  size_t left = size;
  while (left > 0) {
    ssize_t k = write(fd, b, left);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      int e = errno;
      close(fd);
      return inferd_status_new(INFERD_INTERNAL,
                               "load parameter \"file:%s\": write failed: %s",
                               rel, strerror(e));
    }
    b += k;
    left -= (size_t)k;
  }
  close(fd);
  return NULL;
}

inferd_status_t *repo_write_override(const char *model,
                                     const inferd_model_file_t *files,
                                     size_t n_files, char **dir) {
  const char *tmp = getenv("TMPDIR");
  char templ[4096];
  int len = snprintf(templ, sizeof(templ), "%s/inferd-model-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
  if (len <= 0 || (size_t)len >= sizeof(templ) || !mkdtemp(templ))
    return inferd_status_new(INFERD_INTERNAL,
                             "model \"%s\": cannot create a temporary "
                             "directory for the override files: %s",
                             model, strerror(errno));
  for (size_t i = 0; i < n_files; i++) {
    char rel[1100];
    snprintf(rel, sizeof(rel), "%.*s", (int)files[i].path_len, files[i].path);
    inferd_status_t *st =
        write_file(templ, rel, files[i].data, files[i].byte_size);
    if (st) {
      repo_remove_tree(templ);
      return st;
    }
  }
  if (!(*dir = core_strdup(templ))) {
    repo_remove_tree(templ);
    return OOM();
  }
  return NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

void repo_remove_tree(const char *dir) {
  if (dir && *dir)
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
