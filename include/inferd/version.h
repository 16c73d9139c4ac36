/* inferd/version.h: version of the server and of the protocol it speaks. */
#ifndef INFERD_VERSION_H
#define INFERD_VERSION_H

#define INFERD_VERSION_MAJOR 0
#define INFERD_VERSION_MINOR 1
#define INFERD_VERSION_PATCH 0
#define INFERD_VERSION_STRING "0.1.0"

#endif
