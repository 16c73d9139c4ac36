/*
 * test_versions.c: version directories and version policies (reference §4.1,
 * §4.3) on temporary directories: repo_list_versions keeps numeric directory
 * names only (no leading zero but "0" itself, no files, no warmup/,
 * configs/, initial_state/), sorted; repo_apply_policy for latest N, all,
 * specific (missing versions skipped, duplicates once) and the error when
 * nothing is selected. Ends with every temporary file removed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repository/repository.h"
#include "unit.h"

static char root[512];

/* snprintf that treats truncation as a broken test setup. */
#define FMT(buf, ...)                                                          \
  do {                                                                         \
    int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                        \
    if (n_ < 0 || (size_t)n_ >= sizeof(buf)) {                                 \
      fprintf(stderr, "%s:%d: path too long\n", __FILE__, __LINE__);           \
      exit(2);                                                                 \
    }                                                                          \
  } while (0)

static void make_dir(const char *name) {
  char p[512];
  FMT(p, "%s/%s", root, name);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) {
    perror(p);
    exit(2);
  }
}

static void make_file(const char *name) {
  char p[512];
  FMT(p, "%s/%s", root, name);
  FILE *f = fopen(p, "w");
  if (!f) {
    perror(p);
    exit(2);
  }
  fputs("x\n", f);
  fclose(f);
}

