/* network_scan: what the guest must be told about the container's netns. */
#include "network.h"
#include "internal.h"
#include "nl.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what one netns may hand us. */
#define NET_MAX_IFACES    64
#define NET_MAX_ADDRS     256
#define NET_MAX_ROUTES    4096
#define NET_MAX_NEIGHBORS 4096

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

void net_mac_text(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

const char *net_addr_text(int family, const uint8_t *addr, char *out, size_t len)
{
    if (inet_ntop(family, addr, out, (socklen_t)len) == NULL)
        snprintf(out, len, "?");
    return out;
}

/* Our own taps are not the container's interfaces. */
bool network_is_kata_tap(const char *name)
{
    unsigned n;
    char tail[8];
    return sscanf(name, "tap%u_%7s", &n, tail) == 2 && strcmp(tail, "kata") == 0;
}

struct scan_ctx {
    struct net_scan *scan;
    int overflow; /* what overflowed, for the error */
};

static struct net_interface *iface_by_index(const struct net_scan *s, int index)
{
    for (size_t i = 0; i < s->n_ifaces; i++)
        if (s->ifaces[i].index == index)
            return &s->ifaces[i];
    return NULL;
}

static int link_cb(const struct nlmsghdr *h, void *data)
{
    struct scan_ctx *c = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
    if (h->nlmsg_type != RTM_NEWLINK || (ifi->ifi_flags & IFF_LOOPBACK) ||
        ifi->ifi_type != ARPHRD_ETHER)
        return MNL_CB_OK;
    struct net_interface l = {.index = ifi->ifi_index, .flags = ifi->ifi_flags};
    bool has_mac = false;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*ifi))
    {
        switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME:
            snprintf(l.name, sizeof(l.name), "%.*s", (int)mnl_attr_get_payload_len(a),
                     (const char *)mnl_attr_get_payload(a));
            break;
        case IFLA_MTU:
            if (mnl_attr_get_payload_len(a) >= 4)
                l.mtu = mnl_attr_get_u32(a);
            break;
        case IFLA_ADDRESS:
            if (mnl_attr_get_payload_len(a) == 6) {
                memcpy(l.mac, mnl_attr_get_payload(a), 6);
                has_mac = true;
            }
            break;
        case IFLA_LINKINFO: {
            const struct nlattr *b;
            mnl_attr_for_each_nested(b, a)
            {
                if (mnl_attr_get_type(b) == IFLA_INFO_KIND)
                    snprintf(l.kind, sizeof(l.kind), "%.*s", (int)mnl_attr_get_payload_len(b),
                             (const char *)mnl_attr_get_payload(b));
            }
            break;
        }
        }
    }
    if (!has_mac || network_is_kata_tap(l.name))
        return MNL_CB_OK;
    if (c->scan->n_ifaces >= NET_MAX_IFACES) {
        c->overflow = 1;
        return MNL_CB_OK;
    }
    *GROW(c->scan->ifaces, c->scan->n_ifaces) = l;
    return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *h, void *data)
{
    struct scan_ctx *c = data;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
    struct net_interface *l = iface_by_index(c->scan, (int)ifa->ifa_index);
    if (h->nlmsg_type != RTM_NEWADDR || l == NULL ||
        (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
        return MNL_CB_OK;
    size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
    struct net_addr addr = {.family = ifa->ifa_family, .prefix = ifa->ifa_prefixlen};
    bool found = false;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*ifa))
    {
        /* IFA_LOCAL is the interface's own address on point-to-point links;
         * IFA_ADDRESS elsewhere (and the only one for IPv6). */
        int type = mnl_attr_get_type(a);
        if ((type == IFA_LOCAL || (type == IFA_ADDRESS && !found)) &&
            mnl_attr_get_payload_len(a) == alen) {
            memcpy(addr.addr, mnl_attr_get_payload(a), alen);
            found = true;
        }
    }
    /* The guest makes its own IPv6 link-local address from the same MAC. */
    if (!found ||
        (addr.family == AF_INET6 && addr.addr[0] == 0xfe && (addr.addr[1] & 0xc0) == 0x80))
        return MNL_CB_OK;
    if (l->n_addrs >= NET_MAX_ADDRS) {
        c->overflow = 2;
        return MNL_CB_OK;
    }
    *GROW(l->addrs, l->n_addrs) = addr;
    return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *h, void *data)
{
    struct scan_ctx *c = data;
    const struct rtmsg *rtm = mnl_nlmsg_get_payload(h);
    if (h->nlmsg_type != RTM_NEWROUTE || rtm->rtm_type != RTN_UNICAST ||
        (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
        return MNL_CB_OK;
    /* The kernel's own IPv6 routes (prefix and link-local) come back in the
     * guest when the addresses are set; IPv4 kernel routes are passed on, as
     * Kata does (its agent replaces every route). */
    if (rtm->rtm_family == AF_INET6 && rtm->rtm_protocol == RTPROT_KERNEL)
        return MNL_CB_OK;
    size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;
    struct net_route r = {.family = rtm->rtm_family,
                          .dst_len = rtm->rtm_dst_len,
                          .scope = rtm->rtm_scope,
                          .protocol = rtm->rtm_protocol,
                          .flags = rtm->rtm_flags};
    unsigned table = rtm->rtm_table;
    int oif = 0;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*rtm))
    {
        bool addr_sized = mnl_attr_get_payload_len(a) == alen;
        switch (mnl_attr_get_type(a)) {
        case RTA_TABLE:
            table = mnl_attr_get_u32(a);
            break;
        case RTA_OIF:
            oif = (int)mnl_attr_get_u32(a);
            break;
        case RTA_DST:
            if (addr_sized) {
                memcpy(r.dst, mnl_attr_get_payload(a), alen);
                r.has_dst = true;
            }
            break;
        case RTA_GATEWAY:
            if (addr_sized) {
                memcpy(r.gw, mnl_attr_get_payload(a), alen);
                r.has_gw = true;
            }
            break;
        case RTA_PREFSRC:
            if (addr_sized) {
                memcpy(r.src, mnl_attr_get_payload(a), alen);
                r.has_src = true;
            }
            break;
        }
    }
    const struct net_interface *l = iface_by_index(c->scan, oif);
    if (table != RT_TABLE_MAIN || l == NULL)
        return MNL_CB_OK;
    if (c->scan->n_routes >= NET_MAX_ROUTES) {
        c->overflow = 3;
        return MNL_CB_OK;
    }
    memcpy(r.device, l->name, sizeof(r.device));
    *GROW(c->scan->routes, c->scan->n_routes) = r;
    return MNL_CB_OK;
}

