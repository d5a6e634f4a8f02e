/* The hybrid vsock muxer without a VM: the test plays the guest (packets in
 * and out of the muxer) and the host clients (real unix sockets), and runs
 * the muxer's loop. */
#include "channel.h"
#include "loop.h"
#include "test.h"
#include "util.h"
#include "vsock_mux.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUEST_CID 3u
#define PACKET    (VSOCK_HEADER_SIZE + 4096u)

struct bed {
    char dir[64];
    char *path;
    struct loop *loop;
    struct vsock_mux *mux;
    unsigned wakes;
    uint8_t buf[VSOCK_HEADER_SIZE + VSOCK_MAX_PAYLOAD];
};

static void on_wake(void *ctx)
{
    struct bed *b = ctx;
    b->wakes++;
}

static int bed_open(struct bed *b)
{
    memset(b, 0, sizeof(*b));
    strcpy(b->dir, "/tmp/test-vsock-mux.XXXXXX");
    if (mkdtemp(b->dir) == NULL)
        return -1;
    b->path = xasprintf("%s/v.sock", b->dir);
    b->loop = loop_new(NULL);
    b->mux = vsock_mux_new(b->loop, b->path, GUEST_CID, on_wake, b, NULL);
    return b->mux ? 0 : -1;
}

static void bed_close(struct bed *b)
{
    if (b->path == NULL)
        return; /* closed already, or never opened */
    vsock_mux_free(b->mux);
    loop_free(b->loop);
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        printf("#   could not remove %s\n", b->dir);
    free(b->path);
    b->path = NULL;
}
/* The bed goes with the variable, also when a check fails half-way. */
#define cleanup_bed __attribute__((cleanup(bed_close)))

static void pump(struct bed *b)
{
    for (int i = 0; i < 5; i++)
        loop_run_once(b->loop, 20, NULL);
}

static void guest_send(struct bed *b, enum vsock_op op, uint32_t src_port, uint32_t dst_port,
                       uint32_t flags, const void *payload, uint32_t len, uint32_t buf_alloc,
                       uint32_t fwd_cnt)
{
    uint8_t *pkt = xmalloc(VSOCK_HEADER_SIZE + len);
    struct vsock_header h = {.src_cid = GUEST_CID,
                             .dst_cid = VSOCK_HOST_CID,
                             .src_port = src_port,
                             .dst_port = dst_port,
                             .len = len,
                             .type = VSOCK_TYPE_STREAM,
                             .op = (uint16_t)op,
                             .flags = flags,
                             .buf_alloc = buf_alloc,
                             .fwd_cnt = fwd_cnt};
    memcpy(pkt, &h, sizeof(h));
    if (len)
        memcpy(pkt + VSOCK_HEADER_SIZE, payload, len);
    vsock_mux_from_guest(b->mux, pkt, VSOCK_HEADER_SIZE + len);
    free(pkt);
}

/* The next packet for the guest (rx buffers of `cap` bytes); h->op 0 when none. */
static size_t guest_receive(struct bed *b, struct vsock_header *h, size_t cap)
{
    memset(h, 0, sizeof(*h));
    size_t n = vsock_mux_to_guest(b->mux, b->buf, cap);
    if (n)
        memcpy(h, b->buf, sizeof(*h));
    return n;
}

static ssize_t read_some(int fd, char *out, size_t len)
{
    for (int i = 0; i < 50; i++) {
        ssize_t n = recv(fd, out, len, MSG_DONTWAIT);
        if (n >= 0 || errno != EAGAIN)
            return n;
        usleep(10000);
    }
    return -1;
}

