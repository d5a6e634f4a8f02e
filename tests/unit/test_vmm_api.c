/* The built-in VMM's control socket without a VM: HTTP request parsing, the
 * JSON configuration's checks, the routes and states up to boot, and real
 * unix-socket conversations, one of them under the API thread's seccomp
 * filter. */
#include "api.h"
#include "api_config.h"
#include "api_http.h"
#include "channel.h"
#include "test.h"
#include "util.h"
#include "vmm_seccomp.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

static ssize_t parse(const char *text, struct http_request *req, int *status)
{
    cleanup_kerr struct kerr *err = NULL;
    return http_request_parse(text, strlen(text), req, status, &err);
}

TEST(http_request_with_a_body_is_parsed_and_pipelined_requests_split)
{
    struct http_request req;
    int status = 0;
    const char *two = "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\ncontent-length: 7\r\n"
                      "Connection: close\r\n\r\n{\"a\":1}GET /api/v1/vm.info HTTP/1.1\r\n\r\n";
    ssize_t n = parse(two, &req, &status);
    CHECK(n > 0);
    CHECK_STR(req.method, "PUT");
    CHECK_STR(req.path, "/api/v1/vm.create");
    CHECK_INT(req.body_len, 7);
    CHECK(memcmp(req.body, "{\"a\":1}", 7) == 0);
    CHECK(req.close);
    n = parse(two + n, &req, &status);
    CHECK(n > 0);
    CHECK_STR(req.method, "GET");
    CHECK_STR(req.path, "/api/v1/vm.info");
    CHECK_INT(req.body_len, 0);
    CHECK(!req.close);
    /* Incomplete: headers or body still coming. */
    CHECK_INT(parse("GET /api/v1/vm.info HTTP/1.1\r\n", &req, &status), 0);
    CHECK_INT(parse("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", &req, &status), 0);
}

