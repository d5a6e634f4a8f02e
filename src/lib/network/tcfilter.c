/* Kata's tcfilter model: beside each container interface a tap, ingress
 * qdiscs on both and a match-all u32 filter with a mirred egress redirect
 * each way, so every frame the veth receives leaves through the tap to the
 * guest, and every frame the guest sends leaves through the veth. */
#include "internal.h"
#include "nl.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_DEVICE    "/dev/net/tun"
#define INGRESS_QDISC TC_H_MAKE(TC_H_INGRESS, 0) /* ffff: */

/* Hand a local error to the caller's err (which may be NULL); returns -1. */
static int kerr_move(struct kerr **err, struct kerr **local)
{
    if (err)
        *err = *local;
    else
        kerr_free(*local);
    *local = NULL;
    return -1;
}

int network_model_parse(const char *name, enum net_model *out, struct kerr **err)
{
    if (name == NULL || *name == '\0' || strcmp(name, "tcfilter") == 0)
        *out = NET_MODEL_TCFILTER;
    else if (strcmp(name, "none") == 0)
        *out = NET_MODEL_NONE;
    else
        return kerr_make(err, EINVAL,
                         "internetworking_model `%s`: supported are `tcfilter` and `none`", name);
    return 0;
}

static int link_set_up_mtu(struct nl *nl, int index, unsigned mtu, struct kerr **err)
{
    struct nlmsghdr *h = nl_request(nl, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_index = index;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    mnl_attr_put_u32(h, IFLA_MTU, mtu);
    return nl_exchange(nl, NULL, NULL, "set it up", err);
}

static struct tcmsg *tc_request(struct nl *nl, uint16_t type, uint16_t flags, int index)
{
    struct nlmsghdr *h = nl_request(nl, type, flags);
    struct tcmsg *tcm = mnl_nlmsg_put_extra_header(h, sizeof(*tcm));
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = index;
    return tcm;
}

static int qdisc_ingress_add(struct nl *nl, int index, struct kerr **err)
{
    struct tcmsg *tcm = tc_request(nl, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, index);
    tcm->tcm_handle = INGRESS_QDISC;
    tcm->tcm_parent = TC_H_INGRESS;
    mnl_attr_put_strz((struct nlmsghdr *)nl->buf, TCA_KIND, "ingress");
    return nl_exchange(nl, NULL, NULL, "add ingress qdisc", err);
}

/* Removing the qdisc removes its filters.  0 also when there was none. */
static int qdisc_ingress_del(struct nl *nl, int index, struct kerr **err)
{
    struct tcmsg *tcm = tc_request(nl, RTM_DELQDISC, 0, index);
    tcm->tcm_handle = INGRESS_QDISC;
    tcm->tcm_parent = TC_H_INGRESS;
    cleanup_kerr struct kerr *e = NULL;
    if (nl_exchange(nl, NULL, NULL, "remove ingress qdisc", &e) == 0)
        return 0;
    if (e->status == ENOENT || e->status == EINVAL || e->status == ENODEV)
        return 0;
    return kerr_move(err, &e);
}

/* tc filter add dev FROM parent ffff: protocol all u32 match u32 0 0
 *     action mirred egress redirect dev TO */
static int filter_redirect_add(struct nl *nl, int from, int to, struct kerr **err)
{
    struct tcmsg *tcm = tc_request(nl, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, from);
    struct nlmsghdr *h = (struct nlmsghdr *)nl->buf;
    tcm->tcm_parent = INGRESS_QDISC;
    tcm->tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL)); /* priority 1, every protocol */
    mnl_attr_put_strz(h, TCA_KIND, "u32");
    struct nlattr *options = mnl_attr_nest_start(h, TCA_OPTIONS);
    /* A selector with one key of mask 0: matches every packet.  struct
     * tc_u32_sel ends in a flexible array of keys, so it is laid out by hand. */
    union {
        struct tc_u32_sel sel;
        uint8_t bytes[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)];
    } sel;
    memset(&sel, 0, sizeof(sel));
    sel.sel.flags = TC_U32_TERMINAL;
    sel.sel.nkeys = 1;
    mnl_attr_put(h, TCA_U32_SEL, sizeof(sel.bytes), sel.bytes);
    struct nlattr *actions = mnl_attr_nest_start(h, TCA_U32_ACT);
    struct nlattr *first = mnl_attr_nest_start(h, 1);
    mnl_attr_put_strz(h, TCA_ACT_KIND, "mirred");
    struct nlattr *act_options = mnl_attr_nest_start(h, TCA_ACT_OPTIONS);
    struct tc_mirred mirred = {
        .action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = (__u32)to};
    mnl_attr_put(h, TCA_MIRRED_PARMS, sizeof(mirred), &mirred);
    mnl_attr_nest_end(h, act_options);
    mnl_attr_nest_end(h, first);
    mnl_attr_nest_end(h, actions);
    mnl_attr_nest_end(h, options);
    return nl_exchange(nl, NULL, NULL, "add redirect filter", err);
}

