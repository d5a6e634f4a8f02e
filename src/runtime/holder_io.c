/* Relays: see holder_io.h. */
#include "holder_io.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void relay_pump(struct relay *r);

static void finish(struct relay *r)
{
    if (r->done)
        return;
    r->done = true;
    relay_stop(r);
    if (r->on_done)
        r->on_done(r, r->data);
}

static void on_timer(void *data)
{
    struct relay *r = data;
    r->timer = NULL;
    relay_pump(r);
}

static void on_src(struct loop_watch *w, uint32_t events, void *data)
{
    relay_pump(data);
}

static void on_dst(struct loop_watch *w, uint32_t events, void *data)
{
    struct relay *r = data;
    if (r->dst_watch) {
        loop_watch_remove(r->dst_watch);
        r->dst_watch = NULL;
    }
    relay_pump(r);
}

/* Write what is buffered; false when the destination would block. */
static bool flush(struct relay *r)
{
    while (r->len > 0) {
        if (r->dst_dead) {
            r->len = 0;
            break;
        }
        ssize_t n = write(r->dst, r->buf + r->off, r->len);
        if (n > 0) {
            r->off += (size_t)n;
            r->len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!r->dst_watch)
                r->dst_watch = loop_watch_add(r->loop, r->dst, EPOLLOUT, on_dst, r, NULL);
            if (r->dst_watch)
                return false;
        }
        log_debug("relay %s: write: %s", r->name, n < 0 ? strerror(errno) : "no progress");
        r->dst_dead = true;
    }
    r->off = 0;
    return true;
}

static void relay_pump(struct relay *r)
{
    if (r->done)
        return;
    if (!flush(r)) {
        if (r->src_watch)
            loop_watch_modify(r->src_watch, 0);
        return;
    }
    if (!r->src_eof) {
        ssize_t n = read(r->src, r->buf, sizeof(r->buf));
        if (n > 0) {
            r->len = (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (n < 0 && errno != EIO)
                log_debug("relay %s: read: %s", r->name, strerror(errno));
            r->src_eof = true;
        }
        if (r->len > 0 && !flush(r)) {
            if (r->src_watch)
                loop_watch_modify(r->src_watch, 0);
            return;
        }
    }
    if (r->src_eof && r->len == 0) {
        finish(r);
        return;
    }
    if (r->src_watch)
        loop_watch_modify(r->src_watch, EPOLLIN);
    else if (!r->timer)
        r->timer = loop_timer_add(r->loop, 0, on_timer, r);
}

int relay_start(struct relay *r, struct loop *loop, const char *name, int src, bool own_src,
                int dst, bool own_dst, void (*on_done)(struct relay *r, void *data), void *data)
{
    memset(r, 0, offsetof(struct relay, buf));
    r->name = name;
    r->loop = loop;
    r->src = src;
    r->dst = dst;
    r->own_src = own_src;
    r->own_dst = own_dst;
    r->on_done = on_done;
    r->data = data;
    cleanup_kerr struct kerr *err = NULL;
    r->src_watch = loop_watch_add(loop, src, EPOLLIN, on_src, r, &err);
    if (!r->src_watch) {
        if (!err || err->status != EPERM)
            return -1;
        /* A regular file: always readable, epoll refuses it. */
        r->timer = loop_timer_add(loop, 0, on_timer, r);
    }
    return 0;
}

void relay_stop(struct relay *r)
{
    if (r->src_watch)
        loop_watch_remove(r->src_watch);
    if (r->dst_watch)
        loop_watch_remove(r->dst_watch);
    if (r->timer)
        loop_timer_cancel(r->timer);
    r->src_watch = r->dst_watch = NULL;
    r->timer = NULL;
    if (r->own_src && r->src >= 0)
        close(r->src);
    if (r->own_dst && r->dst >= 0)
        close(r->dst);
    r->src = r->dst = -1;
    r->done = true;
}
