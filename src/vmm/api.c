/* The control socket: connections, the route table, the VM's states (see
 * api.h). */
#include "api.h"
#include "api_config.h"
#include "channel.h"
#include "util.h"
#include "virtio_blk.h"
#include "vmm.h"
#include "vmm_exit.h"
#include "vmm_seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum api_state { API_NOT_CREATED, API_CREATED, API_RUNNING, API_PAUSED, API_SHUTDOWN };

static const char *const state_names[] = {
    [API_NOT_CREATED] = "NotCreated", [API_CREATED] = "Created",   [API_RUNNING] = "Running",
    [API_PAUSED] = "Paused",          [API_SHUTDOWN] = "Shutdown",
};

#define API_CONN_MAX_FDS 8u /* file descriptors a request may bring */

struct api_conn {
    struct vmm_api *api;
    int fd;
    int fds[API_CONN_MAX_FDS]; /* received with the request being read (SCM_RIGHTS) */
    unsigned nfds;
    bool too_many_fds;
    struct loop_watch *watch;
    char buf[HTTP_HEADER_MAX + HTTP_BODY_MAX];
    size_t len;
    struct api_conn *next;
};

struct vmm_api {
    struct loop *loop;
    char *path;
    int listen_fd;
    struct loop_watch *listen_watch;
    struct api_conn *conns;
    bool seccomp;
    void (*console)(void *ctx, const uint8_t *bytes, size_t len);
    void *console_ctx;

    enum api_state state;
    struct json_object *config; /* vm.create's body plus what add-* added */
    struct vmm *vm;
    pthread_t run_thread;
    bool run_thread_started;
    int done_fd; /* the run thread's "vmm_run returned" */
    struct loop_watch *done_watch;
    int run_status;
    enum vmm_exit run_why;
    struct kerr *run_err;
    bool done;
    int exit_status;
    pid_t pid;                     /* vmm.ping's */
    unsigned next_id;              /* of the ids given to devices ("_disk0") */
    int net_fds[VMM_API_MAX_NETS]; /* taps sent with vm.add-net, by net index */
    int *req_fds;                  /* the file descriptors of the request served */
    unsigned req_nfds;
    const char *req_param; /* Firecracker's: the route's {drive_id}, {iface_id} */
    bool fc;               /* Firecracker's API (vmm_api_set_firecracker) */
    char *fc_id;           /* InstanceInfo's id */
    int metrics_fd;        /* Firecracker's metrics_path, -1 before PUT /metrics */
};

/* ---- the VM's run thread ---- */

static void *run_thread(void *arg)
{
    struct vmm_api *api = arg;
    api->run_why = VMM_EXIT_STOPPED;
    api->run_status = vmm_run(api->vm, &api->run_why, &api->run_err);
    uint64_t one = 1;
    if (write(api->done_fd, &one, sizeof(one)) < 0)
        api->run_status = -1;
    return NULL;
}

/* The run thread ended (or is told to end): join it, free the VM. */
static void vm_finish(struct vmm_api *api, bool stop)
{
    if (api->run_thread_started) {
        if (stop)
            vmm_stop(api->vm);
        pthread_join(api->run_thread, NULL);
        api->run_thread_started = false;
        if (api->run_status < 0 && api->run_err)
            fprintf(stderr, "kata-vmm: %s\n", api->run_err->msg);
        int status = vmm_exit_code(api->run_status, api->run_why);
        if (vmm_exit_status_text(status))
            fprintf(stderr, "kata-vmm: %s: exit status %d\n", vmm_exit_status_text(status), status);
        if (status != VMM_STATUS_OFF)
            api->exit_status = status;
        kerr_clear(&api->run_err);
    }
    vmm_free(api->vm);
    api->vm = NULL;
    api->state = API_SHUTDOWN;
    api->done = true;
}

static void on_vm_done(struct loop_watch *w, uint32_t events, void *data)
{
    struct vmm_api *api = data;
    uint64_t v;
    if (read(api->done_fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
        return;
    vm_finish(api, false);
}

/* ---- handlers ---- */

typedef int (*api_handler)(struct vmm_api *api, struct json_object *body, char **out,
                           struct kerr **err);

/* Fill err and return the HTTP status code. */
static int api_fail(struct kerr **err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int api_fail(struct kerr **err, int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    kerr_make(err, errnum, "%s", msg);
    return code;
}

/* The document's codes: 404 before vm.create, 405 in the wrong state. */
static int not_created(const char *what, struct kerr **err)
{
    return api_fail(err, 404, ENOENT, "%s: the VM is not created", what);
}

static int wrong_state(struct vmm_api *api, const char *what, struct kerr **err)
{
    return api_fail(err, 405, 0, "%s: the VM is %s", what, state_names[api->state]);
}

/* A body parser's error, as a 400 naming the endpoint. */
static int bad_body(const char *what, struct kerr **err)
{
    kerr_wrap(err, "%s", what);
    return 400;
}

static int need_body(const char *what, const char *schema, struct json_object *body,
                     struct kerr **err)
{
    if (body == NULL)
        return api_fail(err, 400, 0, "%s needs a JSON %s", what, schema);
    return 0;
}

static int handle_ping(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    *out = xasprintf("{\"build_version\": \"kata-vmm %s\", \"version\": \"%s\", \"pid\": %ld, "
                     "\"features\": []}",
                     KATA_VERSION, KATA_VERSION, (long)api->pid);
    return 200;
}

/* The configuration's `key` array, made when missing. */
static struct json_object *config_array(struct vmm_api *api, const char *key)
{
    struct json_object *a = vmm_api_field(api->config, key);
    if (a == NULL) {
        a = json_object_new_array();
        json_object_object_add(api->config, key, a);
    }
    return a;
}

static const char *const device_arrays[] = {"disks", "fs", "net"};

/* The device (in disks, fs, net or vsock) with this id: *array and *index
 * say where (*array NULL: the vsock). */
static struct json_object *find_device(struct vmm_api *api, const char *id, const char **array,
                                       size_t *index)
{
    struct json_object *v;
    for (size_t k = 0; k < ARRAY_SIZE(device_arrays); k++) {
        struct json_object *a = vmm_api_field(api->config, device_arrays[k]);
        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
            struct json_object *d = json_object_array_get_idx(a, i);
            if ((v = vmm_api_field(d, "id")) && strcmp(json_object_get_string(v), id) == 0) {
                *array = device_arrays[k];
                *index = i;
                return d;
            }
        }
    }
    struct json_object *vsock = vmm_api_field(api->config, "vsock");
    if (vsock && (v = vmm_api_field(vsock, "id")) && strcmp(json_object_get_string(v), id) == 0) {
        *array = NULL;
        *index = 0;
        return vsock;
    }
    return NULL;
}

/* Give a device without an id one, as Cloud Hypervisor does ("_disk0");
 * an id another device has is a 409. */
static int device_id(struct vmm_api *api, const char *what, const char *kind,
                     struct json_object *dev, struct kerr **err)
{
    const char *array;
    size_t index;
    struct json_object *v = vmm_api_field(dev, "id");
    if (v) {
        if (find_device(api, json_object_get_string(v), &array, &index))
            return api_fail(err, 409, EEXIST, "%s: a device with id `%s` exists", what,
                            json_object_get_string(v));
        return 0;
    }
    for (;;) {
        cleanup_free char *id = xasprintf("_%s%u", kind, api->next_id++);
        if (find_device(api, id, &array, &index) == NULL) {
            json_object_object_add(dev, "id", json_object_new_string(id));
            return 0;
        }
    }
}

/* vm.info's config has the values kata-vmm runs with where vm.create left
 * them out (Cloud Hypervisor's answer is complete too). */
static void config_defaults(struct json_object *config)
{
    if (vmm_api_field(config, "cpus") == NULL) {
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "boot_vcpus", json_object_new_int(1));
        json_object_object_add(c, "max_vcpus", json_object_new_int(1));
        json_object_object_add(config, "cpus", c);
    }
    if (vmm_api_field(config, "memory") == NULL) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "size", json_object_new_int64(256ll << 20));
        json_object_object_add(config, "memory", m);
    }
    static const char *const consoles[][2] = {{"serial", "Tty"}, {"console", "Off"}};
    for (size_t i = 0; i < ARRAY_SIZE(consoles); i++)
        if (vmm_api_field(config, consoles[i][0]) == NULL) {
            struct json_object *c = json_object_new_object();
            json_object_object_add(c, "mode", json_object_new_string(consoles[i][1]));
            json_object_object_add(config, consoles[i][0], c);
        }
}

