/* Placeholder drives (see dragonball_drives.h): the pool, and the built-in
 * VMM's two steps (vm.update-disk, vm.disk-states' guest_seen). */
#include "dragonball_drives.h"
#include "ch_client.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRIVES_API_TIMEOUT_NS 10000000000ull
/* A hotplug waits this long for a free drive whose empty size the guest has
 * read (an unplug that timed out left it unread). */
#define DRIVES_SEEN_WAIT_NS 10000000000ull
#define DRIVES_POLL_NS      20000000ull

/* ---- the pool ---- */

char *drive_pool_placeholder(const struct vm *vm, unsigned k)
{
    return xasprintf("%s/drive_%u", vm->cfg.run_dir, k);
}

unsigned drive_pool_size(const struct vm_config *cfg, unsigned max_disks)
{
    unsigned used = (cfg->image != NULL) + (unsigned)cfg->n_block_devices;
    unsigned room = used < max_disks ? max_disks - used : 0;
    return room < DRIVE_POOL_MAX ? room : DRIVE_POOL_MAX;
}

void drive_pool_free(struct drive_pool *pool)
{
    for (unsigned k = 0; k < DRIVE_POOL_MAX; k++) {
        free(pool->ids[k]);
        pool->ids[k] = NULL;
    }
}

void drive_pool_remove(struct vm *vm, struct drive_pool *pool)
{
    for (unsigned k = 0; k < DRIVE_POOL_MAX && vm->cfg.run_dir; k++) {
        cleanup_free char *path = drive_pool_placeholder(vm, k);
        unlink(path);
    }
    drive_pool_free(pool);
    pool->size = 0;
}

int drive_pool_create(struct vm *vm, struct drive_pool *pool, unsigned n, unsigned first,
                      struct kerr **err)
{
    pool->first = first;
    for (unsigned k = 0; k < n && k < DRIVE_POOL_MAX; k++) {
        cleanup_free char *path = drive_pool_placeholder(vm, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            kerr_make(err, errno, "placeholder drive `%s`", path);
            drive_pool_remove(vm, pool);
            return -1;
        }
        close(fd);
    }
    pool->size = n < DRIVE_POOL_MAX ? n : DRIVE_POOL_MAX;
    return 0;
}

static int drive_of(const struct drive_pool *pool, const char *id)
{
    for (unsigned k = 0; k < pool->size; k++)
        if (pool->ids[k] && strcmp(pool->ids[k], id) == 0)
            return (int)k;
    return -1;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

static int pool_seen(struct vm *vm, const struct drive_pool_ops *ops, bool seen[DRIVE_POOL_MAX],
                     struct kerr **err)
{
    if (ops->seen)
        return ops->seen(vm, seen, err);
    for (unsigned k = 0; k < DRIVE_POOL_MAX; k++)
        seen[k] = true;
    return 0;
}

/* A free drive whose empty size the guest has read: -1 with err when every
 * drive is taken or none got read within DRIVES_SEEN_WAIT_NS. */
static int free_drive(struct vm *vm, struct drive_pool *pool, const struct drive_pool_ops *ops,
                      const char *id, struct kerr **err)
{
    uint64_t deadline = now_ns() + DRIVES_SEEN_WAIT_NS;
    for (;;) {
        bool seen[DRIVE_POOL_MAX], any_free = false;
        if (pool_seen(vm, ops, seen, err) < 0)
            return -1;
        for (unsigned k = 0; k < pool->size; k++) {
            if (pool->ids[k] != NULL)
                continue;
            any_free = true;
            if (seen[k])
                return (int)k;
        }
        if (!any_free)
            return kerr_make(err, ENOSPC, "hotplug `%s`: all %u drives of %s are in use", id,
                             pool->size, ops->what);
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT,
                             "hotplug `%s`: the guest has not read the empty size of any free "
                             "drive",
                             id);
        sleep_ns(DRIVES_POLL_NS);
    }
}

int drive_pool_plug(struct vm *vm, struct drive_pool *pool, const struct drive_pool_ops *ops,
                    const struct vm_block_device *dev, char **guest_path, struct kerr **err)
{
    if (dev->id == NULL || *dev->id == '\0')
        return kerr_make(err, EINVAL, "hotplug `%s`: the disk needs an id", dev->path);
    if (dev->scsi)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: %s has no virtio-scsi (use block_device_driver = "
                         "\"virtio-blk\")",
                         dev->id, ops->what);
    if (pool->size == 0)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: the VM has no placeholder drives (the image and the "
                         "boot disks take every disk slot of %s)",
                         dev->id, ops->what);
    if (drive_of(pool, dev->id) >= 0)
        return kerr_make(err, EEXIST, "hotplug `%s`: already plugged", dev->id);
    int k = free_drive(vm, pool, ops, dev->id, err);
    if (k < 0)
        return -1;
    if (ops->update(vm, (unsigned)k, dev->path, dev->readonly, err) < 0)
        return kerr_wrap(err, "hotplug `%s` into drive_%d", dev->id, k);
    pool->ids[k] = xstrdup(dev->id);
    *guest_path = xasprintf("/dev/vd%c", 'a' + (int)(pool->first + (unsigned)k));
    return 0;
}

