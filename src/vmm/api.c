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

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum api_state { API_NOT_CREATED, API_CREATED, API_RUNNING, API_PAUSED, API_SHUTDOWN };

static const char *const state_names[] = {
    [API_NOT_CREATED] = "NotCreated", [API_CREATED] = "Created",   [API_RUNNING] = "Running",
    [API_PAUSED] = "Paused",          [API_SHUTDOWN] = "Shutdown",
};

struct api_conn {
    struct vmm_api *api;
    int fd;
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

static int conflict(struct vmm_api *api, const char *what, struct kerr **err)
{
    kerr_make(err, 0, "%s: the VM is %s", what, state_names[api->state]);
    return 409;
}

static int handle_ping(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    *out = xasprintf("{\"version\": \"%s\"}", KATA_VERSION);
    return 200;
}

static int handle_create(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    if (api->state != API_NOT_CREATED)
        return conflict(api, "vm.create", err);
    struct vmm_config cfg;
    struct vmm_api_config_storage storage;
    if (body == NULL)
        return api_fail(err, 400, 0, "vm.create needs a JSON configuration");
    if (vmm_api_config_parse(body, &cfg, &storage, err) < 0)
        return 400;
    api->config = json_object_get(body);
    api->state = API_CREATED;
    return 204;
}

/* Add to the stored configuration's `key` array (or set `key`). */
static int handle_add_disk(struct vmm_api *api, struct json_object *body, char **out,
                           struct kerr **err)
{
    struct vmm_disk disk;
    if (api->state == API_NOT_CREATED)
        return conflict(api, "vm.add-disk", err);
    if (api->state != API_CREATED)
        return api_fail(err, 409, 0, "vm.add-disk: virtio-mmio disks are added before boot");
    if (body == NULL)
        return api_fail(err, 400, 0, "vm.add-disk needs a JSON disk");
    if (vmm_api_disk_parse(body, "disk", &disk, err) < 0)
        return 400;
    struct json_object *disks;
    if (!json_object_object_get_ex(api->config, "disks", &disks)) {
        disks = json_object_new_array();
        json_object_object_add(api->config, "disks", disks);
    }
    if (json_object_array_length(disks) >= VMM_API_MAX_DISKS)
        return api_fail(err, 400, 0, "vm.add-disk: at most %u disks", VMM_API_MAX_DISKS);
    json_object_array_add(disks, json_object_get(body));
    return 204;
}

/* The stored configuration's disk with this id, or NULL. */
static struct json_object *config_disk(struct vmm_api *api, const char *id)
{
    struct json_object *disks, *d, *v;
    if (!json_object_object_get_ex(api->config, "disks", &disks))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(disks); i++) {
        d = json_object_array_get_idx(disks, i);
        if (json_object_object_get_ex(d, "id", &v) && strcmp(json_object_get_string(v), id) == 0)
            return d;
    }
    return NULL;
}

/* Another file behind a disk (virtio-mmio has no hotplug: this is how a
 * drive attached at boot takes a new disk, as Firecracker's PATCH /drives). */