static void close_net_fds(struct vmm_api *api)
{
    for (unsigned i = 0; i < VMM_API_MAX_NETS; i++) {
        if (api->net_fds[i] >= 0)
            close(api->net_fds[i]);
        api->net_fds[i] = -1;
    }
}

/* Ids for the devices of a new configuration; duplicates are a 400. */
static int create_ids(struct vmm_api *api, struct kerr **err)
{
    static const char *const kinds[] = {"disk", "fs", "net"};
    for (size_t k = 0; k < ARRAY_SIZE(device_arrays); k++) {
        struct json_object *a = vmm_api_field(api->config, device_arrays[k]);
        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
            struct json_object *d = json_object_array_get_idx(a, i), *id = vmm_api_field(d, "id");
            const char *array;
            size_t index;
            struct json_object *other =
                id ? find_device(api, json_object_get_string(id), &array, &index) : NULL;
            if (other && other != d)
                return api_fail(err, 400, EEXIST, "vm.create: %s[%zu].id: `%s` is used twice",
                                device_arrays[k], i, json_object_get_string(id));
            if (id == NULL && device_id(api, "vm.create", kinds[k], d, err) != 0)
                return 400;
        }
    }
    struct json_object *vsock = vmm_api_field(api->config, "vsock");
    if (vsock && vmm_api_field(vsock, "id") == NULL)
        device_id(api, "vm.create", "vsock", vsock, err);
    return 0;
}

static int handle_create(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    if (api->state != API_NOT_CREATED)
        return api_fail(err, 409, EEXIST, "vm.create: the VM exists already (%s)",
                        state_names[api->state]);
    struct vmm_config cfg;
    struct vmm_api_config_storage storage;
    if (need_body("vm.create", "VmConfig", body, err) ||
        vmm_api_config_parse(body, &cfg, &storage, err) < 0)
        return bad_body("vm.create", err);
    api->config = json_object_get(body);
    int code = create_ids(api, err);
    if (code) {
        json_object_put(api->config);
        api->config = NULL;
        return code;
    }
    config_defaults(api->config);
    api->state = API_CREATED;
    return 204;
}

/* vm.add-*'s common part: the VM is created and not booted (kata-vmm's
 * virtio-mmio devices do not hotplug), the array has room. */
static int add_check(struct vmm_api *api, const char *what, const char *array, unsigned max,
                     struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created(what, err);
    if (api->state != API_CREATED)
        return api_fail(err, 500, ENOTSUP,
                        "%s: the VM is %s: kata-vmm's virtio-mmio devices are added before "
                        "vm.boot (no hotplug; disks swap files with vm.update-disk)",
                        what, state_names[api->state]);
    struct json_object *a = array ? vmm_api_field(api->config, array) : NULL;
    if (a && json_object_array_length(a) >= max)
        return api_fail(err, 500, E2BIG, "%s: at most %u %s", what, max, array);
    return 0;
}

/* Append the device to the configuration's array; 200/204 as the document
 * says for a cold add. */
static int add_device(struct vmm_api *api, const char *what, const char *array, const char *kind,
                      struct json_object *body, struct kerr **err)
{
    int code = device_id(api, what, kind, body, err);
    if (code)
        return code;
    if (array)
        json_object_array_add(config_array(api, array), json_object_get(body));
    else
        json_object_object_add(api->config, kind, json_object_get(body));
    return 204;
}

static int handle_add_disk(struct vmm_api *api, struct json_object *body, char **out,
                           struct kerr **err)
{
    struct vmm_disk disk;
    int code = add_check(api, "vm.add-disk", "disks", VMM_API_MAX_DISKS, err);
    if (code)
        return code;
    if (need_body("vm.add-disk", "DiskConfig", body, err) ||
        vmm_api_disk_parse(body, "disk", &disk, err) < 0)
        return bad_body("vm.add-disk", err);
    return add_device(api, "vm.add-disk", "disks", "disk", body, err);
}

static int handle_add_fs(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    struct vmm_fs fs;
    int code = add_check(api, "vm.add-fs", "fs", VMM_API_MAX_FS, err);
    if (code)
        return code;
    if (need_body("vm.add-fs", "FsConfig", body, err) || vmm_api_fs_parse(body, "fs", &fs, err) < 0)
        return bad_body("vm.add-fs", err);
    return add_device(api, "vm.add-fs", "fs", "fs", body, err);
}

/* The tap comes as Cloud Hypervisor takes it: one file descriptor sent with
 * the request (SCM_RIGHTS), or kata-vmm's `fd` extension. */
static int handle_add_net(struct vmm_api *api, struct json_object *body, char **out,
                          struct kerr **err)
{
    struct vmm_net net;
    int code = add_check(api, "vm.add-net", "net", VMM_API_MAX_NETS, err);
    if (code)
        return code;
    if (need_body("vm.add-net", "NetConfig", body, err) ||
        vmm_api_net_parse(body, "net", &net, err) < 0)
        return bad_body("vm.add-net", err);
    if (api->req_nfds > 1)
        return api_fail(err, 400, E2BIG,
                        "vm.add-net: %u file descriptors: kata-vmm serves one queue pair (one "
                        "tap fd)",
                        api->req_nfds);
    if (api->req_nfds == 1 && net.tap_fd >= 0)
        return api_fail(err, 400, EINVAL, "vm.add-net: `fd` and a file descriptor sent with it");
    if (api->req_nfds == 0 && net.tap_fd < 0)
        return api_fail(err, 400, EINVAL,
                        "vm.add-net: no tap: send its file descriptor with the request "
                        "(SCM_RIGHTS)");
    struct json_object *nets = vmm_api_field(api->config, "net");
    size_t slot = nets ? json_object_array_length(nets) : 0;
    code = add_device(api, "vm.add-net", "net", "net", body, err);
    if (code == 204 && api->req_nfds == 1) {
        api->net_fds[slot] = api->req_fds[0];
        api->req_fds[0] = -1; /* taken */
    }
    return code;
}

