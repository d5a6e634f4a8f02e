/* A container rootfs on a block device, given to the VM as a disk (Kata's
 * block rootfs): containerd's Create carries it as a rootfs mount of a block
 * file system (devmapper snapshotter: ext4 on /dev/dm-N), or the bundle's
 * rootfs is itself a mount of a block device (a loop-mounted image).  The
 * host mounts nothing more and unmounts nothing; the device is hotplugged
 * when the driver's capabilities say disks hot-plug, else attached at boot
 * (the pod's first container only), and
 * the agent mounts it as the container's root.  disable_block_device_use
 * turns it off (the files are shared instead); with shared_fs = "none" it
 * is the only way a rootfs reaches the guest. */
#include "log.h"
#include "shim.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define MOUNTINFO_MAX (4u << 20)
/* Hotplug ports left free (vm_config.hotplug_slots): a pod's containers
 * with block rootfs at once. */
#define BLOCKROOT_HOTPLUG_PORTS 4
/* The guest releases an unplugged disk (ACPI eject; slower under TCG). */
#define BLOCKROOT_UNPLUG_NS (30ull * 1000000000ull)

void blockroot_free(struct blockroot *br)
{
    if (br == NULL)
        return;
    free(br->device);
    free(br->fstype);
    kata_strv_free(br->options);
    free(br->disk_id);
    free(br->guest_source);
    free(br);
}

/* The source is a block device (its device number, when want_rdev). */
static bool is_block_device(const char *path, dev_t want_rdev, bool check_rdev)
{
    struct stat st;
    return path && path[0] == '/' && stat(path, &st) == 0 && S_ISBLK(st.st_mode) &&
           (!check_rdev || st.st_rdev == want_rdev);
}

/* containerd's Create: one rootfs mount of a file system on a block device
 * (not bind, not overlay). */
static struct blockroot *detect_create_mount(const Containerd__Task__V2__CreateTaskRequest *req)
{
    if (req->n_rootfs != 1)
        return NULL;
    const Containerd__Types__Mount *m = req->rootfs[0];
    if (m->type == NULL || *m->type == '\0' || strcmp(m->type, "bind") == 0 ||
        strcmp(m->type, "rbind") == 0 || strcmp(m->type, "overlay") == 0 ||
        !is_block_device(m->source, 0, false))
        return NULL;
    struct blockroot *br = xcalloc(1, sizeof(*br));
    br->device = xstrdup(m->source);
    br->fstype = xstrdup(m->type);
    br->from_create = true;
    for (size_t i = 0; i < m->n_options; i++) {
        const char *o = m->options[i];
        if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0) {
            blockroot_free(br);
            return NULL;
        }
        if (strcmp(o, "ro") == 0)
            br->readonly = true;
        else if (strcmp(o, "rw") != 0)
            kata_strv_push(&br->options, xstrdup(o));
    }
    return br;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void mountinfo_unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static bool opts_have(const char *opts, const char *want)
{
    cleanup_free char *copy = xstrdup(opts);
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (strcmp(o, want) == 0)
            return true;
    return false;
}

/* One mountinfo line, if it mounts the whole file system of a block device
 * on path: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE
 * SOURCE SUPEROPTS". */
static struct blockroot *detect_mountinfo_line(char *line, const char *path)
{
    char *fields[6], *save = NULL;
    for (int i = 0; i < 6; i++)
        if ((fields[i] = strtok_r(i == 0 ? line : NULL, " ", &save)) == NULL)
            return NULL;
    char *dash;
    while ((dash = strtok_r(NULL, " ", &save)) != NULL && strcmp(dash, "-") != 0)
        ;
    char *type = strtok_r(NULL, " ", &save), *source = strtok_r(NULL, " ", &save);
    char *super = strtok_r(NULL, " ", &save);
    if (dash == NULL || type == NULL || source == NULL || super == NULL)
        return NULL;
    mountinfo_unescape(fields[3]);
    mountinfo_unescape(fields[4]);
    mountinfo_unescape(source);
    unsigned major, minor;
    char tail;
    if (strcmp(fields[4], path) != 0 || sscanf(fields[2], "%u:%u%c", &major, &minor, &tail) != 2)
        return NULL;
    /* A bind of a subdirectory is not the device's root: share it. */
    if (strcmp(fields[3], "/") != 0 || !is_block_device(source, makedev(major, minor), true))
        return NULL;
    struct blockroot *br = xcalloc(1, sizeof(*br));
    br->device = xstrdup(source);
    br->fstype = xstrdup(type);
    br->readonly = opts_have(fields[5], "ro") || opts_have(super, "ro");
    return br;
}

/* The bundle's rootfs directory as a mount point of a block device: the
 * topmost mount on it (the last mountinfo line naming it) decides. */
