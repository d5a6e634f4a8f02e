/* Network methods: links, addresses, routes and neighbours via rtnetlink. */
#include "network.h"
#include "log.h"
#include "netlink.h"
#include "util.h"

#include "agent.pb-c.h"
#include "empty.pb-c.h"
#include "kata_types.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 4096

struct link_info {
    int index;
    char name[IFNAMSIZ];
    unsigned mtu, flags;
    uint8_t hw[32];
    size_t hw_len;
    char kind[32];
};

struct addr_info {
    int index, family;
    unsigned prefix;
    uint8_t addr[16];
};

struct route_info {
    int family;
    unsigned dst_len, scope, protocol, table, type, flags;
    bool has_dst, has_gw, has_src;
    uint8_t dst[16], gw[16], src[16];
    int oif;
};

/* Growing arrays filled by dumps. */
#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n;                                                                                  \
    }
typedef VEC(struct link_info) link_vec;
typedef VEC(struct addr_info) addr_vec;
typedef VEC(struct route_info) route_vec;
#define VEC_PUSH(vec)                                                                              \
    (((vec)->v = xrealloc((vec)->v, ((vec)->n + 1) * sizeof(*(vec)->v))), &(vec)->v[(vec)->n++])

/* ---- reading state ---- */

static void link_cb(const struct nlmsghdr *h, void *data)
{
    if (h->nlmsg_type != RTM_NEWLINK)
        return;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    const struct rtattr *tb[IFLA_MAX + 1];
    nl_parse(h, sizeof(*ifi), tb, IFLA_MAX);
    struct link_info *l = VEC_PUSH((link_vec *)data);
    memset(l, 0, sizeof(*l));
    l->index = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    if (tb[IFLA_IFNAME])
        nl_get_str(tb[IFLA_IFNAME], l->name, sizeof(l->name));
    if (tb[IFLA_MTU])
        l->mtu = nl_get_u32(tb[IFLA_MTU]);
    if (tb[IFLA_ADDRESS] && nl_len(tb[IFLA_ADDRESS]) <= sizeof(l->hw)) {
        l->hw_len = nl_len(tb[IFLA_ADDRESS]);
        memcpy(l->hw, nl_data(tb[IFLA_ADDRESS]), l->hw_len);
    }
    if (tb[IFLA_LINKINFO]) {
        const struct rtattr *li[IFLA_INFO_MAX + 1];
        nl_parse_nested(tb[IFLA_LINKINFO], li, IFLA_INFO_MAX);
        if (li[IFLA_INFO_KIND])
            nl_get_str(li[IFLA_INFO_KIND], l->kind, sizeof(l->kind));
    }
}

static void addr_cb(const struct nlmsghdr *h, void *data)
{
    if (h->nlmsg_type != RTM_NEWADDR)
        return;
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    const struct rtattr *tb[IFA_MAX + 1];
    nl_parse(h, sizeof(*ifa), tb, IFA_MAX);
    const struct rtattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    size_t alen = ifa->ifa_family == AF_INET6 ? 16 : 4;
    if (a == NULL || nl_len(a) != alen)
        return;
    struct addr_info *ai = VEC_PUSH((addr_vec *)data);
    memset(ai, 0, sizeof(*ai));
    ai->index = (int)ifa->ifa_index;
    ai->family = ifa->ifa_family;
    ai->prefix = ifa->ifa_prefixlen;
    memcpy(ai->addr, nl_data(a), alen);
}