static int handle_add_vsock(struct vmm_api *api, struct json_object *body, char **out,
                            struct kerr **err)
{
    uint64_t cid;
    const char *socket_path;
    int code = add_check(api, "vm.add-vsock", NULL, 0, err);
    if (code)
        return code;
    if (need_body("vm.add-vsock", "VsockConfig", body, err) ||
        vmm_api_vsock_parse(body, "vsock", &cid, &socket_path, err) < 0)
        return bad_body("vm.add-vsock", err);
    if (vmm_api_field(api->config, "vsock"))
        return api_fail(err, 409, EEXIST, "vm.add-vsock: the VM has a vsock device already");
    return add_device(api, "vm.add-vsock", NULL, "vsock", body, err);
}

/* VmRemoveDevice: before boot the device leaves the configuration. */
static int handle_remove_device(struct vmm_api *api, struct json_object *body, char **out,
                                struct kerr **err)
{
    static const struct vmm_api_field fields[] = {{"id", API_STRING, API_TAKEN, NULL, 0}};
    if (api->state == API_NOT_CREATED)
        return not_created("vm.remove-device", err);
    struct json_object *id;
    if (need_body("vm.remove-device", "VmRemoveDevice", body, err) ||
        vmm_api_check_fields(body, "", fields, 1, err) < 0)
        return bad_body("vm.remove-device", err);
    if ((id = vmm_api_field(body, "id")) == NULL)
        return api_fail(err, 400, EINVAL, "vm.remove-device: id is required");
    const char *array;
    size_t index;
    if (find_device(api, json_object_get_string(id), &array, &index) == NULL)
        return api_fail(err, 404, ENOENT, "vm.remove-device: no device with id `%s`",
                        json_object_get_string(id));
    if (api->state != API_CREATED)
        return api_fail(err, 500, ENOTSUP,
                        "vm.remove-device: `%s`: the VM is %s: kata-vmm's virtio-mmio devices do "
                        "not unplug",
                        json_object_get_string(id), state_names[api->state]);
    if (array == NULL) {
        json_object_object_del(api->config, "vsock");
        return 204;
    }
    if (strcmp(array, "net") == 0) {
        if (api->net_fds[index] >= 0)
            close(api->net_fds[index]);
        memmove(&api->net_fds[index], &api->net_fds[index + 1],
                (VMM_API_MAX_NETS - index - 1) * sizeof(int));
        api->net_fds[VMM_API_MAX_NETS - 1] = -1;
    }
    json_object_array_del_idx(vmm_api_field(api->config, array), index, 1);
    return 204;
}

/* The disk of the stored configuration with this id, or NULL. */
static struct json_object *config_disk(struct vmm_api *api, const char *id)
{
    const char *array;
    size_t index;
    struct json_object *d = find_device(api, id, &array, &index);
    return d && array && strcmp(array, "disks") == 0 ? d : NULL;
}

/* kata-vmm's extension: another file behind a disk (virtio-mmio has no
 * hotplug: this is how a drive attached at boot takes a new disk, as
 * Firecracker's PATCH /drives). */
static int handle_update_disk(struct vmm_api *api, struct json_object *body, char **out,
                              struct kerr **err)
{
    struct vmm_disk disk;
    if (api->state == API_NOT_CREATED)
        return not_created("vm.update-disk", err);
    if (api->state == API_SHUTDOWN)
        return wrong_state(api, "vm.update-disk", err);
    if (need_body("vm.update-disk", "DiskConfig", body, err) ||
        vmm_api_disk_parse(body, "disk", &disk, err) < 0)
        return bad_body("vm.update-disk", err);
    if (disk.id == NULL)
        return api_fail(err, 400, 0, "vm.update-disk: `id` names the disk to update");
    struct json_object *stored = config_disk(api, disk.id);
    if (stored == NULL)
        return api_fail(err, 404, ENOENT, "vm.update-disk: no disk with id `%s`", disk.id);
    if (api->vm && vmm_disk_replace(api->vm, disk.id, disk.path, disk.readonly, err) < 0) {
        kerr_wrap(err, "vm.update-disk");
        return 400;
    }
    json_object_object_add(stored, "path", json_object_new_string(disk.path));
    json_object_object_add(stored, "readonly", json_object_new_boolean(disk.readonly));
    return 204;
}

static int64_t config_int(struct vmm_api *api, const char *object, const char *key)
{
    struct json_object *o = vmm_api_field(api->config, object);
    struct json_object *v = o ? vmm_api_field(o, key) : NULL;
    return v ? json_object_get_int64(v) : 0;
}

/* VmResize: kata-vmm has no CPU or memory hotplug, so a running VM keeps its
 * size (asking for it is fine); before boot the configuration changes. */
static int handle_resize(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    uint64_t vcpus, ram;
    if (api->state == API_NOT_CREATED)
        return not_created("vm.resize", err);
    if (need_body("vm.resize", "VmResize", body, err) ||
        vmm_api_resize_parse(body, &vcpus, &ram, err) < 0)
        return bad_body("vm.resize", err);
    uint64_t boot = (uint64_t)config_int(api, "cpus", "boot_vcpus");
    uint64_t max = (uint64_t)config_int(api, "cpus", "max_vcpus");
    uint64_t size = (uint64_t)config_int(api, "memory", "size");
    if (api->state != API_CREATED) {
        if (vcpus && vcpus != boot)
            return api_fail(err, 400, ENOTSUP,
                            "vm.resize: desired_vcpus: %llu is not supported by kata-vmm (no "
                            "vCPU hotplug; the VM has %llu)",
                            (unsigned long long)vcpus, (unsigned long long)boot);
        if (ram && ram != size)
            return api_fail(err, 400, ENOTSUP,
                            "vm.resize: desired_ram: %llu is not supported by kata-vmm (no "
                            "memory hotplug; the VM has %llu)",
                            (unsigned long long)ram, (unsigned long long)size);
        return 204;
    }
    if (vcpus > max || vcpus > VMM_MAX_VCPUS)
        return api_fail(err, 400, EINVAL, "vm.resize: desired_vcpus: %llu is above max_vcpus %llu",
                        (unsigned long long)vcpus, (unsigned long long)max);
    if (ram && (ram % (1u << 20) || ram < (16u << 20) || ram > (3072ull << 20)))
        return api_fail(err, 400, EINVAL,
                        "vm.resize: desired_ram: %llu (a multiple of 1 MiB, 16 MiB to 3 GiB)",
                        (unsigned long long)ram);
    if (vcpus)
        json_object_object_add(vmm_api_field(api->config, "cpus"), "boot_vcpus",
                               json_object_new_int64((int64_t)vcpus));
    if (ram)
        json_object_object_add(vmm_api_field(api->config, "memory"), "size",
                               json_object_new_int64((int64_t)ram));
    return 204;
}

/* What each disk holds now and whether the guest has read its current
 * size. */
static struct json_object *disk_states(struct vmm_api *api)
{
    struct virtio_blk_state states[VMM_API_MAX_DISKS];
    unsigned n = vmm_disk_states(api->vm, states, VMM_API_MAX_DISKS);
    struct json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < n; i++) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "id", json_object_new_string(states[i].id));
        json_object_object_add(d, "path", json_object_new_string(states[i].path));
        json_object_object_add(d, "readonly", json_object_new_boolean(states[i].readonly));
        json_object_object_add(d, "sectors", json_object_new_int64((int64_t)states[i].sectors));
        json_object_object_add(d, "guest_seen", json_object_new_boolean(states[i].guest_seen));
        json_object_array_add(disks, d);
        free(states[i].path);
    }
    return disks;
}

