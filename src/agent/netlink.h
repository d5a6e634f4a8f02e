/* A small rtnetlink client: build a request with attributes, send it, and
 * read its acknowledgement or its dump.  The agent is a static musl binary
 * and Debian ships no static libmnl, hence our own. */
#ifndef KATA_AGENT_NETLINK_H
#define KATA_AGENT_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct nl_sock {
    int fd;
    uint32_t seq;
};

int nl_open(struct nl_sock *s, struct kerr **err);
void nl_close(struct nl_sock *s);

/* A request being built (grows as needed). */
struct nl_msg {
    uint8_t *buf;
    size_t len, cap;
};

/* Start a message: nlmsghdr of type/flags (NLM_F_REQUEST is added) followed by
 * the family header (struct ifinfomsg, ifaddrmsg, rtmsg, ndmsg).  Returns the
 * family header inside the message. */
void *nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hdr_len);
void nl_msg_release(struct nl_msg *m);
void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len);
void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v);
void nl_put_str(struct nl_msg *m, uint16_t type, const char *s);
/* Nested attributes: nl_nest_end(m, nl_nest_start(m, type)). */
size_t nl_nest_start(struct nl_msg *m, uint16_t type);
void nl_nest_end(struct nl_msg *m, size_t start);

/* Send and wait for the acknowledgement; a netlink error becomes a kerr with
 * its errno.  what names the operation in errors. */
int nl_transact(struct nl_sock *s, struct nl_msg *m, const char *what, struct kerr **err);

/* Send a dump request and call cb for each message of the answer. */
typedef void (*nl_dump_cb)(const struct nlmsghdr *h, void *data);
int nl_dump(struct nl_sock *s, struct nl_msg *m, nl_dump_cb cb, void *data, const char *what,
            struct kerr **err);

/* Index the attributes after a family header of hdr_len bytes by type
 * (tb[0..max]); unknown types above max are skipped. */
void nl_parse(const struct nlmsghdr *h, size_t hdr_len, const struct rtattr **tb, size_t max);
/* The same for the payload of a nested attribute. */
void nl_parse_nested(const struct rtattr *nest, const struct rtattr **tb, size_t max);

static inline const void *nl_data(const struct rtattr *a)
{
    return RTA_DATA(a);
}
static inline size_t nl_len(const struct rtattr *a)
{
    return RTA_PAYLOAD(a);
}
uint32_t nl_get_u32(const struct rtattr *a);
/* A string attribute copied into buf (always NUL-terminated). */
void nl_get_str(const struct rtattr *a, char *buf, size_t size);

#endif
