/*
 * versions.c: version directories and version policies (reference §4.1,
 * §4.3). Names are positive decimal integers; a leading zero (other than
 * "0" itself) is ignored with a warning, as are names that do not parse;
 * warmup/, initial_state/ and configs/ are not versions.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "repository/repository.h"

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static bool parse_version(const char *s, int64_t *out) {
  if (!*s)
    return false;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    if (v > (INT64_MAX - (*p - '0')) / 10)
      return false;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return true;
}

inferd_status_t *repo_list_versions(const char *model_dir, int64_t **versions,
                                    size_t *n) {
  *versions = NULL;
  *n = 0;
  DIR *d = opendir(model_dir);
  if (!d)
    return inferd_status_new(INFERD_NOT_FOUND, "cannot read \"%s\": %s",
                             model_dir, strerror(errno));
  size_t cap = 0;
  struct dirent *e;
  inferd_status_t *st = NULL;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (nm[0] == '.' || strcmp(nm, "warmup") == 0 ||
        strcmp(nm, "initial_state") == 0 || strcmp(nm, "configs") == 0)
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", model_dir, nm);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    int64_t v;
    if (!parse_version(nm, &v)) {
      LOG_VERBOSE(1, "ignoring non-numeric directory \"%s\" in \"%s\"", nm,
                  model_dir);
      continue;
    }
    if (nm[0] == '0' && nm[1] != '\0') {
      LOG_WARNING("ignoring version directory \"%s\" in \"%s\": version "
                  "names must not start with 0",
                  nm, model_dir);
      continue;
    }
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      int64_t *p = realloc(*versions, cap * sizeof(int64_t));
      if (!p) {
        st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
        break;
      }
      *versions = p;
    }
    (*versions)[(*n)++] = v;
  }
  closedir(d);
  if (st) {
    free(*versions);
    *versions = NULL;
    *n = 0;
    return st;
  }
  if (*n)
    qsort(*versions, *n, sizeof(int64_t), cmp_i64);
  return NULL;
}

inferd_status_t *repo_apply_policy(const char *model,
                                   const Inference__ModelVersionPolicy *p,
                                   const int64_t *avail, size_t n_avail,
                                   int64_t **selected, size_t *n_selected) {
  *selected = malloc((n_avail ? n_avail : 1) * sizeof(int64_t));
  *n_selected = 0;
  if (!*selected)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  int which = p ? (int)p->policy_choice_case : 0;
  if (which == INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL) {
    memcpy(*selected, avail, n_avail * sizeof(int64_t));
    *n_selected = n_avail;
  } else if (which == INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC) {
    const Inference__ModelVersionPolicy__Specific *sp = p->specific;
    for (size_t i = 0; sp && i < sp->n_versions; i++) {
      bool found = false;
      for (size_t j = 0; j < n_avail && !found; j++)
        found = avail[j] == sp->versions[i];
      if (!found) {
        LOG_ERROR("model \"%s\": version %lld named by the version policy "
                  "has no directory",
                  model, (long long)sp->versions[i]);
        continue;
      }
      bool dup = false;
      for (size_t j = 0; j < *n_selected && !dup; j++)
        dup = (*selected)[j] == sp->versions[i];
      if (!dup)
        (*selected)[(*n_selected)++] = sp->versions[i];
    }
    qsort(*selected, *n_selected, sizeof(int64_t), cmp_i64);
  } else { /* latest (the default) */
    uint32_t k = 1;
    if (which == INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST &&
        p->latest && p->latest->num_versions > 0)
      k = p->latest->num_versions;
    size_t first = n_avail > k ? n_avail - k : 0;
    for (size_t i = first; i < n_avail; i++)
      (*selected)[(*n_selected)++] = avail[i];
  }
  if (*n_selected == 0) {
    free(*selected);
    *selected = NULL;
    return inferd_status_new(INFERD_INVALID_ARG,
                             "model \"%s\": at least one version must be "
                             "available under the version policy",
                             model);
  }
  return NULL;
}