/* vm.info's device_tree: a DeviceNode per device with an id. */
static struct json_object *device_tree(struct vmm_api *api)
{
    struct json_object *tree = json_object_new_object(), *v;
    struct json_object *devices[VMM_API_MAX_DISKS + VMM_API_MAX_FS + VMM_API_MAX_NETS + 1];
    size_t n = 0;
    for (size_t k = 0; k < ARRAY_SIZE(device_arrays); k++) {
        struct json_object *a = vmm_api_field(api->config, device_arrays[k]);
        for (size_t i = 0; a && i < json_object_array_length(a) && n < ARRAY_SIZE(devices); i++)
            devices[n++] = json_object_array_get_idx(a, i);
    }
    if ((v = vmm_api_field(api->config, "vsock")) && n < ARRAY_SIZE(devices))
        devices[n++] = v;
    for (size_t i = 0; i < n; i++) {
        if ((v = vmm_api_field(devices[i], "id")) == NULL)
            continue;
        struct json_object *node = json_object_new_object();
        json_object_object_add(node, "id", json_object_get(v));
        json_object_object_add(node, "resources", json_object_new_array());
        json_object_object_add(node, "children", json_object_new_array());
        json_object_object_add(tree, json_object_get_string(v), node);
    }
    return tree;
}

/* vm.info's config: the configuration without kata-vmm's extensions
 * (net[].fd, payload.virtio_mmio_cmdline), a VmConfig as the document has
 * it. */
static struct json_object *config_answer(struct vmm_api *api)
{
    struct json_object *copy = NULL, *v;
    if (json_object_deep_copy(api->config, &copy, NULL) < 0)
        return json_object_get(api->config);
    if ((v = vmm_api_field(copy, "payload")))
        json_object_object_del(v, "virtio_mmio_cmdline");
    struct json_object *nets = vmm_api_field(copy, "net");
    for (size_t i = 0; nets && i < json_object_array_length(nets); i++)
        json_object_object_del(json_object_array_get_idx(nets, i), "fd");
    return copy;
}

/* VmInfo: state, config, memory_actual_size, device_tree. */
static int handle_info(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.info", err);
    struct json_object *info = json_object_new_object();
    json_object_object_add(info, "state", json_object_new_string(state_names[api->state]));
    json_object_object_add(info, "config", config_answer(api));
    json_object_object_add(info, "memory_actual_size",
                           json_object_new_int64(config_int(api, "memory", "size")));
    json_object_object_add(info, "device_tree", device_tree(api));
    *out = xstrdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN));
    json_object_put(info);
    return 200;
}

/* kata-vmm's extension: {"disks": [{"id", "path", "readonly", "sectors",
 * "guest_seen"}]} once the VM is built (empty before). */
static int handle_disk_states(struct vmm_api *api, struct json_object *body, char **out,
                              struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.disk-states", err);
    struct json_object *answer = json_object_new_object();
    json_object_object_add(answer, "disks", api->vm ? disk_states(api) : json_object_new_array());
    *out = xstrdup(json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN));
    json_object_put(answer);
    return 200;
}

static int handle_boot(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.boot", err);
    if (api->state != API_CREATED)
        return wrong_state(api, "vm.boot", err);
    struct vmm_config cfg;
    struct vmm_api_config_storage storage;
    if (vmm_api_config_parse(api->config, &cfg, &storage, err) < 0)
        return bad_body("vm.boot", err);
    for (unsigned i = 0; i < cfg.net_count; i++) {
        if (storage.nets[i].tap_fd < 0)
            storage.nets[i].tap_fd = api->net_fds[i];
        if (storage.nets[i].tap_fd < 0)
            return api_fail(err, 400, EINVAL,
                            "vm.boot: net[%u]: no tap (send its fd with vm.add-net)", i);
    }
    cfg.seccomp = api->seccomp;
    api->vm = vmm_create(&cfg, api->console, api->console_ctx, err);
    if (api->vm == NULL) {
        kerr_wrap(err, "vm.boot");
        return 500;
    }
    /* The run thread is the boot CPU's: it takes the vCPU kick but not the
     * signals kata-vmm handles on its loop. */
    sigset_t block, old;
    sigfillset(&block);
    sigdelset(&block, SIGRTMIN);
    pthread_sigmask(SIG_SETMASK, &block, &old);
    int r = pthread_create(&api->run_thread, NULL, run_thread, api);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        vmm_free(api->vm);
        api->vm = NULL;
        return api_fail(err, 500, r, "vm.boot: start the VM's thread");
    }
    api->run_thread_started = true;
    api->state = API_RUNNING;
    /* The VM is built: from here this thread only serves the control socket
     * and tears down.  Loaded after the run thread exists, which must not
     * inherit it (it loads the vCPU filter itself). */
    if (api->seccomp && vmm_seccomp_apply(VMM_THREAD_API, err) < 0) {
        vm_finish(api, true);
        api->exit_status = 1;
        kerr_wrap(err, "vm.boot");
        return 500;
    }
    return 204;
}

static int handle_pause(struct vmm_api *api, struct json_object *body, char **out,
                        struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.pause", err);
    if (api->state != API_RUNNING)
        return wrong_state(api, "vm.pause", err);
    if (vmm_pause(api->vm, err) < 0)
        return 500;
    api->state = API_PAUSED;
    return 204;
}

static int handle_resume(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.resume", err);
    if (api->state != API_PAUSED)
        return wrong_state(api, "vm.resume", err);
    vmm_resume(api->vm);
    api->state = API_RUNNING;
    return 204;
}

static int handle_shutdown(struct vmm_api *api, struct json_object *body, char **out,
                           struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return not_created("vm.shutdown", err);
    if (api->state != API_RUNNING && api->state != API_PAUSED)
        return wrong_state(api, "vm.shutdown", err);
    vm_finish(api, true);
    return 204;
}

/* vm.delete: a VM not booted is forgotten (vm.create may come again); a
 * running one stops, and kata-vmm exits with it. */
static int handle_delete(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    if (api->state == API_RUNNING || api->state == API_PAUSED) {
        vm_finish(api, true);
        return 204;
    }
    if (api->state == API_CREATED) {
        json_object_put(api->config);
        api->config = NULL;
        close_net_fds(api);
        api->state = API_NOT_CREATED;
    }
    return 204;
}

static int handle_vmm_shutdown(struct vmm_api *api, struct json_object *body, char **out,
                               struct kerr **err)
{
    vm_finish(api, true);
    return 204;
}

static const struct {
    const char *method, *path;
    api_handler handler;
} routes[] = {
    {"GET", "/api/v1/vmm.ping", handle_ping},
    {"PUT", "/api/v1/vm.create", handle_create},
    {"PUT", "/api/v1/vm.delete", handle_delete},
    {"PUT", "/api/v1/vm.add-disk", handle_add_disk},
    {"PUT", "/api/v1/vm.update-disk", handle_update_disk},
    {"PUT", "/api/v1/vm.add-vsock", handle_add_vsock},
    {"PUT", "/api/v1/vm.add-fs", handle_add_fs},
    {"PUT", "/api/v1/vm.add-net", handle_add_net},
    {"PUT", "/api/v1/vm.remove-device", handle_remove_device},
    {"PUT", "/api/v1/vm.resize", handle_resize},
    {"PUT", "/api/v1/vm.boot", handle_boot},
    {"PUT", "/api/v1/vm.pause", handle_pause},
    {"PUT", "/api/v1/vm.resume", handle_resume},
    {"GET", "/api/v1/vm.info", handle_info},
    {"GET", "/api/v1/vm.disk-states", handle_disk_states},
    {"PUT", "/api/v1/vm.shutdown", handle_shutdown},
    {"PUT", "/api/v1/vmm.shutdown", handle_vmm_shutdown},
};

