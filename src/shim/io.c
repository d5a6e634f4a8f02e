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

/* One output stream.  Back-pressure: the next read from the guest is asked
 * for only once the previous chunk is written to the fifo, so a reader that
 * does not keep up stalls the guest process, never the daemon's loop. */
struct io_stream {
    struct io_relay *relay;
    const char *method; /* ReadStdout | ReadStderr */
    int fd;             /* fifo we write to (non-blocking) */
    bool done;          /* the guest's stream ended: close fd once drained */
    uint8_t *pending;   /* a chunk the fifo did not take yet */
    size_t pending_len, pending_off;
    struct loop_watch *writable; /* while pending */
};

struct io_relay {
    struct shim *shim;
    char *id, *exec_id;
    struct io_stream out, err;
    int in_fd;
    struct loop_watch *in_watch;
    bool in_started;     /* the process runs: stdin is relayed */
    bool in_close_asked; /* CloseIO came: drain what the fifo holds, then close */
    /* One WriteStdin in flight at a time; the fifo is not read meanwhile
     * (back-pressure: a guest whose stdin is full stalls only this stream). */
    uint8_t in_buf[IO_CHUNK];
    size_t in_len, in_off;
    bool in_writing;
    bool freed; /* set when the process went away with reads in flight */
    int in_flight;
};

static void stream_read(struct io_stream *s);

static void stream_close(struct io_stream *s)
{
    if (s->writable)
        loop_watch_remove(s->writable);
    s->writable = NULL;
    free(s->pending);
    s->pending = NULL;
    s->pending_len = s->pending_off = 0;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Write what is pending; returns true when nothing is left. */
static bool stream_flush(struct io_stream *s)
{
    while (s->fd >= 0 && s->pending_off < s->pending_len) {
        ssize_t n = write(s->fd, s->pending + s->pending_off, s->pending_len - s->pending_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return false;
        if (n <= 0) { /* the reader is gone: drop this stream's output */
            stream_close(s);
            return true;
        }
        s->pending_off += (size_t)n;
    }
    free(s->pending);
    s->pending = NULL;
    s->pending_len = s->pending_off = 0;
    return true;
}

/* The fifo drained: write the rest, then read on (or close at the end). */
static void stream_writable(struct loop_watch *w, uint32_t events, void *data)
{
    struct io_stream *s = data;
    if (!stream_flush(s))
        return;
    if (s->writable)
        loop_watch_remove(s->writable);
    s->writable = NULL;
    if (s->done)
        stream_close(s);
    else
        stream_read(s);
}

/* A chunk from the guest: written now, or kept until the fifo is writable. */
static void stream_deliver(struct io_stream *s, const uint8_t *data, size_t len)
{
    if (s->fd < 0) {
        stream_read(s); /* nobody to write to: keep draining the guest */
        return;
    }
    s->pending = xmalloc(len);
    memcpy(s->pending, data, len);
    s->pending_len = len;
    s->pending_off = 0;
    if (stream_flush(s)) {
        stream_read(s);
        return;
    }
    s->writable = loop_watch_add(s->relay->shim->loop, s->fd, EPOLLOUT, stream_writable, s, NULL);
    if (s->writable == NULL) /* cannot wait: give up on this stream */
        stream_close(s);
}

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
        if (s->writable == NULL)
            stream_close(s);
        return;
    }
    stream_deliver(s, resp->data.data, resp->data.len);
    grpc__read_stream_response__free_unpacked(resp, NULL);
}

static void stream_read(struct io_stream *s)
{
    struct io_relay *r = s->relay;
    if (!agent_client_connected(r->shim)) {
        s->done = true;
        return;
    }
    Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    req.len = IO_CHUNK;
    if (agent_call_async(r->shim, s->method, &req.base, 0, stream_replied, s, NULL) == 0)
        r->in_flight++;
    else
        s->done = true;
}

static void stdin_closed_replied(int code, const char *message, const uint8_t *payload, size_t len,
                                 void *data)
{
    struct io_relay *r = data;
    r->in_flight--;
    relay_maybe_free(r);
}

static void stdin_close(struct io_relay *r)
{
    if (r->in_watch)
        loop_watch_remove(r->in_watch);
    r->in_watch = NULL;
    if (r->in_fd >= 0)
        close(r->in_fd);
    r->in_fd = -1;
    Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    if (agent_call_async(r->shim, "CloseStdin", &req.base, 5000000000ull, stdin_closed_replied, r,
                         NULL) == 0)
        r->in_flight++;
}

static void stdin_pump(struct io_relay *r);
static void stdin_send(struct io_relay *r);
static void stdin_readable(struct loop_watch *w, uint32_t events, void *data);

