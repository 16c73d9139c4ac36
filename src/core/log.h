/* log.h: logging macros over inferd_log() (server.h). Thread-safe. */
#ifndef INFERD_CORE_LOG_H
#define INFERD_CORE_LOG_H
#include "inferd/server.h"

#define LOG_ERROR(...)                                                         \
  inferd_log(INFERD_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_WARNING(...)                                                       \
  inferd_log(INFERD_LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_INFO(...)                                                          \
  inferd_log(INFERD_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
/* verbose level n >= 1 */
#define LOG_VERBOSE(n, ...)                                                    \
  do {                                                                         \
    if (inferd_log_enabled(INFERD_LOG_VERBOSE + (n)-1))                        \
      inferd_log(INFERD_LOG_VERBOSE + (n)-1, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
#endif