static int handle_update_disk(struct vmm_api *api, struct json_object *body, char **out,
                              struct kerr **err)
{
    struct vmm_disk disk;
    if (api->state == API_NOT_CREATED || api->state == API_SHUTDOWN)
        return conflict(api, "vm.update-disk", err);
    if (body == NULL)
        return api_fail(err, 400, 0, "vm.update-disk needs a JSON disk");
    if (vmm_api_disk_parse(body, "disk", &disk, err) < 0)
        return 400;
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

/* vm.info's "disks": what each disk holds now and whether the guest has
 * read its current size. */
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

static int handle_add_fs(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    struct vmm_fs fs;
    if (api->state == API_NOT_CREATED)
        return conflict(api, "vm.add-fs", err);
    if (api->state != API_CREATED)
        return api_fail(err, 409, 0, "vm.add-fs: virtio-mmio devices are added before boot");
    if (body == NULL)
        return api_fail(err, 400, 0, "vm.add-fs needs a JSON share");
    if (vmm_api_fs_parse(body, "fs", &fs, err) < 0)
        return 400;
    struct json_object *shares;
    if (!json_object_object_get_ex(api->config, "fs", &shares)) {
        shares = json_object_new_array();
        json_object_object_add(api->config, "fs", shares);
    }
    if (json_object_array_length(shares) >= VMM_API_MAX_FS)
        return api_fail(err, 400, 0, "vm.add-fs: at most %u shares", VMM_API_MAX_FS);
    json_object_array_add(shares, json_object_get(body));
    return 204;
}

static int handle_add_vsock(struct vmm_api *api, struct json_object *body, char **out,
                            struct kerr **err)
{
    uint64_t cid;
    const char *socket_path;
    if (api->state != API_CREATED)
        return conflict(api, "vm.add-vsock", err);
    if (json_object_object_get_ex(api->config, "vsock", NULL))
        return api_fail(err, 409, 0, "vm.add-vsock: the VM has a vsock device already");
    if (body == NULL)
        return api_fail(err, 400, 0, "vm.add-vsock needs a JSON vsock");
    if (vmm_api_vsock_parse(body, "vsock", &cid, &socket_path, err) < 0)
        return 400;
    json_object_object_add(api->config, "vsock", json_object_get(body));
    return 204;
}

static int handle_boot(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    if (api->state != API_CREATED)
        return conflict(api, "vm.boot", err);
    struct vmm_config cfg;
    struct vmm_api_config_storage storage;
    if (vmm_api_config_parse(api->config, &cfg, &storage, err) < 0)
        return 400;
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
    if (api->state != API_RUNNING)
        return conflict(api, "vm.pause", err);
    if (vmm_pause(api->vm, err) < 0)
        return 500;
    api->state = API_PAUSED;
    return 204;
}

static int handle_resume(struct vmm_api *api, struct json_object *body, char **out,
                         struct kerr **err)
{
    if (api->state != API_PAUSED)
        return conflict(api, "vm.resume", err);
    vmm_resume(api->vm);
    api->state = API_RUNNING;
    return 204;
}

static int handle_info(struct vmm_api *api, struct json_object *body, char **out, struct kerr **err)
{
    struct json_object *info = json_object_new_object();
    json_object_object_add(info, "state", json_object_new_string(state_names[api->state]));
    if (api->config)
        json_object_object_add(info, "config", json_object_get(api->config));
    if (api->vm)
        json_object_object_add(info, "disks", disk_states(api));
    *out = xstrdup(json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN));
    json_object_put(info);
    return 200;
}

static int handle_shutdown(struct vmm_api *api, struct json_object *body, char **out,
                           struct kerr **err)
{
    if (api->state != API_RUNNING && api->state != API_PAUSED)
        return conflict(api, "vm.shutdown", err);
    vm_finish(api, true);
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
    {"PUT", "/api/v1/vm.add-disk", handle_add_disk},
    {"PUT", "/api/v1/vm.update-disk", handle_update_disk},
    {"PUT", "/api/v1/vm.add-vsock", handle_add_vsock},
    {"PUT", "/api/v1/vm.add-fs", handle_add_fs},
    {"PUT", "/api/v1/vm.boot", handle_boot},
    {"PUT", "/api/v1/vm.pause", handle_pause},
    {"PUT", "/api/v1/vm.resume", handle_resume},
    {"GET", "/api/v1/vm.info", handle_info},
    {"PUT", "/api/v1/vm.shutdown", handle_shutdown},
    {"PUT", "/api/v1/vmm.shutdown", handle_vmm_shutdown},
};

static char *error_body(const char *message)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(message));
    char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

int vmm_api_handle(struct vmm_api *api, const struct http_request *req, char **body)
{
    *body = NULL;
    bool path_known = false;
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        if (strcmp(routes[i].path, req->path) != 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, req->method) != 0)
            continue;
        struct json_object *json = NULL;
        cleanup_kerr struct kerr *err = NULL;
        if (req->body_len) {
            struct json_tokener *tok = json_tokener_new();
            json = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
            enum json_tokener_error jerr = json_tokener_get_error(tok);
            json_tokener_free(tok);
            if (json == NULL || jerr != json_tokener_success) {
                json_object_put(json);
                cleanup_free char *msg = xasprintf("%s: the body is not JSON (%s)", req->path,
                                                   json_tokener_error_desc(jerr));
                *body = error_body(msg);
                return 400;
            }
        }
        int code = routes[i].handler(api, json, body, &err);
        json_object_put(json);
        if (code >= 400)
            *body = error_body(err ? err->msg : http_reason(code));
        return code;
    }
    cleanup_free char *msg = xasprintf("%s %s: %s", req->method, req->path,
                                       path_known ? "method not allowed" : "no such endpoint");
    *body = error_body(msg);
    return path_known ? 405 : 404;
}

/* ---- connections ---- */

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
    free(c);
}

static void conn_readable(struct loop_watch *w, uint32_t events, void *data)
{
    struct api_conn *c = data;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
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
            body = error_body(err ? err->msg : "request too large");
        } else {
            status = vmm_api_handle(c->api, &req, &body);
        }
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