static void route_cb(const struct nlmsghdr *h, void *data)
{
    route_vec *routes = data;
    if (h->nlmsg_type != RTM_NEWROUTE || routes->n >= MAX_ROUTES)
        return;
    const struct rtmsg *rtm = NLMSG_DATA(h);
    const struct rtattr *tb[RTA_MAX + 1];
    nl_parse(h, sizeof(*rtm), tb, RTA_MAX);
    uint32_t table = tb[RTA_TABLE] ? nl_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
    if (table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
        return;
    size_t alen = rtm->rtm_family == AF_INET6 ? 16 : 4;
    struct route_info *r = VEC_PUSH(routes);
    memset(r, 0, sizeof(*r));
    r->family = rtm->rtm_family;
    r->dst_len = rtm->rtm_dst_len;
    r->scope = rtm->rtm_scope;
    r->protocol = rtm->rtm_protocol;
    r->table = table;
    r->type = rtm->rtm_type;
    r->flags = rtm->rtm_flags;
    if (tb[RTA_DST] && nl_len(tb[RTA_DST]) == alen) {
        r->has_dst = true;
        memcpy(r->dst, nl_data(tb[RTA_DST]), alen);
    }
    if (tb[RTA_GATEWAY] && nl_len(tb[RTA_GATEWAY]) == alen) {
        r->has_gw = true;
        memcpy(r->gw, nl_data(tb[RTA_GATEWAY]), alen);
    }
    if (tb[RTA_PREFSRC] && nl_len(tb[RTA_PREFSRC]) == alen) {
        r->has_src = true;
        memcpy(r->src, nl_data(tb[RTA_PREFSRC]), alen);
    }
    if (tb[RTA_OIF])
        r->oif = (int)nl_get_u32(tb[RTA_OIF]);
}

static int dump_links(struct nl_sock *s, link_vec *links, struct kerr **err)
{
    struct nl_msg m = {0};
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    nl_msg_init(&m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
    int r = nl_dump(s, &m, link_cb, links, "list links", err);
    nl_msg_release(&m);
    return r;
}

static int dump_addrs(struct nl_sock *s, addr_vec *addrs, struct kerr **err)
{
    struct nl_msg m = {0};
    struct ifaddrmsg ifa = {.ifa_family = AF_UNSPEC};
    nl_msg_init(&m, RTM_GETADDR, 0, &ifa, sizeof(ifa));
    int r = nl_dump(s, &m, addr_cb, addrs, "list addresses", err);
    nl_msg_release(&m);
    return r;
}

static int dump_routes(struct nl_sock *s, route_vec *routes, struct kerr **err)
{
    struct nl_msg m = {0};
    struct rtmsg rtm = {.rtm_family = AF_UNSPEC};
    nl_msg_init(&m, RTM_GETROUTE, 0, &rtm, sizeof(rtm));
    int r = nl_dump(s, &m, route_cb, routes, "list routes", err);
    nl_msg_release(&m);
    return r;
}

static const struct link_info *link_by_index(const link_vec *links, int index)
{
    for (size_t i = 0; i < links->n; i++)
        if (links->v[i].index == index)
            return &links->v[i];
    return NULL;
}

static const struct link_info *link_by_name(const link_vec *links, const char *name)
{
    for (size_t i = 0; i < links->n; i++)
        if (strcmp(links->v[i].name, name) == 0)
            return &links->v[i];
    return NULL;
}

/* ---- text forms ---- */

static char *hw_text(const uint8_t *hw, size_t len)
{
    char *s = xmalloc(len * 3 + 1);
    s[0] = '\0';
    for (size_t i = 0; i < len; i++)
        sprintf(s + (i ? i * 3 - 1 : 0), i ? ":%02x" : "%02x", hw[i]);
    return s;
}

static int parse_hw(const char *text, uint8_t *hw, size_t *len)
{
    size_t n = 0;
    const char *p = text;
    while (*p && n < 32) {
        char *end;
        unsigned long b = strtoul(p, &end, 16);
        if (end == p || end - p > 2 || b > 255 || (*end && *end != ':'))
            return -1;
        hw[n++] = (uint8_t)b;
        p = *end ? end + 1 : end;
    }
    *len = n;
    return *p == '\0' && n > 0 ? 0 : -1;
}

static char *ip_text(int family, const uint8_t *addr)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, addr, buf, sizeof(buf));
    return xstrdup(buf);
}

/* "10.0.0.1" or "fd00::1" -> family and bytes. */
static int parse_ip(const char *text, int *family, uint8_t *addr)
{
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -1;
}