TEST(http_malformed_requests_get_the_right_status)
{
    struct http_request req;
    int status = 0;
    CHECK_INT(parse("GARBAGE\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 400);
    CHECK_INT(parse("GET /x HTTP/2.0\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 505);
    CHECK_INT(parse("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 411);
    CHECK_INT(parse("PUT /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 413);
    CHECK_INT(parse("PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 400);
    CHECK_INT(
        parse("PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &req, &status),
        -1);
    CHECK_INT(status, 400);
    CHECK_INT(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &req, &status), -1);
    CHECK_INT(status, 400);
    char *big = xmalloc(HTTP_HEADER_MAX + 16);
    memset(big, 'a', HTTP_HEADER_MAX + 15);
    big[HTTP_HEADER_MAX + 15] = '\0';
    memcpy(big, "GET /x HTTP/1.1\r\nX: ", 20);
    CHECK_INT(parse(big, &req, &status), -1);
    CHECK_INT(status, 413);
    free(big);
}

/* Parse JSON text as a configuration; the error message or NULL. */
static char *config_error(const char *text)
{
    struct json_object *obj = json_tokener_parse(text);
    struct vmm_config cfg;
    struct vmm_api_config_storage disks;
    struct kerr *err = NULL;
    char *msg = NULL;
    if (obj == NULL)
        return xstrdup("not JSON");
    if (vmm_api_config_parse(obj, &cfg, &disks, &err) < 0)
        msg = xstrdup(err->msg);
    kerr_free(err);
    json_object_put(obj);
    return msg;
}

TEST(api_config_is_parsed_in_cloud_hypervisors_shape)
{
    const char *text =
        "{\"cpus\": {\"boot_vcpus\": 2}, \"memory\": {\"size\": 536870912},"
        " \"payload\": {\"kernel\": \"/k\", \"initrd\": \"/i\", \"cmdline\": \"console=ttyS0\","
        " \"virtio_mmio_cmdline\": true},"
        " \"disks\": [{\"path\": \"/d1\"}, {\"path\": \"/d2\", \"readonly\": true, \"id\": \"x\"}],"
        " \"fs\": [{\"socket\": \"/run/fs.sock\", \"tag\": \"kataShared\"}],"
        " \"vsock\": {\"cid\": 7, \"socket\": \"/run/v.sock\"}, \"rng\": {\"src\": "
        "\"/dev/urandom\"}, \"console\": {\"mode\": \"Tty\"}}";
    struct json_object *obj = json_tokener_parse(text);
    CHECK(obj != NULL);
    struct vmm_config cfg;
    struct vmm_api_config_storage disks;
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_api_config_parse(obj, &cfg, &disks, &err), 0);
    CHECK_INT(cfg.vcpus, 2);
    CHECK_INT(cfg.memory_mb, 512);
    CHECK_STR(cfg.kernel, "/k");
    CHECK_STR(cfg.initrd, "/i");
    CHECK_STR(cfg.cmdline, "console=ttyS0");
    CHECK(cfg.devices_on_cmdline);
    CHECK_INT(cfg.disk_count, 2);
    CHECK_STR(cfg.disks[1].path, "/d2");
    CHECK(cfg.disks[1].readonly);
    CHECK_STR(cfg.disks[1].id, "x");
    CHECK_INT(cfg.fs_count, 1);
    CHECK_STR(cfg.fs[0].socket, "/run/fs.sock");
    CHECK_STR(cfg.fs[0].tag, "kataShared");
    CHECK_INT(cfg.vsock_cid, 7);
    CHECK_STR(cfg.vsock_socket, "/run/v.sock");
    CHECK(cfg.rng);
    CHECK(cfg.virtio_console);
    json_object_put(obj);
}

TEST(api_config_console_off_or_absent_means_no_virtio_console)
{
    static const char *const texts[] = {
        "{\"payload\": {\"kernel\": \"/k\"}}",
        "{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Off\"}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        struct json_object *obj = json_tokener_parse(texts[i]);
        struct vmm_config cfg;
        struct vmm_api_config_storage storage;
        cleanup_kerr struct kerr *err = NULL;
        CHECK_INT(vmm_api_config_parse(obj, &cfg, &storage, &err), 0);
        CHECK(!cfg.virtio_console);
        json_object_put(obj);
    }
}

TEST(api_config_errors_name_the_key)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"payload\": {\"kernel\": \"/k\"}, \"cpu\": {}}", "unknown key `cpu`"},
        {"{\"payload\": {\"kernel\": \"/k\", \"append\": \"x\"}}", "unknown key `payload.append`"},
        {"{}", "`payload` (kernel, initrd, cmdline) is required"},
        {"{\"payload\": {}}", "`payload.kernel` is required"},
        {"{\"payload\": {\"kernel\": 5}}", "`payload.kernel`: expected a non-empty string"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"cpus\": {\"boot_vcpus\": 17}}",
         "`cpus.boot_vcpus`: expected an integer from 1 to 16"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"memory\": {\"size\": 16777217}}",
         "`memory.size`: a multiple of 1 MiB"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"memory\": {\"size\": \"1G\"}}",
         "`memory.size`: expected an integer"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"disks\": {}}", "`disks`: expected an array"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\", \"ro\": true}]}",
         "unknown key `disks[0].ro`"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\", \"readonly\": 1}]}",
         "`disks[0].readonly`: expected true or false"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\", \"id\": "
         "\"123456789012345678901\"}]}",
         "`disks[0].id`: at most 20 bytes"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"vsock\": {\"cid\": 2, \"socket\": \"/s\"}}",
         "`vsock.cid`: expected an integer from 3"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"vsock\": {\"cid\": 3}}",
         "`vsock.socket` is required"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"fs\": [{\"socket\": \"/s\"}]}",
         "`fs[0].tag` is required"},
        {"{\"payload\": {\"kernel\": \"/k\", \"virtio_mmio_cmdline\": \"yes\"}}",
         "`payload.virtio_mmio_cmdline`: expected true or false"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Pty\"}}",
         "`console.mode`: `Pty` (expected \"Tty\" or \"Off\")"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"console\": {}}", "`console.mode` is required"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Tty\", \"file\": "
         "\"/x\"}}",
         "unknown key `console.file`"},
        {"{\"payload\": {\"kernel\": \"/k\"}, \"console\": \"Tty\"}",
         "`console`: expected an object"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cleanup_free char *msg = config_error(cases[i].json);
        CHECK_CONTAINS(msg, cases[i].expect);
    }
}

static int call(struct vmm_api *api, const char *method, const char *path, const char *body,
                char **answer)
{
    struct http_request req = {.body = body, .body_len = body ? strlen(body) : 0};
    snprintf(req.method, sizeof(req.method), "%s", method);
    snprintf(req.path, sizeof(req.path), "%s", path);
    free(*answer);
    return vmm_api_handle(api, &req, answer);
}

TEST(api_routes_and_states_before_boot)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    CHECK(api != NULL);
    cleanup_free char *out = NULL;
    CHECK_INT(call(api, "GET", "/api/v1/vmm.ping", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"version\"");
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"state\":\"NotCreated\"");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.boot", NULL, &out), 409);
    CHECK_CONTAINS(out, "vm.boot: the VM is NotCreated");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{not json", &out), 400);
    CHECK_CONTAINS(out, "the body is not JSON");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{\"payload\": {}}", &out), 400);
    CHECK_CONTAINS(out, "payload.kernel");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   "{\"payload\": {\"kernel\": \"/nonexistent/vmlinux\"}}", &out),
              204);
    CHECK(out == NULL);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{\"payload\": {\"kernel\": \"/k\"}}", &out),
              409);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": \"/d\", \"id\": \"d0\"}", &out),
              204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": 1}", &out), 400);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-vsock", "{\"socket\": \"/tmp/x.sock\"}", &out), 204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-vsock", "{\"socket\": \"/tmp/y.sock\"}", &out), 409);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"state\":\"Created\"");
    CHECK_CONTAINS(out, "\"id\":\"d0\"");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-fs", "{\"socket\": \"/s\", \"tag\": \"t\"}", &out),
              204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"tag\":\"t\"");
    CHECK_CONTAINS(out, "\"socket\":\"\\/tmp\\/x.sock\"");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.pause", NULL, &out), 409);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.shutdown", NULL, &out), 409);
    CHECK_INT(call(api, "GET", "/api/v1/vm.boot", NULL, &out), 405);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.snapshot", NULL, &out), 404);
    CHECK_CONTAINS(out, "no such endpoint");
    /* Boot fails (no KVM here, or no kernel): 500 naming vm.boot, still Created. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.boot", NULL, &out), 500);
    CHECK_CONTAINS(out, "vm.boot: ");
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"state\":\"Created\"");
    CHECK(!vmm_api_done(api));
    CHECK_INT(call(api, "PUT", "/api/v1/vmm.shutdown", NULL, &out), 204);
    CHECK(vmm_api_done(api));
    vmm_api_free(api);
    loop_free(loop);
}

TEST(api_update_disk_names_the_disk_and_checks_the_state)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    cleanup_free char *out = NULL;
    const char *update = "{\"id\": \"drive_0\", \"path\": \"/disk.img\", \"readonly\": true}";
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", update, &out), 409);
    CHECK_CONTAINS(out, "vm.update-disk: the VM is NotCreated");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   "{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/empty\", "
                   "\"id\": \"drive_0\"}]}",
                   &out),
              204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", NULL, &out), 400);
    CHECK_CONTAINS(out, "needs a JSON disk");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", "{\"path\": \"/d\"}", &out), 400);
    CHECK_CONTAINS(out, "`id` names the disk");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk",
                   "{\"id\": \"x\", \"path\": \"/d\", \"ro\": 1}", &out),
              400);
    CHECK_CONTAINS(out, "`disk.ro`");
    CHECK_INT(
        call(api, "PUT", "/api/v1/vm.update-disk", "{\"id\": \"drive_7\", \"path\": \"/d\"}", &out),
        404);
    CHECK_CONTAINS(out, "no disk with id `drive_7`");
    /* Before boot it edits the configuration. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", update, &out), 204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"path\":\"\\/disk.img\",\"id\":\"drive_0\",\"readonly\":true");
    CHECK(strstr(out, "\"disks\":[{\"id\"") == NULL); /* no live disks without a VM */
    vmm_api_free(api);
    loop_free(loop);
}

