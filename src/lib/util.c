#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void out_of_memory(void)
{
    static const char msg[] = "fatal: out of memory\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (p == NULL)
        out_of_memory();
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        out_of_memory();
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0)
        out_of_memory();
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void cleanup_close_fn(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
    *fd = -1;
}

static int read_fd_all(int fd, const char *path, size_t max_size, char **out, size_t *len,
                       struct kerr **err)
{
    size_t cap = 4096, used = 0;
    cleanup_free char *buf = xmalloc(cap);
    for (;;) {
        if (used + 1 >= cap) {
            if (cap > max_size)
                return kerr_make(err, EFBIG, "read `%s` (limit %zu bytes)", path, max_size);
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kerr_make(err, errno, "read `%s`", path);
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max_size)
            return kerr_make(err, EFBIG, "read `%s` (limit %zu bytes)", path, max_size);
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    *out = steal_pointer(&buf);
    return 0;
}

int file_read_all(const char *path, size_t max_size, char **out, size_t *len, struct kerr **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", path);
    return read_fd_all(fd, path, max_size, out, len, err);
}

static const char *file_type_name(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

int file_read_regular(const char *path, size_t max_size, bool nofollow, char **out, size_t *len,
                      struct kerr **err)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0);
    cleanup_close int fd = open(path, flags);
    if (fd < 0)
        return kerr_make(err, errno, "open `%s`", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kerr_make(err, errno, "stat `%s`", path);
    if (!S_ISREG(st.st_mode))
        return kerr_make(err, EINVAL, "`%s` is %s, not a regular file", path,
                         file_type_name(st.st_mode));
    return read_fd_all(fd, path, max_size, out, len, err);
}

/* The length of the valid UTF-8 sequence at s (at most n bytes) of a
 * printable character, 0 if invalid or a C1 control (U+0080..U+009F). */
static size_t utf8_printable_len(const unsigned char *s, size_t n)
{
    size_t need;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of[need] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
        return 0;
    return need;
}

char *text_escape(const char *s, size_t len, size_t max)
{
    static const char ellipsis[] = "...";
    const size_t elen = sizeof(ellipsis) - 1;
    if (max < elen)
        max = elen;
    char *out = xmalloc(max + 1);
    size_t used = 0, fit = 0; /* fit: output length at the last piece that leaves room for "..." */
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    for (size_t i = 0; s && i < len;) {
        char piece[8];
        size_t plen, take;
        if (u[i] >= 0x20 && u[i] < 0x7f) {
            piece[0] = (char)u[i];
            plen = take = 1;
        } else if ((take = utf8_printable_len(u + i, len - i)) > 0) {
            memcpy(piece, u + i, take);
            plen = take;
        } else {
            snprintf(piece, sizeof(piece), "\\x%02x", u[i]);
            plen = 4;
            take = 1;
        }
        if (used + plen > max) {
            memcpy(out + fit, ellipsis, elen);
            used = fit + elen;
            break;
        }
        memcpy(out + used, piece, plen);
        used += plen;
        i += take;
        if (used + elen <= max)
            fit = used;
    }
    out[used] = '\0';
    return out;
}

int file_rotate_if_larger(const char *path, off_t max_size, struct kerr **err)
{
    cleanup_close int in = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return errno == ENOENT ? 0 : kerr_make(err, errno, "rotate `%s`", path);
    struct stat st;
    if (fstat(in, &st) < 0)
        return kerr_make(err, errno, "rotate `%s`", path);
    if (!S_ISREG(st.st_mode) || st.st_size <= max_size)
        return 0;
    cleanup_free char *old = xasprintf("%s.1", path);
    cleanup_close int out = open(old, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        return kerr_make(err, errno, "rotate `%s` to `%s`", path, old);
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kerr_make(err, errno, "rotate `%s`: read", path);
        if (n == 0)
            break;
        if (fd_write_full(out, buf, (size_t)n) < 0)
            return kerr_make(err, errno, "rotate `%s` to `%s`: write", path, old);
    }
    if (ftruncate(in, 0) < 0)
        return kerr_make(err, errno, "rotate `%s`: truncate", path);
    return 1;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct kerr **err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return kerr_make(err, errno, "create `%s`", tmp);
    if (fd_write_full(fd, data, len) < 0 || fsync(fd) < 0) {
        int saved = errno;
        unlink(tmp);
        return kerr_make(err, saved, "write `%s`", tmp);
    }
    if (rename(tmp, path) < 0) {
        int saved = errno;
        unlink(tmp);
        return kerr_make(err, saved, "rename `%s` to `%s`", tmp, path);
    }
    return 0;
}

int mkdir_all(const char *path, mode_t mode, struct kerr **err)
{
    cleanup_free char *copy = xstrdup(path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return kerr_make(err, errno, "mkdir `%s`", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return kerr_make(err, errno, "mkdir `%s`", copy);
    return 0;
}

int fd_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fd_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            if (got == 0)
                return 1;
            errno = EPIPE;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

int fd_set_nonblock(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

int fd_set_cloexec(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags);
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