/* The muxer closed the client: EOF, or a reset when it left bytes unread. */
static bool closed_by_peer(int fd)
{
    char c;
    ssize_t n = read_some(fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* A host client that got "OK <port>" from a guest with buf_alloc bytes of
 * room: returns the client fd, *port the host-side port. */
static int connect_established(struct bed *b, uint32_t guest_port, uint32_t buf_alloc,
                               uint32_t *port)
{
    int fd = unix_connect(b->path, NULL);
    if (fd < 0)
        return -1;
    char line[32];
    int n = snprintf(line, sizeof(line), "CONNECT %u\n", guest_port);
    if (write(fd, line, (size_t)n) != n)
        return -1;
    pump(b);
    struct vsock_header h;
    if (guest_receive(b, &h, PACKET) != VSOCK_HEADER_SIZE || h.op != VSOCK_OP_REQUEST)
        return -1;
    *port = h.src_port;
    guest_send(b, VSOCK_OP_RESPONSE, guest_port, h.src_port, 0, NULL, 0, buf_alloc, 0);
    char ok[32] = {0};
    snprintf(line, sizeof(line), "OK %u\n", h.src_port);
    if (read_some(fd, ok, strlen(line)) != (ssize_t)strlen(line) || strcmp(ok, line) != 0)
        return -1;
    return fd;
}

TEST(vsock_mux_host_connect_request_response_and_data_both_ways)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    int fd = unix_connect(b.path, NULL);
    CHECK(fd >= 0);
    const char hello[] = "CONNECT 1024\nearly";
    CHECK(write(fd, hello, strlen(hello)) == (ssize_t)strlen(hello));
    pump(&b);
    CHECK(b.wakes > 0);
    struct vsock_header h;
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    CHECK_INT(h.op, VSOCK_OP_REQUEST);
    CHECK_INT(h.src_cid, VSOCK_HOST_CID);
    CHECK_INT(h.dst_cid, GUEST_CID);
    CHECK_INT(h.dst_port, 1024);
    CHECK_INT(h.type, VSOCK_TYPE_STREAM);
    CHECK_INT(h.buf_alloc, VSOCK_BUF_ALLOC);
    uint32_t port = h.src_port;
    CHECK(port >= (1u << 30));
    CHECK_INT(guest_receive(&b, &h, PACKET), 0); /* nothing until the guest answers */
    guest_send(&b, VSOCK_OP_RESPONSE, 1024, port, 0, NULL, 0, 65536, 0);
    char line[32] = {0};
    cleanup_free char *expect = xasprintf("OK %u\n", port);
    CHECK_INT(read_some(fd, line, strlen(expect)), strlen(expect));
    CHECK_STR(line, expect);
    pump(&b);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE + 5);
    CHECK_INT(h.op, VSOCK_OP_RW);
    CHECK_INT(h.len, 5);
    CHECK(memcmp(b.buf + VSOCK_HEADER_SIZE, "early", 5) == 0);
    guest_send(&b, VSOCK_OP_RW, 1024, port, 0, "pong", 4, 65536, 5);
    memset(line, 0, sizeof(line));
    CHECK_INT(read_some(fd, line, 4), 4);
    CHECK_STR(line, "pong");
    /* The client closes: the guest gets a shutdown, answers with RST. */
    close(fd);
    pump(&b);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    CHECK_INT(h.op, VSOCK_OP_SHUTDOWN);
    CHECK_INT(h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    CHECK_INT(h.fwd_cnt, 4); /* the 4 bytes the host took */
    CHECK_INT(vsock_mux_connections(b.mux), 1);
    guest_send(&b, VSOCK_OP_RST, 1024, port, 0, NULL, 0, 65536, 5);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    CHECK(!vsock_mux_has_work(b.mux));
    bed_close(&b);
}

TEST(vsock_mux_guest_refusal_closes_the_client)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    int fd = unix_connect(b.path, NULL);
    CHECK(write(fd, "CONNECT 1024\n", 13) == 13);
    pump(&b);
    struct vsock_header h;
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    guest_send(&b, VSOCK_OP_RST, 1024, h.src_port, 0, NULL, 0, 0, 0);
    char c;
    CHECK_INT(read_some(fd, &c, 1), 0); /* EOF: hybrid_vsock_connect fails, the caller retries */
    close(fd);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    bed_close(&b);
}

