/* Hybrid vsock muxer (see vsock_mux.h).  Connections live in an array; the
 * muxer hands packets to the guest round-robin across them.  Host sockets are
 * read only in vsock_mux_to_guest, straight into the guest's buffer, and only
 * as much as the guest's credit and buffer allow; while such bytes wait, the
 * socket's EPOLLIN interest is off so the loop does not spin. */
#include "vsock_mux.h"
#include "channel.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PENDING_REQUEST  1u
#define PENDING_RESPONSE 2u
#define PENDING_RST      4u
#define PENDING_SHUTDOWN 8u
#define PENDING_CREDIT   16u

#define CONNECT_LINE_MAX 32u
#define RST_QUEUE_MAX    64u
#define FIRST_HOST_PORT  (1u << 30) /* ports for host-initiated connections */

enum conn_state {
    CONN_CONNECT_LINE, /* host client: reading its "CONNECT <port>\n" */
    CONN_REQUESTED,    /* OP_REQUEST sent to the guest, waiting for its answer */
    CONN_ESTABLISHED,
    CONN_CLOSING, /* shut down or reset: only control packets remain */
};

struct vsock_conn {
    struct vsock_mux *mux;
    int fd;
    struct loop_watch *watch;
    uint32_t watch_events;
    enum conn_state state;
    uint32_t local_port, peer_port;
    unsigned pending;
    bool remove_when_sent; /* drop after the pending RST went out */
    char line[CONNECT_LINE_MAX + 1];
    size_t line_len;
    bool readable;        /* the host socket has bytes (or EOF) not read yet */
    bool guest_shut_send; /* the guest sends no more: SHUT_WR once flushed */
    bool guest_shut_rcv;  /* the guest reads no more */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    uint32_t fwd_cnt, fwd_cnt_sent;
    uint8_t *out; /* guest bytes the host socket has not taken yet */
    size_t out_len;
};

struct vsock_rst {
    uint32_t host_port, guest_port;
};

struct vsock_mux {
    struct loop *loop;
    char *path;
    int listen_fd;
    struct loop_watch *listen_watch;
    uint64_t guest_cid;
    void (*wake)(void *ctx);
    void *ctx;
    bool in_guest_call; /* inside vsock_mux_from_guest: the device pumps itself */
    struct vsock_conn **conns;
    unsigned count, cap, cursor;
    uint32_t next_port;
    struct vsock_rst rst[RST_QUEUE_MAX];
    unsigned rst_count;
};

static void mux_wake(struct vsock_mux *mux)
{
    if (!mux->in_guest_call && mux->wake)
        mux->wake(mux->ctx);
}

static void conn_event(struct loop_watch *w, uint32_t events, void *data);