static int neigh_cb(const struct nlmsghdr *h, void *data)
{
    struct scan_ctx *c = data;
    const struct ndmsg *nd = mnl_nlmsg_get_payload(h);
    const struct net_interface *l = iface_by_index(c->scan, nd->ndm_ifindex);
    /* Only what someone set on purpose: learnt entries the guest learns too. */
    if (h->nlmsg_type != RTM_NEWNEIGH || l == NULL || !(nd->ndm_state & NUD_PERMANENT) ||
        (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6))
        return MNL_CB_OK;
    size_t alen = nd->ndm_family == AF_INET ? 4 : 16;
    struct net_neighbor n = {
        .family = nd->ndm_family, .state = nd->ndm_state, .flags = nd->ndm_flags};
    bool has_dst = false;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*nd))
    {
        if (mnl_attr_get_type(a) == NDA_DST && mnl_attr_get_payload_len(a) == alen) {
            memcpy(n.addr, mnl_attr_get_payload(a), alen);
            has_dst = true;
        } else if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == 6) {
            memcpy(n.lladdr, mnl_attr_get_payload(a), 6);
            n.has_lladdr = true;
        }
    }
    if (!has_dst)
        return MNL_CB_OK;
    if (c->scan->n_neighbors >= NET_MAX_NEIGHBORS) {
        c->overflow = 4;
        return MNL_CB_OK;
    }
    memcpy(n.device, l->name, sizeof(n.device));
    *GROW(c->scan->neighbors, c->scan->n_neighbors) = n;
    return MNL_CB_OK;
}

static int dump(struct nl *nl, uint16_t type, size_t hdr_len, mnl_cb_t cb, struct scan_ctx *c,
                const char *what, struct kerr **err)
{
    struct nlmsghdr *h = nl_request(nl, type, NLM_F_DUMP);
    struct rtgenmsg *g = mnl_nlmsg_put_extra_header(h, hdr_len);
    g->rtgen_family = AF_UNSPEC;
    return nl_exchange(nl, cb, c, what, err);
}

/* In the netns thread. */
int network_scan_here(struct net_scan *scan, struct kerr **err)
{
    struct nl nl;
    if (nl_open(&nl, err) < 0)
        return -1;
    struct scan_ctx c = {.scan = scan};
    int rc = -1;
    if (dump(&nl, RTM_GETLINK, sizeof(struct ifinfomsg), link_cb, &c, "list links", err) < 0 ||
        dump(&nl, RTM_GETADDR, sizeof(struct ifaddrmsg), addr_cb, &c, "list addresses", err) < 0 ||
        dump(&nl, RTM_GETROUTE, sizeof(struct rtmsg), route_cb, &c, "list routes", err) < 0 ||
        dump(&nl, RTM_GETNEIGH, sizeof(struct ndmsg), neigh_cb, &c, "list neighbours", err) < 0)
        goto out;
    if (c.overflow) {
        static const char *const what[] = {"", "interfaces", "addresses", "routes", "neighbours"};
        kerr_make(err, E2BIG, "too many %s", what[c.overflow]);
        goto out;
    }
    rc = 0;
out:
    nl_close(&nl);
    return rc;
}

static int scan_job(void *arg, struct kerr **err)
{
    return network_scan_here(arg, err);
}

int network_scan(const char *netns_path, struct net_scan *out, struct kerr **err)
{
    memset(out, 0, sizeof(*out));
    if (netns_run(netns_path, scan_job, out, err) < 0) {
        network_scan_release(out);
        return kerr_wrap(err, "netns `%s`: scan", netns_path);
    }
    return 0;
}

void network_scan_release(struct net_scan *scan)
{
    for (size_t i = 0; i < scan->n_ifaces; i++)
        free(scan->ifaces[i].addrs);
    free(scan->ifaces);
    free(scan->routes);
    free(scan->neighbors);
    memset(scan, 0, sizeof(*scan));
}
