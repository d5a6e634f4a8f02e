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
#include <fcntl.h>
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
        "{\"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 4}, \"memory\": {\"size\": 536870912,"
        " \"shared\": true},"
        " \"payload\": {\"kernel\": \"/k\", \"initramfs\": \"/i\", \"cmdline\": \"console=ttyS0\","
        " \"virtio_mmio_cmdline\": true},"
        " \"disks\": [{\"path\": \"/d1\"}, {\"path\": \"/d2\", \"readonly\": true, \"id\": \"x\"}],"
        " \"fs\": [{\"socket\": \"/run/fs.sock\", \"tag\": \"kataShared\", \"num_queues\": 1,"
        " \"queue_size\": 1024}],"
        " \"net\": [{\"mac\": \"aa:bb:cc:dd:ee:ff\", \"mtu\": 1400}, {\"fd\": 9}],"
        " \"vsock\": {\"cid\": 7, \"socket\": \"/run/v.sock\"}, \"rng\": {\"src\": "
        "\"/dev/urandom\"}, \"serial\": {\"mode\": \"Off\"}, \"console\": {\"mode\": \"Tty\"}}";
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
    CHECK_INT(cfg.net_count, 2);
    CHECK_INT(cfg.nets[0].tap_fd, -1); /* sent with vm.add-net */
    CHECK_STR(cfg.nets[0].mac, "aa:bb:cc:dd:ee:ff");
    CHECK_INT(cfg.nets[0].mtu, 1400);
    CHECK_INT(cfg.nets[1].tap_fd, 9); /* kata-vmm's `fd` */
    CHECK_INT(cfg.vsock_cid, 7);
    CHECK_STR(cfg.vsock_socket, "/run/v.sock");
    CHECK(cfg.rng);
    CHECK(cfg.serial_off);
    CHECK(cfg.virtio_console);
    json_object_put(obj);
}

/* What Kata's Go client sends (its constructors fill the document's
 * defaults) is taken: default values of fields kata-vmm lacks are fine. */
TEST(api_config_takes_the_documents_default_values)
{
    const char *text =
        "{\"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 2, \"kvm_hyperv\": false, \"nested\": true},"
        " \"memory\": {\"size\": 268435456, \"mergeable\": false, \"hotplug_method\": \"Acpi\","
        " \"shared\": true, \"hugepages\": false, \"prefault\": false, \"thp\": true},"
        " \"payload\": {\"kernel\": \"/k\", \"cmdline\": \"x\"},"
        " \"disks\": [{\"path\": \"/d\", \"readonly\": false, \"direct\": false, \"iommu\": false,"
        " \"num_queues\": 2, \"queue_size\": 1024, \"vhost_user\": false, \"id\": null,"
        " \"backing_files\": false, \"sparse\": true, \"image_type\": \"Raw\","
        " \"pci_segment\": 0}],"
        " \"net\": [{\"ip\": \"192.168.249.1\", \"mask\": \"255.255.255.0\", \"iommu\": false,"
        " \"num_queues\": 2, \"queue_size\": 256, \"vhost_user\": false, \"vhost_mode\": "
        "\"Client\", \"offload_tso\": true, \"offload_ufo\": true, \"offload_csum\": true}],"
        " \"rng\": {\"src\": \"/dev/urandom\", \"iommu\": false},"
        " \"serial\": {\"mode\": \"Tty\"}, \"console\": {\"mode\": \"Off\", \"iommu\": false},"
        " \"iommu\": false, \"watchdog\": false, \"pvpanic\": false, \"pmem\": [], \"devices\": "
        "[]}";
    struct json_object *obj = json_tokener_parse(text);
    CHECK(obj != NULL);
    struct vmm_config cfg;
    struct vmm_api_config_storage storage;
    cleanup_kerr struct kerr *err = NULL;
    CHECK_INT(vmm_api_config_parse(obj, &cfg, &storage, &err), 0);
    CHECK(!cfg.serial_off);
    CHECK(!cfg.virtio_console);
    json_object_put(obj);
}

