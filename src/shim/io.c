/* Process I/O: containerd's fifos <-> the agent's ReadStdout/ReadStderr and
 * WriteStdin.  Reads from the guest are asynchronous calls chained one after
 * the other; the guest's data is bounded by the length we ask for. */
#include "agent.pb-c.h"
#include "log.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_CHUNK (32u * 1024)

struct io_stream {
    struct io_relay *relay;
    const char *method; /* ReadStdout | ReadStderr */
    int fd;             /* fifo we write to */
    bool done;
};

struct io_relay {
    struct shim *shim;
    char *id, *exec_id;
    struct io_stream out, err;
    int in_fd;
    struct loop_watch *in_watch;
    bool freed; /* set when the process went away with reads in flight */
    int in_flight;
};

static void stream_read(struct io_stream *s);

static void relay_maybe_free(struct io_relay *r)
{
    if (!r->freed || r->in_flight > 0)
        return;
    free(r->id);
    free(r->exec_id);
    free(r);
}

static void stream_replied(int code, const char *message, const uint8_t *payload, size_t len,
                           void *data)
{
    struct io_stream *s = data;
    struct io_relay *r = s->relay;
    r->in_flight--;
    if (r->freed) {
        relay_maybe_free(r);
        return;
    }
    Grpc__ReadStreamResponse *resp =
        code == TTRPC_OK ? grpc__read_stream_response__unpack(NULL, len, payload) : NULL;
    if (resp == NULL || resp->data.len == 0 || resp->data.len > IO_CHUNK) {
        if (resp)
            grpc__read_stream_response__free_unpacked(resp, NULL);
        s->done = true;
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        return;
    }
    if (s->fd >= 0 && fd_write_full(s->fd, resp->data.data, resp->data.len) < 0) {
        close(s->fd);
        s->fd = -1;
    }
    grpc__read_stream_response__free_unpacked(resp, NULL);
    stream_read(s);
}

static void stream_read(struct io_stream *s)
{
    struct io_relay *r = s->relay;
    struct sandbox *sb = r->shim->sandbox;
    if (sb == NULL || sb->agent == NULL) {
        s->done = true;
        return;
    }
    Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    req.len = IO_CHUNK;
    if (ttrpc_client_call_async(sb->agent, "grpc.AgentService", s->method, &req.base, 0,
                                stream_replied, s, NULL) == 0)
        r->in_flight++;
    else
        s->done = true;
}

static void stdin_close(struct io_relay *r)
{
    if (r->in_watch)
        loop_watch_remove(r->in_watch);
    r->in_watch = NULL;
    if (r->in_fd >= 0)
        close(r->in_fd);
    r->in_fd = -1;
    struct sandbox *sb = r->shim->sandbox;
    Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    if (sb && sb->agent)
        ttrpc_client_call(sb->agent, "grpc.AgentService", "CloseStdin", &req.base, NULL, NULL,
                          5000000000ull, NULL, NULL);
}

static void stdin_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct io_relay *r = data;
    uint8_t buf[IO_CHUNK];
    ssize_t n = read(r->in_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    struct sandbox *sb = r->shim->sandbox;
    if (n <= 0 || sb == NULL || sb->agent == NULL) {
        stdin_close(r);
        return;
    }
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    req.data.data = buf;
    req.data.len = (size_t)n;
    cleanup_kerr struct kerr *e = NULL;
    if (ttrpc_client_call(sb->agent, "grpc.AgentService", "WriteStdin", &req.base, NULL, NULL,
                          10000000000ull, NULL, &e) < 0)
        log_warn("stdin of `%s`: %s", r->id, e->msg);
}

static int open_fifo(const char *path, int flags, struct kerr **err)
{
    if (path == NULL || *path == '\0')
        return -1;
    const char *p = strncmp(path, "fifo://", 7) == 0 ? path + 7 : path;
    /* O_RDWR on a fifo never blocks for the peer (Linux). */
    int fd = open(p, flags | O_CLOEXEC);
    if (fd < 0)
        kerr_make(err, errno, "open stdio `%s`", p);
    return fd;
}

int io_relay_start(struct shim *shim, struct process *p, struct kerr **err)
{
    struct io_relay *r = xcalloc(1, sizeof(*r));
    r->shim = shim;
    r->id = xstrdup(p->container->id);
    r->exec_id = xstrdup(*p->exec_id ? p->exec_id : p->container->id);
    r->in_fd = r->out.fd = r->err.fd = -1;
    r->out = (struct io_stream){.relay = r, .method = "ReadStdout", .fd = -1};
    r->err = (struct io_stream){.relay = r, .method = "ReadStderr", .fd = -1};
    p->io = r;
    if (*p->stdout_path && (r->out.fd = open_fifo(p->stdout_path, O_RDWR, err)) < 0)
        return -1;
    if (!p->terminal && *p->stderr_path && (r->err.fd = open_fifo(p->stderr_path, O_RDWR, err)) < 0)
        return -1;
    if (*p->stdin_path) {
        if ((r->in_fd = open_fifo(p->stdin_path, O_RDONLY | O_NONBLOCK, err)) < 0)
            return -1;
        r->in_watch = loop_watch_add(shim->loop, r->in_fd, EPOLLIN, stdin_readable, r, NULL);
    }
    if (r->out.fd >= 0)
        stream_read(&r->out);
    if (r->err.fd >= 0)
        stream_read(&r->err);
    return 0;
}

void io_relay_close_stdin(struct shim *shim, struct process *p)
{
    if (p->io && p->io->in_fd >= 0)
        stdin_close(p->io);
}

void io_relay_free(struct io_relay *r)
{
    if (r == NULL)
        return;
    if (r->in_watch)
        loop_watch_remove(r->in_watch);
    if (r->in_fd >= 0)
        close(r->in_fd);
    if (r->out.fd >= 0)
        close(r->out.fd);
    if (r->err.fd >= 0)
        close(r->err.fd);
    r->in_fd = r->out.fd = r->err.fd = -1;
    r->in_watch = NULL;
    r->freed = true;
    relay_maybe_free(r);
}