/* Read one whole response (Connection: close: until EOF). */
static char *read_all(int fd)
{
    char *buf = xcalloc(1, 65536);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, 65535 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

TEST(api_socket_answers_pipelined_requests_and_closes_on_garbage)
{
    char dir[] = "/tmp/test-vmm-api.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/api.sock", dir);
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, path, false, NULL, NULL, NULL);
    CHECK(api != NULL);
    int fd = unix_connect(path, NULL);
    const char *reqs = "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n"
                       "GET /api/v1/vm.info HTTP/1.1\r\nConnection: close\r\n\r\n";
    CHECK(write(fd, reqs, strlen(reqs)) == (ssize_t)strlen(reqs));
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 20, NULL);
    cleanup_free char *got = read_all(fd);
    close(fd);
    CHECK(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_CONTAINS(got, "\"version\"");
    CHECK_CONTAINS(got, "NotCreated");
    fd = unix_connect(path, NULL);
    CHECK(write(fd, "NONSENSE\r\n\r\n", 12) == 12);
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 20, NULL);
    cleanup_free char *bad = read_all(fd);
    close(fd);
    CHECK(strncmp(bad, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    CHECK_CONTAINS(bad, "malformed request line");
    vmm_api_free(api);
    loop_free(loop);
    CHECK(access(path, F_OK) < 0); /* the socket is removed */
    rmdir(dir);
}

/* The child: the control socket's loop under the API thread's filter (what
 * kata-vmm's main thread runs after vm.boot) until vmm.shutdown, then the
 * teardown (socket unlinked) and exit. */
static int serve_under_api_filter(const char *path, int ready_fd)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, path, false, NULL, NULL, NULL);
    if (api == NULL || vmm_seccomp_apply(VMM_THREAD_API, NULL) < 0)
        return 2;
    if (write(ready_fd, "r", 1) != 1)
        return 3;
    while (!vmm_api_done(api) && loop_run_once(loop, -1, NULL) == 0)
        ;
    vmm_api_free(api);
    loop_free(loop);
    return 0;
}

