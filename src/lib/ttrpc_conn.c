#include "ttrpc_conn.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* A persistent stream whose peer is away (virtio-serial with the host side
 * closed reports HUP continuously) is polled again with this backoff. */
#define RETRY_FIRST_NS (1000000ull)
#define RETRY_MAX_NS   (20000000ull)

struct ttrpc_conn {
    struct loop *loop;
    int fd;
    bool persistent;
    bool up; /* the peer is there (always true for a non-persistent stream until closed) */
    struct loop_watch *watch;
    struct loop_timer *retry;
    uint64_t retry_ns;
    struct ttrpc_parser parser;
    uint8_t *out; /* frames to send: out[out_off..out_len) is unsent */
    size_t out_off, out_len, out_cap;
    uint32_t watched; /* the events the loop watches now */
    const struct ttrpc_conn_ops *ops;
    void *data;
    /* conn_io rounds on the stack: a callback that runs the loop (a handler's
     * synchronous call) nests another round for this same conn. */
    unsigned in_dispatch;
    bool free_after_dispatch;
};

static void conn_io(struct loop_watch *w, uint32_t events, void *data);

static uint32_t conn_events(const struct ttrpc_conn *c)
{
    return EPOLLIN | (c->out_len > c->out_off ? EPOLLOUT : 0);
}

static int conn_watch(struct ttrpc_conn *c, struct kerr **err)
{
    c->watched = conn_events(c);
    c->watch = loop_watch_add(c->loop, c->fd, c->watched, conn_io, c, err);
    return c->watch ? 0 : -1;
}

