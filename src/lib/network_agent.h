/* The agent calls that configure the guest's network from a network_scan():
 *
 *   for each interface: UpdateInterface{interface = network_agent_interface(...)}
 *   then                UpdateRoutes{routes = network_agent_routes(scan)}
 *   then, if any:       AddARPNeighbors{neighbors = network_agent_neighbors(scan)}
 *
 * The guest finds each interface by hwAddr (the veth's MAC, which the VMM
 * gave the virtio-net device) and renames it to the veth's name.  Routes go
 * after every interface (a gateway must be reachable).  Messages are built
 * with malloc: free with protobuf_c_message_free_unpacked(&m->base, NULL). */
#ifndef KATA_NETWORK_AGENT_H
#define KATA_NETWORK_AGENT_H

#include "agent.pb-c.h"
#include "network.h"

Types__Interface *network_agent_interface(const struct net_interface *iface);
Grpc__Routes *network_agent_routes(const struct net_scan *scan);
/* NULL when the scan found no permanent neighbours. */
Grpc__ARPNeighbors *network_agent_neighbors(const struct net_scan *scan);

#endif
