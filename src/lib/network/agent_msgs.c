/* Agent requests (Kata's types.Interface, Route, ARPNeighbor) from a scan. */
#include "network_agent.h"
#include "kata_types.pb-c.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdio.h>

static Types__IPFamily family_of(int family)
{
    return family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
}

static char *addr_dup(int family, const uint8_t *addr)
{
    char text[INET6_ADDRSTRLEN];
    return xstrdup(net_addr_text(family, addr, text, sizeof(text)));
}

Types__Interface *network_agent_interface(const struct net_interface *iface)
{
    Types__Interface *m = xmalloc(sizeof(*m));
    types__interface__init(m);
    char mac[18];
    net_mac_text(iface->mac, mac);
    m->device = xstrdup(iface->name);
    m->name = xstrdup(iface->name);
    m->mtu = iface->mtu;
    m->hwaddr = xstrdup(mac);
    m->devicepath = xstrdup("");
    /* The guest sees a virtio-net device, whatever the host side was. */
    m->type = xstrdup("");
    m->raw_flags = iface->flags & IFF_NOARP;
    m->n_ipaddresses = iface->n_addrs;
    m->ipaddresses = xcalloc(iface->n_addrs ? iface->n_addrs : 1, sizeof(*m->ipaddresses));
    for (size_t i = 0; i < iface->n_addrs; i++) {
        const struct net_addr *a = &iface->addrs[i];
        Types__IPAddress *ip = xmalloc(sizeof(*ip));
        types__ipaddress__init(ip);
        ip->family = family_of(a->family);
        ip->address = addr_dup(a->family, a->addr);
        ip->mask = xasprintf("%u", a->prefix);
        m->ipaddresses[i] = ip;
    }
    return m;
}

Grpc__Routes *network_agent_routes(const struct net_scan *scan)
{
    Grpc__Routes *m = xmalloc(sizeof(*m));
    grpc__routes__init(m);
    m->n_routes = scan->n_routes;
    m->routes = xcalloc(scan->n_routes ? scan->n_routes : 1, sizeof(*m->routes));
    for (size_t i = 0; i < scan->n_routes; i++) {
        const struct net_route *r = &scan->routes[i];
        Types__Route *route = xmalloc(sizeof(*route));
        types__route__init(route);
        if (r->has_dst) {
            cleanup_free char *dst = addr_dup(r->family, r->dst);
            route->dest = xasprintf("%s/%u", dst, r->dst_len);
        } else {
            route->dest = xstrdup(""); /* the default route */
        }
        route->gateway = r->has_gw ? addr_dup(r->family, r->gw) : xstrdup("");
        route->source = r->has_src ? addr_dup(r->family, r->src) : xstrdup("");
        route->device = xstrdup(r->device);
        route->scope = r->scope;
        route->family = family_of(r->family);
        route->flags = r->flags;
        m->routes[i] = route;
    }
    return m;
}

Grpc__ARPNeighbors *network_agent_neighbors(const struct net_scan *scan)
{
    if (scan->n_neighbors == 0)
        return NULL;
    Grpc__ARPNeighbors *m = xmalloc(sizeof(*m));
    grpc__arpneighbors__init(m);
    m->n_arpneighbors = scan->n_neighbors;
    m->arpneighbors = xcalloc(scan->n_neighbors, sizeof(*m->arpneighbors));
    for (size_t i = 0; i < scan->n_neighbors; i++) {
        const struct net_neighbor *n = &scan->neighbors[i];
        Types__ARPNeighbor *neigh = xmalloc(sizeof(*neigh));
        types__arpneighbor__init(neigh);
        Types__IPAddress *ip = xmalloc(sizeof(*ip));
        types__ipaddress__init(ip);
        ip->family = family_of(n->family);
        ip->address = addr_dup(n->family, n->addr);
        ip->mask = xstrdup("");
        neigh->toipaddress = ip;
        neigh->device = xstrdup(n->device);
        char mac[18] = "";
        if (n->has_lladdr)
            net_mac_text(n->lladdr, mac);
        neigh->lladdr = xstrdup(mac);
        neigh->state = (int32_t)n->state;
        neigh->flags = (int32_t)n->flags;
        m->arpneighbors[i] = neigh;
    }
    return m;
}