/* A prefix length "24", or a dotted netmask "255.255.255.0". */
static int parse_mask(const char *text, int family, unsigned *prefix)
{
    unsigned max = family == AF_INET6 ? 128 : 32;
    if (*text == '\0') {
        *prefix = max;
        return 0;
    }
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*end == '\0' && v <= max) {
        *prefix = (unsigned)v;
        return 0;
    }
    struct in_addr m;
    if (family == AF_INET && inet_pton(AF_INET, text, &m) == 1) {
        uint32_t bits = ntohl(m.s_addr);
        if ((bits & (~bits >> 1)) != 0)
            return -1; /* not contiguous */
        *prefix = (unsigned)__builtin_popcount(bits);
        return 0;
    }
    return -1;
}

/* ---- protobuf answers ---- */

static Types__Interface *interface_message(const struct link_info *l, const addr_vec *addrs)
{
    Types__Interface *iface = xmalloc(sizeof(*iface));
    types__interface__init(iface);
    iface->device = xstrdup(l->name);
    iface->name = xstrdup(l->name);
    iface->mtu = l->mtu;
    iface->hwaddr = hw_text(l->hw, l->hw_len);
    iface->type = xstrdup(l->kind);
    iface->raw_flags = l->flags;
    for (size_t i = 0; i < addrs->n; i++) {
        const struct addr_info *a = &addrs->v[i];
        if (a->index != l->index)
            continue;
        Types__IPAddress *ip = xmalloc(sizeof(*ip));
        types__ipaddress__init(ip);
        ip->family = a->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
        ip->address = ip_text(a->family, a->addr);
        ip->mask = xasprintf("%u", a->prefix);
        iface->ipaddresses =
            xrealloc(iface->ipaddresses, (iface->n_ipaddresses + 1) * sizeof(*iface->ipaddresses));
        iface->ipaddresses[iface->n_ipaddresses++] = ip;
    }
    return iface;
}

static Types__Route *route_message(const struct route_info *r, const link_vec *links)
{
    Types__Route *route = xmalloc(sizeof(*route));
    types__route__init(route);
    if (r->has_dst && r->dst_len > 0) {
        cleanup_free char *a = ip_text(r->family, r->dst);
        route->dest = xasprintf("%s/%u", a, r->dst_len);
    } else {
        route->dest = xstrdup("");
    }
    route->gateway = r->has_gw ? ip_text(r->family, r->gw) : xstrdup("");
    route->source = r->has_src ? ip_text(r->family, r->src) : xstrdup("");
    const struct link_info *l = link_by_index(links, r->oif);
    route->device = xstrdup(l ? l->name : "");
    route->scope = r->scope;
    route->family = r->family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
    route->flags = r->flags;
    return route;
}

/* ---- a request's context ---- */

struct net_ctx {
    struct nl_sock sock;
    link_vec links;
    addr_vec addrs;
    route_vec routes;
};

static void ctx_release(struct net_ctx *c)
{
    nl_close(&c->sock);
    free(c->links.v);
    free(c->addrs.v);
    free(c->routes.v);
    memset(c, 0, sizeof(*c));
    c->sock.fd = -1;
}

static int ctx_refresh(struct net_ctx *c, struct kerr **err)
{
    c->links.n = c->addrs.n = c->routes.n = 0;
    if (dump_links(&c->sock, &c->links, err) < 0 || dump_addrs(&c->sock, &c->addrs, err) < 0 ||
        dump_routes(&c->sock, &c->routes, err) < 0)
        return -1;
    return 0;
}

static int ctx_open(struct net_ctx *c, struct kerr **err)
{
    memset(c, 0, sizeof(*c));
    if (nl_open(&c->sock, err) < 0)
        return -1;
    if (ctx_refresh(c, err) < 0) {
        ctx_release(c);
        return -1;
    }
    return 0;
}

static void fail_from(struct ttrpc_call *call, const struct kerr *err)
{
    ttrpc_call_fail_err(call, err->status ? TTRPC_INTERNAL : TTRPC_INVALID_ARGUMENT, err);
}

/* ---- ListInterfaces ---- */

