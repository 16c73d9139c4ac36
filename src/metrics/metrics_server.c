/*
 * metrics_server.c: the metrics listener (reference §6): its own
 * libmicrohttpd daemon with one internal thread, so that scrapes never
 * share a thread or a connection limit with inference. GET /metrics (or
 * /metrics/) answers the exposition; other paths answer 200 with an empty
 * body, as tritonserver does; other methods 405.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "metrics/metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct met_server {
  inferd_server_t *server;
  met_options_t opts;
  met_sampler_t *sampler;
  struct MHD_Daemon *d;
  uint16_t port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, mode);
  if (!r) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free((void *)body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
  (void)version;
  (void)upload;
  met_server_t *m = cls;
  if (*con_cls == NULL) { /* first call: headers only */
    *con_cls = m;
    return MHD_YES;
  }
  if (*upload_size) { /* a body is read and ignored */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0)
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "", 0, MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/metrics") != 0 && strcmp(url, "/metrics/") != 0)
    return reply(c, MHD_HTTP_OK, "", 0, MHD_RESPMEM_PERSISTENT);
  met_host_t host;
  met_host_t *hp = NULL;
  if (m->sampler) {
    met_sampler_read(m->sampler, &host);
    hp = &host;
  }
  met_buf_t b = {0};
  inferd_status_t *st = met_render(m->server, &m->opts, hp, &b);
  if (st) {
    LOG_ERROR("metrics: %s", inferd_status_message(st));
    inferd_status_free(st);
    met_buf_deinit(&b);
    static const char msg[] = "metrics unavailable\n";
    return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg, sizeof(msg) - 1,
                 MHD_RESPMEM_PERSISTENT);
  }
  if (!b.p)
    return reply(c, MHD_HTTP_OK, "", 0, MHD_RESPMEM_PERSISTENT);
  return reply(c, MHD_HTTP_OK, b.p, b.len, MHD_RESPMEM_MUST_FREE);
}

static inferd_status_t *parse_address(const char *addr, uint16_t port,
                                      struct sockaddr_storage *ss, bool *ipv6) {
  char host[256];
  const char *a = addr ? addr : "0.0.0.0";
  int family = AF_UNSPEC;
  if (strncmp(a, "ipv6:", 5) == 0) {
    a += 5;
    family = AF_INET6;
  }
  size_t n = strlen(a);
  if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
    a++;
    n -= 2;
    family = AF_INET6;
  }
  if (n == 0 || n >= sizeof(host))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid metrics address \"%s\"", addr);
  memcpy(host, a, n);
  host[n] = '\0';
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid metrics address \"%s\": %s", addr,
                             gai_strerror(rc));
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *ipv6 = res->ai_family == AF_INET6;
  freeaddrinfo(res);
  if (*ipv6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
  return NULL;
}

inferd_status_t *met_server_start(inferd_server_t *s, const met_options_t *o,
                                  met_server_t **out) {
  struct sockaddr_storage ss;
  bool ipv6 = false;
  inferd_status_t *st = parse_address(o->address, o->port, &ss, &ipv6);
  if (st)
    return st;
  met_server_t *m = calloc(1, sizeof(*m));
  if (!m)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  m->server = s;
  m->opts = *o;
  m->opts.address = NULL; /* borrowed: not kept */
  if (o->summary_latencies)
    LOG_WARNING("--metrics-config summary_latencies=true: the nv_*_summary_us "
                "families are not implemented in inferd; use the "
                "inferd_*_duration_seconds histograms");
  if (o->cpu_metrics || o->gpu_metrics) {
    if ((st = met_sampler_start(o->cpu_metrics, o->gpu_metrics, o->interval_ms,
                                &m->sampler))) {
      free(m);
      return st;
    }
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (ipv6)
    flags |= MHD_USE_IPv6;
  errno = 0;
  m->d = MHD_start_daemon(flags, o->port, NULL, NULL, access_cb, m,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                          MHD_OPTION_END);
  if (!m->d) {
    int e = errno;
    met_sampler_free(m->sampler);
    free(m);
    return inferd_status_new(INFERD_UNAVAILABLE,
                             "cannot start the metrics listener: %s",
                             e ? strerror(e) : "libmicrohttpd refused");
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
  m->port = di ? di->port : o->port;
  *out = m;
  return NULL;
}

uint16_t met_server_port(const met_server_t *m) { return m->port; }

void met_server_free(met_server_t *m) {
  if (!m)
    return;
  if (m->d)
    MHD_stop_daemon(m->d);
  met_sampler_free(m->sampler);
  free(m);
}
