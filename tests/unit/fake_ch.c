/* fake-ch: a stand-in for Cloud Hypervisor that test_clh starts as the clh
 * driver's `path`: `fake-ch --api-socket PATH [-v]` answers the API routes
 * the driver uses (one request per connection), with the VM states of the
 * document, and serves hybrid vsock (`CONNECT <port>\n` -> `OK <n>\n`) on the
 * vsock socket vm.create names.  Each request is appended to $FAKE_CH_LOG as
 * "METHOD PATH fds=N".  $FAKE_CH_MODE picks a misbehaviour:
 *   ok          as above; vmm.shutdown exits 0
 *   die         exits 1 at once, saying why on stderr
 *   silent      accepts connections and never answers
 *   create-400  refuses vm.create with a text error */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *state = NULL; /* NULL: no VM yet */
static char vsock_path[108];
static int vsock_fd = -1;

static int listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        fprintf(stderr, "fake-ch: listen on %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

/* One whole request; the number of fds that came with it in *n_fds (closed). */
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
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[8];
            memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
            for (size_t i = 0; i < k; i++)
                close(fds[i]);
            *n_fds += (int)k;
        }
        len += (size_t)n;
    }
}

static void answer(int fd, int status, const char *body)
{
    char out[4096];
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s", status,
                     body ? strlen(body) : 0, body ? body : "");
    if (write(fd, out, (size_t)n) < 0)
        return;
}

static void remember_vsock(const char *body)
{
    struct json_object *o = json_tokener_parse(body), *v, *s;
    if (o && json_object_object_get_ex(o, "vsock", &v) &&
        json_object_object_get_ex(v, "socket", &s))
        snprintf(vsock_path, sizeof(vsock_path), "%s", json_object_get_string(s));
    json_object_put(o);
}

static void info(int fd)
{
    if (state == NULL) {
        answer(fd, 404, "VM is not created");
        return;
    }
    char body[256];
    snprintf(body, sizeof(body), "{\"config\":{\"payload\":{}},\"state\":\"%s\"}", state);
    answer(fd, 200, body);
}

/* Returns true when the VMM must exit after this request. */
static bool serve(int fd, const char *mode)
{
    char req[65536];
    int n_fds;
    if (read_request(fd, req, sizeof(req), &n_fds) == 0)
        return false;
    char method[16] = "", path[256] = "";
    sscanf(req, "%15s %255s", method, path);
    const char *body = strstr(req, "\r\n\r\n") + 4;
    const char *log = getenv("FAKE_CH_LOG");
    FILE *f = log ? fopen(log, "ae") : NULL;
    if (f) {
        fprintf(f, "%s %s fds=%d\n", method, path, n_fds);
        fclose(f);
    }
    bool put = strcmp(method, "PUT") == 0;
    if (strcmp(path, "/api/v1/vmm.ping") == 0) {
        answer(fd, 200, "{\"version\":\"fake\"}");
    } else if (put && strcmp(path, "/api/v1/vm.create") == 0) {
        if (strcmp(mode, "create-400") == 0) {
            answer(fd, 400, "Error creating VM: InvalidPayload(\"no \x1b kernel\")\n");
        } else {
            remember_vsock(body);
            state = "Created";
            answer(fd, 204, NULL);
        }
    } else if (strcmp(path, "/api/v1/vm.info") == 0) {
        info(fd);
    } else if (put && strcmp(path, "/api/v1/vm.add-net") == 0) {
        answer(fd, n_fds == 1 ? 204 : 400, n_fds == 1 ? NULL : "expected one fd");
    } else if (put && strcmp(path, "/api/v1/vm.boot") == 0) {
        if (*body) {
            answer(fd, 400, "vm.boot takes no body");
        } else {
            state = "Running";
            if (*vsock_path)
                vsock_fd = listen_on(vsock_path);
            answer(fd, 204, NULL);
        }
    } else if (put && strcmp(path, "/api/v1/vm.shutdown") == 0) {
        state = "Shutdown";
        answer(fd, 204, NULL);
    } else if (put && strcmp(path, "/api/v1/vmm.shutdown") == 0) {
        answer(fd, 200, NULL);
        return true;
    } else {
        answer(fd, 404, "no such route");
    }
    return false;
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

int main(int argc, char **argv)
{
    const char *mode = getenv("FAKE_CH_MODE") ? getenv("FAKE_CH_MODE") : "ok";
    if (argc < 3 || strcmp(argv[1], "--api-socket") != 0) {
        fprintf(stderr, "usage: fake-ch --api-socket PATH\n");
        return 2;
    }
    if (strcmp(mode, "die") == 0) {
        fprintf(stderr, "fake-ch: Error: cannot open /dev/kvm \x1b[1m(No such file)\n");
        return 1;
    }
    int api = listen_on(argv[2]);
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
            unlink(argv[2]);
            if (*vsock_path)
                unlink(vsock_path);
            return 0;
        }
    }
}
