/* Allocation that cannot fail at the call site, scope-bound cleanup, and small
 * file helpers shared by every binary. */
#ifndef KATA_UTIL_H
#define KATA_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static inline void cleanup_free_fn(void *p)
{
    extern void free(void *);
    free(*(void **)p);
}
void cleanup_close_fn(int *fd);
#define cleanup_free  __attribute__((cleanup(cleanup_free_fn)))
#define cleanup_close __attribute__((cleanup(cleanup_close_fn)))

/* Take ownership out of a cleanup-bound local. */
#define steal_pointer(pp)                                                                          \
    ({                                                                                             \
        __typeof__(*(pp)) _v = *(pp);                                                              \
        *(pp) = NULL;                                                                              \
        _v;                                                                                        \
    })
#define steal_fd(pfd)                                                                              \
    ({                                                                                             \
        int _fd = *(pfd);                                                                          \
        *(pfd) = -1;                                                                               \
        _fd;                                                                                       \
    })

/* Read a whole file (at most max_size bytes, else EFBIG).  The buffer is
 * NUL-terminated; *len excludes the terminator. */
int file_read_all(const char *path, size_t max_size, char **out, size_t *len, struct kerr **err);

/* file_read_all of a file that must be a regular one (a bundle's config.json,
 * a process.json): opened with O_NONBLOCK, so a FIFO (or a device) fails at
 * once, naming the path, instead of hanging the reader; O_NOFOLLOW too when
 * nofollow. */
int file_read_regular(const char *path, size_t max_size, bool nofollow, char **out, size_t *len,
                      struct kerr **err);

/* Text from the guest (an agent's error message, ...) made safe for a
 * terminal or a log line: printable ASCII and valid UTF-8 are kept, control
 * bytes (below 0x20, 0x7f, UTF-8 encoded C1 controls) and invalid UTF-8
 * become \xNN, and the result is cut to at most max bytes (ending in "...").
 * A backslash is kept as it is, so escaping twice changes nothing.  Caller
 * frees. */
char *text_escape(const char *s, size_t len, size_t max);

/* Write a file atomically: temp file in the same directory, fsync, rename. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct kerr **err);

/* A log another process appends to (O_APPEND) kept bounded: when path is
 * larger than max_size its content is copied to "<path>.1" (replacing it) and
 * path is truncated, as logrotate's copytruncate; the writer goes on at the
 * new end.  Returns 1 when it rotated, 0 when not needed, -1 on error. */
int file_rotate_if_larger(const char *path, off_t max_size, struct kerr **err);

/* mkdir -p. */
int mkdir_all(const char *path, mode_t mode, struct kerr **err);

/* Write/read exactly len bytes, retrying on EINTR and short transfers.
 * read_full returns 0 on success, 1 on clean EOF before any byte, -1 on error. */
int fd_write_full(int fd, const void *buf, size_t len);
int fd_read_full(int fd, void *buf, size_t len);

int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

#endif
