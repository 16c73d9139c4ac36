/*
 * http_dashboard.h: the live dashboard page at GET / and /index.html
 * (route HTTP_ROUTE_DASHBOARD). Prefix http_.
 *
 * Threads: runs on the MHD thread that owns the connection; the page is a
 * constant, so any number of connections may be answered at once.
 */
#ifndef INFERD_HTTP_DASHBOARD_H
#define INFERD_HTTP_DASHBOARD_H

#include "http/http_endpoints.h"

/* Answers 200 with the page, Content-Type "text/html; charset=utf-8". */
enum MHD_Result http_dashboard_handle(http_req_t *q);

#endif /* INFERD_HTTP_DASHBOARD_H */
