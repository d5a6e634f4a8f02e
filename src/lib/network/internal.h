/* Shared between the files of src/lib/network (internal). */
#ifndef KATA_NETWORK_INTERNAL_H
#define KATA_NETWORK_INTERNAL_H

#include "network.h"

/* `tap<N>_kata`: ours, never the container's. */
bool network_is_kata_tap(const char *name);
/* network_scan in the calling thread's netns. */
int network_scan_here(struct net_scan *scan, struct kerr **err);

#endif