TEST(vsock_mux_bad_connect_lines_are_closed)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    const char *bad[] = {"HELLO 1024\n", "CONNECT x\n", "CONNECT 99999999999\n",
                         "CONNECT 1024 and a line longer than thirty-two bytes\n", "CONNECT \n"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int fd = unix_connect(b.path, NULL);
        CHECK(write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]));
        pump(&b);
        CHECK(closed_by_peer(fd));
        close(fd);
    }
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    CHECK(!vsock_mux_has_work(b.mux));
    /* A client that goes away before finishing its line. */
    int fd = unix_connect(b.path, NULL);
    CHECK(write(fd, "CONN", 4) == 4);
    pump(&b);
    close(fd);
    pump(&b);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    bed_close(&b);
}

TEST(vsock_mux_guest_connects_to_path_port)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    cleanup_free char *port_path = xasprintf("%s_5000", b.path);
    int lfd = unix_listen(port_path, NULL);
    CHECK(lfd >= 0);
    guest_send(&b, VSOCK_OP_REQUEST, 777, 5000, 0, NULL, 0, 65536, 0);
    struct vsock_header h;
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    CHECK_INT(h.op, VSOCK_OP_RESPONSE);
    CHECK_INT(h.src_port, 5000);
    CHECK_INT(h.dst_port, 777);
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    guest_send(&b, VSOCK_OP_RW, 777, 5000, 0, "hi", 2, 65536, 0);
    char got[8] = {0};
    CHECK_INT(read_some(afd, got, 2), 2);
    CHECK_STR(got, "hi");
    CHECK(write(afd, "yo", 2) == 2);
    pump(&b);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE + 2);
    CHECK_INT(h.op, VSOCK_OP_RW);
    CHECK(memcmp(b.buf + VSOCK_HEADER_SIZE, "yo", 2) == 0);
    /* The guest closes: RST back, the host side sees EOF. */
    guest_send(&b, VSOCK_OP_SHUTDOWN, 777, 5000, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0,
               65536, 2);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    CHECK_INT(h.op, VSOCK_OP_RST);
    CHECK_INT(read_some(afd, got, 1), 0);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    close(afd);
    close(lfd);
    unlink(port_path);
    /* Nothing listening: RST. */
    guest_send(&b, VSOCK_OP_REQUEST, 778, 5001, 0, NULL, 0, 65536, 0);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE);
    CHECK_INT(h.op, VSOCK_OP_RST);
    CHECK_INT(h.src_port, 5001);
    CHECK_INT(h.dst_port, 778);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    bed_close(&b);
}

TEST(vsock_mux_sends_the_guest_no_more_than_its_credit)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    uint32_t port = 0;
    int fd = connect_established(&b, 1024, 10, &port); /* 10 bytes of room */
    CHECK(fd >= 0);
    struct vsock_header h;
    char data[100];
    memset(data, 'x', sizeof(data));
    CHECK(write(fd, data, sizeof(data)) == sizeof(data));
    pump(&b);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE + 10);
    CHECK(!vsock_mux_has_work(b.mux));
    CHECK_INT(guest_receive(&b, &h, PACKET), 0);
    guest_send(&b, VSOCK_OP_CREDIT_UPDATE, 1024, port, 0, NULL, 0, 10, 10);
    CHECK(vsock_mux_has_work(b.mux));
    /* A small rx buffer limits the packet too. */
    CHECK_INT(guest_receive(&b, &h, VSOCK_HEADER_SIZE + 4), VSOCK_HEADER_SIZE + 4);
    CHECK_INT(h.len, 4);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE + 6);
    /* A credit request is answered with our counters. */
    guest_send(&b, VSOCK_OP_CREDIT_REQUEST, 1024, port, 0, NULL, 0, 10, 20);
    CHECK_INT(guest_receive(&b, &h, PACKET), VSOCK_HEADER_SIZE + 10);
    CHECK_INT(h.op, VSOCK_OP_RW); /* data first; it carries the credit too */
    CHECK_INT(h.buf_alloc, VSOCK_BUF_ALLOC);
    close(fd);
    bed_close(&b);
}

