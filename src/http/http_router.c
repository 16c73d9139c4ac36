/*
 * http_router.c: maps (method, path) to an endpoint of reference §1.2.
 * Paths match exactly, segment by segment; model and region names are any
 * non-empty segment ([^/]+), versions only [0-9]+. A path that matches no
 * route is NOT_FOUND; a matching path with a verb the route does not take
 * is METHOD_NOT_ALLOWED. Pure string work: no allocation. Outside /v2 only
 * the dashboard page lives: "/" and "/index.html".
 */
#include <string.h>

#include "http/http_internal.h"

#define MAX_SEGS 9

typedef struct seg {
  const char *p;
  size_t n;
} seg_t;

static bool is(const seg_t *s, const char *lit) {
  size_t n = strlen(lit);
  return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* Splits "/a/b/c" into segments. Returns the count, or -1 when the path is
 * not absolute, has an empty segment ("//", trailing "/") or too many. */
static int split(const char *url, seg_t *segs) {
  if (url[0] != '/')
    return -1;
  int n = 0;
  const char *p = url + 1;
  for (;;) {
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == 0 || n == MAX_SEGS)
      return -1;
    segs[n].p = p;
    segs[n].n = len;
    n++;
    if (!e)
      return n;
    p = e + 1;
  }
}

static bool parse_version(const seg_t *s, http_route_t *r) {
  int64_t v = 0;
  for (size_t i = 0; i < s->n; i++) {
    char c = s->p[i];
    if (c < '0' || c > '9')
      return false;
    if (v > (INT64_MAX - (c - '0')) / 10)
      r->version_overflow = true;
    else
      v = v * 10 + (c - '0');
  }
  r->version = r->version_overflow ? 0 : v;
  return true;
}

enum { V_GET = 1, V_POST = 2 };

/* Sets the route when the verb is allowed, else METHOD_NOT_ALLOWED. */
static void set(http_route_t *r, http_route_id_t id, int verbs, int verb) {
  r->id = (verbs & verb) ? id : HTTP_ROUTE_METHOD_NOT_ALLOWED;
}

/* /v2/{system,cuda}sharedmemory[/region/{r}]/{status,register,unregister} */
static void match_shm(const seg_t *s, int n, http_route_t *r, int verb) {
  const seg_t *op;
  if (n == 3) {
    op = &s[2];
    if (is(op, "register"))
      return; /* register needs a region */
  } else if (n == 5 && is(&s[2], "region")) {
    op = &s[4];
    r->region = s[3].p;
    r->region_len = s[3].n;
  } else {
    return;
  }
  r->shm_cuda = is(&s[1], "cudasharedmemory");
  if (is(op, "status")) {
    r->shm_op = HTTP_SHM_STATUS;
    set(r, HTTP_ROUTE_SHM, V_GET, verb);
  } else if (is(op, "register") || is(op, "unregister")) {
    r->shm_op = is(op, "register") ? HTTP_SHM_REGISTER : HTTP_SHM_UNREGISTER;
    set(r, HTTP_ROUTE_SHM, V_POST, verb);
  }
}

/* /v2/models/{m}[/versions/{v}][/<action>] with s[2] the model. */
static void match_model(const seg_t *s, int n, http_route_t *r, int verb) {
  r->model = s[2].p;
  r->model_len = s[2].n;
  int i = 3;
  if (n >= 5 && is(&s[3], "versions")) {
    if (!parse_version(&s[4], r))
      return;
    i = 5;
  } else if (n == 4 && is(&s[3], "versions")) {
    return;
  }
  if (i == n) {
    set(r, HTTP_ROUTE_MODEL_METADATA, V_GET, verb);
    return;
  }
  if (i + 1 == n) {
    const seg_t *a = &s[i];
    if (is(a, "ready"))
      set(r, HTTP_ROUTE_MODEL_READY, V_GET, verb);
    else if (is(a, "config"))
      set(r, HTTP_ROUTE_MODEL_CONFIG, V_GET, verb);
    else if (is(a, "stats"))
      set(r, HTTP_ROUTE_MODEL_STATS, V_GET, verb);
    else if (is(a, "infer"))
      set(r, HTTP_ROUTE_INFER, V_POST, verb);
    else if (is(a, "generate") || is(a, "generate_stream"))
      set(r, HTTP_ROUTE_GENERATE, V_POST, verb);
    return;
  }
  /* per-model trace settings have no version segment */
  if (i == 3 && n == 5 && is(&s[3], "trace") && is(&s[4], "setting"))
    set(r, HTTP_ROUTE_TRACE, V_GET | V_POST, verb);
}