static void list_interfaces(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    cleanup_kerr struct kerr *err = NULL;
    struct net_ctx c;
    if (ctx_open(&c, &err) < 0) {
        fail_from(call, err);
        return;
    }
    Grpc__Interfaces resp = GRPC__INTERFACES__INIT;
    resp.interfaces = xcalloc(c.links.n ? c.links.n : 1, sizeof(*resp.interfaces));
    for (size_t i = 0; i < c.links.n; i++)
        resp.interfaces[resp.n_interfaces++] = interface_message(&c.links.v[i], &c.addrs);
    ttrpc_call_reply(call, &resp.base);
    for (size_t i = 0; i < resp.n_interfaces; i++)
        protobuf_c_message_free_unpacked(&resp.interfaces[i]->base, NULL);
    free(resp.interfaces);
    ctx_release(&c);
}

/* ---- ListRoutes ---- */

static void reply_routes(struct ttrpc_call *call, const struct net_ctx *c)
{
    Grpc__Routes resp = GRPC__ROUTES__INIT;
    resp.routes = xcalloc(c->routes.n ? c->routes.n : 1, sizeof(*resp.routes));
    for (size_t i = 0; i < c->routes.n; i++)
        resp.routes[resp.n_routes++] = route_message(&c->routes.v[i], &c->links);
    ttrpc_call_reply(call, &resp.base);
    for (size_t i = 0; i < resp.n_routes; i++)
        protobuf_c_message_free_unpacked(&resp.routes[i]->base, NULL);
    free(resp.routes);
}

static void list_routes(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    cleanup_kerr struct kerr *err = NULL;
    struct net_ctx c;
    if (ctx_open(&c, &err) < 0) {
        fail_from(call, err);
        return;
    }
    reply_routes(call, &c);
    ctx_release(&c);
}

/* ---- UpdateInterface ---- */

static int set_link(struct net_ctx *c, int index, unsigned flags, unsigned change, const char *name,
                    unsigned mtu, const char *what, struct kerr **err)
{
    struct nl_msg m = {0};
    struct ifinfomsg ifi = {
        .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = flags, .ifi_change = change};
    nl_msg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    if (name)
        nl_put_str(&m, IFLA_IFNAME, name);
    if (mtu)
        nl_put_u32(&m, IFLA_MTU, mtu);
    int r = nl_transact(&c->sock, &m, what, err);
    nl_msg_release(&m);
    return r;
}

static int change_addr(struct net_ctx *c, uint16_t type, int index, int family, const uint8_t *addr,
                       unsigned prefix, const char *what, struct kerr **err)
{
    struct nl_msg m = {0};
    struct ifaddrmsg ifa = {.ifa_family = (uint8_t)family,
                            .ifa_prefixlen = (uint8_t)prefix,
                            .ifa_index = (uint32_t)index};
    nl_msg_init(&m, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0, &ifa,
                sizeof(ifa));
    size_t alen = family == AF_INET6 ? 16 : 4;
    nl_put(&m, IFA_LOCAL, addr, alen);
    nl_put(&m, IFA_ADDRESS, addr, alen);
    int r = nl_transact(&c->sock, &m, what, err);
    nl_msg_release(&m);
    return r;
}

