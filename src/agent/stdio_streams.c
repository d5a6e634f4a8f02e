/* Buffered, non-blocking standard streams of container processes. */
#include "stdio_streams.h"
#include "log.h"
#include "util.h"

#include "agent.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* ---- output ---- */

struct pending_read {
    struct stdio_out *out;
    struct ttrpc_call *call;
    uint32_t len;
    struct pending_read *next;
};

struct stdio_out {
    struct loop *loop;
    int fd;
    struct loop_watch *watch;
    uint8_t *buf;
    size_t start, len, cap; /* data is buf[start, start + len) */
    bool eof;
    void (*on_eof)(void *data);
    void *data;
    struct pending_read *reads; /* FIFO */
    size_t n_reads;
};

static void reply_data(struct ttrpc_call *call, const uint8_t *data, size_t len)
{
    Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;
    resp.data.data = (uint8_t *)data;
    resp.data.len = len;
    ttrpc_call_reply(call, &resp.base);
}

static void out_unlink_read(struct stdio_out *out, struct pending_read *r)
{
    for (struct pending_read **pp = &out->reads; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            out->n_reads--;
            return;
        }
    }
}

static void read_cancelled(void *data)
{
    struct pending_read *r = data;
    out_unlink_read(r->out, r);
    free(r);
}

/* Answer waiting reads from the buffer, in order, while there is data (or EOF). */
static void out_serve_reads(struct stdio_out *out)
{
    while (out->reads && (out->len > 0 || out->eof)) {
        struct pending_read *r = out->reads;
        out->reads = r->next;
        out->n_reads--;
        size_t n = out->len < r->len ? out->len : r->len;
        reply_data(r->call, out->buf + out->start, n);
        out->start += n;
        out->len -= n;
        free(r);
    }
    if (out->len == 0)
        out->start = 0;
}

static void out_readable(struct loop_watch *w, uint32_t events, void *data);

/* Watch the fd only while there is room: a full buffer stops reading (and a
 * hung-up pipe that is not watched cannot spin the loop). */
static void out_arm(struct stdio_out *out)
{
    bool want = !out->eof && out->len < STDIO_BUFFER_MAX;
    if (want && out->watch == NULL) {
        cleanup_kerr struct kerr *err = NULL;
        out->watch = loop_watch_add(out->loop, out->fd, EPOLLIN, out_readable, out, &err);
        if (out->watch == NULL)
            log_warn("watch container output: %s", err->msg);
    } else if (!want && out->watch) {
        loop_watch_remove(out->watch);
        out->watch = NULL;
    }
}

static void out_set_eof(struct stdio_out *out)
{
    if (out->eof)
        return;
    out->eof = true;
    if (out->watch) {
        loop_watch_remove(out->watch);
        out->watch = NULL;
    }
    /* Every byte is in the buffer: the pipe is no longer needed, and an
     * exited exec kept for its late readers must not hold fds (the agent's
     * limit ran out after a few hundred execs into one container). */
    close(out->fd);
    out->fd = -1;
    if (out->on_eof)
        out->on_eof(out->data);
}

/* Room at the end of the buffer for up to want bytes (at least one).  The
 * data moves to the front only when that costs no more than what readers
 * already consumed, so each byte is moved O(1) times. */
static size_t out_room(struct stdio_out *out, size_t want)
{
    size_t tail = out->cap - out->start - out->len;
    if (tail < want && out->start > 0 && (out->start >= out->len || tail == 0)) {
        memmove(out->buf, out->buf + out->start, out->len);
        out->start = 0;
        tail = out->cap - out->len;
    }
    if (tail < want && out->cap < STDIO_BUFFER_MAX) {
        size_t cap = out->cap ? out->cap : 64 * 1024;
        while (cap < out->start + out->len + want && cap < STDIO_BUFFER_MAX)
            cap *= 2;
        out->buf = xrealloc(out->buf, cap);
        out->cap = cap;
        tail = out->cap - out->start - out->len;
    }
    return tail;
}

