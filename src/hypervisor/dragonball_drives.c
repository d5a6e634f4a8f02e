/* The built-in VMM's placeholder drives (see dragonball_drives.h). */
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

static char *placeholder_path(const struct vm *vm, unsigned k)
{
    return xasprintf("%s/drive_%u", vm->cfg.run_dir, k);
}

unsigned dragonball_drive_pool_size(const struct vm_config *cfg, unsigned max_disks)
{
    unsigned used = (cfg->image != NULL) + (unsigned)cfg->n_block_devices;
    unsigned room = used < max_disks ? max_disks - used : 0;
    return room < DRAGONBALL_DRIVE_POOL_MAX ? room : DRAGONBALL_DRIVE_POOL_MAX;
}

void dragonball_drives_remove(struct vm *vm)
{
    struct dragonball_state *ds = dragonball_state(vm);
    for (unsigned k = 0; k < DRAGONBALL_DRIVE_POOL_MAX; k++) {
        if (vm->cfg.run_dir) {
            cleanup_free char *path = placeholder_path(vm, k);
            unlink(path);
        }
        free(ds->drive_ids[k]);
        ds->drive_ids[k] = NULL;
    }
    ds->drive_pool = 0;
}

int dragonball_drives_prepare(struct vm *vm, struct json_object *disks, unsigned max_disks,
                              struct kerr **err)
{
    struct dragonball_state *ds = dragonball_state(vm);
    unsigned n = dragonball_drive_pool_size(&vm->cfg, max_disks);
    ds->drive_first = (unsigned)json_object_array_length(disks);
    for (unsigned k = 0; k < n; k++) {
        cleanup_free char *path = placeholder_path(vm, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            kerr_make(err, errno, "placeholder drive `%s`", path);
            dragonball_drives_remove(vm);
            return -1;
        }
        close(fd);
        char id[24];
        snprintf(id, sizeof(id), "drive_%u", k);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "readonly", json_object_new_boolean(0));
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_array_add(disks, o);
    }
    ds->drive_pool = n;
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
static int drives_seen(struct vm *vm, bool seen[DRAGONBALL_DRIVE_POOL_MAX], struct kerr **err)
{
    struct ch_client c;
    ch_client_init(&c, dragonball_state(vm)->api_socket, DRIVES_API_TIMEOUT_NS);
    struct ch_answer a;
    if (ch_request(&c, "GET", "vm.disk-states", NULL, &a, err) < 0) {
        ch_answer_release(&a);
        return -1;
    }
    cleanup_free char *answer = steal_pointer(&a.body);
    memset(seen, 0, sizeof(bool) * DRAGONBALL_DRIVE_POOL_MAX);
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
            sscanf(json_object_get_string(id), "drive_%u%c", &k, &extra) == 1 &&
            k < DRAGONBALL_DRIVE_POOL_MAX)
            seen[k] = json_object_get_boolean(flag);
    }
    json_object_put(info);
    return 0;
}

static int drive_of(struct vm *vm, const char *id)
{
    struct dragonball_state *ds = dragonball_state(vm);
    for (unsigned k = 0; k < ds->drive_pool; k++)
        if (ds->drive_ids[k] && strcmp(ds->drive_ids[k], id) == 0)
            return (int)k;
    return -1;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* A free drive whose empty size the guest has read: -1 with err when every
 * drive is taken or none got read within DRIVES_SEEN_WAIT_NS. */
static int free_drive(struct vm *vm, const char *id, struct kerr **err)
{
    struct dragonball_state *ds = dragonball_state(vm);
    uint64_t deadline = now_ns() + DRIVES_SEEN_WAIT_NS;
    for (;;) {
        bool seen[DRAGONBALL_DRIVE_POOL_MAX], any_free = false;
        if (drives_seen(vm, seen, err) < 0)
            return -1;
        for (unsigned k = 0; k < ds->drive_pool; k++) {
            if (ds->drive_ids[k] != NULL)
                continue;
            any_free = true;
            if (seen[k])
                return (int)k;
        }
        if (!any_free)
            return kerr_make(err, ENOSPC,
                             "hotplug `%s`: all %u drives of the built-in VMM are "
                             "in use",
                             id, ds->drive_pool);
        if (now_ns() >= deadline)
            return kerr_make(err, ETIMEDOUT,
                             "hotplug `%s`: the guest has not read the empty size of any free "
                             "drive",
                             id);
        sleep_ns(DRIVES_POLL_NS);
    }
}

int dragonball_hotplug_block(struct vm *vm, const struct vm_block_device *dev, char **guest_path,
                             struct kerr **err)
{
    struct dragonball_state *ds = dragonball_state(vm);
    if (dev->id == NULL || *dev->id == '\0')
        return kerr_make(err, EINVAL, "hotplug `%s`: the disk needs an id", dev->path);
    if (dev->scsi)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: the built-in VMM has no virtio-scsi (use "
                         "block_device_driver = \"virtio-blk\")",
                         dev->id);
    if (ds->drive_pool == 0)
        return kerr_make(err, ENOTSUP,
                         "hotplug `%s`: the VM has no placeholder drives (the image and the "
                         "boot disks take every disk slot of the built-in VMM)",
                         dev->id);
    if (drive_of(vm, dev->id) >= 0)
        return kerr_make(err, EEXIST, "hotplug `%s`: already plugged", dev->id);
    int k = free_drive(vm, dev->id, err);
    if (k < 0)
        return -1;
    if (drive_update(vm, (unsigned)k, dev->path, dev->readonly, err) < 0)
        return kerr_wrap(err, "hotplug `%s` into drive_%d", dev->id, k);
    ds->drive_ids[k] = xstrdup(dev->id);
    *guest_path = xasprintf("/dev/vd%c", 'a' + (int)(ds->drive_first + (unsigned)k));
    return 0;
}

int dragonball_unplug_block(struct vm *vm, const char *id, uint64_t timeout_ns, struct kerr **err)
{
    struct dragonball_state *ds = dragonball_state(vm);
    int k = drive_of(vm, id);
    if (k < 0)
        return kerr_make(err, ENOENT, "unplug `%s`: not in a drive of the built-in VMM", id);
    cleanup_free char *placeholder = placeholder_path(vm, (unsigned)k);
    if (drive_update(vm, (unsigned)k, placeholder, false, err) < 0)
        return kerr_wrap(err, "unplug `%s` from drive_%d", id, k);
    free(ds->drive_ids[k]);
    ds->drive_ids[k] = NULL;
    /* The disk is out; the drive is reused once the guest saw it empty. */
    uint64_t deadline = now_ns() + timeout_ns;
    for (;;) {
        bool seen[DRAGONBALL_DRIVE_POOL_MAX];
        if (drives_seen(vm, seen, err) < 0)
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