static void conn_close_fd(struct vsock_conn *c)
{
    if (c->watch) {
        loop_watch_remove(c->watch);
        c->watch = NULL;
        c->watch_events = 0;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Set the socket's epoll interest from the connection's state. */
static void conn_watch(struct vsock_conn *c)
{
    uint32_t events = 0;
    if (c->fd >= 0) {
        if (c->state == CONN_CONNECT_LINE)
            events = EPOLLIN;
        else if (c->state == CONN_ESTABLISHED || c->state == CONN_CLOSING) {
            if (!c->readable && !c->guest_shut_rcv && c->state == CONN_ESTABLISHED)
                events |= EPOLLIN;
            if (c->out_len)
                events |= EPOLLOUT;
        }
    }
    if (events == c->watch_events)
        return;
    if (events == 0) {
        loop_watch_remove(c->watch);
        c->watch = NULL;
    } else if (c->watch) {
        loop_watch_modify(c->watch, events);
    } else {
        c->watch = loop_watch_add(c->mux->loop, c->fd, events, conn_event, c, NULL);
        if (c->watch == NULL)
            events = 0;
    }
    c->watch_events = events;
}

static struct vsock_conn *conn_new(struct vsock_mux *mux, int fd, enum conn_state state)
{
    if (mux->count == mux->cap) {
        mux->cap = mux->cap ? mux->cap * 2 : 8;
        mux->conns = xrealloc(mux->conns, mux->cap * sizeof(*mux->conns));
    }
    struct vsock_conn *c = xcalloc(1, sizeof(*c));
    c->mux = mux;
    c->fd = fd;
    c->state = state;
    mux->conns[mux->count++] = c;
    return c;
}

static void conn_remove(struct vsock_conn *c)
{
    struct vsock_mux *mux = c->mux;
    conn_close_fd(c);
    for (unsigned i = 0; i < mux->count; i++) {
        if (mux->conns[i] != c)
            continue;
        mux->conns[i] = mux->conns[--mux->count];
        if (mux->cursor >= mux->count)
            mux->cursor = 0;
        break;
    }
    free(c->out);
    free(c);
}

static struct vsock_conn *conn_find(struct vsock_mux *mux, uint32_t local, uint32_t peer)
{
    for (unsigned i = 0; i < mux->count; i++) {
        struct vsock_conn *c = mux->conns[i];
        if (c->state != CONN_CONNECT_LINE && c->local_port == local && c->peer_port == peer)
            return c;
    }
    return NULL;
}

static bool local_port_used(const struct vsock_mux *mux, uint32_t port)
{
    for (unsigned i = 0; i < mux->count; i++)
        if (mux->conns[i]->state != CONN_CONNECT_LINE && mux->conns[i]->local_port == port)
            return true;
    return false;
}

static void queue_rst(struct vsock_mux *mux, uint32_t host_port, uint32_t guest_port)
{
    if (mux->rst_count < RST_QUEUE_MAX)
        mux->rst[mux->rst_count++] = (struct vsock_rst){host_port, guest_port};
}

/* Reset a connection: close the host side now, tell the guest, then drop it. */
static void conn_reset(struct vsock_conn *c)
{
    conn_close_fd(c);
    c->state = CONN_CLOSING;
    c->pending = PENDING_RST;
    c->remove_when_sent = true;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Write what the host socket takes of c->out.  -1 when the socket failed. */
static int conn_flush(struct vsock_conn *c)
{
    size_t done = 0;
    while (done < c->out_len && c->fd >= 0) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    c->fwd_cnt += (uint32_t)done;
    if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 2)
        c->pending |= PENDING_CREDIT;
    if (c->out_len == 0 && c->guest_shut_send && c->fd >= 0)
        shutdown(c->fd, SHUT_WR);
    return 0;
}

/* Host client: read its "CONNECT <port>\n" a byte at a time (what follows
 * the line belongs to the guest). */
static void conn_read_connect_line(struct vsock_conn *c)
{
    struct vsock_mux *mux = c->mux;
    for (;;) {
        char ch;
        ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0 || c->line_len == CONNECT_LINE_MAX)
            goto refuse; /* closed, failed, or no newline in sight */
        if (ch != '\n') {
            c->line[c->line_len++] = ch;
            continue;
        }
        c->line[c->line_len] = '\0';
        char *end = NULL;
        if (strncmp(c->line, "CONNECT ", 8) != 0 || c->line[8] < '0' || c->line[8] > '9')
            goto refuse;
        errno = 0;
        unsigned long port = strtoul(c->line + 8, &end, 10);
        if (errno || *end != '\0' || port > UINT32_MAX)
            goto refuse;
        do {
            if (mux->next_port < FIRST_HOST_PORT) /* wrapped */
                mux->next_port = FIRST_HOST_PORT;
            c->local_port = mux->next_port++;
        } while (local_port_used(mux, c->local_port));
        c->peer_port = (uint32_t)port;
        c->state = CONN_REQUESTED;
        c->pending |= PENDING_REQUEST;
        conn_watch(c);
        mux_wake(mux);
        return;
    }
refuse:
    conn_remove(c);
}

static void conn_event(struct loop_watch *w, uint32_t events, void *data)
{
    struct vsock_conn *c = data;
    if (c->state == CONN_CONNECT_LINE) {
        conn_read_connect_line(c);
        return;
    }
    if ((events & EPOLLOUT) || ((events & (EPOLLHUP | EPOLLERR)) && c->out_len)) {
        if (conn_flush(c) < 0) {
            conn_reset(c);
            mux_wake(c->mux);
            return;
        }
        if (c->pending & PENDING_CREDIT)
            mux_wake(c->mux);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        c->readable = true;
        mux_wake(c->mux);
    }
    conn_watch(c);
}

static void on_listen(struct loop_watch *w, uint32_t events, void *data)
{
    struct vsock_mux *mux = data;
    for (;;) {
        int fd = accept4(mux->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (mux->count >= VSOCK_MAX_CONNECTIONS) {
            close(fd);
            continue;
        }
        struct vsock_conn *c = conn_new(mux, fd, CONN_CONNECT_LINE);
        conn_watch(c);
        if (c->watch == NULL)
            conn_remove(c);
    }
}

struct vsock_mux *vsock_mux_new(struct loop *loop, const char *path, uint64_t guest_cid,
                                void (*wake)(void *ctx), void *ctx, struct kerr **err)
{
    /* `<path>_<port>` must fit a sockaddr_un too. */
    if (strlen(path) + 12 > sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
        return kerr_make(err, ENAMETOOLONG, "vsock socket `%s`: path too long", path), NULL;
    if (guest_cid <= VSOCK_HOST_CID || guest_cid >= UINT32_MAX)
        return kerr_make(err, EINVAL, "vsock guest CID %llu (3 to 4294967294)",
                         (unsigned long long)guest_cid),
               NULL;
    int fd = unix_listen(path, err);
    if (fd < 0)
        return kerr_wrap(err, "vsock"), NULL;
    struct vsock_mux *mux = xcalloc(1, sizeof(*mux));
    mux->loop = loop;
    mux->path = xstrdup(path);
    mux->listen_fd = fd;
    mux->guest_cid = guest_cid;
    mux->wake = wake;
    mux->ctx = ctx;
    mux->next_port = FIRST_HOST_PORT;
    if (fd_set_nonblock(fd, true) < 0) {
        kerr_make(err, errno, "vsock socket `%s`", path);
        vsock_mux_free(mux);
        return NULL;
    }
    mux->listen_watch = loop_watch_add(loop, fd, EPOLLIN, on_listen, mux, err);
    if (mux->listen_watch == NULL) {
        vsock_mux_free(mux);
        return NULL;
    }
    return mux;
}

void vsock_mux_reset(struct vsock_mux *mux)
{
    while (mux->count)
        conn_remove(mux->conns[0]);
    mux->rst_count = 0;
}

void vsock_mux_free(struct vsock_mux *mux)
{
    if (mux == NULL)
        return;
    vsock_mux_reset(mux);
    free(mux->conns);
    if (mux->listen_watch)
        loop_watch_remove(mux->listen_watch);
    if (mux->listen_fd >= 0) {
        close(mux->listen_fd);
        unlink(mux->path);
    }
    free(mux->path);
    free(mux);
}

unsigned vsock_mux_connections(const struct vsock_mux *mux)
{
    return mux->count;
}

/* The guest connects to host port hdr->dst_port: `<path>_<port>`. */
static void guest_connect(struct vsock_mux *mux, const struct vsock_header *hdr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", mux->path, hdr->dst_port);
    int fd = -1;
    if (mux->count < VSOCK_MAX_CONNECTIONS)
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        queue_rst(mux, hdr->dst_port, hdr->src_port);
        return;
    }
    struct vsock_conn *c = conn_new(mux, fd, CONN_ESTABLISHED);
    c->local_port = hdr->dst_port;
    c->peer_port = hdr->src_port;
    c->peer_buf_alloc = hdr->buf_alloc;
    c->peer_fwd_cnt = hdr->fwd_cnt;
    c->pending = PENDING_RESPONSE;
    conn_watch(c);
}

static void guest_response(struct vsock_conn *c)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
    if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        conn_reset(c);
        return;
    }
    c->state = CONN_ESTABLISHED;
}

