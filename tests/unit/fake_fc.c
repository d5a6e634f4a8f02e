/* fake-fc: a stand-in for Firecracker that test_fc starts as the firecracker
 * driver's `path`: `fake-fc --api-sock PATH --id ID` answers the API routes
 * the driver uses (one request per connection), with the instance states of
 * the document ("Not started", "Running", "Paused"), refuses pre-boot routes
 * after InstanceStart and PATCH /drives before it (as Firecracker does, with
 * {"fault_message"} bodies), and serves hybrid vsock (`CONNECT <port>\n` ->
 * `OK <n>\n`) on the uds_path PUT /vsock named once started.  Each request is
 * appended to $FAKE_FC_LOG as "METHOD PATH BODY".  $FAKE_FC_MODE picks a
 * misbehaviour:
 *   ok          as above; SendCtrlAltDel ends the VM: exits 0
 *   die         exits 1 at once, saying why on stderr
 *   silent      accepts connections and never answers
 *   boot-400    refuses PUT /boot-source
 *   deaf        takes SendCtrlAltDel but never exits (killed after the grace) */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *state = "Not started";
static char vsock_path[108];
static int vsock_fd = -1;

static int listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        fprintf(stderr, "fake-fc: listen on %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

/* One whole request (headers and Content-Length bytes of body). */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
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
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

static void answer(int fd, int status, const char *body)
{
    char out[4096];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, out, (size_t)n) < 0)
        return;
}

static void fault(int fd, const char *msg)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"fault_message\":\"%s\"}", msg);
    answer(fd, 400, body);
}

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static bool started(void)
{
    return strcmp(state, "Not started") != 0;
}

/* PUT /actions; true when the VMM must exit. */
static bool action(int fd, const char *type, const char *mode)
{
    if (type && strcmp(type, "InstanceStart") == 0 && !started()) {
        state = "Running";
        if (*vsock_path)
            vsock_fd = listen_on(vsock_path);
        answer(fd, 204, NULL);
    } else if (type && strcmp(type, "SendCtrlAltDel") == 0 && started()) {
        answer(fd, 204, NULL);
        return strcmp(mode, "deaf") != 0;
    } else {
        fault(fd, "The requested operation is not supported before starting the microVM.");
    }
    return false;
}

/* Returns true when the VMM must exit after this request. */
static bool serve(int fd, const char *mode)
{
    char req[65536];
    if (read_request(fd, req, sizeof(req)) == 0)
        return false;
    char method[16] = "", path[256] = "";
    sscanf(req, "%15s %255s", method, path);
    const char *body = strstr(req, "\r\n\r\n") + 4;
    const char *log = getenv("FAKE_FC_LOG");
    FILE *f = log ? fopen(log, "ae") : NULL;
    if (f) {
        fprintf(f, "%s %s %s\n", method, path, body);
        fclose(f);
    }
    struct json_object *o = *body ? json_tokener_parse(body) : NULL;
    bool put = strcmp(method, "PUT") == 0, patch = strcmp(method, "PATCH") == 0, quit = false;
    if (strcmp(method, "GET") == 0 && strcmp(path, "/") == 0) {
        char info[256];
        snprintf(info, sizeof(info),
                 "{\"app_name\":\"Firecracker\",\"id\":\"fake\",\"state\":\"%s\","
                 "\"vmm_version\":\"1.0.0\"}",
                 state);
        answer(fd, 200, info);
    } else if (put && strcmp(path, "/actions") == 0) {
        quit = action(fd, field(o, "action_type"), mode);
    } else if (put && started()) {
        fault(fd, "The requested operation is not supported after starting the microVM.");
    } else if (put && strcmp(path, "/boot-source") == 0 && strcmp(mode, "boot-400") == 0) {
        fault(fd, "Invalid kernel path: No such \\u001b file");
    } else if (put && strcmp(path, "/vsock") == 0) {
        snprintf(vsock_path, sizeof(vsock_path), "%s",
                 field(o, "uds_path") ? field(o, "uds_path") : "");
        answer(fd, 204, NULL);
    } else if (put && (strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0)) {
        /* As Firecracker: open the path (read-write, non-blocking) and write to it. */
        const char *p = field(o, strcmp(path, "/logger") == 0 ? "log_path" : "metrics_path");
        int out = p ? open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC) : -1;
        if (out < 0) {
            fault(fd, "Cannot open the log or metrics file");
        } else {
            dprintf(out, "fake-fc %s up\n", path);
            answer(fd, 204, NULL); /* out stays open until we exit */
        }
    } else if (put && (strcmp(path, "/logger") == 0 || strcmp(path, "/metrics") == 0 ||
                       strcmp(path, "/machine-config") == 0 || strcmp(path, "/boot-source") == 0 ||
                       strncmp(path, "/drives/", 8) == 0 ||
                       strncmp(path, "/network-interfaces/", 20) == 0)) {
        answer(fd, 204, NULL);
    } else if (patch && strncmp(path, "/drives/", 8) == 0) {
        if (!started())
            fault(fd, "The requested operation is not supported before starting the microVM.");
        else
            answer(fd, 204, NULL);
    } else if (patch && strcmp(path, "/vm") == 0 && started()) {
        const char *want = field(o, "state");
        if (want && strcmp(want, "Paused") == 0) {
            state = "Paused";
            answer(fd, 204, NULL);
        } else if (want && strcmp(want, "Resumed") == 0 && strcmp(state, "Paused") == 0) {
            state = "Running";
            answer(fd, 204, NULL);
        } else {
            fault(fd, "Resume: the microVM is not paused");
        }
    } else {
        answer(fd, 400, "{\"fault_message\":\"Invalid request method and/or path\"}");
    }
    json_object_put(o);
    return quit;
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
    const char *mode = getenv("FAKE_FC_MODE") ? getenv("FAKE_FC_MODE") : "ok";
    if (argc != 5 || strcmp(argv[1], "--api-sock") != 0 || strcmp(argv[3], "--id") != 0) {
        fprintf(stderr, "usage: fake-fc --api-sock PATH --id ID\n");
        return 153;
    }
    if (strcmp(mode, "die") == 0) {
        fprintf(stderr, "fake-fc: Error: cannot open /dev/kvm \x1b[1m(No such file)\n");
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