/* Read on when epoll says so: a fifo nobody has opened for writing yet
 * reads as end of file, but polls as readable only once a writer came.
 * After CloseIO, read straight away until the fifo is empty. */
static void stdin_next(struct io_relay *r)
{
    if (r->in_fd < 0 || r->in_writing)
        return;
    if (r->in_close_asked) {
        stdin_pump(r);
        return;
    }
    if (r->in_watch == NULL)
        r->in_watch = loop_watch_add(r->shim->loop, r->in_fd, EPOLLIN, stdin_readable, r, NULL);
}

static void stdin_written(int code, const char *message, const uint8_t *payload, size_t len,
                          void *data)
{
    struct io_relay *r = data;
    r->in_flight--;
    r->in_writing = false;
    if (r->freed) {
        relay_maybe_free(r);
        return;
    }
    size_t wrote = r->in_len - r->in_off;
    if (code == TTRPC_OK) {
        Grpc__WriteStreamResponse *resp = grpc__write_stream_response__unpack(NULL, len, payload);
        if (resp && resp->len < wrote)
            wrote = resp->len;
        if (resp)
            grpc__write_stream_response__free_unpacked(resp, NULL);
    } else {
        log_warn("stdin of `%s`: WriteStdin: %s", r->id, message ? message : "failed");
        stdin_close(r); /* the guest side is gone */
        return;
    }
    r->in_off += wrote;
    if (r->in_off < r->in_len && wrote > 0) {
        stdin_send(r); /* the rest of the chunk */
        return;
    }
    r->in_len = r->in_off = 0;
    stdin_next(r);
}

static void stdin_send(struct io_relay *r)
{
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = r->id;
    req.exec_id = r->exec_id;
    req.data.data = r->in_buf + r->in_off;
    req.data.len = r->in_len - r->in_off;
    if (agent_call_async(r->shim, "WriteStdin", &req.base, 30000000000ull, stdin_written, r, NULL) <
        0) {
        stdin_close(r);
        return;
    }
    r->in_flight++;
    r->in_writing = true;
    /* Not watched while writing (a hung-up fifo would wake the loop forever). */
    if (r->in_watch)
        loop_watch_remove(r->in_watch);
    r->in_watch = NULL;
}

/* Read the next chunk and send it; at the end of the fifo's data close if
 * CloseIO asked, else wait for it to be readable again. */
static void stdin_pump(struct io_relay *r)
{
    if (r->in_fd < 0 || r->in_writing)
        return;
    ssize_t n;
    do
        n = read(r->in_fd, r->in_buf, sizeof(r->in_buf));
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->in_len = (size_t)n;
        r->in_off = 0;
        stdin_send(r);
        return;
    }
    if (n < 0 && errno == EAGAIN && !r->in_close_asked)
        return;     /* still watched */
    stdin_close(r); /* end of file, an error, or CloseIO with the fifo drained */
}

static void stdin_readable(struct loop_watch *w, uint32_t events, void *data)
{
    stdin_pump(data);
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
    if (*p->stdout_path && (r->out.fd = open_fifo(p->stdout_path, O_RDWR | O_NONBLOCK, err)) < 0)
        return -1;
    if (!p->terminal && *p->stderr_path &&
        (r->err.fd = open_fifo(p->stderr_path, O_RDWR | O_NONBLOCK, err)) < 0)
        return -1;
    if (*p->stdin_path) {
        /* Opened now (the client may wait for our open), relayed from Start. */
        if ((r->in_fd = open_fifo(p->stdin_path, O_RDONLY | O_NONBLOCK, err)) < 0)
            return -1;
    }
    if (r->out.fd >= 0)
        stream_read(&r->out);
    if (r->err.fd >= 0)
        stream_read(&r->err);
    return 0;
}

void io_relay_stdin_begin(struct shim *shim, struct process *p)
{
    struct io_relay *r = p->io;
    if (r == NULL || r->in_started)
        return;
    r->in_started = true;
    stdin_next(r);
}

void io_relay_close_stdin(struct shim *shim, struct process *p)
{
    struct io_relay *r = p->io;
    if (r == NULL || r->in_fd < 0)
        return;
    r->in_close_asked = true;
    if (r->in_started)
        stdin_next(r); /* closes once what the fifo holds is forwarded */
}

void io_relay_free(struct io_relay *r)
{
    if (r == NULL)
        return;
    if (r->in_watch)
        loop_watch_remove(r->in_watch);
    if (r->in_fd >= 0)
        close(r->in_fd);
    stream_close(&r->out);
    stream_close(&r->err);
    r->in_fd = -1;
    r->in_watch = NULL;
    r->freed = true;
    relay_maybe_free(r);
}
