#include "loop.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct loop_watch {
    struct loop *loop;
    int fd;
    loop_fd_cb cb;
    void *data;
    bool removed;
    struct loop_watch *prev, *next; /* live watches */
    struct loop_watch *next_dead;
};

struct loop_timer {
    struct loop *loop;
    uint64_t deadline;
    loop_timer_cb cb;
    void *data;
    struct loop_timer *next;
};

struct loop {
    int epfd;
    bool quit;
    struct loop_timer *timers;  /* sorted by deadline */
    struct loop_watch *watches; /* live, freed by loop_free */
    /* Watches removed during dispatch are freed after the round, because the
     * epoll batch may still hold pointers to them; with rounds nested (a
     * callback waiting synchronously runs the loop itself), after the
     * outermost, whose batch may hold them too. */
    struct loop_watch *dead;
    unsigned depth;
};

struct loop *loop_new(struct kerr **err)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        kerr_make(err, errno, "epoll_create1");
        return NULL;
    }
    struct loop *loop = xcalloc(1, sizeof(*loop));
    loop->epfd = fd;
    return loop;
}

static void loop_reap_dead(struct loop *loop)
{
    while (loop->dead) {
        struct loop_watch *w = loop->dead;
        loop->dead = w->next_dead;
        free(w);
    }
}

void loop_free(struct loop *loop)
{
    if (loop == NULL)
        return;
    while (loop->watches)
        loop_watch_remove(loop->watches);
    while (loop->timers) {
        struct loop_timer *t = loop->timers;
        loop->timers = t->next;
        free(t);
    }
    loop_reap_dead(loop);
    close(loop->epfd);
    free(loop);
}

struct loop_watch *loop_watch_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
                                  void *data, struct kerr **err)
{
    struct loop_watch *w = xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->fd = fd;
    w->cb = cb;
    w->data = data;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        kerr_make(err, errno, "epoll_ctl add fd %d", fd);
        free(w);
        return NULL;
    }
    w->next = loop->watches;
    if (loop->watches)
        loop->watches->prev = w;
    loop->watches = w;
    return w;
}

int loop_watch_modify(struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_watch_remove(struct loop_watch *w)
{
    if (w == NULL || w->removed)
        return;
    epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->removed = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->loop->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next_dead = w->loop->dead;
    w->loop->dead = w;
}

int loop_watch_fd(const struct loop_watch *w)
{
    return w->fd;
}

struct loop_timer *loop_timer_add(struct loop *loop, uint64_t delay_ns, loop_timer_cb cb,
                                  void *data)
{
    struct loop_timer *t = xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->deadline = now_ns() + delay_ns;
    t->cb = cb;
    t->data = data;
    struct loop_timer **pp = &loop->timers;
    while (*pp && (*pp)->deadline <= t->deadline)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    return t;
}

void loop_timer_cancel(struct loop_timer *t)
{
    if (t == NULL)
        return;
    for (struct loop_timer **pp = &t->loop->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            free(t);
            return;
        }
    }
}

static int loop_timeout_ms(struct loop *loop, int timeout_ms)
{
    if (loop->timers == NULL)
        return timeout_ms;
    uint64_t now = now_ns();
    uint64_t due = loop->timers->deadline;
    int ms = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
    if (timeout_ms < 0 || ms < timeout_ms)
        return ms;
    return timeout_ms;
}

static void loop_fire_timers(struct loop *loop)
{
    uint64_t now = now_ns();
    while (loop->timers && loop->timers->deadline <= now) {
        struct loop_timer *t = loop->timers;
        loop->timers = t->next;
        loop_timer_cb cb = t->cb;
        void *data = t->data;
        free(t);
        cb(data);
    }
}

int loop_run_once(struct loop *loop, int timeout_ms, struct kerr **err)
{
    struct epoll_event events[32];
    int n = epoll_wait(loop->epfd, events, ARRAY_SIZE(events), loop_timeout_ms(loop, timeout_ms));
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return kerr_make(err, errno, "epoll_wait");
    }
    loop->depth++;
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = events[i].data.ptr;
        if (!w->removed)
            w->cb(w, events[i].events, w->data);
    }
    loop_fire_timers(loop);
    if (--loop->depth == 0)
        loop_reap_dead(loop);
    return 0;
}

int loop_run(struct loop *loop, const bool *done, struct kerr **err)
{
    loop->quit = false;
    while (!loop->quit && !(done && *done)) {
        if (loop_run_once(loop, -1, err) < 0)
            return -1;
    }
    return 0;
}

void loop_quit(struct loop *loop)
{
    loop->quit = true;
}
