/* Unit tests of http_router.c: every route of reference §1.2, 404 and 405. */
#include "http/http_internal.h"
#include "unit.h"

static http_route_t r;
static http_route_id_t m(const char *method, const char *url) {
  http_route_match(method, url, &r);
  return r.id;
}

int main(void) {
  CHECK(m("GET", "/v2") == HTTP_ROUTE_SERVER_METADATA);
  CHECK(m("POST", "/v2") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("GET", "/v2/") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v3") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/health/live") == HTTP_ROUTE_HEALTH_LIVE);
  CHECK(m("GET", "/v2/health/ready") == HTTP_ROUTE_HEALTH_READY);
  CHECK(m("POST", "/v2/health/ready") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("GET", "/v2/health/other") == HTTP_ROUTE_NOT_FOUND);

  CHECK(m("GET", "/v2/models/simple") == HTTP_ROUTE_MODEL_METADATA);
  CHECK(r.model_len == 6 && memcmp(r.model, "simple", 6) == 0);
  CHECK(r.version == -1);
  CHECK(m("GET", "/v2/models/simple/versions/12") == HTTP_ROUTE_MODEL_METADATA);
  CHECK(r.version == 12);
  CHECK(m("GET", "/v2/models/simple/versions/x1") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/models/simple/versions/-1") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/models/simple/versions") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/models/s/versions/99999999999999999999") ==
        HTTP_ROUTE_MODEL_METADATA);
  CHECK(r.version_overflow);
  CHECK(m("GET", "/v2/models/simple/ready") == HTTP_ROUTE_MODEL_READY);
  CHECK(m("GET", "/v2/models/simple/versions/1/config") ==
        HTTP_ROUTE_MODEL_CONFIG);
  CHECK(r.version == 1);
  CHECK(m("GET", "/v2/models/stats") == HTTP_ROUTE_MODEL_STATS);
  CHECK(r.model == NULL);
  CHECK(m("GET", "/v2/models/simple/stats") == HTTP_ROUTE_MODEL_STATS);
  CHECK(m("POST", "/v2/models/simple/infer") == HTTP_ROUTE_INFER);
  CHECK(m("GET", "/v2/models/simple/infer") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(r.model == NULL);
  CHECK(m("POST", "/v2/models/simple/versions/3/infer") == HTTP_ROUTE_INFER);
  CHECK(r.version == 3);
  CHECK(m("POST", "/v2/models/simple/generate") == HTTP_ROUTE_GENERATE);
  CHECK(m("POST", "/v2/models/simple/generate_stream") == HTTP_ROUTE_GENERATE);
  CHECK(m("POST", "/v2/models/simple/other") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("POST", "/v2/models/simple/infer/") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("POST", "/v2/models//infer") == HTTP_ROUTE_NOT_FOUND);

  CHECK(m("POST", "/v2/repository/index") == HTTP_ROUTE_REPO_INDEX);
  CHECK(!r.has_repo);
  CHECK(m("GET", "/v2/repository/index") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("POST", "/v2/repository/myrepo/index") == HTTP_ROUTE_REPO_INDEX);
  CHECK(r.has_repo);
  CHECK(m("POST", "/v2/repository/models/simple/load") == HTTP_ROUTE_REPO_LOAD);
  CHECK(r.model_len == 6 && !r.has_repo);
  CHECK(m("POST", "/v2/repository/models/simple/unload") ==
        HTTP_ROUTE_REPO_UNLOAD);
  CHECK(m("POST", "/v2/repository/r/models/simple/load") ==
        HTTP_ROUTE_REPO_LOAD);
  CHECK(r.has_repo);

  CHECK(m("GET", "/v2/systemsharedmemory/status") == HTTP_ROUTE_SHM);
  CHECK(m("GET", "/v2/cudasharedmemory/region/a/status") == HTTP_ROUTE_SHM);
  CHECK(m("POST", "/v2/systemsharedmemory/region/a/register") ==
        HTTP_ROUTE_SHM);
  CHECK(m("POST", "/v2/systemsharedmemory/register") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("POST", "/v2/systemsharedmemory/unregister") == HTTP_ROUTE_SHM);
  CHECK(m("GET", "/v2/systemsharedmemory/unregister") ==
        HTTP_ROUTE_METHOD_NOT_ALLOWED);

  CHECK(m("GET", "/v2/trace/setting") == HTTP_ROUTE_TRACE);
  CHECK(m("POST", "/v2/models/simple/trace/setting") == HTTP_ROUTE_TRACE);
  CHECK(m("GET", "/v2/models/simple/versions/1/trace/setting") ==
        HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/logging") == HTTP_ROUTE_LOGGING);
  CHECK(m("POST", "/v2/logging") == HTTP_ROUTE_LOGGING);
  CHECK(r.is_post && http_route_takes_body(&r));
  CHECK(m("PUT", "/v2/logging") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("GET", "/metrics") == HTTP_ROUTE_NOT_FOUND);

  /* the dashboard page, GET only; nothing else outside /v2 */
  CHECK(m("GET", "/") == HTTP_ROUTE_DASHBOARD);
  CHECK(r.model == NULL && r.version == -1 && !http_route_takes_body(&r));
  CHECK(m("GET", "/index.html") == HTTP_ROUTE_DASHBOARD);
  CHECK(m("POST", "/") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("DELETE", "/index.html") == HTTP_ROUTE_METHOD_NOT_ALLOWED);
  CHECK(m("GET", "//") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/index.htm") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/index.html/") == HTTP_ROUTE_NOT_FOUND);
  CHECK(m("GET", "/v2/index.html") == HTTP_ROUTE_NOT_FOUND);
  return UNIT_END();
}