/* Endpoints of the document kata-vmm does not implement: 501 naming them. */
static const char *const unsupported[] = {
    "vm.counters",       "vm.balloon-stats", "vm.reboot",          "vm.power-button",
    "vm.resize-disk",    "vm.resize-zone",   "vm.add-device",      "vm.add-generic-vhost-user",
    "vm.add-pmem",       "vm.add-vdpa",      "vm.add-user-device", "vm.snapshot",
    "vm.coredump",       "vm.nmi",           "vm.restore",         "vm.receive-migration",
    "vm.send-migration",
};

/* Cloud Hypervisor's {"error": ...}, Firecracker's {"fault_message": ...}. */
static char *error_body(const struct vmm_api *api, const char *message)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, api->fc ? "fault_message" : "error", json_object_new_string(message));
    char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

static int call_route(struct vmm_api *api, const struct http_request *req, api_handler handler,
                      char **body)
{
    struct json_object *json = NULL;
    cleanup_kerr struct kerr *err = NULL;
    const char *name = api->fc ? req->path : req->path + strlen("/api/v1/");
    if (req->body_len) {
        struct json_tokener *tok = json_tokener_new_ex(VMM_API_JSON_DEPTH);
        json = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (json == NULL || jerr != json_tokener_success || used != req->body_len) {
            json_object_put(json);
            cleanup_free char *msg =
                xasprintf("%s: the body is not JSON (%s)", name,
                          jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                       : "bytes after the value");
            *body = error_body(api, msg);
            return 400;
        }
    }
    if (api->req_nfds && handler != handle_add_net) {
        json_object_put(json);
        cleanup_free char *msg =
            xasprintf("%s: file descriptors are taken by vm.add-net only", name);
        *body = error_body(api, msg);
        return 400;
    }
    int code = handler(api, json, body, &err);
    json_object_put(json);
    if (api->fc && code >= 400 && code < 500)
        code = 400; /* Firecracker's: a request the state or the body does not allow */
    if (code >= 400)
        *body = error_body(api, err ? err->msg : http_reason(code));
    return code;
}

/* ---- Firecracker's routes (vmm_api_set_firecracker) ----
 *
 * Each builds the part of the configuration Cloud Hypervisor's vm.create
 * body has (cpus, memory, payload, disks, net, vsock), checked by the same
 * parsers; InstanceStart is vm.boot, PATCH /drives vm.update-disk, PATCH /vm
 * vm.pause and vm.resume.  Before InstanceStart the state is
 * API_NOT_CREATED with a configuration growing. */

#define FC_STATE_TEXT(api)                                                                         \
    ((api)->state == API_RUNNING  ? "Running"                                                      \
     : (api)->state == API_PAUSED ? "Paused"                                                       \
                                  : "Not started")

/* The configuration requests may change: only before InstanceStart. */
static struct json_object *fc_config(struct vmm_api *api)
{
    if (api->config == NULL)
        api->config = json_object_new_object();
    return api->config;
}

static int fc_before_start(struct vmm_api *api, const char *what, struct kerr **err)
{
    if (api->state == API_NOT_CREATED)
        return 0;
    return api_fail(err, 400, 0, "%s: not supported after starting the microVM (it is %s)", what,
                    FC_STATE_TEXT(api));
}

static int fc_started(struct vmm_api *api, const char *what, struct kerr **err)
{
    if (api->state == API_RUNNING || api->state == API_PAUSED)
        return 0;
    return api_fail(err, 400, 0, "%s: not supported before starting the microVM", what);
}

/* The body against fields, its `key` equal to the route's {param}. */
static int fc_body(struct vmm_api *api, const char *what, struct json_object *body,
                   const struct vmm_api_field *fields, size_t n, const char *key, struct kerr **err)
{
    const char *id = NULL;
    if (need_body(what, "body", body, err) || vmm_api_check_fields(body, "", fields, n, err) < 0)
        return bad_body(what, err);
    if (key == NULL)
        return 0;
    if (vmm_api_get_string(body, "", key, true, &id, err) < 0)
        return bad_body(what, err);
    if (strcmp(id, api->req_param) != 0)
        return api_fail(err, 400, EINVAL, "%s: %s `%.64s` differs from the path's `%s`", what, key,
                        id, api->req_param);
    return 0;
}

static void fc_set(struct json_object *o, const char *key, struct json_object *v)
{
    json_object_object_add(o, key, v);
}

static int fc_machine_config(struct vmm_api *api, struct json_object *body, char **out,
                             struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("vcpu_count", API_INT),
        TAKEN("mem_size_mib", API_INT),
        BOOL_ONLY("smt", false),
        STR_ONLY("cpu_template", "None"),
        BOOL_ONLY("track_dirty_pages", false),
        STR_ONLY("huge_pages", "None"),
    };
    const char *what = "PUT /machine-config";
    uint64_t vcpus = 0, mib = 0;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err)))
        return code;
    if (vmm_api_get_uint(body, "", "vcpu_count", true, 1, VMM_MAX_VCPUS, &vcpus, err) < 0 ||
        vmm_api_get_uint(body, "", "mem_size_mib", true, 16, 3072, &mib, err) < 0)
        return bad_body(what, err);
    struct json_object *cpus = json_object_new_object(), *memory = json_object_new_object();
    fc_set(cpus, "boot_vcpus", json_object_new_int64((int64_t)vcpus));
    fc_set(cpus, "max_vcpus", json_object_new_int64((int64_t)vcpus));
    fc_set(memory, "size", json_object_new_int64((int64_t)(mib << 20)));
    fc_set(fc_config(api), "cpus", cpus);
    fc_set(fc_config(api), "memory", memory);
    return 204;
}

static int fc_boot_source(struct vmm_api *api, struct json_object *body, char **out,
                          struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("kernel_image_path", API_STRING),
        TAKEN("initrd_path", API_STRING),
        TAKEN("boot_args", API_STRING),
    };
    static const char *const keys[][2] = {
        {"kernel_image_path", "kernel"}, {"initrd_path", "initramfs"}, {"boot_args", "cmdline"}};
    const char *what = "PUT /boot-source", *kernel = NULL;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err)))
        return code;
    if (vmm_api_get_string(body, "", "kernel_image_path", true, &kernel, err) < 0)
        return bad_body(what, err);
    struct json_object *payload = json_object_new_object(), *v;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if ((v = vmm_api_field(body, keys[i][0])))
            fc_set(payload, keys[i][1], json_object_get(v));
    fc_set(fc_config(api), "payload", payload);
    return 204;
}

/* Put dev into the configuration's `array` in place of the device with its
 * id, else at the end (at most max): its index, or -1 with a 400. */
static int fc_put_device(struct vmm_api *api, const char *what, const char *array, unsigned max,
                         struct json_object *dev, const char *id, struct kerr **err)
{
    const char *found_array;
    size_t index;
    fc_config(api);
    struct json_object *a = config_array(api, array);
    if (find_device(api, id, &found_array, &index) && found_array &&
        strcmp(found_array, array) == 0) {
        json_object_array_put_idx(a, index, dev);
        return (int)index;
    }
    if (json_object_array_length(a) >= max) {
        json_object_put(dev);
        api_fail(err, 400, E2BIG, "%s: at most %u %s", what, max, array);
        return -1;
    }
    json_object_array_add(a, dev);
    return (int)json_object_array_length(a) - 1;
}