static struct blockroot *detect_bundle_mount(const char *host_rootfs, struct kerr **err)
{
    char path[PATH_MAX];
    if (realpath(host_rootfs, path) == NULL)
        return NULL; /* sharing it reports the missing rootfs */
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (file_read_all("/proc/self/mountinfo", MOUNTINFO_MAX, &text, &len, err) < 0)
        return NULL;
    struct blockroot *found = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cleanup_free char *copy = xstrdup(line);
        /* Any later mount on the same path hides the earlier one. */
        char *fields[5], *fsave = NULL;
        int n = 0;
        for (char *f = strtok_r(copy, " ", &fsave); f && n < 5; f = strtok_r(NULL, " ", &fsave))
            fields[n++] = f;
        if (n < 5)
            continue;
        mountinfo_unescape(fields[4]);
        if (strcmp(fields[4], path) != 0)
            continue;
        blockroot_free(found);
        found = detect_mountinfo_line(line, path);
    }
    return found;
}

int blockroot_detect(const Containerd__Task__V2__CreateTaskRequest *req, const char *host_rootfs,
                     struct blockroot **out, struct kerr **err)
{
    *out = req->n_rootfs > 0 ? detect_create_mount(req) : detect_bundle_mount(host_rootfs, err);
    if (*out == NULL && err && *err)
        return kerr_wrap(err, "rootfs `%s`", host_rootfs);
    if (*out)
        log_info("rootfs `%s`: %s on block device `%s`%s", host_rootfs, (*out)->fstype,
                 (*out)->device, (*out)->readonly ? " (read-only)" : "");
    return 0;
}

/* Whether the sandbox's driver hot-plugs virtio-blk disks into a VM of its
 * configuration (else a disk attaches at boot only). */
static bool blk_hotplugs(const struct sandbox *sb)
{
    if (sb->driver == NULL)
        return false;
    struct vm_capabilities caps;
    vm_capabilities(sb->driver, &sb->vm_cfg, &caps);
    return caps.blk_hotplug;
}

static bool uses_scsi(const struct sandbox *sb)
{
    return strcmp(sb->cfg->hypervisor.block_device_driver, "virtio-scsi") == 0;
}

/* Share the files instead of the disk: fine with a shared file system, an
 * error without one. */
static int share_instead(struct sandbox *sb, const char *cid, struct blockroot **br,
                         const char *why, struct kerr **err)
{
    if (vm_shared_fs_kind(sb->vm_cfg.shared_fs, NULL) == VM_SHARED_FS_NONE)
        return kerr_make(err, ENOTSUP,
                         "container `%s`: its rootfs is on block device `%s` but %s, and "
                         "shared_fs = \"none\" in `%s` leaves no other way into the VM",
                         cid, (*br)->device, why, sb->cfg->path);
    log_info("container `%s`: rootfs on `%s` shared as files: %s", cid, (*br)->device, why);
    blockroot_free(*br);
    *br = NULL;
    return 0;
}

int blockroot_decide(struct shim *shim, const char *cid, const char *host_rootfs,
                     struct blockroot **br, bool at_boot, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    const struct kata_hypervisor_config *hv = &sb->cfg->hypervisor;
    if (*br == NULL) {
        if (vm_shared_fs_kind(sb->vm_cfg.shared_fs, NULL) != VM_SHARED_FS_NONE)
            return 0;
        return kerr_make(err, ENOTSUP,
                         "container `%s`: shared_fs = \"none\" in `%s` needs a block-device "
                         "rootfs, and `%s` is not a mount of a block device",
                         cid, sb->cfg->path, host_rootfs);
    }
    if (hv->disable_block_device_use)
        return share_instead(sb, cid, br, "disable_block_device_use = true", err);
    if (strcmp(hv->block_device_driver, "virtio-blk") != 0 &&
        strcmp(hv->block_device_driver, "virtio-mmio") != 0 && !uses_scsi(sb)) {
        cleanup_free char *why = xasprintf("block_device_driver = \"%s\" cannot carry a "
                                           "container rootfs (\"virtio-blk\" and "
                                           "\"virtio-scsi\" can)",
                                           hv->block_device_driver);
        return share_instead(sb, cid, br, why, err);
    }
    if (!blk_hotplugs(sb) && !uses_scsi(sb) && !at_boot && !(*br)->coldplugged) {
        cleanup_free char *machine =
            sb->vm_cfg.machine_type
                ? xasprintf(" with machine_type = \"%s\"", sb->vm_cfg.machine_type)
                : xstrdup("");
        cleanup_free char *why = xasprintf(
            "hypervisor `%s`%s cannot hotplug a virtio-blk disk (only the pod's first "
            "container's rootfs is attached at boot; block_device_driver = \"virtio-scsi\" "
            "may hotplug)",
            hv->name, machine);
        return share_instead(sb, cid, br, why, err);
    }
    return 0;
}

