/* status_internal.h: va_list form of inferd_status_new for adapters. */
#ifndef INFERD_CORE_STATUS_INTERNAL_H
#define INFERD_CORE_STATUS_INTERNAL_H
#include <stdarg.h>

#include "inferd/server.h"

inferd_status_t *core_status_vnew(inferd_code_t code, const char *fmt,
                                  va_list ap);
#endif