static int fc_put_drive(struct vmm_api *api, struct json_object *body, char **out,
                        struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("drive_id", API_STRING),       TAKEN("path_on_host", API_STRING),
        TAKEN("is_root_device", API_BOOL),   TAKEN("is_read_only", API_BOOL),
        REFUSED("partuuid", API_STRING),     STR_ONLY("cache_type", "Unsafe"),
        REFUSED("rate_limiter", API_OBJECT), STR_ONLY("io_engine", "Sync"),
        REFUSED("socket", API_STRING),
    };
    cleanup_free char *what = xasprintf("PUT /drives/%s", api->req_param);
    const char *path = NULL;
    struct json_object *root = NULL, *ro;
    struct vmm_disk disk;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), "drive_id", err)))
        return code;
    if (vmm_api_get_string(body, "", "path_on_host", true, &path, err) < 0)
        return bad_body(what, err);
    if ((root = vmm_api_field(body, "is_root_device")) == NULL)
        return api_fail(err, 400, EINVAL, "%s: is_root_device is required", what);
    if (json_object_get_boolean(root))
        return api_fail(err, 400, ENOTSUP,
                        "%s: is_root_device: `true` is not supported by kata-vmm (give root= in "
                        "boot_args)",
                        what);
    struct json_object *d = json_object_new_object();
    fc_set(d, "path", json_object_new_string(path));
    fc_set(d, "readonly",
           json_object_new_boolean((ro = vmm_api_field(body, "is_read_only")) &&
                                   json_object_get_boolean(ro)));
    fc_set(d, "id", json_object_new_string(api->req_param));
    if (vmm_api_disk_parse(d, "drive", &disk, err) < 0) {
        json_object_put(d);
        return bad_body(what, err);
    }
    return fc_put_device(api, what, "disks", VMM_API_MAX_DISKS, d, api->req_param, err) < 0 ? 400
                                                                                            : 204;
}

/* Another file behind a drive of the running VM: vm.update-disk. */
static int fc_patch_drive(struct vmm_api *api, struct json_object *body, char **out,
                          struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("drive_id", API_STRING),
        TAKEN("path_on_host", API_STRING),
        REFUSED("rate_limiter", API_OBJECT),
    };
    cleanup_free char *what = xasprintf("PATCH /drives/%s", api->req_param);
    const char *path = NULL;
    int code = fc_started(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), "drive_id", err)))
        return code;
    if (vmm_api_get_string(body, "", "path_on_host", false, &path, err) < 0)
        return bad_body(what, err);
    struct json_object *stored = config_disk(api, api->req_param);
    if (stored == NULL)
        return api_fail(err, 400, ENOENT, "%s: no drive with drive_id `%s`", what, api->req_param);
    if (path == NULL)
        return 204; /* nothing to change */
    struct json_object *update = json_object_new_object();
    fc_set(update, "id", json_object_new_string(api->req_param));
    fc_set(update, "path", json_object_new_string(path));
    fc_set(update, "readonly", json_object_get(vmm_api_field(stored, "readonly")));
    code = handle_update_disk(api, update, out, err);
    json_object_put(update);
    if (code >= 400)
        kerr_wrap(err, "%s", what);
    return code;
}

/* The tap `name` of kata-vmm's network namespace, as Firecracker opens it. */
static int fc_tap_open(const char *what, const char *name, struct kerr **err)
{
    if (strlen(name) >= IFNAMSIZ)
        return kerr_make(err, ENAMETOOLONG, "%s: host_dev_name `%.64s`: longer than %u bytes", what,
                         name, IFNAMSIZ - 1);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kerr_make(err, errno, "%s: host_dev_name `%s`: open /dev/net/tun", what, name);
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int saved = errno;
        close(fd);
        return kerr_make(err, saved, "%s: host_dev_name `%s`: open the tap", what, name);
    }
    return fd;
}

static int fc_put_net(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("iface_id", API_STRING),          TAKEN("host_dev_name", API_STRING),
        TAKEN("guest_mac", API_STRING),         TAKEN("mtu", API_INT),
        REFUSED("rx_rate_limiter", API_OBJECT), REFUSED("tx_rate_limiter", API_OBJECT),
    };
    cleanup_free char *what = xasprintf("PUT /network-interfaces/%s", api->req_param);
    const char *name = NULL;
    struct vmm_net net;
    struct json_object *v;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), "iface_id", err)))
        return code;
    if (vmm_api_get_string(body, "", "host_dev_name", true, &name, err) < 0)
        return bad_body(what, err);
    struct json_object *n = json_object_new_object();
    fc_set(n, "id", json_object_new_string(api->req_param));
    if ((v = vmm_api_field(body, "guest_mac")))
        fc_set(n, "mac", json_object_get(v));
    if ((v = vmm_api_field(body, "mtu")))
        fc_set(n, "mtu", json_object_get(v));
    if (vmm_api_net_parse(n, "net", &net, err) < 0) {
        json_object_put(n);
        return bad_body(what, err);
    }
    /* A tap without IFF_MULTI_QUEUE takes one fd: the one replaced goes first. */
    const char *found_array;
    size_t index;
    if (find_device(api, api->req_param, &found_array, &index) && found_array &&
        strcmp(found_array, "net") == 0 && api->net_fds[index] >= 0) {
        close(api->net_fds[index]);
        api->net_fds[index] = -1;
    }
    int fd = fc_tap_open(what, name, err);
    if (fd < 0) {
        json_object_put(n);
        return 400;
    }
    int slot = fc_put_device(api, what, "net", VMM_API_MAX_NETS, n, api->req_param, err);
    if (slot < 0) {
        close(fd);
        return 400;
    }
    if (api->net_fds[slot] >= 0)
        close(api->net_fds[slot]);
    api->net_fds[slot] = fd;
    return 204;
}

static int fc_put_vsock(struct vmm_api *api, struct json_object *body, char **out,
                        struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("guest_cid", API_INT), TAKEN("uds_path", API_STRING),
        TAKEN("vsock_id", API_STRING), /* the document's deprecated id: ignored */
    };
    const char *what = "PUT /vsock", *socket_path;
    uint64_t cid;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err)))
        return code;
    struct json_object *vs = json_object_new_object(), *v;
    if ((v = vmm_api_field(body, "guest_cid")))
        fc_set(vs, "cid", json_object_get(v));
    if ((v = vmm_api_field(body, "uds_path")))
        fc_set(vs, "socket", json_object_get(v));
    fc_set(vs, "id", json_object_new_string("vsock"));
    if (vmm_api_vsock_parse(vs, "vsock", &cid, &socket_path, err) < 0) {
        json_object_put(vs);
        kerr_wrap(err, "%s (guest_cid, uds_path)", what);
        return 400;
    }
    fc_set(fc_config(api), "vsock", vs);
    return 204;
}

/* A file Firecracker writes to (log_path, metrics_path): a named pipe or a
 * file, opened once, appended to. */
static int fc_open_output(const char *what, const char *key, const char *path, struct kerr **err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
    if (fd < 0)
        return kerr_make(err, errno, "%s: %s `%.256s`", what, key, path);
    return fd;
}

