/* agent-vm: boot a guest with the QEMU driver and serve its agent on a unix
 * socket that many clients may use at once, until told to stop.
 *
 *   agent-vm --kernel K (--initrd I | --image P) --listen PATH [--machine M]
 *            [--vcpus N] [--memory MB] [--share9p DIR | --virtiofs DIR]
 *            [--block PATH]... [--timeout SECONDS] [--console]
 *
 * The agent channel (a virtio-serial port here) is one byte stream, so every
 * client's ttrpc request gets a fresh stream id on it and the answer goes
 * back to the client under its own id: agent-ctl processes (tests, benches)
 * can wait, read and write concurrently as the runtime does over its one
 * connection.  Prints "ready" on stdout once the agent answers; stops the VM
 * on SIGTERM, SIGINT or EOF on stdin. */
#include "agent.pb-c.h"
#include "channel.h"
#include "health.pb-c.h"
#include "hypervisor.h"
#include "loop.h"
#include "ttrpc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BLOCKS 4

struct client;

/* Bytes waiting to be written to a non-blocking fd (EPOLLOUT while any). */
struct sink {
    uint8_t *buf;
    size_t len, cap;
};

static void sink_append(struct sink *s, const void *data, size_t len)
{
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
}

/* Write what we can; -1 on a real error. */
static int sink_flush(struct sink *s, int fd)
{
    size_t off = 0;
    while (off < s->len) {
        ssize_t n = write(fd, s->buf + off, s->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
    return 0;
}

struct route {
    uint32_t agent_id;
    uint32_t client_id;
    struct client *client; /* NULL once the client is gone */
    struct route *next;
};

struct client {
    struct proxy *proxy;
    int fd;
    struct loop_watch *watch;
    struct sink out;
    struct ttrpc_parser parser;
    struct client *next;
};

struct proxy {
    struct loop *loop;
    int agent_fd;
    struct loop_watch *agent_watch;
    struct sink agent_out;
    struct ttrpc_parser agent_parser;
    struct client *clients;
    struct route *routes;
    uint32_t next_id;
    bool echo_console;
    bool done;
};

static void console_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct proxy *p = data;
    char buf[4096];
    ssize_t n = read(loop_watch_fd(w), buf, sizeof(buf));
    if (n <= 0) {
        loop_watch_remove(w);
        return;
    }
    if (p->echo_console)
        fd_write_full(2, buf, (size_t)n);
}

static void queue_frame(struct sink *sink, uint32_t id, uint8_t type, uint8_t flags,
                        const uint8_t *payload, uint32_t len)
{
    uint8_t hdr[TTRPC_HEADER_SIZE];
    struct ttrpc_header h = {.length = len, .stream_id = id, .type = type, .flags = flags};
    ttrpc_header_encode(&h, hdr);
    sink_append(sink, hdr, sizeof(hdr));
    if (len)
        sink_append(sink, payload, len);
}

static void client_close(struct client *c)
{
    struct proxy *p = c->proxy;
    for (struct route *r = p->routes; r; r = r->next)
        if (r->client == c)
            r->client = NULL;
    for (struct client **pp = &p->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    loop_watch_remove(c->watch);
    close(c->fd);
    ttrpc_parser_release(&c->parser);
    free(c->out.buf);
    free(c);
}

static void agent_flush(struct proxy *p);

static void client_flush(struct client *c)
{
    if (sink_flush(&c->out, c->fd) < 0) {
        client_close(c);
        return;
    }
    loop_watch_modify(c->watch, EPOLLIN | (c->out.len ? EPOLLOUT : 0));
}

static void client_ready(struct loop_watch *w, uint32_t events, void *data)
{
    struct client *c = data;
    struct proxy *p = c->proxy;
    if (events & EPOLLOUT) {
        client_flush(c);
        return; /* c may be gone; reads come next round */
    }
    uint8_t buf[65536];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        client_close(c);
        return;
    }
    ttrpc_parser_append(&c->parser, buf, (size_t)n);
    struct ttrpc_header h;
    const uint8_t *payload;
    enum ttrpc_parse_result res;
    while ((res = ttrpc_parser_next(&c->parser, &h, &payload)) != TTRPC_PARSE_NEED_MORE) {
        if (res != TTRPC_PARSE_FRAME || h.type != TTRPC_TYPE_REQUEST)
            continue;
        struct route *r = xcalloc(1, sizeof(*r));
        r->agent_id = p->next_id;
        p->next_id += 2;
        r->client_id = h.stream_id;
        r->client = c;
        r->next = p->routes;
        p->routes = r;
        queue_frame(&p->agent_out, r->agent_id, h.type, h.flags, payload, h.length);
    }
    agent_flush(p);
}

static void agent_flush(struct proxy *p)
{
    if (sink_flush(&p->agent_out, p->agent_fd) < 0) {
        fprintf(stderr, "agent-vm: write to the agent: %s\n", strerror(errno));
        p->done = true;
        return;
    }
    loop_watch_modify(p->agent_watch, EPOLLIN | (p->agent_out.len ? EPOLLOUT : 0));
}

static void agent_ready(struct loop_watch *w, uint32_t events, void *data)
{
    struct proxy *p = data;
    if (events & EPOLLOUT)
        agent_flush(p);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    uint8_t buf[65536];
    ssize_t n = read(p->agent_fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        fprintf(stderr, "agent-vm: the agent channel closed\n");
        p->done = true;
        loop_watch_remove(w);
        return;
    }
    ttrpc_parser_append(&p->agent_parser, buf, (size_t)n);
    struct ttrpc_header h;
    const uint8_t *payload;
    enum ttrpc_parse_result res;
    while ((res = ttrpc_parser_next(&p->agent_parser, &h, &payload)) != TTRPC_PARSE_NEED_MORE) {
        if (res != TTRPC_PARSE_FRAME)
            continue;
        for (struct route **pp = &p->routes; *pp; pp = &(*pp)->next) {
            struct route *r = *pp;
            if (r->agent_id != h.stream_id)
                continue;
            if (r->client) {
                queue_frame(&r->client->out, r->client_id, h.type, h.flags, payload, h.length);
                client_flush(r->client);
            }
            if (h.type == TTRPC_TYPE_RESPONSE) {
                *pp = r->next;
                free(r);
            }
            break;
        }
    }
}

static void accept_client(struct loop_watch *w, uint32_t events, void *data)
{
    struct proxy *p = data;
    int fd = accept4(loop_watch_fd(w), NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct client *c = xcalloc(1, sizeof(*c));
    c->proxy = p;
    c->fd = fd;
    ttrpc_parser_init(&c->parser, TTRPC_MAX_MESSAGE);
    fd_set_nonblock(fd, true);
    c->watch = loop_watch_add(p->loop, fd, EPOLLIN, client_ready, c, NULL);
    if (c->watch == NULL) {
        close(fd);
        free(c);
        return;
    }
    c->next = p->clients;
    p->clients = c;
}

static void stop_requested(struct loop_watch *w, uint32_t events, void *data)
{
    struct proxy *p = data;
    char buf[256];
    if (read(loop_watch_fd(w), buf, sizeof(buf)) <= 0 || loop_watch_fd(w) != 0)
        p->done = true;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: agent-vm --kernel PATH (--initrd PATH | --image PATH) --listen PATH\n"
                 "                [--machine microvm|q35] [--vcpus N] [--memory MB]\n"
                 "                [--share9p DIR | --virtiofs DIR] [--block PATH]...\n"
                 "                [--timeout SECONDS] [--run-dir DIR] [--console]\n");
}

/* The agent must answer Health/Check before clients come. */
static int agent_check(struct loop *loop, int fd, uint64_t timeout_ns, struct kerr **err)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return kerr_make(err, errno, "dup the agent channel");
    struct ttrpc_client *client = ttrpc_client_new(loop, copy, err);
    if (client == NULL)
        return -1;
    Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *health = NULL;
    int ret = ttrpc_client_call(client, "grpc.Health", "Check", &check.base,
                                &grpc__health_check_response__descriptor,
                                (ProtobufCMessage **)&health, timeout_ns, NULL, err);
    if (health)
        protobuf_c_message_free_unpacked(&health->base, NULL);
    ttrpc_client_free(client);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kernel", required_argument, NULL, 'k'},  {"initrd", required_argument, NULL, 'i'},
        {"image", required_argument, NULL, 'I'},   {"machine", required_argument, NULL, 'M'},
        {"vcpus", required_argument, NULL, 'c'},   {"memory", required_argument, NULL, 'm'},
        {"listen", required_argument, NULL, 'l'},  {"timeout", required_argument, NULL, 't'},
        {"share9p", required_argument, NULL, '9'}, {"virtiofs", required_argument, NULL, 'F'},
        {"block", required_argument, NULL, 'B'},   {"run-dir", required_argument, NULL, 'r'},
        {"console", no_argument, NULL, 'C'},       {"params", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {0},
    };
    struct vm_config cfg = {.hypervisor_path = "/usr/bin/qemu-system-x86_64",
                            .machine_type = "microvm",
                            .vcpus = 1,
                            .memory_mb = 256};
    static const char *const block_ids[MAX_BLOCKS] = {"blk0", "blk1", "blk2", "blk3"};
    struct vm_block_device blocks[MAX_BLOCKS];
    const char *listen_path = NULL, *run_dir = NULL;
    double timeout_s = 120;
    bool echo_console = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            cfg.kernel = optarg;
            break;
        case 'i':
            cfg.initrd = optarg;
            break;
        case 'I':
            cfg.image = optarg;
            break;
        case 'M':
            cfg.machine_type = optarg;
            break;
        case 'c':
            cfg.vcpus = (unsigned)atoi(optarg);
            break;
        case 'm':
            cfg.memory_mb = (unsigned)atoi(optarg);
            break;
        case 'p':
            cfg.kernel_params = optarg;
            break;
        case 'l':
            listen_path = optarg;
            break;
        case 't':
            timeout_s = atof(optarg);
            break;
        case '9':
            cfg.shared_fs = "virtio-9p";
            cfg.shared_dir = optarg;
            break;
        case 'F':
            cfg.shared_fs = "virtio-fs";
            cfg.shared_dir = optarg;
            break;
        case 'B':
            if (cfg.n_block_devices == MAX_BLOCKS) {
                fprintf(stderr, "agent-vm: at most %d --block\n", MAX_BLOCKS);
                return 2;
            }
            blocks[cfg.n_block_devices] =
                (struct vm_block_device){.id = block_ids[cfg.n_block_devices], .path = optarg};
            cfg.n_block_devices++;
            cfg.block_devices = blocks;
            break;
        case 'r':
            run_dir = optarg;
            break;
        case 'C':
            echo_console = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (cfg.kernel == NULL || (cfg.initrd == NULL && cfg.image == NULL) || listen_path == NULL) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/agent-vm.XXXXXX";
    bool own_run_dir = run_dir == NULL;
    if (own_run_dir && (run_dir = mkdtemp(tmpl)) == NULL) {
        perror("agent-vm: mkdtemp");
        return 1;
    }
    cfg.run_dir = run_dir;

    cleanup_kerr struct kerr *err = NULL;
    struct proxy p = {.agent_fd = -1, .next_id = 1001}; /* ids below: agent_check */
    struct vm vm;
    int status = 1, listen_fd = -1;
    p.loop = loop_new(&err);
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_set, NULL);
    int sigfd = signalfd(-1, &stop_set, SFD_CLOEXEC);
    vm_init(&vm, &qemu_ops, &cfg);
    if (vm.ops->start(&vm, &err) < 0)
        goto out;
    /* The console is always drained (a full pipe would stall the guest). */
    p.echo_console = echo_console;
    if (vm.console_fd >= 0)
        loop_watch_add(p.loop, vm.console_fd, EPOLLIN, console_readable, &p, NULL);
    uint64_t timeout_ns = (uint64_t)(timeout_s * 1e9);
    p.agent_fd = vm.ops->agent_connect(&vm, timeout_ns, &err);
    if (p.agent_fd < 0 || agent_check(p.loop, p.agent_fd, timeout_ns, &err) < 0)
        goto out;
    ttrpc_parser_init(&p.agent_parser, TTRPC_MAX_MESSAGE);
    fd_set_nonblock(p.agent_fd, true);
    unlink(listen_path);
    listen_fd = unix_listen(listen_path, &err);
    if (listen_fd < 0)
        goto out;
    if (!loop_watch_add(p.loop, listen_fd, EPOLLIN, accept_client, &p, &err) ||
        !(p.agent_watch = loop_watch_add(p.loop, p.agent_fd, EPOLLIN, agent_ready, &p, &err)) ||
        !loop_watch_add(p.loop, sigfd, EPOLLIN, stop_requested, &p, &err) ||
        !loop_watch_add(p.loop, 0, EPOLLIN, stop_requested, &p, &err))
        goto out;
    printf("ready\n");
    fflush(stdout);
    if (loop_run(p.loop, &p.done, &err) < 0)
        goto out;
    status = 0;
out:
    if (err)
        fprintf(stderr, "agent-vm: %s\n", err->msg);
    while (p.clients)
        client_close(p.clients);
    while (p.routes) {
        struct route *r = p.routes;
        p.routes = r->next;
        free(r);
    }
    if (listen_fd >= 0) {
        close(listen_fd);
        unlink(listen_path);
    }
    if (p.agent_fd >= 0)
        close(p.agent_fd);
    cleanup_kerr struct kerr *stop_err = NULL;
    if (vm.ops->stop(&vm, 2000000000ull, &stop_err) < 0)
        fprintf(stderr, "agent-vm: %s\n", stop_err->msg);
    vm_release(&vm);
    loop_free(p.loop);
    if (own_run_dir) {
        cleanup_free char *cmd = xasprintf("rm -rf '%s'", run_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "agent-vm: could not remove `%s`\n", run_dir);
    }
    return status;
}