/* A tap of this netns: the device lives as long as an fd holds it (the VMM's
 * copy keeps it after we close ours), so a crashed sandbox leaves none. */
static int tap_open(const char *name, struct kerr **err)
{
    int fd = open(TUN_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", TUN_DEVICE);
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int saved = errno;
        close(fd);
        return kerr_make(err, saved, "create tap `%s`", name);
    }
    return fd;
}

int network_taps_persist(struct net_attachment *att, struct kerr **err)
{
    for (size_t i = 0; i < att->n_taps; i++)
        if (ioctl(att->taps[i].fd, TUNSETPERSIST, 1) < 0)
            return kerr_make(err, errno, "tap `%s`: make it persistent", att->taps[i].name);
    return 0;
}

struct attach_job {
    const struct net_scan *scan;
    struct net_attachment *out;
};

/* One interface; on failure its own pieces are undone (the tap goes with
 * its fd, the tap's qdisc with the tap). */
static int attach_one(struct nl *nl, const struct net_interface *iface, struct net_tap *tap,
                      struct kerr **err)
{
    int veth = (int)if_nametoindex(iface->name);
    if (veth == 0)
        return kerr_make(err, errno, "find it");
    tap->fd = tap_open(tap->name, err);
    if (tap->fd < 0)
        return -1;
    int tap_index = (int)if_nametoindex(tap->name);
    if (tap_index == 0) {
        kerr_make(err, errno, "tap `%s`: find it", tap->name);
        goto fail;
    }
    if (link_set_up_mtu(nl, tap_index, tap->mtu, err) < 0 ||
        qdisc_ingress_add(nl, tap_index, err) < 0) {
        kerr_wrap(err, "tap `%s`", tap->name);
        goto fail;
    }
    if (qdisc_ingress_add(nl, veth, err) < 0)
        goto fail;
    if (filter_redirect_add(nl, veth, tap_index, err) < 0 ||
        filter_redirect_add(nl, tap_index, veth, err) < 0) {
        cleanup_kerr struct kerr *ignored = NULL;
        qdisc_ingress_del(nl, veth, &ignored);
        goto fail;
    }
    return 0;
fail:
    close(tap->fd);
    tap->fd = -1;
    return -1;
}