/* One request on a fresh connection; the whole response. */
static char *request(const char *path, const char *text)
{
    int fd = unix_connect(path, NULL);
    if (fd < 0)
        return xstrdup("");
    struct timeval limit = {.tv_sec = 30}; /* a server that stops answering fails the test */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    char *got = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? read_all(fd) : xstrdup("");
    close(fd);
    return got;
}

TEST(api_socket_serves_and_tears_down_under_the_api_threads_seccomp_filter)
{
    char dir[] = "/tmp/test-vmm-api.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cleanup_free char *path = xasprintf("%s/api.sock", dir);
    int ready[2];
    CHECK(pipe(ready) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(serve_under_api_filter(path, ready[1]));
    close(ready[1]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    cleanup_free char *ping =
        request(path, "GET /api/v1/vmm.ping HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(strncmp(ping, "HTTP/1.1 200 OK\r\n", 17) == 0);
    const char *config = "{\"payload\": {\"kernel\": \"/k\"}}";
    cleanup_free char *create =
        xasprintf("PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n\r\n%s",
                  strlen(config), config);
    cleanup_free char *created = request(path, create);
    CHECK(strncmp(created, "HTTP/1.1 204", 12) == 0);
    cleanup_free char *info =
        request(path, "GET /api/v1/vm.info HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK_CONTAINS(info, "\"state\":\"Created\"");
    cleanup_free char *pause =
        request(path, "PUT /api/v1/vm.pause HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(strncmp(pause, "HTTP/1.1 409", 12) == 0);
    cleanup_free char *bad = request(path, "NONSENSE\r\n\r\n");
    CHECK(strncmp(bad, "HTTP/1.1 400", 12) == 0);
    cleanup_free char *stop =
        request(path, "PUT /api/v1/vmm.shutdown HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(strncmp(stop, "HTTP/1.1 204", 12) == 0);
    int status = 0;
    if (strncmp(stop, "HTTP/1.1 204", 12) != 0)
        kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        printf("#   server killed by signal %d\n", WTERMSIG(status));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(access(path, F_OK) < 0); /* unlinked under the filter */
    rmdir(dir);
}
