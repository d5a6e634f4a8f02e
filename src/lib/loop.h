/* A single-threaded epoll event loop with fd watches and one-shot timers.
 *
 * Everything that waits (agent I/O, ttrpc connections, child exits through a
 * signalfd or pidfd) is a watch on one loop, so one thread serves many
 * blocking calls.  Callbacks may add and remove watches and timers, including
 * their own. */
#ifndef KATA_LOOP_H
#define KATA_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct loop;
struct loop_watch;
struct loop_timer;

/* events: EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR as reported by epoll. */
typedef void (*loop_fd_cb)(struct loop_watch *w, uint32_t events, void *data);
typedef void (*loop_timer_cb)(void *data);

struct loop *loop_new(struct kerr **err);
void loop_free(struct loop *loop);

/* Watch fd for events (EPOLLIN, EPOLLOUT).  The loop does not own the fd. */
struct loop_watch *loop_watch_add(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb,
                                  void *data, struct kerr **err);
int loop_watch_modify(struct loop_watch *w, uint32_t events);
void loop_watch_remove(struct loop_watch *w);
int loop_watch_fd(const struct loop_watch *w);

/* Fire cb once after delay_ns.  Cancel with loop_timer_cancel before it fires;
 * after it fires the timer is freed by the loop. */
struct loop_timer *loop_timer_add(struct loop *loop, uint64_t delay_ns, loop_timer_cb cb,
                                  void *data);
void loop_timer_cancel(struct loop_timer *t);

/* Run one round: wait at most timeout_ms (-1: until something happens) and
 * dispatch what is ready.  Returns -1 on a fatal epoll error. */
int loop_run_once(struct loop *loop, int timeout_ms, struct kerr **err);

/* Run until loop_quit() or *done becomes true (done may be NULL). */
int loop_run(struct loop *loop, const bool *done, struct kerr **err);
void loop_quit(struct loop *loop);

#endif