TEST(api_config_console_off_or_absent_means_no_virtio_console)
{
    static const char *const texts[] = {
        "{\"payload\": {\"kernel\": \"/k\"}}",
        "{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Off\"}}",
        "{\"payload\": {\"kernel\": \"/k\"}, \"console\": {\"mode\": \"Null\"}}",
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

#define K "{\"payload\": {\"kernel\": \"/k\"}, "

TEST(api_config_errors_name_the_field)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {K "\"cpu\": {}}", "cpu: unknown field"},
        {"{\"payload\": {\"kernel\": \"/k\", \"append\": \"x\"}}", "payload.append: unknown field"},
        {"{}", "payload (kernel, initramfs, cmdline) is required"},
        {"{\"payload\": {}}", "payload.kernel is required"},
        {"{\"payload\": {\"kernel\": 5}}", "payload.kernel: expected a string"},
        {"{\"payload\": {\"kernel\": \"/k\", \"initrd\": \"/i\"}}",
         "payload.initrd: unknown field"},
        {"{\"payload\": {\"kernel\": \"/k\", \"firmware\": \"/f\"}}",
         "payload.firmware: not supported by kata-vmm"},
        {K "\"cpus\": {\"boot_vcpus\": 17, \"max_vcpus\": 17}}",
         "cpus.boot_vcpus: expected an integer from 1 to 16"},
        {K "\"cpus\": {\"boot_vcpus\": 1}}", "cpus.max_vcpus is required"},
        {K "\"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 1}}",
         "cpus.max_vcpus: 1 is below boot_vcpus 2"},
        {K "\"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 1, \"kvm_hyperv\": true}}",
         "cpus.kvm_hyperv: `true` is not supported by kata-vmm (only `false`)"},
        {K "\"memory\": {\"size\": 16777217}}", "memory.size: a multiple of 1 MiB"},
        {K "\"memory\": {\"size\": \"1G\"}}", "memory.size: expected an integer"},
        {K "\"memory\": {\"size\": 268435456, \"hugepages\": true}}",
         "memory.hugepages: `true` is not supported by kata-vmm (only `false`)"},
        {K "\"memory\": {\"size\": 268435456, \"zones\": [{}]}}",
         "memory.zones: not supported by kata-vmm"},
        {K "\"disks\": {}}", "disks: expected an array"},
        {K "\"disks\": [{\"path\": \"/d\", \"ro\": true}]}", "disks[0].ro: unknown field"},
        {K "\"disks\": [{\"path\": \"/d\", \"readonly\": 1}]}",
         "disks[0].readonly: expected true or false"},
        {K "\"disks\": [{\"path\": \"/d\", \"id\": \"123456789012345678901\"}]}",
         "disks[0].id: at most 20 bytes"},
        {K "\"disks\": [{\"path\": \"/d\"}, {\"path\": \"/s\", \"vhost_user\": true}]}",
         "disks[1].vhost_user: `true` is not supported by kata-vmm (only `false`)"},
        {K "\"disks\": [{\"path\": \"/d\", \"image_type\": \"Qcow2\"}]}",
         "disks[0].image_type: `Qcow2` is not supported by kata-vmm (only `Raw`)"},
        {K "\"disks\": [{\"path\": \"/d\", \"rate_limiter_config\": {}}]}",
         "disks[0].rate_limiter_config: not supported by kata-vmm"},
        {K "\"disks\": [{\"path\": \"/d\", \"queue_size\": 100}]}",
         "disks[0].queue_size: 100 is not a power of two"},
        {K "\"disks\": [{\"readonly\": true}]}", "disks[0].path is required"},
        {K "\"vsock\": {\"cid\": 2, \"socket\": \"/s\"}}", "vsock.cid: expected an integer from 3"},
        {K "\"vsock\": {\"cid\": 3}}", "vsock.socket is required"},
        {K "\"vsock\": {\"socket\": \"/s\"}}", "vsock.cid is required"},
        {K "\"fs\": [{\"socket\": \"/s\", \"num_queues\": 1, \"queue_size\": 1024}]}",
         "fs[0].tag is required"},
        {K "\"fs\": [{\"socket\": \"/s\", \"tag\": \"t\", \"queue_size\": 1024}]}",
         "fs[0].num_queues is required"},
        {K "\"fs\": [{\"socket\": \"/s\", \"tag\": \"t\", \"num_queues\": 2, \"queue_size\": 8}]}",
         "fs[0].num_queues: `2` is not supported by kata-vmm (only `1`)"},
        {K "\"net\": [{\"tap\": \"tap0\"}]}", "net[0].tap: not supported by kata-vmm"},
        {K "\"net\": [{\"vhost_user\": true}]}",
         "net[0].vhost_user: `true` is not supported by kata-vmm (only `false`)"},
        {K "\"net\": [{\"ip\": \"10.0.0.1\"}]}",
         "net[0].ip: `10.0.0.1` is not supported by kata-vmm (only `192.168.249.1`)"},
        {K "\"rng\": {}}", "rng.src is required"},
        {K "\"rng\": {\"src\": \"/dev/hwrng\"}}", "rng.src: `/dev/hwrng` is not supported"},
        {K "\"balloon\": {\"size\": 0}}", "balloon: not supported by kata-vmm"},
        {K "\"platform\": {}}", "platform: not supported by kata-vmm"},
        {K "\"watchdog\": true}", "watchdog: `true` is not supported by kata-vmm (only `false`)"},
        {"{\"payload\": {\"kernel\": \"/k\", \"virtio_mmio_cmdline\": \"yes\"}}",
         "payload.virtio_mmio_cmdline: expected true or false"},
        {K "\"console\": {\"mode\": \"Pty\"}}",
         "console.mode: `Pty` is not supported by kata-vmm (Tty, Off, Null)"},
        {K "\"console\": {\"mode\": \"Loud\"}}", "console.mode: `Loud` (expected Off"},
        {K "\"console\": {}}", "console.mode is required"},
        {K "\"console\": {\"mode\": \"Tty\", \"file\": \"/x\"}}",
         "console.file: not supported by kata-vmm"},
        {K "\"serial\": {\"mode\": \"Tty\", \"iommu\": false}}", "serial.iommu: unknown field"},
        {K "\"console\": \"Tty\"}", "console: expected an object"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cleanup_free char *msg = config_error(cases[i].json);
        CHECK_CONTAINS(msg, cases[i].expect);
    }
    /* Every string is bounded. */
    char *big = xcalloc(1, VMM_API_MAX_STRING + 64);
    memset(big, 'a', VMM_API_MAX_STRING + 1);
    cleanup_free char *text = xasprintf(K "\"disks\": [{\"path\": \"%s\"}]}", big);
    free(big);
    cleanup_free char *msg = config_error(text);
    CHECK_CONTAINS(msg, "disks[0].path: longer than 4096 bytes");
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
    CHECK_CONTAINS(out, "\"pid\"");
    /* The document's codes: 404 before vm.create. */
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 404);
    CHECK_CONTAINS(out, "vm.info: the VM is not created");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.boot", NULL, &out), 404);
    CHECK_CONTAINS(out, "vm.boot: the VM is not created");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": \"/d\"}", &out), 404);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.pause", NULL, &out), 404);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{not json", &out), 400);
    CHECK_CONTAINS(out, "vm.create: the body is not JSON");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{} {}", &out), 400);
    CHECK_CONTAINS(out, "bytes after the value");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   "{\"payload\": {\"kernel\": \"/k\"}, \"a\": [[[[[[[[[[1]]]]]]]]]]}", &out),
              400);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{\"payload\": {}}", &out), 400);
    CHECK_CONTAINS(out, "vm.create: payload.kernel is required");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   K "\"disks\": [{\"path\": \"/d\", \"vhost_user\": true}]}", &out),
              400);
    CHECK_CONTAINS(out, "vm.create: disks[0].vhost_user: `true` is not supported by kata-vmm");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   K "\"disks\": [{\"path\": \"/a\", \"id\": \"x\"}, {\"path\": \"/b\", \"id\": "
                     "\"x\"}]}",
                   &out),
              400);
    CHECK_CONTAINS(out, "vm.create: disks[1].id: `x` is used twice");
    CHECK_INT(
        call(api, "PUT", "/api/v1/vm.create", K "\"disks\": [{\"path\": \"/boot.img\"}]}", &out),
        204);
    CHECK(out == NULL);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{\"payload\": {\"kernel\": \"/k\"}}", &out),
              409);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": \"/d\", \"id\": \"d0\"}", &out),
              204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": \"/e\", \"id\": \"d0\"}", &out),
              409);
    CHECK_CONTAINS(out, "vm.add-disk: a device with id `d0` exists");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": 1}", &out), 400);
    CHECK_CONTAINS(out, "vm.add-disk: disk.path: expected a string");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-disk", "{\"path\": \"/d\", \"direct\": true}", &out),
              400);
    CHECK_CONTAINS(out, "vm.add-disk: disk.direct: `true` is not supported by kata-vmm");
    CHECK_INT(
        call(api, "PUT", "/api/v1/vm.add-vsock", "{\"cid\": 3, \"socket\": \"/tmp/x.sock\"}", &out),
        204);
    CHECK_INT(
        call(api, "PUT", "/api/v1/vm.add-vsock", "{\"cid\": 3, \"socket\": \"/tmp/y.sock\"}", &out),
        409);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"state\":\"Created\"");
    CHECK_CONTAINS(out, "\"id\":\"d0\"");
    CHECK_CONTAINS(out, "\"id\":\"_disk0\""); /* ids given as Cloud Hypervisor does */
    CHECK_CONTAINS(out, "\"memory_actual_size\":268435456");
    CHECK_CONTAINS(out, "\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1}");
    CHECK_CONTAINS(out, "\"device_tree\":{\"_disk0\":{\"id\":\"_disk0\"");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-fs", "{\"socket\": \"/s\", \"tag\": \"t\"}", &out),
              400);
    CHECK_CONTAINS(out, "vm.add-fs: fs.num_queues is required");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-fs",
                   "{\"socket\": \"/s\", \"tag\": \"t\", \"num_queues\": 1, \"queue_size\": 1024}",
                   &out),
              204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"tag\":\"t\"");
    CHECK_CONTAINS(out, "\"socket\":\"\\/tmp\\/x.sock\"");
    /* A tap comes as a file descriptor (SCM_RIGHTS) or kata-vmm's `fd`. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.add-net", "{\"mac\": \"aa:bb:cc:dd:ee:ff\"}", &out),
              400);
    CHECK_CONTAINS(out, "vm.add-net: no tap: send its file descriptor");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.pause", NULL, &out), 405);
    CHECK_CONTAINS(out, "vm.pause: the VM is Created");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.shutdown", NULL, &out), 405);
    CHECK_INT(call(api, "GET", "/api/v1/vm.boot", NULL, &out), 405);
    CHECK_CONTAINS(out, "method not allowed");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.snapshot", NULL, &out), 501);
    CHECK_CONTAINS(out, "vm.snapshot: not supported by kata-vmm");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.frobnicate", NULL, &out), 404);
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

TEST(api_add_net_takes_the_tap_sent_with_the_request)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    cleanup_free char *out = NULL;
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create", "{\"payload\": {\"kernel\": \"/k\"}}", &out),
              204);
    const char *net = "{\"mac\": \"aa:bb:cc:dd:ee:01\", \"num_queues\": 2}";
    struct http_request req = {
        .method = "PUT", .path = "/api/v1/vm.add-net", .body = net, .body_len = strlen(net)};
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0);
    int two[] = {p[0], q[0]};
    free(out);
    CHECK_INT(vmm_api_handle_fds(api, &req, two, 2, &out), 400);
    CHECK_CONTAINS(out, "vm.add-net: 2 file descriptors: kata-vmm serves one queue pair");
    CHECK(two[0] == p[0] && two[1] == q[0]); /* not taken */
    int one[] = {p[0]};
    free(out);
    CHECK_INT(vmm_api_handle_fds(api, &req, one, 1, &out), 204);
    CHECK_INT(one[0], -1); /* taken: the API closes it */
    /* Only vm.add-net takes descriptors. */
    struct http_request ping = {.method = "GET", .path = "/api/v1/vmm.ping"};
    int other[] = {q[0]};
    free(out);
    CHECK_INT(vmm_api_handle_fds(api, &ping, other, 1, &out), 400);
    CHECK_CONTAINS(out, "vmm.ping: file descriptors are taken by vm.add-net only");
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out,
                   "\"net\":[{\"mac\":\"aa:bb:cc:dd:ee:01\",\"num_queues\":2,\"id\":\"_net0\"}]");
    /* Removed before boot: its fd is closed. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.remove-device", "{\"id\": \"_net0\"}", &out), 204);
    CHECK(fcntl(p[0], F_GETFD) < 0 && errno == EBADF);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.remove-device", "{\"id\": \"_net0\"}", &out), 404);
    CHECK_CONTAINS(out, "vm.remove-device: no device with id `_net0`");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.remove-device", "{\"name\": \"x\"}", &out), 400);
    CHECK_CONTAINS(out, "vm.remove-device: name: unknown field");
    close(p[1]);
    close(q[0]);
    close(q[1]);
    vmm_api_free(api);
    loop_free(loop);
}

TEST(api_resize_changes_the_configuration_before_boot_only)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    cleanup_free char *out = NULL;
    CHECK_INT(call(api, "PUT", "/api/v1/vm.resize", "{\"desired_vcpus\": 2}", &out), 404);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   K "\"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 2}, \"memory\": {\"size\": "
                     "268435456}}",
                   &out),
              204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.resize", "{\"desired_vcpus\": 3}", &out), 400);
    CHECK_CONTAINS(out, "vm.resize: desired_vcpus: 3 is above max_vcpus 2");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.resize", "{\"desired_balloon\": 0}", &out), 400);
    CHECK_CONTAINS(out, "vm.resize: desired_balloon: not supported by kata-vmm");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.resize",
                   "{\"desired_vcpus\": 2, \"desired_ram\": 536870912}", &out),
              204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"boot_vcpus\":2");
    CHECK_CONTAINS(out, "\"memory_actual_size\":536870912");
    /* vm.delete forgets a VM not booted. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.delete", NULL, &out), 204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 404);
    CHECK(!vmm_api_done(api));
    vmm_api_free(api);
    loop_free(loop);
}

TEST(api_update_disk_names_the_disk_and_checks_the_state)
{
    struct loop *loop = loop_new(NULL);
    struct vmm_api *api = vmm_api_new(loop, NULL, false, NULL, NULL, NULL);
    cleanup_free char *out = NULL;
    const char *update = "{\"id\": \"drive_0\", \"path\": \"/disk.img\", \"readonly\": true}";
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", update, &out), 404);
    CHECK_CONTAINS(out, "vm.update-disk: the VM is not created");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.create",
                   "{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/empty\", "
                   "\"id\": \"drive_0\"}]}",
                   &out),
              204);
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", NULL, &out), 400);
    CHECK_CONTAINS(out, "needs a JSON DiskConfig");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", "{\"path\": \"/d\"}", &out), 400);
    CHECK_CONTAINS(out, "`id` names the disk");
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk",
                   "{\"id\": \"x\", \"path\": \"/d\", \"ro\": 1}", &out),
              400);
    CHECK_CONTAINS(out, "vm.update-disk: disk.ro: unknown field");
    CHECK_INT(
        call(api, "PUT", "/api/v1/vm.update-disk", "{\"id\": \"drive_7\", \"path\": \"/d\"}", &out),
        404);
    CHECK_CONTAINS(out, "no disk with id `drive_7`");
    /* Before boot it edits the configuration. */
    CHECK_INT(call(api, "PUT", "/api/v1/vm.update-disk", update, &out), 204);
    CHECK_INT(call(api, "GET", "/api/v1/vm.info", NULL, &out), 200);
    CHECK_CONTAINS(out, "\"path\":\"\\/disk.img\",\"id\":\"drive_0\",\"readonly\":true");
    CHECK_INT(call(api, "GET", "/api/v1/vm.disk-states", NULL, &out), 200);
    CHECK_STR(out, "{\"disks\":[]}"); /* no live disks without a VM */
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
    CHECK_CONTAINS(got, "HTTP/1.1 404 Not Found"); /* vm.info before vm.create */
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
    CHECK(strncmp(pause, "HTTP/1.1 405", 12) == 0);
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
