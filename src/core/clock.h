/* clock.h: monotonic and wall-clock time in nanoseconds (core_ prefix). */
#ifndef INFERD_CORE_CLOCK_H
#define INFERD_CORE_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t core_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t core_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
#endif