static int update_interface(struct net_ctx *c, const Types__Interface *want, int *index_out,
                            struct kerr **err)
{
    const struct link_info *l = NULL;
    const char *key;
    if (*want->hwaddr) {
        uint8_t hw[32];
        size_t len;
        key = want->hwaddr;
        if (parse_hw(want->hwaddr, hw, &len) < 0)
            return kerr_make(err, 0, "interface: bad hardware address `%s`", want->hwaddr);
        for (size_t i = 0; i < c->links.n && l == NULL; i++)
            if (c->links.v[i].hw_len == len && memcmp(c->links.v[i].hw, hw, len) == 0)
                l = &c->links.v[i];
    } else {
        key = *want->device ? want->device : want->name;
        if (*key == '\0')
            return kerr_make(err, 0, "interface: needs hwAddr, device or name");
        l = link_by_name(&c->links, key);
    }
    if (l == NULL)
        return kerr_make(err, ENODEV, "interface `%s`", key);
    if (strlen(want->name) >= IFNAMSIZ)
        return kerr_make(err, 0, "interface `%s`: name `%s` is too long", key, want->name);
    if (want->mtu > 65535)
        return kerr_make(err, 0, "interface `%s`: MTU %llu is too large", key,
                         (unsigned long long)want->mtu);
    /* Validate every address before touching the link. */
    for (size_t i = 0; i < want->n_ipaddresses; i++) {
        const Types__IPAddress *ip = want->ipaddresses[i];
        uint8_t addr[16];
        int family;
        unsigned prefix;
        if (parse_ip(ip->address, &family, addr) < 0 || parse_mask(ip->mask, family, &prefix) < 0)
            return kerr_make(err, 0, "interface `%s`: bad address `%s/%s`", key, ip->address,
                             ip->mask);
    }
    int index = l->index;
    cleanup_free char *what = xasprintf("update interface `%s`", key);
    if ((l->flags & IFF_UP) && set_link(c, index, 0, IFF_UP, NULL, 0, what, err) < 0)
        return -1;
    /* The requested addresses replace whatever the link had. */
    for (size_t i = 0; i < c->addrs.n; i++) {
        const struct addr_info *a = &c->addrs.v[i];
        if (a->index != index ||
            (a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80))
            continue; /* other links; IPv6 link-local stays */
        if (change_addr(c, RTM_DELADDR, index, a->family, a->addr, a->prefix, what, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < want->n_ipaddresses; i++) {
        const Types__IPAddress *ip = want->ipaddresses[i];
        uint8_t addr[16];
        int family = AF_INET;
        unsigned prefix = 32;
        parse_ip(ip->address, &family, addr);
        parse_mask(ip->mask, family, &prefix);
        if (change_addr(c, RTM_NEWADDR, index, family, addr, prefix, what, err) < 0)
            return kerr_wrap(err, "address `%s/%s`", ip->address, ip->mask);
    }
    unsigned flags = IFF_UP | (want->raw_flags & IFF_NOARP);
    const char *name = *want->name && strcmp(want->name, l->name) != 0 ? want->name : NULL;
    if (set_link(c, index, flags, IFF_UP | IFF_NOARP, name, (unsigned)want->mtu, what, err) < 0)
        return -1;
    *index_out = index;
    return 0;
}

static void update_interface_method(struct ttrpc_call *call, const ProtobufCMessage *msg,
                                    void *data)
{
    const Grpc__UpdateInterfaceRequest *req = (const Grpc__UpdateInterfaceRequest *)msg;
    cleanup_kerr struct kerr *err = NULL;
    if (req->interface == NULL) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "update interface: no interface given");
        return;
    }
    struct net_ctx c;
    if (ctx_open(&c, &err) < 0) {
        fail_from(call, err);
        return;
    }
    int index = 0;
    if (update_interface(&c, req->interface, &index, &err) < 0 || ctx_refresh(&c, &err) < 0) {
        if (err->status == ENODEV)
            ttrpc_call_fail_err(call, TTRPC_NOT_FOUND, err);
        else
            fail_from(call, err);
        ctx_release(&c);
        return;
    }
    const struct link_info *l = link_by_index(&c.links, index);
    if (l == NULL) {
        ttrpc_call_fail(call, TTRPC_INTERNAL, "update interface: link %d vanished", index);
    } else {
        Types__Interface *iface = interface_message(l, &c.addrs);
        log_info("interface `%s` updated (mtu %u, %zu addresses)", l->name, l->mtu,
                 iface->n_ipaddresses);
        ttrpc_call_reply(call, &iface->base);
        protobuf_c_message_free_unpacked(&iface->base, NULL);
    }
    ctx_release(&c);
}

/* ---- UpdateRoutes ---- */