TEST(vsock_mux_guest_exceeding_our_credit_is_reset)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    uint32_t port = 0;
    int fd = connect_established(&b, 1024, 1 << 20, &port);
    CHECK(fd >= 0);
    /* The client never reads: its socket buffer fills, then our buffer. */
    uint8_t *chunk = xcalloc(1, VSOCK_MAX_PAYLOAD);
    uint32_t sent = 0;
    struct vsock_header h;
    for (int i = 0; i < 64 && vsock_mux_connections(b.mux) == 1; i++) {
        guest_send(&b, VSOCK_OP_RW, 1024, port, 0, chunk, VSOCK_MAX_PAYLOAD, 1 << 20, 0);
        sent += VSOCK_MAX_PAYLOAD;
        if (guest_receive(&b, &h, PACKET) && h.op == VSOCK_OP_RST)
            break;
    }
    free(chunk);
    CHECK_INT(h.op, VSOCK_OP_RST);
    CHECK(sent > VSOCK_BUF_ALLOC);
    CHECK_INT(vsock_mux_connections(b.mux), 0);
    close(fd);
    bed_close(&b);
}

TEST(vsock_mux_malformed_packets_are_dropped_or_reset)
{
    cleanup_bed struct bed b = {0};
    CHECK_INT(bed_open(&b), 0);
    struct vsock_header h = {.src_cid = GUEST_CID,
                             .dst_cid = VSOCK_HOST_CID,
                             .src_port = 1,
                             .dst_port = 2,
                             .len = 10,
                             .type = VSOCK_TYPE_STREAM,
                             .op = VSOCK_OP_RW};
    uint8_t pkt[VSOCK_HEADER_SIZE + 4];
    memcpy(pkt, &h, sizeof(h));
    vsock_mux_from_guest(b.mux, pkt, 20);          /* shorter than a header */
    vsock_mux_from_guest(b.mux, pkt, sizeof(pkt)); /* len says 10, 4 came */
    h.len = 0;
    h.src_cid = 7; /* not the guest's CID */
    memcpy(pkt, &h, sizeof(h));
    vsock_mux_from_guest(b.mux, pkt, VSOCK_HEADER_SIZE);
    h.src_cid = GUEST_CID;
    h.dst_cid = 9; /* not the host */
    memcpy(pkt, &h, sizeof(h));
    vsock_mux_from_guest(b.mux, pkt, VSOCK_HEADER_SIZE);
    CHECK(!vsock_mux_has_work(b.mux));
    /* Data for no connection, an unknown type, an unknown op: RST each. */
    guest_send(&b, VSOCK_OP_RW, 1, 2, 0, "x", 1, 0, 0);
    h.dst_cid = VSOCK_HOST_CID;
    h.type = 2; /* seqpacket: not offered */
    memcpy(pkt, &h, sizeof(h));
    vsock_mux_from_guest(b.mux, pkt, VSOCK_HEADER_SIZE);
    guest_send(&b, (enum vsock_op)42, 1, 2, 0, NULL, 0, 0, 0);
    struct vsock_header r;
    for (int i = 0; i < 3; i++) {
        CHECK_INT(guest_receive(&b, &r, PACKET), VSOCK_HEADER_SIZE);
        CHECK_INT(r.op, VSOCK_OP_RST);
        CHECK_INT(r.src_port, 2);
        CHECK_INT(r.dst_port, 1);
    }
    CHECK_INT(guest_receive(&b, &r, PACKET), 0);
    /* A RST for nothing is not answered. */
    guest_send(&b, VSOCK_OP_RST, 1, 2, 0, NULL, 0, 0, 0);
    CHECK(!vsock_mux_has_work(b.mux));
    bed_close(&b);
}

TEST(vsock_mux_reports_a_bad_socket_path)
{
    struct loop *loop = loop_new(NULL);
    cleanup_kerr struct kerr *err = NULL;
    CHECK(vsock_mux_new(loop, "/nonexistent/dir/v.sock", 3, NULL, NULL, &err) == NULL);
    CHECK_CONTAINS(err->msg, "/nonexistent/dir/v.sock");
    kerr_clear(&err);
    CHECK(vsock_mux_new(loop, "/tmp/x.sock", 2, NULL, NULL, &err) == NULL);
    CHECK_CONTAINS(err->msg, "guest CID 2");
    loop_free(loop);
}