int blockroot_boot_prepare(struct shim *shim, const char *cid, const char *host_rootfs,
                           struct blockroot **br, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    if (blockroot_decide(shim, cid, host_rootfs, br, true, err) < 0)
        return -1;
    const struct kata_hypervisor_config *hv = &sb->cfg->hypervisor;
    if (!hv->disable_block_device_use && uses_scsi(sb))
        sb->vm_cfg.scsi_controller = true;
    else if (!hv->disable_block_device_use && blk_hotplugs(sb) &&
             sb->vm_cfg.hotplug_slots < BLOCKROOT_HOTPLUG_PORTS)
        sb->vm_cfg.hotplug_slots = BLOCKROOT_HOTPLUG_PORTS;
    if (*br == NULL || blk_hotplugs(sb) || uses_scsi(sb))
        return 0;
    /* No hotplug: the disk at boot, after the image; /dev/vda is the image when
     * there is one (docs/hypervisor.md). */
    struct blockroot *b = *br;
    b->disk_id = xasprintf("rootfs%u", shim->next_disk++);
    b->disk =
        (struct vm_block_device){.id = b->disk_id, .path = b->device, .readonly = b->readonly};
    b->guest_source = xasprintf("/dev/vd%c", sb->vm_cfg.image ? 'b' : 'a');
    b->coldplugged = true;
    sb->vm_cfg.block_devices = &b->disk;
    sb->vm_cfg.n_block_devices = 1;
    return 0;
}

int blockroot_plug(struct shim *shim, struct container *c, Grpc__Spec *spec,
                   Grpc__Storage **storage, struct kerr **err)
{
    struct sandbox *sb = shim->sandbox;
    struct blockroot *br = c->blockroot;
    const char *driver = "mmioblk";
    if (!br->coldplugged) {
        if (sb->vm.ops->hotplug_block == NULL)
            return kerr_make(err, ENOTSUP, "container `%s`: hypervisor `%s` cannot hotplug `%s`",
                             c->id, sb->vm.ops->name, br->device);
        br->disk_id = xasprintf("rootfs%u", shim->next_disk++);
        br->disk = (struct vm_block_device){
            .id = br->disk_id, .path = br->device, .readonly = br->readonly, .scsi = uses_scsi(sb)};
        if (sb->vm.ops->hotplug_block(&sb->vm, &br->disk, &br->guest_source, err) < 0)
            return kerr_wrap(err, "container `%s`: rootfs `%s`", c->id, br->device);
        br->hotplugged = true;
        /* A PCI path, a SCSI address, or the device node of a virtio-mmio
         * drive (a driver's placeholder drives). */
        driver = br->disk.scsi                                ? "scsi"
                 : strncmp(br->guest_source, "/dev/", 5) == 0 ? "mmioblk"
                                                              : "blk";
    }
    Grpc__Storage *s = xcalloc(1, sizeof(*s));
    grpc__storage__init(s);
    s->driver = xstrdup(driver);
    s->source = xstrdup(br->guest_source);
    s->fstype = xstrdup(br->fstype);
    s->mount_point = xasprintf("%s/%s", GUEST_BLOCK_ROOTFS_DIR, c->id);
    for (char **o = br->options; o && *o; o++)
        kata_strv_push(&s->options, xstrdup(*o));
    if (br->readonly)
        kata_strv_push(&s->options, xstrdup("ro"));
    s->n_options = kata_strv_len(s->options);
    if (spec->root == NULL) {
        spec->root = xcalloc(1, sizeof(*spec->root));
        grpc__root__init(spec->root);
    }
    if (spec->root->path != protobuf_c_empty_string)
        free(spec->root->path);
    spec->root->path = xstrdup(s->mount_point);
    *storage = s;
    log_info("container `%s`: rootfs `%s` as %s disk `%s` (%s)", c->id, br->device, driver,
             br->guest_source, br->fstype);
    return 0;
}

void blockroot_release(struct shim *shim, struct container *c)
{
    struct blockroot *br = c->blockroot;
    struct sandbox *sb = shim->sandbox;
    c->blockroot = NULL;
    if (br == NULL)
        return;
    /* The VM stays for other containers: give the disk back.  When the VM
     * goes (or went), the disk goes with it. */
    if (br->hotplugged && sb && sb->vm.pid > 0 && shim->containers != NULL &&
        sb->vm.ops->unplug_block) {
        cleanup_kerr struct kerr *e = NULL;
        if (sb->vm.ops->unplug_block(&sb->vm, br->disk_id, BLOCKROOT_UNPLUG_NS, &e) < 0)
            log_warn("container `%s`: %s", c->id, e->msg);
    }
    if (sb && sb->vm_cfg.block_devices == &br->disk) {
        sb->vm_cfg.block_devices = NULL;
        sb->vm_cfg.n_block_devices = 0;
    }
    if (sb && sb->vm.cfg.block_devices == &br->disk) {
        sb->vm.cfg.block_devices = NULL;
        sb->vm.cfg.n_block_devices = 0;
    }
    blockroot_free(br);
}