bool stdio_out_drain(struct stdio_out *out)
{
    bool dry = false;
    while (!out->eof && out->len < STDIO_BUFFER_MAX) {
        size_t want = STDIO_BUFFER_MAX - out->len;
        if (want > 256 * 1024)
            want = 256 * 1024;
        size_t room = out_room(out, want);
        ssize_t n = read(out->fd, out->buf + out->start + out->len, room);
        if (n > 0) {
            out->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            dry = true;
            break;
        }
        /* 0, or EIO from a pty master whose slave side is closed: the end. */
        if (n < 0 && errno != EIO)
            log_warn("read container output: %s", strerror(errno));
        out_set_eof(out);
        break;
    }
    out_serve_reads(out);
    out_arm(out);
    return dry || out->eof;
}

static void out_readable(struct loop_watch *w, uint32_t events, void *data)
{
    stdio_out_drain(data);
}

struct stdio_out *stdio_out_new(struct loop *loop, int fd, void (*on_eof)(void *data), void *data,
                                struct kerr **err)
{
    if (fd_set_nonblock(fd, true) < 0) {
        kerr_make(err, errno, "make output fd non-blocking");
        close(fd);
        return NULL;
    }
    struct stdio_out *out = xcalloc(1, sizeof(*out));
    out->loop = loop;
    out->fd = fd;
    out->on_eof = on_eof;
    out->data = data;
    out->watch = loop_watch_add(loop, fd, EPOLLIN, out_readable, out, err);
    if (out->watch == NULL) {
        close(fd);
        free(out);
        return NULL;
    }
    return out;
}

void stdio_out_free(struct stdio_out *out)
{
    if (out == NULL)
        return;
    out->on_eof = NULL;
    if (out->watch)
        loop_watch_remove(out->watch);
    out->watch = NULL;
    /* Whatever is buffered goes to the waiting readers, then EOF. */
    out->eof = true;
    out_serve_reads(out);
    if (out->fd >= 0)
        close(out->fd);
    free(out->buf);
    free(out);
}

bool stdio_out_eof(const struct stdio_out *out)
{
    return out->eof;
}

size_t stdio_out_buffered(const struct stdio_out *out)
{
    return out->len;
}

void stdio_out_read(struct stdio_out *out, struct ttrpc_call *call, uint32_t len)
{
    if (len == 0) {
        ttrpc_call_fail(call, TTRPC_INVALID_ARGUMENT, "read stream: len must be positive");
        return;
    }
    if (len > STDIO_READ_MAX)
        len = STDIO_READ_MAX;
    if (out->n_reads >= STDIO_PENDING_MAX) {
        ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "read stream: %d reads already waiting",
                        STDIO_PENDING_MAX);
        return;
    }
    struct pending_read *r = xcalloc(1, sizeof(*r));
    r->out = out;
    r->call = call;
    r->len = len;
    struct pending_read **pp = &out->reads;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    out->n_reads++;
    ttrpc_call_set_cancel(call, read_cancelled, r);
    /* What the pipe holds now goes out in this answer too: fewer, fuller
     * answers. */
    if (!out->eof && out->len < len)
        stdio_out_drain(out);
    out_serve_reads(out);
    out_arm(out);
}

/* ---- input ---- */

struct pending_write {
    struct stdio_in *in;
    struct ttrpc_call *call;
    uint8_t *data;
    size_t len, done;
    struct pending_write *next;
};

struct stdio_in {
    struct loop *loop;
    int fd;
    struct loop_watch *watch;
    bool close_requested;
    struct pending_write *writes; /* FIFO */
    size_t n_writes;
};

static void write_free(struct pending_write *w)
{
    free(w->data);
    free(w);
}

static void in_unlink_write(struct stdio_in *in, struct pending_write *w)
{
    for (struct pending_write **pp = &in->writes; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            in->n_writes--;
            return;
        }
    }
}

static void write_cancelled(void *data)
{
    struct pending_write *w = data;
    in_unlink_write(w->in, w);
    write_free(w);
}

static void in_close_fd(struct stdio_in *in)
{
    if (in->watch)
        loop_watch_remove(in->watch);
    in->watch = NULL;
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
}

