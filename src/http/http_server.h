/*
 * http_server.h: the KServe v2 HTTP/REST frontend (libmicrohttpd). It calls
 * only include/inferd/server.h. Prefix http_.
 *
 * Threads: start/quiesce/free from the main thread only.
 */
#ifndef INFERD_HTTP_SERVER_H
#define INFERD_HTTP_SERVER_H

#include "inferd/server.h"

typedef struct http_server http_server_t;

typedef struct http_options {
  const char *address;     /* "0.0.0.0" default; IPv6 as "ipv6:[::1]" too */
  uint16_t port;           /* 8000 default; 0 = any free port */
  uint32_t thread_count;   /* --http-thread-count */
  uint64_t max_input_size; /* --http-max-input-size, bytes (64 MiB) */
} http_options_t;

void http_options_init(http_options_t *o);

/* Binds and starts serving s (borrowed until http_server_free). */
inferd_status_t *http_server_start(inferd_server_t *s, const http_options_t *o,
                                   http_server_t **out);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const http_server_t *h);
/* Stops accepting new connections; in-flight requests go on. */
void http_server_quiesce(http_server_t *h);
/* Stops the daemon (after the server has drained) and frees. NULL ignored. */
void http_server_free(http_server_t *h);

#endif /* INFERD_HTTP_SERVER_H */
