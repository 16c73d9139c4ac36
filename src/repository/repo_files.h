/*
 * repo_files.h: the file-system side of the repository, private to
 * src/repository/: finding model directories, fingerprints that tell
 * whether a model's files changed, and private directories for models given
 * with their files in a load request. Prefix repo_.
 *
 * Threads: no shared state; any thread.
 */
#ifndef INFERD_REPO_FILES_H
#define INFERD_REPO_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inferd/server.h"

typedef struct repo_dir_entry {
  char *name; /* model name (directory name) */
  char *dir;  /* <repository>/<name>; NULL when duplicated */
  bool duplicate;
} repo_dir_entry_t;

/* Every model directory of every repository, sorted by name; a name found
 * in two or more repositories appears once with duplicate set (logged).
 * Free with repo_dir_list_free. */
inferd_status_t *repo_scan(const char *const *repos, size_t n_repos,
                           repo_dir_entry_t **out, size_t *n);
void repo_dir_list_free(repo_dir_entry_t *list, size_t n);
/* The directory of one model: *dir malloc'd, NULL when no repository has
 * it; *duplicate when two or more do. */
inferd_status_t *repo_find_dir(const char *const *repos, size_t n_repos,
                               const char *name, char **dir, bool *duplicate);

/* Fingerprints of a model directory: `base` covers every file outside the
 * numeric version directories (config, labels, warmup data, ...), and
 * versions[i] the directory of avail[i]. Small files (up to 1 MiB) count by
 * content, larger ones by size, mtime and inode, so an edit that keeps the
 * size and restores the mtime is still seen. */
uint64_t repo_fingerprint_base(const char *model_dir);
uint64_t repo_fingerprint_version(const char *model_dir, int64_t version);

/* Writes files into a new private temporary directory (*dir malloc'd).
 * Paths must have passed repo_check_file_path. */
inferd_status_t *repo_write_override(const char *model,
                                     const inferd_model_file_t *files,
                                     size_t n_files, char **dir);
/* Removes a directory tree made by repo_write_override. */
void repo_remove_tree(const char *dir);
#endif