/* /v2/repository[/{repo}]/index, /v2/repository[/{repo}]/models/{m}/load */
static void match_repo(const seg_t *s, int n, http_route_t *r, int verb) {
  int i = 2;
  if (n == 4 || n == 6) {
    r->has_repo = true;
    i = 3;
  }
  if (n == i + 1 && is(&s[i], "index")) {
    set(r, HTTP_ROUTE_REPO_INDEX, V_POST, verb);
    return;
  }
  if (n == i + 3 && is(&s[i], "models")) {
    r->model = s[i + 1].p;
    r->model_len = s[i + 1].n;
    if (is(&s[i + 2], "load"))
      set(r, HTTP_ROUTE_REPO_LOAD, V_POST, verb);
    else if (is(&s[i + 2], "unload"))
      set(r, HTTP_ROUTE_REPO_UNLOAD, V_POST, verb);
  }
}

void http_route_match(const char *method, const char *url, http_route_t *r) {
  memset(r, 0, sizeof(*r));
  r->id = HTTP_ROUTE_NOT_FOUND;
  r->version = -1;
  int verb = strcmp(method, "GET") == 0    ? V_GET
             : strcmp(method, "POST") == 0 ? V_POST
                                           : 0;
  r->is_post = verb == V_POST;
  if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
    set(r, HTTP_ROUTE_DASHBOARD, V_GET, verb);
    return;
  }
  seg_t s[MAX_SEGS];
  int n = split(url, s);
  if (n < 1 || !is(&s[0], "v2"))
    goto out;
  if (n == 1) {
    set(r, HTTP_ROUTE_SERVER_METADATA, V_GET, verb);
  } else if (is(&s[1], "health")) {
    if (n == 3 && is(&s[2], "live"))
      set(r, HTTP_ROUTE_HEALTH_LIVE, V_GET, verb);
    else if (n == 3 && is(&s[2], "ready"))
      set(r, HTTP_ROUTE_HEALTH_READY, V_GET, verb);
  } else if (is(&s[1], "models")) {
    if (n == 3 && is(&s[2], "stats"))
      set(r, HTTP_ROUTE_MODEL_STATS, V_GET, verb);
    else if (n >= 3)
      match_model(s, n, r, verb);
  } else if (is(&s[1], "repository")) {
    match_repo(s, n, r, verb);
  } else if (is(&s[1], "systemsharedmemory") || is(&s[1], "cudasharedmemory")) {
    match_shm(s, n, r, verb);
  } else if (is(&s[1], "trace")) {
    if (n == 3 && is(&s[2], "setting"))
      set(r, HTTP_ROUTE_TRACE, V_GET | V_POST, verb);
  } else if (is(&s[1], "logging")) {
    if (n == 2)
      set(r, HTTP_ROUTE_LOGGING, V_GET | V_POST, verb);
  }
out:
  if (r->id == HTTP_ROUTE_NOT_FOUND || r->id == HTTP_ROUTE_METHOD_NOT_ALLOWED) {
    r->model = NULL;
    r->model_len = 0;
    r->version = -1;
    r->version_overflow = false;
    r->has_repo = false;
    r->shm_cuda = false;
    r->shm_op = 0;
    r->region = NULL;
    r->region_len = 0;
  }
}

bool http_route_takes_body(const http_route_t *r) {
  switch (r->id) {
  case HTTP_ROUTE_INFER:
  case HTTP_ROUTE_REPO_INDEX:
  case HTTP_ROUTE_REPO_LOAD:
  case HTTP_ROUTE_REPO_UNLOAD:
  case HTTP_ROUTE_LOGGING:
  case HTTP_ROUTE_SHM: /* register's {key, offset, byte_size} */
    return r->is_post;
  default:
    return false;
  }
}
