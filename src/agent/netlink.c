/* rtnetlink requests, acknowledgements and dumps. */
#include "netlink.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_ALIGN(n) (((n) + 3u) & ~3u)

int nl_open(struct nl_sock *s, struct kerr **err)
{
    s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s->fd < 0)
        return kerr_make(err, errno, "open rtnetlink socket");
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(s->fd);
        s->fd = -1;
        return kerr_make(err, e, "bind rtnetlink socket");
    }
    int one = 1;
    setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    s->seq = 1;
    return 0;
}

void nl_close(struct nl_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void *reserve(struct nl_msg *m, size_t n)
{
    size_t need = m->len + NL_ALIGN(n);
    if (need > m->cap) {
        m->cap = need * 2 + 256;
        m->buf = xrealloc(m->buf, m->cap);
    }
    void *p = m->buf + m->len;
    memset(p, 0, NL_ALIGN(n));
    m->len += NL_ALIGN(n);
    ((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
    return p;
}

void *nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hdr_len)
{
    m->len = 0;
    if (m->cap < 256) {
        m->cap = 256;
        m->buf = xrealloc(m->buf, m->cap);
    }
    m->len = NLMSG_HDRLEN;
    memset(m->buf, 0, NLMSG_HDRLEN);
    struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
    h->nlmsg_type = type;
    h->nlmsg_flags = (uint16_t)(flags | NLM_F_REQUEST);
    h->nlmsg_len = (uint32_t)m->len;
    void *p = reserve(m, hdr_len);
    memcpy(p, hdr, hdr_len);
    return p;
}

void nl_msg_release(struct nl_msg *m)
{
    free(m->buf);
    *m = (struct nl_msg){0};
}

void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
    struct rtattr *a = reserve(m, RTA_LENGTH(len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
}

void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v)
{
    nl_put(m, type, &v, sizeof(v));
}

void nl_put_str(struct nl_msg *m, uint16_t type, const char *s)
{
    nl_put(m, type, s, strlen(s) + 1);
}

size_t nl_nest_start(struct nl_msg *m, uint16_t type)
{
    size_t start = m->len;
    nl_put(m, type | NLA_F_NESTED, NULL, 0);
    return start;
}

void nl_nest_end(struct nl_msg *m, size_t start)
{
    struct rtattr *a = (struct rtattr *)(m->buf + start);
    a->rta_len = (unsigned short)(m->len - start);
}

static int send_msg(struct nl_sock *s, struct nl_msg *m, const char *what, struct kerr **err)
{
    struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
    h->nlmsg_seq = ++s->seq;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    ssize_t n;
    do
        n = sendto(s->fd, m->buf, m->len, 0, (struct sockaddr *)&sa, sizeof(sa));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)m->len)
        return kerr_make(err, n < 0 ? errno : EIO, "%s: send netlink request", what);
    return 0;
}

/* The extended ack message, if the kernel sent one. */
static const char *ext_ack_msg(const struct nlmsghdr *h)
{
    if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
        return NULL;
    const struct nlmsgerr *e = NLMSG_DATA(h);
    size_t off = sizeof(*e);
    if (!(h->nlmsg_flags & NLM_F_CAPPED))
        off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    size_t total = h->nlmsg_len - NLMSG_HDRLEN;
    const uint8_t *base = (const uint8_t *)e;
    while (off + sizeof(struct nlattr) <= total) {
        const struct nlattr *a = (const struct nlattr *)(base + off);
        if (a->nla_len < sizeof(*a) || off + a->nla_len > total)
            break;
        if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
            return (const char *)(a + 1);
        off += NL_ALIGN(a->nla_len);
    }
    return NULL;
}

/* Read answers to the last request until the ack (or NLMSG_DONE of a dump). */
static int receive(struct nl_sock *s, nl_dump_cb cb, void *data, const char *what,
                   struct kerr **err)
{
    size_t cap = 65536;
    cleanup_free uint8_t *buf = xmalloc(cap);
    for (;;) {
        ssize_t n = recv(s->fd, buf, cap, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kerr_make(err, errno, "%s: receive netlink answer", what);
        size_t len = (size_t)n;
        for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != s->seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error == 0)
                    return 0;
                const char *ext = ext_ack_msg(h);
                if (ext)
                    return kerr_make(err, -e->error, "%s (%s)", what, ext);
                return kerr_make(err, -e->error, "%s", what);
            }
            if (cb)
                cb(h, data);
        }
    }
}

int nl_transact(struct nl_sock *s, struct nl_msg *m, const char *what, struct kerr **err)
{
    ((struct nlmsghdr *)m->buf)->nlmsg_flags |= NLM_F_ACK;
    if (send_msg(s, m, what, err) < 0)
        return -1;
    return receive(s, NULL, NULL, what, err);
}

int nl_dump(struct nl_sock *s, struct nl_msg *m, nl_dump_cb cb, void *data, const char *what,
            struct kerr **err)
{
    ((struct nlmsghdr *)m->buf)->nlmsg_flags |= NLM_F_DUMP;
    if (send_msg(s, m, what, err) < 0)
        return -1;
    return receive(s, cb, data, what, err);
}

static void parse_attrs(const struct rtattr *a, size_t len, const struct rtattr **tb, size_t max)
{
    memset(tb, 0, (max + 1) * sizeof(*tb));
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        unsigned type = a->rta_type & NLA_TYPE_MASK;
        if (type <= max)
            tb[type] = a;
    }
}

void nl_parse(const struct nlmsghdr *h, size_t hdr_len, const struct rtattr **tb, size_t max)
{
    size_t off = NLMSG_HDRLEN + NL_ALIGN(hdr_len);
    if (h->nlmsg_len < off) {
        memset(tb, 0, (max + 1) * sizeof(*tb));
        return;
    }
    parse_attrs((const struct rtattr *)((const uint8_t *)h + off), h->nlmsg_len - off, tb, max);
}

void nl_parse_nested(const struct rtattr *nest, const struct rtattr **tb, size_t max)
{
    parse_attrs(RTA_DATA(nest), RTA_PAYLOAD(nest), tb, max);
}

uint32_t nl_get_u32(const struct rtattr *a)
{
    uint32_t v = 0;
    if (RTA_PAYLOAD(a) >= sizeof(v))
        memcpy(&v, RTA_DATA(a), sizeof(v));
    return v;
}

void nl_get_str(const struct rtattr *a, char *buf, size_t size)
{
    size_t n = RTA_PAYLOAD(a);
    if (n >= size)
        n = size - 1;
    memcpy(buf, RTA_DATA(a), n);
    buf[n] = '\0';
    buf[strnlen(buf, n)] = '\0';
}