/* Logger: kata-vmm's messages (its stderr) go to log_path; kata-vmm has one
 * level, so `level` and the show_* flags are hints. */
static int fc_logger(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("level", API_STRING),    TAKEN("log_path", API_STRING),
        TAKEN("show_level", API_BOOL), TAKEN("show_log_origin", API_BOOL),
        REFUSED("module", API_STRING),
    };
    static const char *const levels[] = {"Error", "Warning", "Info", "Debug", "Trace", "Off"};
    const char *what = "PUT /logger", *level = NULL, *path = NULL;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err)))
        return code;
    if (vmm_api_get_string(body, "", "level", false, &level, err) < 0 ||
        vmm_api_get_string(body, "", "log_path", false, &path, err) < 0)
        return bad_body(what, err);
    bool known = level == NULL;
    for (size_t i = 0; i < ARRAY_SIZE(levels) && !known; i++)
        known = strcmp(level, levels[i]) == 0;
    if (!known)
        return api_fail(err, 400, EINVAL,
                        "%s: level: `%.64s` (expected Error, Warning, Info, Debug, Trace or Off)",
                        what, level);
    if (path == NULL)
        return 204;
    int fd = fc_open_output(what, "log_path", path, err);
    if (fd < 0)
        return 400;
    if (dup2(fd, 2) < 0) {
        api_fail(err, 500, errno, "%s: log_path `%.256s`: make it kata-vmm's stderr", what, path);
        close(fd);
        return 500;
    }
    close(fd);
    return 204;
}

static int fc_metrics(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {TAKEN("metrics_path", API_STRING)};
    const char *what = "PUT /metrics", *path = NULL;
    int code = fc_before_start(api, what, err);
    if (code || (code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err)))
        return code;
    if (vmm_api_get_string(body, "", "metrics_path", true, &path, err) < 0)
        return bad_body(what, err);
    int fd = fc_open_output(what, "metrics_path", path, err);
    if (fd < 0)
        return 400;
    if (api->metrics_fd >= 0)
        close(api->metrics_fd);
    api->metrics_fd = fd;
    return 204;
}

/* InstanceStart: the configuration built so far, with kata-vmm's defaults
 * where it is silent, booted as vm.boot does. */
static int fc_instance_start(struct vmm_api *api, char **out, struct kerr **err)
{
    const char *what = "InstanceStart";
    int code = fc_before_start(api, what, err);
    if (code)
        return code;
    if (vmm_api_field(fc_config(api), "payload") == NULL)
        return api_fail(err, 400, EINVAL, "%s: no boot source (PUT /boot-source first)", what);
    config_defaults(api->config);
    api->state = API_CREATED;
    code = handle_boot(api, NULL, out, err);
    if (api->state == API_CREATED)
        api->state = API_NOT_CREATED; /* not started: the configuration stays */
    if (code >= 400)
        kerr_wrap(err, "%s", what);
    return code;
}

static int fc_actions(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {TAKEN("action_type", API_STRING)};
    const char *what = "PUT /actions", *action = NULL;
    int code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err);
    if (code || vmm_api_get_string(body, "", "action_type", true, &action, err) < 0)
        return code ? code : bad_body(what, err);
    if (strcmp(action, "InstanceStart") == 0)
        return fc_instance_start(api, out, err);
    if (strcmp(action, "SendCtrlAltDel") == 0) {
        /* No i8042 to press: the VM stops, and kata-vmm exits, as Firecracker
         * does once the guest resets. */
        if ((code = fc_started(api, action, err)))
            return code;
        vm_finish(api, true);
        return 204;
    }
    if (strcmp(action, "FlushMetrics") == 0) {
        if (api->metrics_fd < 0)
            return api_fail(err, 400, 0, "FlushMetrics: no metrics_path (PUT /metrics first)");
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char line[64];
        int n = snprintf(line, sizeof(line), "{\"utc_timestamp_ms\":%llu}\n",
                         (unsigned long long)ts.tv_sec * 1000u +
                             (unsigned long long)ts.tv_nsec / 1000000u);
        if (fd_write_full(api->metrics_fd, line, (size_t)n) < 0)
            return api_fail(err, 400, errno, "FlushMetrics: write the metrics");
        return 204;
    }
    return api_fail(err, 400, EINVAL,
                    "%s: action_type: `%.64s` (expected FlushMetrics, InstanceStart or "
                    "SendCtrlAltDel)",
                    what, action);
}

static int fc_patch_vm(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {TAKEN("state", API_STRING)};
    const char *what = "PATCH /vm", *state = NULL;
    int code = fc_body(api, what, body, fields, ARRAY_SIZE(fields), NULL, err);
    if (code || vmm_api_get_string(body, "", "state", true, &state, err) < 0)
        return code ? code : bad_body(what, err);
    bool pause = strcmp(state, "Paused") == 0;
    if (!pause && strcmp(state, "Resumed") != 0)
        return api_fail(err, 400, EINVAL, "%s: state: `%.64s` (expected Paused or Resumed)", what,
                        state);
    if ((code = fc_started(api, what, err)))
        return code;
    code = pause ? handle_pause(api, NULL, out, err) : handle_resume(api, NULL, out, err);
    if (code >= 400)
        kerr_wrap(err, "%s %s", what, state);
    return code;
}

/* InstanceInfo. */
static int fc_instance_info(struct vmm_api *api, struct json_object *body, char **out,
                            struct kerr **err)
{
    struct json_object *info = json_object_new_object();
    fc_set(info, "id", json_object_new_string(api->fc_id));
    fc_set(info, "state", json_object_new_string(FC_STATE_TEXT(api)));
    fc_set(info, "vmm_version", json_object_new_string(KATA_VERSION));
    fc_set(info, "app_name", json_object_new_string("kata-vmm"));
    *out = xstrdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN));
    json_object_put(info);
    return 200;
}

/* Firecracker's routes: a path, or a prefix and a {param}. */
static const struct {
    const char *method, *path;
    bool param;
    api_handler handler;
} fc_routes[] = {
    {"GET", "/", false, fc_instance_info},
    {"PUT", "/machine-config", false, fc_machine_config},
    {"PUT", "/boot-source", false, fc_boot_source},
    {"PUT", "/drives/", true, fc_put_drive},
    {"PATCH", "/drives/", true, fc_patch_drive},
    {"PUT", "/network-interfaces/", true, fc_put_net},
    {"PUT", "/vsock", false, fc_put_vsock},
    {"PUT", "/logger", false, fc_logger},
    {"PUT", "/metrics", false, fc_metrics},
    {"PUT", "/actions", false, fc_actions},
    {"PATCH", "/vm", false, fc_patch_vm},
};

/* The path's {param} after prefix: non-empty, at most 64 letters, digits
 * and underscores (Firecracker's ids), else NULL. */
