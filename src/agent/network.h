/* The guest's network as the host configures it: UpdateInterface,
 * UpdateRoutes, ListInterfaces, ListRoutes, AddARPNeighbors over rtnetlink
 * (netlink.h), in the agent's network namespace. */
#ifndef KATA_AGENT_NETWORK_H
#define KATA_AGENT_NETWORK_H

#include "agent.h"

extern const struct agent_method_table agent_network_methods;

#endif
