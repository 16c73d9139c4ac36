/*
 * shm_registry.h: the server side of the system shared memory registry
 * (the API is in inferd/server.h). Prefix srv_.
 */
#ifndef INFERD_SHM_REGISTRY_H
#define INFERD_SHM_REGISTRY_H

#include "inferd/server.h"

/* Unregisters every region of server s (inferd_server_free calls it; a
 * region still held by a response is unmapped when that lets go).
 * Thread-safe. */
void srv_shm_forget_server(const inferd_server_t *s);

#endif /* INFERD_SHM_REGISTRY_H */