static int attach_job_run(void *arg, struct kerr **err)
{
    struct attach_job *job = arg;
    const struct net_scan *scan = job->scan;
    struct nl nl;
    if (nl_open(&nl, err) < 0)
        return -1;
    struct net_tap *taps = xcalloc(scan->n_ifaces ? scan->n_ifaces : 1, sizeof(*taps));
    size_t done = 0;
    for (; done < scan->n_ifaces; done++) {
        const struct net_interface *iface = &scan->ifaces[done];
        struct net_tap *tap = &taps[done];
        snprintf(tap->name, sizeof(tap->name), "tap%u_kata", (unsigned)done % 1000);
        memcpy(tap->veth, iface->name, sizeof(tap->veth));
        memcpy(tap->mac, iface->mac, sizeof(tap->mac));
        tap->mtu = iface->mtu;
        if (attach_one(&nl, iface, tap, err) < 0) {
            kerr_wrap(err, "veth `%s`", iface->name);
            break;
        }
    }
    if (done < scan->n_ifaces) {
        /* Undo the interfaces before the failed one. */
        for (size_t i = 0; i < done; i++) {
            int veth = (int)if_nametoindex(taps[i].veth);
            cleanup_kerr struct kerr *ignored = NULL;
            if (veth > 0)
                qdisc_ingress_del(&nl, veth, &ignored);
            close(taps[i].fd);
        }
        free(taps);
        nl_close(&nl);
        return -1;
    }
    nl_close(&nl);
    job->out->taps = taps;
    job->out->n_taps = scan->n_ifaces;
    return 0;
}

int network_attach(const char *netns_path, enum net_model model, const struct net_scan *scan,
                   struct net_attachment *out, struct kerr **err)
{
    memset(out, 0, sizeof(*out));
    if (model == NET_MODEL_NONE)
        return 0;
    struct attach_job job = {.scan = scan, .out = out};
    if (netns_run(netns_path, attach_job_run, &job, err) < 0)
        return kerr_wrap(err, "netns `%s`", netns_path);
    return 0;
}

void network_attachment_release(struct net_attachment *att)
{
    for (size_t i = 0; i < att->n_taps; i++)
        if (att->taps[i].fd >= 0)
            close(att->taps[i].fd);
    free(att->taps);
    memset(att, 0, sizeof(*att));
}

/* ---- detach ---- */

struct filter_probe {
    bool redirects; /* an ingress filter with a mirred egress redirect */
};

static int mirred_attr_cb(const struct nlattr *a, void *data)
{
    struct filter_probe *p = data;
    /* TCA_U32_ACT -> [n] -> TCA_ACT_KIND "mirred", TCA_ACT_OPTIONS -> PARMS */
    bool mirred = false;
    const struct nlattr *b;
    mnl_attr_for_each_nested(b, a)
    {
        if (mnl_attr_get_type(b) == TCA_ACT_KIND && mnl_attr_get_payload_len(b) >= 7 &&
            strncmp(mnl_attr_get_payload(b), "mirred", 7) == 0)
            mirred = true;
        if (mnl_attr_get_type(b) == TCA_ACT_OPTIONS && mirred) {
            const struct nlattr *c;
            mnl_attr_for_each_nested(c, b)
            {
                if (mnl_attr_get_type(c) == TCA_MIRRED_PARMS &&
                    mnl_attr_get_payload_len(c) >= sizeof(struct tc_mirred)) {
                    const struct tc_mirred *m = mnl_attr_get_payload(c);
                    if (m->eaction == TCA_EGRESS_REDIR)
                        p->redirects = true;
                }
            }
        }
    }
    return MNL_CB_OK;
}

static int filter_cb(const struct nlmsghdr *h, void *data)
{
    if (h->nlmsg_type != RTM_NEWTFILTER)
        return MNL_CB_OK;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(struct tcmsg))
    {
        if (mnl_attr_get_type(a) != TCA_OPTIONS)
            continue;
        const struct nlattr *b;
        mnl_attr_for_each_nested(b, a)
        {
            if (mnl_attr_get_type(b) != TCA_U32_ACT)
                continue;
            const struct nlattr *c;
            mnl_attr_for_each_nested(c, b) mirred_attr_cb(c, data);
        }
    }
    return MNL_CB_OK;
}