static const char *fc_param(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return NULL;
    const char *id = path + n;
    size_t len = strlen(id);
    if (len == 0 || len > 64)
        return NULL;
    for (const char *c = id; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
            return NULL;
    return id;
}

static int fc_handle(struct vmm_api *api, const struct http_request *req, char **body)
{
    for (size_t i = 0; i < ARRAY_SIZE(fc_routes); i++) {
        if (strcmp(fc_routes[i].method, req->method) != 0)
            continue;
        const char *param = fc_routes[i].param ? fc_param(req->path, fc_routes[i].path) : NULL;
        if (fc_routes[i].param ? param == NULL : strcmp(fc_routes[i].path, req->path) != 0)
            continue;
        api->req_param = param;
        int code = call_route(api, req, fc_routes[i].handler, body);
        api->req_param = NULL;
        return code;
    }
    cleanup_free char *msg =
        xasprintf("Invalid request method and/or path: %s %.100s (not served by kata-vmm)",
                  req->method, req->path);
    *body = error_body(api, msg);
    return 400;
}

int vmm_api_handle_fds(struct vmm_api *api, const struct http_request *req, int *fds, unsigned nfds,
                       char **body)
{
    *body = NULL;
    api->req_fds = fds;
    api->req_nfds = nfds;
    if (api->fc) {
        int code = fc_handle(api, req, body);
        api->req_fds = NULL;
        api->req_nfds = 0;
        return code;
    }
    bool path_known = false;
    int code = -1;
    for (size_t i = 0; i < ARRAY_SIZE(routes) && code < 0; i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, req->method) == 0)
            code = call_route(api, req, routes[i].handler, body);
    }
    api->req_fds = NULL;
    api->req_nfds = 0;
    if (code >= 0)
        return code;
    const char *name = strncmp(req->path, "/api/v1/", 8) == 0 ? req->path + 8 : "";
    for (size_t i = 0; i < ARRAY_SIZE(unsupported) && !path_known; i++)
        if (strcmp(unsupported[i], name) == 0) {
            cleanup_free char *msg = xasprintf("%s: not supported by kata-vmm", name);
            *body = error_body(api, msg);
            return 501;
        }
    cleanup_free char *msg = xasprintf("%s %s: %s", req->method, req->path,
                                       path_known ? "method not allowed" : "no such endpoint");
    *body = error_body(api, msg);
    return path_known ? 405 : 404;
}

int vmm_api_handle(struct vmm_api *api, const struct http_request *req, char **body)
{
    return vmm_api_handle_fds(api, req, NULL, 0, body);
}

/* ---- connections ---- */

static void conn_drop_fds(struct api_conn *c)
{
    for (unsigned i = 0; i < c->nfds; i++)
        if (c->fds[i] >= 0)
            close(c->fds[i]);
    c->nfds = 0;
    c->too_many_fds = false;
}

/* Read what the peer sent, keeping the file descriptors that came with it
 * (at most API_CONN_MAX_FDS; more, or a truncated control message, and the
 * request is refused). */
static ssize_t conn_recv(struct api_conn *c)
{
    union {
        char buf[CMSG_SPACE(API_CONN_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {c->buf + c->len, sizeof(c->buf) - c->len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return n;
    if (msg.msg_flags & MSG_CTRUNC)
        c->too_many_fds = true;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (c->nfds < API_CONN_MAX_FDS) {
                c->fds[c->nfds++] = fd;
            } else {
                close(fd);
                c->too_many_fds = true;
            }
        }
    }
    return n;
}

static void conn_close(struct api_conn *c)
{
    struct vmm_api *api = c->api;
    for (struct api_conn **p = &api->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    loop_watch_remove(c->watch);
    close(c->fd);
    conn_drop_fds(c);
    free(c);
}

static void conn_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct api_conn *c = data;
    ssize_t n = conn_recv(c);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    for (;;) {
        struct http_request req;
        int status = 400;
        cleanup_kerr struct kerr *err = NULL;
        ssize_t used = http_request_parse(c->buf, c->len, &req, &status, &err);
        if (used == 0 && c->len < sizeof(c->buf))
            return; /* more to come */
        cleanup_free char *body = NULL;
        bool close_after = used <= 0 || req.close;
        if (used <= 0) {
            status = used < 0 ? status : 413;
            body = error_body(c->api, err ? err->msg : "request too large");
        } else if (c->too_many_fds) {
            status = 400;
            body = error_body(c->api, "more than 8 file descriptors with one request");
        } else {
            status = vmm_api_handle_fds(c->api, &req, c->fds, c->nfds, &body);
        }
        conn_drop_fds(c); /* those the request did not take */
        size_t len = 0;
        cleanup_free char *response = http_response(status, body, &len);
        if (fd_write_full(c->fd, response, len) < 0 || close_after) {
            conn_close(c);
            return;
        }
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
    }
}

static void on_accept(struct loop_watch *w, uint32_t events, void *data)
{
    struct vmm_api *api = data;
    int fd = accept4(api->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct api_conn *c = xcalloc(1, sizeof(*c));
    c->api = api;
    c->fd = fd;
    c->watch = loop_watch_add(api->loop, fd, EPOLLIN, conn_readable, c, NULL);
    if (c->watch == NULL) {
        close(fd);
        free(c);
        return;
    }
    c->next = api->conns;
    api->conns = c;
}

struct vmm_api *vmm_api_new(struct loop *loop, const char *socket_path, bool seccomp,
                            void (*console)(void *ctx, const uint8_t *bytes, size_t len),
                            void *console_ctx, struct kerr **err)
{
    struct vmm_api *api = xcalloc(1, sizeof(*api));
    api->loop = loop;
    api->seccomp = seccomp;
    api->console = console;
    api->console_ctx = console_ctx;
    api->done_fd = -1;
    api->listen_fd = -1;
    api->metrics_fd = -1;
    api->pid = getpid();
    for (unsigned i = 0; i < VMM_API_MAX_NETS; i++)
        api->net_fds[i] = -1;
    if (socket_path) {
        api->path = xstrdup(socket_path);
        api->listen_fd = unix_listen(socket_path, err);
        if (api->listen_fd < 0) {
            kerr_wrap(err, "control socket");
            goto fail;
        }
        api->listen_watch = loop_watch_add(loop, api->listen_fd, EPOLLIN, on_accept, api, err);
        if (api->listen_watch == NULL)
            goto fail;
    }
    api->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (api->done_fd < 0) {
        kerr_make(err, errno, "eventfd");
        goto fail;
    }
    api->done_watch = loop_watch_add(loop, api->done_fd, EPOLLIN, on_vm_done, api, err);
    if (api->done_watch == NULL)
        goto fail;
    return api;
fail:
    vmm_api_free(api);
    return NULL;
}

void vmm_api_set_firecracker(struct vmm_api *api, const char *id)
{
    api->fc = true;
    free(api->fc_id);
    api->fc_id = xstrdup(id ? id : "anonymous-instance");
}

void vmm_api_shutdown(struct vmm_api *api)
{
    vm_finish(api, true);
}

void vmm_api_free(struct vmm_api *api)
{
    if (api == NULL)
        return;
    if (api->vm || api->run_thread_started)
        vm_finish(api, true);
    while (api->conns)
        conn_close(api->conns);
    if (api->listen_watch)
        loop_watch_remove(api->listen_watch);
    if (api->listen_fd >= 0) {
        close(api->listen_fd);
        unlink(api->path);
    }
    if (api->done_watch)
        loop_watch_remove(api->done_watch);
    if (api->done_fd >= 0)
        close(api->done_fd);
    json_object_put(api->config);
    close_net_fds(api);
    if (api->metrics_fd >= 0)
        close(api->metrics_fd);
    free(api->fc_id);
    free(api->path);
    free(api);
}

bool vmm_api_done(const struct vmm_api *api)
{
    return api->done;
}

int vmm_api_exit_status(const struct vmm_api *api)
{
    return api->exit_status;
}