static void in_fail_all(struct stdio_in *in, enum ttrpc_code code, const char *why)
{
    while (in->writes) {
        struct pending_write *w = in->writes;
        in->writes = w->next;
        in->n_writes--;
        ttrpc_call_fail(w->call, code, "write stdin: %s", why);
        write_free(w);
    }
}

static void in_writable(struct loop_watch *lw, uint32_t events, void *data);

static void in_pump(struct stdio_in *in)
{
    while (in->writes && in->fd >= 0) {
        struct pending_write *w = in->writes;
        ssize_t n = w->len > w->done ? write(in->fd, w->data + w->done, w->len - w->done) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            const char *why = strerror(errno);
            in_close_fd(in);
            in_fail_all(in, TTRPC_FAILED_PRECONDITION, why);
            return;
        }
        w->done += (size_t)n;
        if (w->done == w->len) {
            in->writes = w->next;
            in->n_writes--;
            Grpc__WriteStreamResponse resp = GRPC__WRITE_STREAM_RESPONSE__INIT;
            resp.len = (uint32_t)w->len;
            ttrpc_call_reply(w->call, &resp.base);
            write_free(w);
        }
    }
    if (in->writes == NULL && in->close_requested) {
        in_close_fd(in);
        return;
    }
    /* Watched only while writes wait, so a closed reader cannot spin the loop. */
    if (in->writes && in->watch == NULL) {
        cleanup_kerr struct kerr *err = NULL;
        in->watch = loop_watch_add(in->loop, in->fd, EPOLLOUT, in_writable, in, &err);
        if (in->watch == NULL) {
            in_close_fd(in);
            in_fail_all(in, TTRPC_INTERNAL, err->msg);
        }
    } else if (in->writes == NULL && in->watch) {
        loop_watch_remove(in->watch);
        in->watch = NULL;
    }
}

static void in_writable(struct loop_watch *lw, uint32_t events, void *data)
{
    in_pump(data);
}

struct stdio_in *stdio_in_new(struct loop *loop, int fd, struct kerr **err)
{
    if (fd_set_nonblock(fd, true) < 0) {
        kerr_make(err, errno, "make stdin fd non-blocking");
        close(fd);
        return NULL;
    }
    struct stdio_in *in = xcalloc(1, sizeof(*in));
    in->loop = loop;
    in->fd = fd;
    return in;
}

void stdio_in_free(struct stdio_in *in)
{
    if (in == NULL)
        return;
    in_close_fd(in);
    in_fail_all(in, TTRPC_NOT_FOUND, "the process is gone");
    free(in);
}

void stdio_in_write(struct stdio_in *in, struct ttrpc_call *call, const uint8_t *data, size_t len)
{
    if (in->fd < 0 || in->close_requested) {
        ttrpc_call_fail(call, TTRPC_FAILED_PRECONDITION, "write stdin: stdin is closed");
        return;
    }
    if (in->n_writes >= STDIO_PENDING_MAX) {
        ttrpc_call_fail(call, TTRPC_RESOURCE_EXHAUSTED, "write stdin: %d writes already waiting",
                        STDIO_PENDING_MAX);
        return;
    }
    struct pending_write *w = xcalloc(1, sizeof(*w));
    w->in = in;
    w->call = call;
    w->data = xmalloc(len ? len : 1);
    memcpy(w->data, data, len);
    w->len = len;
    struct pending_write **pp = &in->writes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    in->n_writes++;
    ttrpc_call_set_cancel(call, write_cancelled, w);
    in_pump(in);
}

void stdio_in_close(struct stdio_in *in)
{
    in->close_requested = true;
    if (in->writes == NULL)
        in_close_fd(in);
}

/* ---- pty ---- */

int stdio_pty_resize(int master, uint16_t rows, uint16_t cols, struct kerr **err)
{
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(master, TIOCSWINSZ, &ws) < 0)
        return kerr_make(err, errno, "resize terminal to %ux%u", cols, rows);
    return 0;
}