static int route_request(struct net_ctx *c, uint16_t type, const struct route_info *r,
                         const char *what, struct kerr **err)
{
    struct nl_msg m = {0};
    struct rtmsg rtm = {
        .rtm_family = (uint8_t)r->family,
        .rtm_dst_len = (uint8_t)r->dst_len,
        .rtm_table = RT_TABLE_MAIN,
        .rtm_protocol = type == RTM_NEWROUTE ? RTPROT_BOOT : (uint8_t)r->protocol,
        .rtm_scope = (uint8_t)r->scope,
        .rtm_type = RTN_UNICAST,
        .rtm_flags = r->flags,
    };
    nl_msg_init(&m, type, type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0, &rtm,
                sizeof(rtm));
    size_t alen = r->family == AF_INET6 ? 16 : 4;
    if (r->has_dst)
        nl_put(&m, RTA_DST, r->dst, alen);
    if (r->has_gw)
        nl_put(&m, RTA_GATEWAY, r->gw, alen);
    if (r->has_src)
        nl_put(&m, RTA_PREFSRC, r->src, alen);
    if (r->oif)
        nl_put_u32(&m, RTA_OIF, (uint32_t)r->oif);
    int ret = nl_transact(&c->sock, &m, what, err);
    nl_msg_release(&m);
    return ret;
}

/* A requested route in netlink terms. */
static int route_from_request(const struct net_ctx *c, const Types__Route *want,
                              struct route_info *r, struct kerr **err)
{
    memset(r, 0, sizeof(*r));
    r->family = want->family == TYPES__IPFAMILY__v6 ? AF_INET6 : AF_INET;
    r->scope = want->scope;
    /* Only what a request can ask for; LINKDOWN and the like are reported state. */
    r->flags = want->flags & RTNH_F_ONLINK;
    int family;
    if (*want->dest && strcmp(want->dest, "default") != 0) {
        cleanup_free char *dest = xstrdup(want->dest);
        char *slash = strchr(dest, '/');
        if (slash)
            *slash = '\0';
        unsigned prefix;
        if (parse_ip(dest, &family, r->dst) < 0 ||
            parse_mask(slash ? slash + 1 : "", family, &prefix) < 0)
            return kerr_make(err, 0, "route: bad destination `%s`", want->dest);
        r->family = family;
        r->dst_len = prefix;
        r->has_dst = prefix > 0;
    }
    if (*want->gateway) {
        if (parse_ip(want->gateway, &family, r->gw) < 0 || (r->has_dst && family != r->family))
            return kerr_make(err, 0, "route to `%s`: bad gateway `%s`", want->dest, want->gateway);
        r->family = family;
        r->has_gw = true;
    }
    if (*want->source) {
        if (parse_ip(want->source, &family, r->src) < 0 || family != r->family)
            return kerr_make(err, 0, "route to `%s`: bad source `%s`", want->dest, want->source);
        r->has_src = true;
    }
    if (*want->device) {
        const struct link_info *l = link_by_name(&c->links, want->device);
        if (l == NULL)
            return kerr_make(err, ENODEV, "route to `%s`: device `%s`", want->dest, want->device);
        r->oif = l->index;
    }
    if (r->scope > 255)
        return kerr_make(err, 0, "route to `%s`: bad scope %u", want->dest, r->scope);
    return 0;
}

