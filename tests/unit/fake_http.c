/* The core of the stand-in VMMs over HTTP on a unix socket (fake_http.h). */
#include "fake_http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

char fake_vsock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int vsock_fd = -1;
static const struct fake_vmm *served;

static int listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", served->name, path, strerror(errno));
        exit(1);
    }
    return fd;
}

void fake_vsock_listen(void)
{
    if (*fake_vsock_path)
        vsock_fd = listen_on(fake_vsock_path);
}

/* Close the fds that came with a message; how many. */
static int close_passed_fds(struct msghdr *msg)
{
    int n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[8];
        memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
        for (size_t i = 0; i < k; i++)
            close(fds[i]);
        n += (int)k;
    }
    return n;
}

/* One whole request (headers and Content-Length bytes of body); the number
 * of fds that came with it in *n_fds (closed). */
static size_t read_request(int fd, char *buf, size_t cap, int *n_fds)
{
    size_t len = 0;
    *n_fds = 0;
    for (;;) {
        buf[len] = '\0';
        char *blank = strstr(buf, "\r\n\r\n");
        if (blank) {
            char *cl = strcasestr(buf, "Content-Length:");
            size_t body = cl && cl < blank ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= (size_t)(blank + 4 - buf) + body)
                return len;
        }
        if (len + 1 >= cap)
            return len;
        struct iovec iov = {.iov_base = buf + len, .iov_len = cap - 1 - len};
        union {
            char b[CMSG_SPACE(sizeof(int) * 8)];
            struct cmsghdr align;
        } control;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.b,
                             .msg_controllen = sizeof(control.b)};
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            return 0;
        *n_fds += close_passed_fds(&msg);
        len += (size_t)n;
    }
}

void fake_answer(int fd, int status, const char *body)
{
    char type[128] = "";
    if (served->content_type)
        snprintf(type, sizeof(type), "Content-Type: %s\r\n", served->content_type);
    char out[4096];
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                     type, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, out, (size_t)n) < 0)
        return;
}

/* Returns true when the VMM must exit after this request. */
static bool serve(int fd, const char *mode)
{
    char buf[65536];
    struct fake_request req = {0};
    if (read_request(fd, buf, sizeof(buf), &req.n_fds) == 0)
        return false;
    char method[16] = "", path[256] = "";
    sscanf(buf, "%15s %255s", method, path);
    char *blank = strstr(buf, "\r\n\r\n");
    req.method = method;
    req.path = path;
    req.body = blank ? blank + 4 : "";
    return served->serve(fd, &req, mode);
}

static void vsock_accept(void)
{
    int c = accept4(vsock_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    char line[64] = "";
    ssize_t n = read(c, line, sizeof(line) - 1);
    if (n > 0 && strncmp(line, "CONNECT ", 8) == 0 && write(c, "OK 1073741824\n", 14) == 14)
        return; /* kept open until we exit */
    close(c);
}

int fake_http_run(const struct fake_vmm *vmm, const char *api_path, const char *mode)
{
    served = vmm;
    int api = listen_on(api_path);
    for (;;) {
        struct pollfd p[2] = {{.fd = api, .events = POLLIN}, {.fd = vsock_fd, .events = POLLIN}};
        if (poll(p, vsock_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            return 1;
        if (vsock_fd >= 0 && (p[1].revents & POLLIN))
            vsock_accept();
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept4(api, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (strcmp(mode, "silent") == 0)
            continue; /* the connection stays open, unanswered */
        bool quit = serve(c, mode);
        close(c);
        if (quit) {
            unlink(api_path);
            if (*fake_vsock_path)
                unlink(fake_vsock_path);
            return 0;
        }
    }
}
