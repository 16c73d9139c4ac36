/* str.h: small string helpers of the core (core_ prefix). */
#ifndef INFERD_CORE_STR_H
#define INFERD_CORE_STR_H

/* malloc'd copy of s (free with free()); NULL on allocation failure */
char *core_strdup(const char *s);

#endif