static void remove_tree(const char *dir) {
  char cmd[600];
  FMT(cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

/* True when versions[0..n) equals want[0..n_want). */
static bool same(const int64_t *versions, size_t n, const int64_t *want,
                 size_t n_want) {
  if (n != n_want)
    return false;
  for (size_t i = 0; i < n; i++)
    if (versions[i] != want[i])
      return false;
  return true;
}

static void test_list_versions_rules(void) {
  /* accepted */
  make_dir("3");
  make_dir("1");
  make_dir("10");
  make_dir("2");
  make_dir("0");                   /* "0" itself is version 0 [doc≠code] */
  make_dir("9223372036854775807"); /* INT64_MAX still parses */
  /* ignored */
  make_dir("01");
  make_dir("007");
  make_dir("00");
  make_dir("abc");
  make_dir("1a");
  make_dir("-1");
  make_dir("+4");
  make_dir(" 5");
  make_dir("99999999999999999999"); /* overflows int64 */
  make_dir("warmup");
  make_dir("configs");
  make_dir("initial_state");
  make_dir(".7");
  make_file("6"); /* a file, not a directory */
  make_file("config.pbtxt");

  int64_t *v = NULL;
  size_t n = 99;
  inferd_status_t *st = repo_list_versions(root, &v, &n);
  CHECK(st == NULL);
  const int64_t want[] = {0, 1, 2, 3, 10, INT64_MAX};
  CHECK(same(v, n, want, sizeof(want) / sizeof(want[0])));
  if (!same(v, n, want, sizeof(want) / sizeof(want[0]))) {
    fprintf(stderr, "got %zu versions:", n);
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, " %lld", (long long)v[i]);
    fprintf(stderr, "\n");
  }
  free(v);
  inferd_status_free(st);
}

static void test_list_versions_empty_and_missing(void) {
  char empty[300];
  FMT(empty, "%s/empty_model", root);
  CHECK(mkdir(empty, 0755) == 0);
  int64_t *v = (int64_t *)1;
  size_t n = 99;
  inferd_status_t *st = repo_list_versions(empty, &v, &n);
  CHECK(st == NULL);
  CHECK(n == 0);
  free(v);
  inferd_status_free(st);

  /* a directory with only files and skipped names has no version */
  char p[400];
  FMT(p, "%s/config.pbtxt", empty);
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  if (f)
    fclose(f);
  FMT(p, "%s/warmup", empty);
  CHECK(mkdir(p, 0755) == 0);
  st = repo_list_versions(empty, &v, &n);
  CHECK(st == NULL);
  CHECK(n == 0);
  free(v);
  inferd_status_free(st);

  char missing[300];
  FMT(missing, "%s/no_such_model", root);
  v = (int64_t *)1;
  n = 99;
  st = repo_list_versions(missing, &v, &n);
  CHECK(st != NULL);
  CHECK(inferd_status_code(st) != INFERD_OK);
  CHECK_STR_CONTAINS(inferd_status_message(st), "no_such_model");
  CHECK(v == NULL && n == 0);
  inferd_status_free(st);
}

/* Runs the policy; returns the status and stores the selection. */
static inferd_status_t *apply(const Inference__ModelVersionPolicy *p,
                              const int64_t *avail, size_t n_avail,
                              int64_t **sel, size_t *n_sel) {
  *sel = (int64_t *)1;
  *n_sel = 99;
  return repo_apply_policy("m", p, avail, n_avail, sel, n_sel);
}

static void expect_selected(const Inference__ModelVersionPolicy *p,
                            const int64_t *avail, size_t n_avail,
                            const int64_t *want, size_t n_want, int line) {
  int64_t *sel;
  size_t n;
  inferd_status_t *st = apply(p, avail, n_avail, &sel, &n);
  CHECK(st == NULL);
  if (st) {
    fprintf(stderr, "line %d: %s\n", line, inferd_status_message(st));
    inferd_status_free(st);
    return;
  }
  CHECK(same(sel, n, want, n_want));
  if (!same(sel, n, want, n_want))
    fprintf(stderr, "line %d: unexpected selection of %zu versions\n", line, n);
  free(sel);
}

static void expect_none_selected(const Inference__ModelVersionPolicy *p,
                                 const int64_t *avail, size_t n_avail) {
  int64_t *sel;
  size_t n;
  inferd_status_t *st = apply(p, avail, n_avail, &sel, &n);
  CHECK(st != NULL);
  CHECK(inferd_status_code(st) == INFERD_INVALID_ARG);
  CHECK_STR_CONTAINS(inferd_status_message(st), "\"m\"");
  CHECK_STR_CONTAINS(inferd_status_message(st), "version");
  CHECK(sel == NULL && n == 0);
  inferd_status_free(st);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_policy_latest(void) {
  const int64_t avail[] = {1, 2, 5, 9};
  /* no policy: latest 1 */
  expect_selected(NULL, avail, N(avail), (int64_t[]){9}, 1, __LINE__);
  Inference__ModelVersionPolicy unset = INFERENCE__MODEL_VERSION_POLICY__INIT;
  expect_selected(&unset, avail, N(avail), (int64_t[]){9}, 1, __LINE__);

  Inference__ModelVersionPolicy__Latest l =
      INFERENCE__MODEL_VERSION_POLICY__LATEST__INIT;
  Inference__ModelVersionPolicy p = INFERENCE__MODEL_VERSION_POLICY__INIT;
  p.policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST;
  p.latest = &l;
  l.num_versions = 1;
  expect_selected(&p, avail, N(avail), (int64_t[]){9}, 1, __LINE__);
  l.num_versions = 2;
  expect_selected(&p, avail, N(avail), (int64_t[]){5, 9}, 2, __LINE__);
  l.num_versions = 4;
  expect_selected(&p, avail, N(avail), avail, N(avail), __LINE__);
  l.num_versions = 100; /* more than there are: all of them */
  expect_selected(&p, avail, N(avail), avail, N(avail), __LINE__);
  /* version 0 counts like any other */
  const int64_t with0[] = {0, 1};
  l.num_versions = 2;
  expect_selected(&p, with0, N(with0), with0, N(with0), __LINE__);
  /* nothing available */
  expect_none_selected(&p, avail, 0);
  expect_none_selected(NULL, avail, 0);
}

static void test_policy_all(void) {
  const int64_t avail[] = {0, 3, 4, 12};
  Inference__ModelVersionPolicy__All a =
      INFERENCE__MODEL_VERSION_POLICY__ALL__INIT;
  Inference__ModelVersionPolicy p = INFERENCE__MODEL_VERSION_POLICY__INIT;
  p.policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL;
  p.all = &a;
  expect_selected(&p, avail, N(avail), avail, N(avail), __LINE__);
  expect_selected(&p, avail + 3, 1, (int64_t[]){12}, 1, __LINE__);
  expect_none_selected(&p, avail, 0);
}

static void test_policy_specific(void) {
  const int64_t avail[] = {1, 2, 3, 7};
  Inference__ModelVersionPolicy__Specific sp =
      INFERENCE__MODEL_VERSION_POLICY__SPECIFIC__INIT;
  Inference__ModelVersionPolicy p = INFERENCE__MODEL_VERSION_POLICY__INIT;
  p.policy_choice_case =
      INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC;
  p.specific = &sp;

  int64_t one[] = {2};
  sp.versions = one;
  sp.n_versions = N(one);
  expect_selected(&p, avail, N(avail), (int64_t[]){2}, 1, __LINE__);

  int64_t unsorted[] = {7, 1};
  sp.versions = unsorted;
  sp.n_versions = N(unsorted);
  expect_selected(&p, avail, N(avail), (int64_t[]){1, 7}, 2, __LINE__);

  /* a named version without a directory is skipped, the others load */
  int64_t some_missing[] = {3, 5, 9};
  sp.versions = some_missing;
  sp.n_versions = N(some_missing);
  expect_selected(&p, avail, N(avail), (int64_t[]){3}, 1, __LINE__);

  int64_t dup[] = {2, 2, 1, 2};
  sp.versions = dup;
  sp.n_versions = N(dup);
  expect_selected(&p, avail, N(avail), (int64_t[]){1, 2}, 2, __LINE__);

  /* none of the named versions exists: error */
  int64_t all_missing[] = {4, 8};
  sp.versions = all_missing;
  sp.n_versions = N(all_missing);
  expect_none_selected(&p, avail, N(avail));

  /* an empty list selects nothing */
  sp.versions = NULL;
  sp.n_versions = 0;
  expect_none_selected(&p, avail, N(avail));

  /* nothing on disk */
  sp.versions = one;
  sp.n_versions = N(one);
  expect_none_selected(&p, avail, 0);
}

/* The two together, as the repository uses them on a model directory. */
static void test_list_then_policy(void) {
  char saved[256];
  FMT(saved, "%s", root);
  FMT(root, "%s/model2", saved);
  CHECK(mkdir(root, 0755) == 0);
  make_dir("1");
  make_dir("2");
  make_dir("02");
  make_dir("x");
  int64_t *v;
  size_t n;
  inferd_status_t *st = repo_list_versions(root, &v, &n);
  CHECK(st == NULL);
  Inference__ModelVersionPolicy__Specific sp =
      INFERENCE__MODEL_VERSION_POLICY__SPECIFIC__INIT;
  Inference__ModelVersionPolicy p = INFERENCE__MODEL_VERSION_POLICY__INIT;
  p.policy_choice_case =
      INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC;
  p.specific = &sp;
  int64_t want[] = {1, 2};
  sp.versions = want;
  sp.n_versions = 2;
  if (!st)
    expect_selected(&p, v, n, want, 2, __LINE__);
  free(v);
  inferd_status_free(st);
  FMT(root, "%s", saved);
}

int main(void) {
  FMT(root, "/tmp/inferd_versions_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  char top[512];
  FMT(top, "%s", root);
  test_list_versions_rules();
  test_list_versions_empty_and_missing();
  test_policy_latest();
  test_policy_all();
  test_policy_specific();
  test_list_then_policy();
  remove_tree(top);
  return UNIT_END();
}
