/* Byte relays for the holder: one source fd to one destination fd on the
 * holder's loop, with a bounded buffer, end-of-file and dead destinations
 * handled.  Sources that epoll refuses (regular files) are read on a timer. */
#ifndef KATA_RUNTIME_HOLDER_IO_H
#define KATA_RUNTIME_HOLDER_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

#define RELAY_BUFFER_SIZE 65536

struct relay {
    const char *name; /* "stdout", ... for logs */
    struct loop *loop;
    int src, dst;
    bool own_src, own_dst; /* close them when the relay ends */
    struct loop_watch *src_watch, *dst_watch;
    struct loop_timer *timer; /* polls a source epoll cannot watch */
    bool src_eof, dst_dead, done;
    size_t off, len;
    void (*on_done)(struct relay *r, void *data);
    void *data;
    char buf[RELAY_BUFFER_SIZE];
};

/* Start relaying src to dst.  dst may be blocking (inherited stdio: we never
 * change the file status flags of a description the caller shares) or
 * non-blocking (our fifos: then EPOLLOUT resumes a partial write). */
int relay_start(struct relay *r, struct loop *loop, const char *name, int src, bool own_src,
                int dst, bool own_dst, void (*on_done)(struct relay *r, void *data), void *data);

/* Stop watching and close what the relay owns. */
void relay_stop(struct relay *r);

#endif