static void guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
    if (flags & VSOCK_SHUTDOWN_RCV)
        c->guest_shut_rcv = true;
    if (flags & VSOCK_SHUTDOWN_SEND)
        c->guest_shut_send = true;
    if ((flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
        (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
        /* The guest closed: hand the host what it takes now, then reset
         * (Linux waits for our RST to finish its close). */
        conn_flush(c);
        conn_reset(c);
        return;
    }
    if (c->guest_shut_send && c->out_len == 0 && c->fd >= 0)
        shutdown(c->fd, SHUT_WR);
}

static void guest_data(struct vsock_conn *c, const uint8_t *payload, uint32_t len)
{
    if (c->fd < 0 || c->guest_shut_send)
        return;
    if (len > VSOCK_BUF_ALLOC - c->out_len) {
        conn_reset(c); /* more than the credit we gave */
        return;
    }
    if (c->out == NULL)
        c->out = xmalloc(VSOCK_BUF_ALLOC);
    memcpy(c->out + c->out_len, payload, len);
    c->out_len += len;
    if (conn_flush(c) < 0)
        conn_reset(c);
}

void vsock_mux_from_guest(struct vsock_mux *mux, const uint8_t *packet, size_t len)
{
    struct vsock_header hdr;
    if (len < VSOCK_HEADER_SIZE)
        return;
    memcpy(&hdr, packet, sizeof(hdr));
    if (hdr.len != len - VSOCK_HEADER_SIZE || hdr.src_cid != mux->guest_cid ||
        hdr.dst_cid != VSOCK_HOST_CID)
        return;
    struct vsock_conn *c = conn_find(mux, hdr.dst_port, hdr.src_port);
    if (hdr.type != VSOCK_TYPE_STREAM) {
        if (hdr.op != VSOCK_OP_RST)
            queue_rst(mux, hdr.dst_port, hdr.src_port);
        return;
    }
    mux->in_guest_call = true;
    if (c && c->state != CONN_CLOSING) {
        c->peer_buf_alloc = hdr.buf_alloc;
        c->peer_fwd_cnt = hdr.fwd_cnt;
    }
    switch (hdr.op) {
    case VSOCK_OP_REQUEST:
        if (c)
            conn_reset(c);
        else
            guest_connect(mux, &hdr);
        break;
    case VSOCK_OP_RESPONSE:
        if (c && c->state == CONN_REQUESTED)
            guest_response(c);
        else if (c)
            conn_reset(c);
        else
            queue_rst(mux, hdr.dst_port, hdr.src_port);
        break;
    case VSOCK_OP_RST:
        if (c) {
            conn_remove(c);
            c = NULL;
        }
        break;
    case VSOCK_OP_SHUTDOWN:
        if (c)
            guest_shutdown(c, hdr.flags);
        else
            queue_rst(mux, hdr.dst_port, hdr.src_port);
        break;
    case VSOCK_OP_RW:
        if (c && c->state == CONN_ESTABLISHED)
            guest_data(c, packet + VSOCK_HEADER_SIZE, hdr.len);
        else if (c == NULL)
            queue_rst(mux, hdr.dst_port, hdr.src_port);
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        break;
    case VSOCK_OP_CREDIT_REQUEST:
        if (c)
            c->pending |= PENDING_CREDIT;
        break;
    default:
        if (c)
            conn_reset(c);
        else
            queue_rst(mux, hdr.dst_port, hdr.src_port);
        break;
    }
    if (c)
        conn_watch(c);
    mux->in_guest_call = false;
}

static bool conn_can_send_data(const struct vsock_conn *c)
{
    return c->state == CONN_ESTABLISHED && c->readable && !c->guest_shut_rcv && c->fd >= 0;
}

bool vsock_mux_has_work(const struct vsock_mux *mux)
{
    if (mux->rst_count)
        return true;
    for (unsigned i = 0; i < mux->count; i++) {
        const struct vsock_conn *c = mux->conns[i];
        if (c->pending || (conn_can_send_data(c) && peer_credit(c) > 0))
            return true;
    }
    return false;
}

static size_t put_header(const struct vsock_mux *mux, uint8_t *buf, uint32_t src_port,
                         uint32_t dst_port, enum vsock_op op, uint32_t flags, uint32_t len,
                         uint32_t fwd_cnt)
{
    struct vsock_header hdr = {
        .src_cid = VSOCK_HOST_CID,
        .dst_cid = mux->guest_cid,
        .src_port = src_port,
        .dst_port = dst_port,
        .len = len,
        .type = VSOCK_TYPE_STREAM,
        .op = (uint16_t)op,
        .flags = flags,
        .buf_alloc = VSOCK_BUF_ALLOC,
        .fwd_cnt = fwd_cnt,
    };
    memcpy(buf, &hdr, sizeof(hdr));
    return VSOCK_HEADER_SIZE + len;
}

static size_t conn_packet(struct vsock_conn *c, uint8_t *buf, enum vsock_op op, uint32_t flags,
                          uint32_t len)
{
    c->fwd_cnt_sent = c->fwd_cnt; /* every header carries our credit */
    c->pending &= ~PENDING_CREDIT;
    return put_header(c->mux, buf, c->local_port, c->peer_port, op, flags, len, c->fwd_cnt);
}

/* The next packet of one connection, or 0. */
static size_t conn_to_guest(struct vsock_conn *c, uint8_t *buf, size_t cap)
{
    if (c->pending & PENDING_RST) {
        c->pending &= ~PENDING_RST;
        return conn_packet(c, buf, VSOCK_OP_RST, 0, 0);
    }
    if (c->pending & PENDING_REQUEST) {
        c->pending &= ~PENDING_REQUEST;
        return conn_packet(c, buf, VSOCK_OP_REQUEST, 0, 0);
    }
    if (c->pending & PENDING_RESPONSE) {
        c->pending &= ~PENDING_RESPONSE;
        return conn_packet(c, buf, VSOCK_OP_RESPONSE, 0, 0);
    }
    if (conn_can_send_data(c)) {
        size_t room = cap - VSOCK_HEADER_SIZE;
        uint32_t credit = peer_credit(c);
        if (room > credit)
            room = credit;
        if (room > VSOCK_MAX_PAYLOAD)
            room = VSOCK_MAX_PAYLOAD;
        if (room > 0) {
            ssize_t n;
            do
                n = recv(c->fd, buf + VSOCK_HEADER_SIZE, room, MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
            if (n > 0) {
                c->tx_cnt += (uint32_t)n;
                return conn_packet(c, buf, VSOCK_OP_RW, 0, (uint32_t)n);
            }
            c->readable = false;
            if (n == 0) {
                c->state = CONN_CLOSING; /* the host closed: the guest answers with RST */
                c->pending |= PENDING_SHUTDOWN;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_reset(c);
                c->pending &= ~PENDING_RST;
                return conn_packet(c, buf, VSOCK_OP_RST, 0, 0);
            }
            conn_watch(c);
        }
    }
    if (c->pending & PENDING_SHUTDOWN) {
        c->pending &= ~PENDING_SHUTDOWN;
        return conn_packet(c, buf, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, 0);
    }
    if (c->pending & PENDING_CREDIT)
        return conn_packet(c, buf, VSOCK_OP_CREDIT_UPDATE, 0, 0);
    return 0;
}

size_t vsock_mux_to_guest(struct vsock_mux *mux, uint8_t *buf, size_t cap)
{
    if (cap < VSOCK_HEADER_SIZE)
        return 0;
    if (mux->rst_count) {
        struct vsock_rst r = mux->rst[0];
        memmove(mux->rst, mux->rst + 1, --mux->rst_count * sizeof(mux->rst[0]));
        return put_header(mux, buf, r.host_port, r.guest_port, VSOCK_OP_RST, 0, 0, 0);
    }
    for (unsigned i = 0; i < mux->count; i++) {
        unsigned at = (mux->cursor + i) % mux->count;
        struct vsock_conn *c = mux->conns[at];
        size_t n = conn_to_guest(c, buf, cap);
        if (n == 0)
            continue;
        mux->cursor = (at + 1) % mux->count;
        if (c->remove_when_sent && c->pending == 0)
            conn_remove(c);
        return n;
    }
    return 0;
}