struct ttrpc_conn *ttrpc_conn_new(struct loop *loop, int fd, bool persistent,
                                  const struct ttrpc_conn_ops *ops, void *data, struct kerr **err)
{
    struct ttrpc_conn *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->fd = fd;
    c->persistent = persistent;
    c->up = true;
    c->ops = ops;
    c->data = data;
    c->retry_ns = RETRY_FIRST_NS;
    ttrpc_parser_init(&c->parser, TTRPC_MAX_MESSAGE);
    fd_set_nonblock(fd, true);
    if (conn_watch(c, err) < 0) {
        ttrpc_parser_release(&c->parser);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_destroy(struct ttrpc_conn *c)
{
    loop_watch_remove(c->watch);
    loop_timer_cancel(c->retry);
    if (c->fd >= 0)
        close(c->fd);
    ttrpc_parser_release(&c->parser);
    free(c->out);
    free(c);
}

void ttrpc_conn_free(struct ttrpc_conn *c)
{
    if (c == NULL)
        return;
    if (c->in_dispatch) {
        /* Freed from inside one of its own callbacks: finish the round first. */
        c->free_after_dispatch = true;
        c->ops = NULL;
        return;
    }
    conn_destroy(c);
}

bool ttrpc_conn_is_up(const struct ttrpc_conn *c)
{
    return c->up;
}

static void conn_retry(void *data)
{
    struct ttrpc_conn *c = data;
    c->retry = NULL;
    if (conn_watch(c, NULL) < 0)
        return;
    if (c->retry_ns < RETRY_MAX_NS)
        c->retry_ns *= 2;
}

/* The peer went away.  Returns true when the conn was freed. */
static bool conn_lost(struct ttrpc_conn *c)
{
    bool was_up = c->up;
    c->up = false;
    ttrpc_parser_reset(&c->parser);
    c->out_off = c->out_len = 0;
    if (was_up && c->ops && c->ops->closed)
        c->ops->closed(c, c->data);
    if (!c->persistent || c->free_after_dispatch)
        return true;
    /* Wait for the peer to come back: stop watching (HUP would spin) and look
     * again after a short, growing delay. */
    loop_watch_remove(c->watch);
    c->watch = NULL;
    c->retry = loop_timer_add(c->loop, c->retry_ns, conn_retry, c);
    return false;
}

/* Write what the socket takes now; the rest waits for EPOLLOUT.  Sent bytes
 * are skipped by an offset, not moved: a large frame written in many partial
 * writes costs no copying. */
static int conn_flush(struct ttrpc_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return -1;
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    uint32_t events = conn_events(c);
    if (c->watch && events != c->watched) {
        loop_watch_modify(c->watch, events);
        c->watched = events;
    }
    return 0;
}

/* Room for one frame at the end of the output buffer, its header written:
 * the caller puts len payload bytes at the pointer returned, then flushes. */
static uint8_t *conn_frame_reserve(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
                                   uint8_t flags, size_t len)
{
    if (!c->up || len > TTRPC_MAX_MESSAGE) {
        errno = !c->up ? ENOTCONN : EMSGSIZE;
        return NULL;
    }
    if (c->out_off > 0 && c->out_len + TTRPC_HEADER_SIZE + len > c->out_cap) {
        /* Reuse the sent space before growing. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    size_t need = c->out_len + TTRPC_HEADER_SIZE + len;
    if (need > TTRPC_MAX_OUTPUT) {
        errno = ENOBUFS;
        return NULL;
    }
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        c->out = xrealloc(c->out, cap);
        c->out_cap = cap;
    }
    struct ttrpc_header h = {
        .length = (uint32_t)len, .stream_id = stream_id, .type = type, .flags = flags};
    uint8_t *frame = c->out + c->out_len;
    ttrpc_header_encode(&h, frame);
    c->out_len = need;
    return frame + TTRPC_HEADER_SIZE;
}

int ttrpc_conn_send(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type, uint8_t flags,
                    const uint8_t *payload, size_t len)
{
    uint8_t *dst = conn_frame_reserve(c, stream_id, type, flags, len);
    if (dst == NULL)
        return -1;
    if (len)
        memcpy(dst, payload, len);
    /* Write at once when nothing else is queued; EPOLLOUT drains the rest. */
    return conn_flush(c);
}

int ttrpc_conn_send_message(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
                            const ProtobufCMessage *msg)
{
    /* Packed straight into the output buffer: no copy of a large payload. */
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *dst = conn_frame_reserve(c, stream_id, type, 0, len);
    if (dst == NULL)
        return -1;
    protobuf_c_message_pack(msg, dst);
    return conn_flush(c);
}

static bool conn_read(struct ttrpc_conn *c)
{
    uint8_t buf[65536];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        ttrpc_parser_append(&c->parser, buf, (size_t)n);
        struct ttrpc_header h;
        const uint8_t *payload;
        enum ttrpc_parse_result r;
        while ((r = ttrpc_parser_next(&c->parser, &h, &payload)) != TTRPC_PARSE_NEED_MORE) {
            if (c->ops == NULL)
                return true;
            if (r == TTRPC_PARSE_FRAME)
                c->ops->frame(c, &h, payload, c->data);
            else if (c->ops->oversized)
                c->ops->oversized(c, &h, c->data);
            if (!c->up || c->free_after_dispatch)
                return true;
        }
        if ((size_t)n < sizeof(buf))
            return true;
    }
    return true;
}

static void conn_io(struct loop_watch *w, uint32_t events, void *data)
{
    struct ttrpc_conn *c = data;
    bool ok = true;
    if (!c->up) {
        if (events & (EPOLLHUP | EPOLLERR)) {
            /* Still away: look again later. */
            loop_watch_remove(c->watch);
            c->watch = NULL;
            c->retry = loop_timer_add(c->loop, c->retry_ns, conn_retry, c);
            return;
        }
        /* First sign of life after the peer was away. */
        c->up = true;
        c->retry_ns = RETRY_FIRST_NS;
    }
    c->in_dispatch++;
    if (events & EPOLLOUT)
        ok = conn_flush(c) == 0;
    if (ok && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        ok = conn_read(c);
    /* A HUP with nothing left to read is the end of the stream. */
    if (ok && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
        ok = false;
    if (!ok && !c->free_after_dispatch && conn_lost(c)) {
        c->free_after_dispatch = true;
        c->ops = NULL; /* the owner forgot it in ops->closed */
    }
    /* An outer round still reads from it: the outermost one frees it. */
    if (--c->in_dispatch == 0 && c->free_after_dispatch)
        conn_destroy(c);
}