static int update_routes(struct net_ctx *c, const Grpc__Routes *want, struct kerr **err)
{
    size_t n = want ? want->n_routes : 0;
    if (n > MAX_ROUTES)
        return kerr_make(err, 0, "update routes: %zu routes, at most %d", n, MAX_ROUTES);
    cleanup_free struct route_info *todo = xcalloc(n ? n : 1, sizeof(*todo));
    for (size_t i = 0; i < n; i++)
        if (route_from_request(c, want->routes[i], &todo[i], err) < 0)
            return -1;
    /* Replace every route but those the kernel made for addresses. */
    for (size_t i = 0; i < c->routes.n; i++) {
        const struct route_info *r = &c->routes.v[i];
        if (r->protocol == RTPROT_KERNEL)
            continue;
        cleanup_kerr struct kerr *e = NULL;
        if (route_request(c, RTM_DELROUTE, r, "delete route", &e) < 0 && e->status != ESRCH)
            log_warn("update routes: %s", e->msg);
    }
    /* Routes without a gateway first: gateways must be reachable. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if (todo[i].has_gw != (pass == 1))
                continue;
            cleanup_free char *what =
                xasprintf("add route to `%s` via `%s` dev `%s`",
                          *want->routes[i]->dest ? want->routes[i]->dest : "default",
                          want->routes[i]->gateway, want->routes[i]->device);
            if (route_request(c, RTM_NEWROUTE, &todo[i], what, err) < 0)
                return -1;
        }
    return 0;
}

static void update_routes_method(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__UpdateRoutesRequest *req = (const Grpc__UpdateRoutesRequest *)msg;
    cleanup_kerr struct kerr *err = NULL;
    struct net_ctx c;
    if (ctx_open(&c, &err) < 0) {
        fail_from(call, err);
        return;
    }
    if (update_routes(&c, req->routes, &err) < 0 || ctx_refresh(&c, &err) < 0) {
        if (err->status == ENODEV)
            ttrpc_call_fail_err(call, TTRPC_NOT_FOUND, err);
        else
            fail_from(call, err);
    } else {
        log_info("routes updated: %zu in the main table", c.routes.n);
        reply_routes(call, &c);
    }
    ctx_release(&c);
}

/* ---- AddARPNeighbors ---- */

static int add_neighbor(struct net_ctx *c, const Types__ARPNeighbor *n, struct kerr **err)
{
    const char *to = n->toipaddress ? n->toipaddress->address : "";
    uint8_t addr[16], hw[32];
    size_t hw_len = 0;
    int family;
    if (parse_ip(to, &family, addr) < 0)
        return kerr_make(err, 0, "neighbour: bad address `%s`", to);
    if (*n->lladdr && parse_hw(n->lladdr, hw, &hw_len) < 0)
        return kerr_make(err, 0, "neighbour `%s`: bad link-layer address `%s`", to, n->lladdr);
    const struct link_info *l = link_by_name(&c->links, n->device);
    if (l == NULL)
        return kerr_make(err, ENODEV, "neighbour `%s`: device `%s`", to, n->device);
    struct ndmsg ndm = {
        .ndm_family = (uint8_t)family,
        .ndm_ifindex = l->index,
        .ndm_state = (uint16_t)(n->state ? n->state : NUD_PERMANENT),
        .ndm_flags = (uint8_t)n->flags,
    };
    struct nl_msg m = {0};
    nl_msg_init(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &ndm, sizeof(ndm));
    nl_put(&m, NDA_DST, addr, family == AF_INET6 ? 16 : 4);
    if (hw_len)
        nl_put(&m, NDA_LLADDR, hw, hw_len);
    cleanup_free char *what = xasprintf("add neighbour `%s` dev `%s`", to, n->device);
    int r = nl_transact(&c->sock, &m, what, err);
    nl_msg_release(&m);
    return r;
}

static void add_arp_neighbors(struct ttrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Grpc__AddARPNeighborsRequest *req = (const Grpc__AddARPNeighborsRequest *)msg;
    cleanup_kerr struct kerr *err = NULL;
    struct net_ctx c;
    if (ctx_open(&c, &err) < 0) {
        fail_from(call, err);
        return;
    }
    size_t n = req->neighbors ? req->neighbors->n_arpneighbors : 0;
    for (size_t i = 0; i < n; i++)
        if (add_neighbor(&c, req->neighbors->arpneighbors[i], &err) < 0) {
            if (err->status == ENODEV)
                ttrpc_call_fail_err(call, TTRPC_NOT_FOUND, err);
            else
                fail_from(call, err);
            ctx_release(&c);
            return;
        }
    ctx_release(&c);
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    ttrpc_call_reply(call, &empty.base);
}

static const struct ttrpc_method network_methods[] = {
    {AGENT_SERVICE, "UpdateInterface", &grpc__update_interface_request__descriptor,
     update_interface_method},
    {AGENT_SERVICE, "UpdateRoutes", &grpc__update_routes_request__descriptor, update_routes_method},
    {AGENT_SERVICE, "ListInterfaces", &grpc__list_interfaces_request__descriptor, list_interfaces},
    {AGENT_SERVICE, "ListRoutes", &grpc__list_routes_request__descriptor, list_routes},
    {AGENT_SERVICE, "AddARPNeighbors", &grpc__add_arpneighbors_request__descriptor,
     add_arp_neighbors},
};
const struct agent_method_table agent_network_methods = {network_methods,
                                                         ARRAY_SIZE(network_methods)};