static int ingress_redirects(struct nl *nl, int index, bool *out, struct kerr **err)
{
    struct tcmsg *tcm = tc_request(nl, RTM_GETTFILTER, NLM_F_DUMP, index);
    tcm->tcm_parent = INGRESS_QDISC;
    struct filter_probe probe = {0};
    cleanup_kerr struct kerr *e = NULL;
    if (nl_exchange(nl, filter_cb, &probe, "list ingress filters", &e) < 0) {
        /* No ingress qdisc: nothing of ours. */
        if (e->status == EINVAL || e->status == ENOENT) {
            *out = false;
            return 0;
        }
        return kerr_move(err, &e);
    }
    *out = probe.redirects;
    return 0;
}

static int link_delete(struct nl *nl, int index, const char *name, struct kerr **err)
{
    struct nlmsghdr *h = nl_request(nl, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_index = index;
    cleanup_kerr struct kerr *e = NULL;
    if (nl_exchange(nl, NULL, NULL, "delete", &e) == 0 || e->status == ENODEV)
        return 0;
    if (e->status != EOPNOTSUPP)
        return kerr_move(err, &e);
    /* tun links have no rtnetlink delete: attach to the tap and drop its
     * persistence; it goes with our fd.  EBUSY: a VMM still holds it. */
    int fd = tap_open(name, err);
    if (fd < 0)
        return -1;
    if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
        int saved = errno;
        close(fd);
        return kerr_make(err, saved, "delete");
    }
    close(fd);
    return 0;
}

struct tap_list {
    int index[64];
    char name[64][IFNAMSIZ];
    size_t n;
};

static int tap_link_cb(const struct nlmsghdr *h, void *data)
{
    struct tap_list *taps = data;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*ifi))
    {
        if (mnl_attr_get_type(a) != IFLA_IFNAME)
            continue;
        char name[IFNAMSIZ];
        snprintf(name, sizeof(name), "%.*s", (int)mnl_attr_get_payload_len(a),
                 (const char *)mnl_attr_get_payload(a));
        if (network_is_kata_tap(name) && taps->n < 64) {
            taps->index[taps->n] = ifi->ifi_index;
            memcpy(taps->name[taps->n++], name, IFNAMSIZ);
        }
    }
    return MNL_CB_OK;
}

static int detach_job_run(void *arg, struct kerr **err)
{
    struct nl nl;
    if (nl_open(&nl, err) < 0)
        return -1;
    struct net_scan scan = {0};
    struct tap_list taps = {0};
    int rc = -1;
    if (network_scan_here(&scan, err) < 0)
        goto out;
    /* The container's interfaces first: their redirects point at the taps. */
    for (size_t i = 0; i < scan.n_ifaces; i++) {
        bool ours = false;
        if (ingress_redirects(&nl, scan.ifaces[i].index, &ours, err) < 0 ||
            (ours && qdisc_ingress_del(&nl, scan.ifaces[i].index, err) < 0)) {
            kerr_wrap(err, "veth `%s`", scan.ifaces[i].name);
            goto out;
        }
    }
    struct nlmsghdr *h = nl_request(&nl, RTM_GETLINK, NLM_F_DUMP);
    mnl_nlmsg_put_extra_header(h, sizeof(struct ifinfomsg));
    if (nl_exchange(&nl, tap_link_cb, &taps, "list links", err) < 0)
        goto out;
    for (size_t i = 0; i < taps.n; i++)
        if (link_delete(&nl, taps.index[i], taps.name[i], err) < 0) {
            kerr_wrap(err, "tap `%s`", taps.name[i]);
            goto out;
        }
    rc = 0;
out:
    network_scan_release(&scan);
    nl_close(&nl);
    return rc;
}

int network_detach(const char *netns_path, struct kerr **err)
{
    if (access(netns_path, F_OK) < 0 && errno == ENOENT)
        return 0; /* the netns went, and its interfaces with it */
    cleanup_kerr struct kerr *e = NULL;
    if (netns_run(netns_path, detach_job_run, NULL, &e) < 0) {
        /* A bind mount that is no longer a netns (or a dangling path). */
        if (e->status == ENOENT)
            return 0;
        kerr_move(err, &e);
        return kerr_wrap(err, "netns `%s`: detach", netns_path);
    }
    return 0;
}
