#include "channel.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *addr, struct kerr **err)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path))
        return kerr_make(err, ENAMETOOLONG, "unix socket path `%s` (at most %zu bytes)", path,
                         sizeof(addr->sun_path) - 1);
    strcpy(addr->sun_path, path);
    return 0;
}

int unix_listen(const char *path, struct kerr **err)
{
    struct sockaddr_un addr;
    if (unix_addr(path, &addr, err) < 0)
        return -1;
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_make(err, errno, "socket for `%s`", path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return kerr_make(err, errno, "bind `%s`", path);
    chmod(path, 0600);
    if (listen(fd, 128) < 0)
        return kerr_make(err, errno, "listen on `%s`", path);
    return steal_fd(&fd);
}

int unix_connect(const char *path, struct kerr **err)
{
    struct sockaddr_un addr;
    if (unix_addr(path, &addr, err) < 0)
        return -1;
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_make(err, errno, "socket for `%s`", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return kerr_make(err, errno, "connect to `%s`", path);
    return steal_fd(&fd);
}

int vsock_listen(uint32_t port, struct kerr **err)
{
    cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_make(err, errno, "vsock socket");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return kerr_make(err, errno, "bind vsock port %u", port);
    if (listen(fd, 16) < 0)
        return kerr_make(err, errno, "listen on vsock port %u", port);
    return steal_fd(&fd);
}

int vsock_connect(uint32_t cid, uint32_t port, struct kerr **err)
{
    cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kerr_make(err, errno, "vsock socket");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return kerr_make(err, errno, "connect to vsock %u:%u", cid, port);
    return steal_fd(&fd);
}

int hybrid_vsock_connect(const char *path, uint32_t port, struct kerr **err)
{
    cleanup_close int fd = unix_connect(path, err);
    if (fd < 0)
        return -1;
    char line[32];
    int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    if (fd_write_full(fd, line, (size_t)n) < 0)
        return kerr_make(err, errno, "hybrid vsock `%s`: send CONNECT", path);
    /* Read the answer a byte at a time: what follows the newline is ttrpc. */
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        ssize_t r = read(fd, line + got, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return kerr_make(err, r < 0 ? errno : ECONNRESET,
                             "hybrid vsock `%s`: read answer to CONNECT %u", path, port);
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    if (strncmp(line, "OK ", 3) != 0)
        return kerr_make(err, ECONNREFUSED, "hybrid vsock `%s`: CONNECT %u answered `%.*s`", path,
                         port, (int)strcspn(line, "\n"), line);
    return steal_fd(&fd);
}

char *serial_port_find(const char *sysfs_root, const char *name, struct kerr **err)
{
    cleanup_free char *dir = xasprintf("%s/class/virtio-ports", sysfs_root);
    DIR *d = opendir(dir);
    if (d == NULL) {
        kerr_make(err, errno, "find virtio-serial port `%s`: open `%s`", name, dir);
        return NULL;
    }
    char *found = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && found == NULL) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *path = xasprintf("%s/%s/name", dir, de->d_name);
        cleanup_free char *content = NULL;
        if (file_read_all(path, 256, &content, NULL, NULL) < 0)
            continue;
        content[strcspn(content, "\n")] = '\0';
        if (strcmp(content, name) == 0)
            found = xasprintf("/dev/%s", de->d_name);
    }
    closedir(d);
    if (found == NULL)
        kerr_make(err, ENOENT, "find virtio-serial port `%s` under `%s`", name, dir);
    return found;
}

ssize_t unix_send_with_fd(int sock, const struct iovec *iov, size_t iovcnt, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    if (fd >= 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
}