int drive_pool_unplug(struct vm *vm, struct drive_pool *pool, const struct drive_pool_ops *ops,
                      const char *id, uint64_t timeout_ns, struct kerr **err)
{
    int k = drive_of(pool, id);
    if (k < 0)
        return kerr_make(err, ENOENT, "unplug `%s`: not in a drive of %s", id, ops->what);
    cleanup_free char *placeholder = drive_pool_placeholder(vm, (unsigned)k);
    if (ops->update(vm, (unsigned)k, placeholder, false, err) < 0)
        return kerr_wrap(err, "unplug `%s` from drive_%d", id, k);
    free(pool->ids[k]);
    pool->ids[k] = NULL;
    /* The disk is out; the drive is reused once the guest saw it empty. */
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        bool seen[DRIVE_POOL_MAX];
        if (pool_seen(vm, ops, seen, err) < 0)
            return kerr_wrap(err, "unplug `%s`", id);
        if (seen[k])
            return 0;
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT,
                             "unplug `%s`: the guest did not read drive_%d's empty size within "
                             "%llu ms (the disk is out; the drive waits)",
                             id, k, (unsigned long long)(timeout_ns / 1000000));
        sleep_ns(DRIVES_POLL_NS);
    }
}

/* ---- the built-in VMM ---- */

unsigned dragonball_drive_pool_size(const struct vm_config *cfg, unsigned max_disks)
{
    return drive_pool_size(cfg, max_disks);
}

void dragonball_drives_remove(struct vm *vm)
{
    drive_pool_remove(vm, &dragonball_state(vm)->drives);
}

int dragonball_drives_prepare(struct vm *vm, struct json_object *disks, unsigned max_disks,
                              struct kerr **err)
{
    struct drive_pool *pool = &dragonball_state(vm)->drives;
    unsigned n = drive_pool_size(&vm->cfg, max_disks);
    if (drive_pool_create(vm, pool, n, (unsigned)json_object_array_length(disks), err) < 0)
        return -1;
    for (unsigned k = 0; k < n; k++) {
        char id[24];
        snprintf(id, sizeof(id), "drive_%u", k);
        cleanup_free char *path = drive_pool_placeholder(vm, k);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "readonly", json_object_new_boolean(0));
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_array_add(disks, o);
    }
    return 0;
}

/* vm.update-disk: path behind drive k. */
static int drive_update(struct vm *vm, unsigned k, const char *path, bool readonly,
                        struct kerr **err)
{
    char id[24];
    snprintf(id, sizeof(id), "drive_%u", k);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "readonly", json_object_new_boolean(readonly));
    cleanup_free char *body = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    struct ch_client c;
    ch_client_init(&c, dragonball_state(vm)->api_socket, DRIVES_API_TIMEOUT_NS);
    return ch_request(&c, "PUT", "vm.update-disk", body, NULL, err);
}

/* Which drives' current size the guest has read (kata-vmm's
 * vm.disk-states: disks[].guest_seen). */
static int drives_seen(struct vm *vm, bool seen[DRIVE_POOL_MAX], struct kerr **err)
{
    struct ch_client c;
    ch_client_init(&c, dragonball_state(vm)->api_socket, DRIVES_API_TIMEOUT_NS);
    struct ch_answer a;
    if (ch_request(&c, "GET", "vm.disk-states", NULL, &a, err) < 0) {
        ch_answer_release(&a);
        return -1;
    }
    cleanup_free char *answer = steal_pointer(&a.body);
    memset(seen, 0, sizeof(bool) * DRIVE_POOL_MAX);
    struct json_object *info = answer ? json_tokener_parse(answer) : NULL, *disks;
    if (info == NULL || !json_object_object_get_ex(info, "disks", &disks) ||
        !json_object_is_type(disks, json_type_array)) {
        json_object_put(info);
        return kerr_make(err, EPROTO, "vm.disk-states: no disks in `%.80s`", answer ? answer : "");
    }
    for (size_t i = 0; i < json_object_array_length(disks); i++) {
        struct json_object *d = json_object_array_get_idx(disks, i), *id, *flag;
        unsigned k;
        char extra;
        if (json_object_object_get_ex(d, "id", &id) &&
            json_object_object_get_ex(d, "guest_seen", &flag) &&
            sscanf(json_object_get_string(id), "drive_%u%c", &k, &extra) == 1 && k < DRIVE_POOL_MAX)
            seen[k] = json_object_get_boolean(flag);
    }
    json_object_put(info);
    return 0;
}

static const struct drive_pool_ops dragonball_drive_ops = {
    .what = "the built-in VMM",
    .update = drive_update,
    .seen = drives_seen,
};

int dragonball_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                             struct kerr **err)
{
    return drive_pool_plug(vm, &dragonball_state(vm)->drives, &dragonball_drive_ops, dev,
                           guest_path, err);
}

int dragonball_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    return drive_pool_unplug(vm, &dragonball_state(vm)->drives, &dragonball_drive_ops, id,
                             timeout_ns, err);
}
