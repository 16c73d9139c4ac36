/*
 * log.c: the process-wide logger. Lines follow Triton's formats (reference
 * §1.15): default "L<MMDD> <hh:mm:ss.uuuuuu> <pid> <file>:<line>] <msg>" and
 * ISO8601 "YYYY-MM-DDThh:mm:ssZ L <pid> <file>:<line>] <msg>", on stderr.
 * Settings are read without a lock (each field is an atomic); one line is
 * written with a single fwrite so lines from threads do not interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "inferd/server.h"

static atomic_bool log_info_on = true, log_warning_on = true,
                   log_error_on = true;
static atomic_int log_verbose = 0;
static atomic_int log_format = INFERD_LOG_FORMAT_DEFAULT;

void inferd_log_get(inferd_log_settings_t *out) {
  out->log_info = log_info_on;
  out->log_warning = log_warning_on;
  out->log_error = log_error_on;
  out->verbose_level = log_verbose;
  out->format = log_format;
}

void inferd_log_set(const inferd_log_settings_t *s) {
  log_info_on = s->log_info;
  log_warning_on = s->log_warning;
  log_error_on = s->log_error;
  log_verbose = s->verbose_level < 0 ? 0 : s->verbose_level;
  log_format = s->format == INFERD_LOG_FORMAT_ISO8601
                   ? INFERD_LOG_FORMAT_ISO8601
                   : INFERD_LOG_FORMAT_DEFAULT;
}

bool inferd_log_enabled(int32_t level) {
  switch (level) {
  case INFERD_LOG_ERROR:
    return log_error_on;
  case INFERD_LOG_WARNING:
    return log_warning_on;
  case INFERD_LOG_INFO:
    return log_info_on;
  default:
    return level >= INFERD_LOG_VERBOSE &&
           level - INFERD_LOG_VERBOSE < log_verbose;
  }
}

void inferd_log(int32_t level, const char *file, int line, const char *fmt,
                ...) {
  if (!inferd_log_enabled(level))
    return;
  static const char letters[] = "EWIV";
  char tag = letters[level < 3 ? level : 3];
  const char *base = file ? strrchr(file, '/') : NULL;
  base = base ? base + 1 : (file ? file : "?");

  char buf[2048];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  int n;
  if (log_format == INFERD_LOG_FORMAT_ISO8601) {
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(buf, sizeof(buf),
                 "%04d-%02d-%02dT%02d:%02d:%02dZ %c %d %s:%d] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, tag, (int)getpid(), base, line);
  } else {
    localtime_r(&tv.tv_sec, &tm);
    n = snprintf(buf, sizeof(buf), "%c%02d%02d %02d:%02d:%02d.%06ld %d %s:%d] ",
                 tag, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (long)tv.tv_usec, (int)getpid(), base, line);
  }
  if (n < 0)
    return;
  size_t used = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + used, sizeof(buf) - used - 1, fmt, ap);
  va_end(ap);
  if (m > 0)
    used +=
        (size_t)m < sizeof(buf) - used - 1 ? (size_t)m : sizeof(buf) - used - 2;
  buf[used++] = '\n';
  fwrite(buf, 1, used, stderr);
}
