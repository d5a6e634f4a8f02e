/* Storages: one handler per driver turns a Grpc__Storage into a mount; every
 * mount is tracked by mount point with its owners, and unmounted when the
 * last owner lets go. */
#include "storage.h"
#include "log.h"
#include "mount_util.h"
#include "util.h"

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a block device may take to appear after the host plugged it. */
#define DEVICE_WAIT_NS (10ull * 1000 * 1000 * 1000)

struct tracked_mount {
    char *mount_point;
    char *driver;
    bool mounted;  /* false for "local": a directory, nothing to unmount */
    char **owners; /* one entry per reference */
    size_t n_owners;
    struct tracked_mount *next; /* newest first */
};

struct agent_storages {
    struct tracked_mount *mounts;
    uint64_t device_wait_ns; /* how long storage_add polls for a device */
};

/* What a handler decides: the mount(2) arguments. */
struct mount_plan {
    char *source;
    const char *fstype; /* NULL: a bind mount */
    struct mount_opts opts;
    bool no_mount; /* "local" */
    mode_t dir_mode;
    /* O_PATH fds of sources resolved beneath the storage root, mounted
     * through /proc/self/fd/N: open until the mount is made. */
    int *fds;
    size_t n_fds;
};

static void plan_release(struct mount_plan *plan)
{
    for (size_t i = 0; i < plan->n_fds; i++)
        close(plan->fds[i]);
    free(plan->fds);
    free(plan->source);
    mount_opts_release(&plan->opts);
}

/* Keep fd open for the mount; returns the path that names it. */
static char *plan_hold(struct mount_plan *plan, int fd)
{
    plan->fds = xrealloc(plan->fds, (plan->n_fds + 1) * sizeof(*plan->fds));
    plan->fds[plan->n_fds++] = fd;
    return xasprintf("/proc/self/fd/%d", fd);
}

typedef int (*storage_handler)(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                               struct kerr **err);

static struct agent_storages *storages_of(struct agent *a)
{
    if (a->storages == NULL) {
        a->storages = xcalloc(1, sizeof(*a->storages));
        a->storages->device_wait_ns = DEVICE_WAIT_NS;
    }
    return a->storages;
}

/* ---- device lookup ---- */

static void sleep_ms(unsigned ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

/* The only entry of dir matching prefix (NULL prefix: any), or NULL. */
static char *first_entry(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && found == NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (prefix == NULL || strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            found = xstrdup(e->d_name);
    }
    closedir(d);
    return found;
}

/* A PCI path "02/01": slot 02 on the root bus is a bridge, slot 01 behind it
 * the device.  Each element is "SLOT" or "SLOT.FN" in hex.  Returns the
 * sysfs directory of the device, or NULL (not there yet, or malformed with
 * *malformed set). */
static char *pci_path_device(const char *sysfs, const char *pci_path, bool *malformed)
{
    cleanup_free char *bus = xstrdup("0000:00");
    cleanup_free char *copy = xstrdup(pci_path);
    char *save = NULL;
    char *elem = strtok_r(copy, "/", &save);
    *malformed = elem == NULL;
    while (elem) {
        char *end;
        unsigned long slot = strtoul(elem, &end, 16), fn = 0;
        if (*end == '.')
            fn = strtoul(end + 1, &end, 16);
        if (end == elem || *end != '\0' || slot > 0x1f || fn > 7) {
            *malformed = true;
            return NULL;
        }
        char *dev = xasprintf("%s/bus/pci/devices/%s:%02lx.%lx", sysfs, bus, slot, fn);
        elem = strtok_r(NULL, "/", &save);
        if (elem == NULL)
            return dev;
        /* A bridge: its secondary bus. */
        cleanup_free char *busdir = xasprintf("%s/pci_bus", dev);
        free(dev);
        char *next = first_entry(busdir, NULL);
        if (next == NULL)
            return NULL;
        free(bus);
        bus = next;
    }
    return NULL;
}

/* The block device under a device's sysfs directory: DEV/virtio*\/block/NAME
 * or DEV/block/NAME. */
static char *block_name_under(const char *devdir)
{
    cleanup_free char *direct = xasprintf("%s/block", devdir);
    char *name = first_entry(direct, NULL);
    if (name)
        return name;
    cleanup_free char *virtio = first_entry(devdir, "virtio");
    if (virtio == NULL)
        return NULL;
    cleanup_free char *blockdir = xasprintf("%s/%s/block", devdir, virtio);
    return first_entry(blockdir, NULL);
}

/* SCSI address "ID:LUN": /sys/bus/scsi/devices/H:0:ID:LUN/block/NAME. */
static char *scsi_block_name(const char *sysfs, const char *addr)
{
    cleanup_free char *devices = xasprintf("%s/bus/scsi/devices", sysfs);
    DIR *d = opendir(devices);
    if (d == NULL)
        return NULL;
    cleanup_free char *suffix = xasprintf(":0:%s", addr);
    size_t slen = strlen(suffix);
    char *name = NULL;
    struct dirent *e;
    while (name == NULL && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= slen || strcmp(e->d_name + n - slen, suffix) != 0 ||
            strchr(e->d_name, ':') != e->d_name + n - slen)
            continue;
        cleanup_free char *dev = xasprintf("%s/%s", devices, e->d_name);
        name = block_name_under(dev);
    }
    closedir(d);
    return name;
}

static bool valid_scsi_addr(const char *s)
{
    unsigned id, lun;
    char extra;
    return sscanf(s, "%u:%u%c", &id, &lun, &extra) == 2;
}

static bool is_block_driver(const char *driver)
{
    static const char *const drivers[] = {"blk", "virtio-blk", "mmioblk", "scsi"};
    for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
        if (strcmp(driver, drivers[i]) == 0)
            return true;
    return false;
}

/* The kernel makes a disk's /dev node (devtmpfs) a moment before the disk
 * can be opened: until then open (and mount) fail with ENXIO.  A hotplugged
 * disk counts as there once it opens and has a size: a virtio-mmio drive
 * without hotplug is there from boot, empty, until the host puts a disk in
 * it (the driver reads the new capacity after a config interrupt). */
static bool block_device_opens(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno != ENXIO && errno != ENODEV; /* other errors: mount reports them */
    uint64_t size = 1;
    if (ioctl(fd, BLKGETSIZE64, &size) < 0)
        size = 1; /* not ours to judge: mount reports it */
    close(fd);
    return size > 0;
}

/* Look once for the block device of s.  Returns "/dev/NAME", or NULL: with
 * *err set when the source is bad, without when the device is not there yet. */
static char *lookup_block_device(struct agent *a, const Grpc__Storage *s, struct kerr **err)
{
    const char *src = s->source;
    if (strncmp(src, "/dev/", 5) == 0) {
        if (strstr(src, "/../") || strchr(src + 5, '/') != NULL || src[5] == '\0' ||
            strcmp(src + 5, "..") == 0 || strcmp(src + 5, ".") == 0) {
            kerr_make(err, 0, "device `%s`: not a plain /dev entry", src);
            return NULL;
        }
        struct stat st;
        if (stat(src, &st) < 0)
            return NULL;
        if (!S_ISBLK(st.st_mode)) {
            kerr_make(err, 0, "device `%s`: not a block device", src);
            return NULL;
        }
        return block_device_opens(src) ? xstrdup(src) : NULL;
    }
    cleanup_free char *name = NULL;
    if (strcmp(s->driver, "scsi") == 0) {
        if (!valid_scsi_addr(src)) {
            kerr_make(err, 0, "SCSI address `%s`: expected ID:LUN", src);
            return NULL;
        }
        name = scsi_block_name(a->opts.sysfs_root, src);
    } else {
        bool malformed = false;
        cleanup_free char *dev = pci_path_device(a->opts.sysfs_root, src, &malformed);
        if (malformed) {
            kerr_make(err, 0, "PCI path `%s`: expected SLOT[/SLOT...] in hex", src);
            return NULL;
        }
        if (dev)
            name = block_name_under(dev);
    }
    if (name == NULL)
        return NULL;
    char *path = xasprintf("/dev/%s", name);
    struct stat st;
    if (stat(path, &st) == 0 && block_device_opens(path))
        return path;
    free(path);
    return NULL;
}

/* The block device for s, waited for (polled) up to the storages' wait. */
static char *find_block_device(struct agent *a, const Grpc__Storage *s, struct kerr **err)
{
    uint64_t deadline = now_ns() + storages_of(a)->device_wait_ns;
    for (;;) {
        char *path = lookup_block_device(a, s, err);
        if (path || (err && *err))
            return path;
        if (now_ns() >= deadline) {
            kerr_make(err, ETIMEDOUT, "%s device `%s` did not appear (or stayed empty)", s->driver,
                      s->source);
            return NULL;
        }
        sleep_ms(20);
    }
}

bool storage_devices_present(struct agent *a, Grpc__Storage *const *storages, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_block_driver(storages[i]->driver))
            continue;
        cleanup_kerr struct kerr *err = NULL;
        cleanup_free char *path = lookup_block_device(a, storages[i], &err);
        if (path == NULL && err == NULL)
            return false;
    }
    return true;
}

/* ---- handlers ---- */

static int handle_virtiofs(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                           struct kerr **err)
{
    if (*s->source == '\0')
        return kerr_make(err, 0, "virtio-fs storage needs its tag as source");
    plan->source = xstrdup(s->source);
    plan->fstype = "virtiofs";
    return 0;
}

static int handle_9p(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                     struct kerr **err)
{
    if (*s->source == '\0')
        return kerr_make(err, 0, "9p storage needs its mount tag as source");
    plan->source = xstrdup(s->source);
    plan->fstype = "9p";
    mount_opts_default(&plan->opts, "trans=virtio");
    mount_opts_default(&plan->opts, "version=9p2000.L");
    mount_opts_default(&plan->opts, "msize=512000");
    return 0;
}

static int handle_block(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                        struct kerr **err)
{
    if (*s->fstype == '\0')
        return kerr_make(err, 0, "%s storage `%s` needs an fstype", s->driver, s->source);
    plan->source = find_block_device(a, s, err);
    if (plan->source == NULL)
        return -1;
    plan->fstype = s->fstype;
    return 0;
}

static int handle_ephemeral(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                            struct kerr **err)
{
    plan->source = xstrdup("tmpfs");
    plan->fstype = "tmpfs";
    return 0;
}

/* A directory of the sandbox, mode from a "mode=0777" option. */
static int handle_local(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                        struct kerr **err)
{
    plan->no_mount = true;
    plan->dir_mode = 0755;
    for (size_t i = 0; i < s->n_options; i++)
        if (strncmp(s->options[i], "mode=", 5) == 0) {
            char *end;
            unsigned long mode = strtoul(s->options[i] + 5, &end, 8);
            if (*end != '\0' || end == s->options[i] + 5 || mode > 07777)
                return kerr_make(err, 0, "local storage: bad option `%s`", s->options[i]);
            plan->dir_mode = (mode_t)mode;
        }
    return 0;
}

static int open_storage_root(struct agent *a, struct kerr **err)
{
    if (mkdir_all(a->opts.storage_root, 0755, err) < 0)
        return -1;
    int rootfd = open(a->opts.storage_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return kerr_make(err, errno, "open storage root `%s`", a->opts.storage_root);
    return rootfd;
}

/* Sources of bind and overlay mounts must be inside the sandbox too, and
 * not only as text: the path is resolved beneath the storage root through
 * an fd (openat2 RESOLVE_BENEATH: a symlink that leads outside, one CopyFile
 * made say, fails), and the mount goes through that fd.  Returns the
 * /proc/self/fd path to mount from. */
static char *source_beneath(struct agent *a, const char *path, const char *what,
                            struct mount_plan *plan, struct kerr **err)
{
    const char *rel;
    if (path_under_root(a->opts.storage_root, path, what, &rel, err) < 0)
        return NULL;
    cleanup_close int rootfd = open_storage_root(a, err);
    if (rootfd < 0)
        return NULL;
    int fd = open_beneath(rootfd, rel, O_PATH, 0);
    if (fd < 0) {
        if (errno == EXDEV || errno == ELOOP)
            kerr_make(err, errno, "%s `%s`: leads outside `%s`", what, path, a->opts.storage_root);
        else
            kerr_make(err, errno, "%s `%s`", what, path);
        return NULL;
    }
    return plan_hold(plan, fd);
}

/* mkdir -p of a directory under the storage root, never leaving it; the
 * mount goes through the returned /proc/self/fd path. */
static char *make_sandbox_dir(struct agent *a, const char *path, struct mount_plan *plan,
                              struct kerr **err)
{
    const char *rel;
    if (path_under_root(a->opts.storage_root, path, "directory", &rel, err) < 0)
        return NULL;
    cleanup_close int rootfd = open_storage_root(a, err);
    if (rootfd < 0)
        return NULL;
    int fd = mkdir_beneath(rootfd, rel, 0755, err);
    return fd < 0 ? NULL : plan_hold(plan, fd);
}

static int handle_bind(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                       struct kerr **err)
{
    plan->source = source_beneath(a, s->source, "bind source", plan, err);
    if (plan->source == NULL)
        return -1;
    plan->fstype = NULL;
    plan->opts.flags |= MS_BIND;
    return 0;
}

/* One overlay option with every directory of its value ("A:B") resolved
 * beneath the storage root: "key=/proc/self/fd/N:/proc/self/fd/M". */
static char *overlay_option_beneath(struct agent *a, const char *key, const char *dirs, bool make,
                                    struct mount_plan *plan, struct kerr **err)
{
    cleanup_free char *copy = xstrdup(dirs);
    char *out = xstrdup(key);
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        /* upperdir and workdir are the overlay's own: made when missing. */
        cleanup_free char *fd_path = make ? make_sandbox_dir(a, d, plan, err)
                                          : source_beneath(a, d, "overlay directory", plan, err);
        if (fd_path == NULL) {
            free(out);
            return NULL;
        }
        char *next = xasprintf("%s%s%s", out, out[strlen(key)] ? ":" : "", fd_path);
        free(out);
        out = next;
    }
    return out;
}

/* lowerdir=A:B,upperdir=U,workdir=W: every directory inside the sandbox,
 * mounted through fds. */
static int handle_overlay(struct agent *a, const Grpc__Storage *s, struct mount_plan *plan,
                          struct kerr **err)
{
    static const char *const keys[] = {"lowerdir=", "upperdir=", "workdir="};
    bool has_lower = false;
    char **options = xcalloc(s->n_options + 1, sizeof(char *));
    int ret = 0;
    for (size_t i = 0; i < s->n_options && ret == 0; i++) {
        size_t k = 0;
        while (k < ARRAY_SIZE(keys) && strncmp(s->options[i], keys[k], strlen(keys[k])) != 0)
            k++;
        if (k == ARRAY_SIZE(keys)) {
            options[i] = xstrdup(s->options[i]);
            continue;
        }
        has_lower |= k == 0;
        options[i] =
            overlay_option_beneath(a, keys[k], s->options[i] + strlen(keys[k]), k > 0, plan, err);
        if (options[i] == NULL)
            ret = -1;
    }
    if (ret == 0 && !has_lower)
        ret = kerr_make(err, 0, "overlayfs storage needs a lowerdir option");
    if (ret == 0) {
        mount_opts_release(&plan->opts);
        mount_opts_parse(options, s->n_options, &plan->opts);
        plan->source = xstrdup("overlay");
        plan->fstype = "overlay";
    }
    for (size_t i = 0; i < s->n_options; i++)
        free(options[i]);
    free(options);
    return ret;
}

static const struct {
    const char *driver;
    storage_handler handler;
} handlers[] = {
    {"virtio-fs", handle_virtiofs},  {"9p", handle_9p},         {"blk", handle_block},
    {"virtio-blk", handle_block},    {"mmioblk", handle_block}, {"scsi", handle_block},
    {"ephemeral", handle_ephemeral}, {"local", handle_local},   {"bind", handle_bind},
    {"overlayfs", handle_overlay},
};

static storage_handler handler_for(const char *driver)
{
    for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
        if (strcmp(handlers[i].driver, driver) == 0)
            return handlers[i].handler;
    return NULL;
}

/* ---- tracking ---- */

static struct tracked_mount *find_mount(struct agent_storages *st, const char *mount_point)
{
    for (struct tracked_mount *m = st->mounts; m; m = m->next)
        if (strcmp(m->mount_point, mount_point) == 0)
            return m;
    return NULL;
}

static void add_owner(struct tracked_mount *m, const char *owner)
{
    m->owners = xrealloc(m->owners, (m->n_owners + 1) * sizeof(*m->owners));
    m->owners[m->n_owners++] = xstrdup(owner);
}

/* Drop one reference of owner; true when it had one. */
static bool drop_owner(struct tracked_mount *m, const char *owner)
{
    for (size_t i = m->n_owners; i-- > 0;)
        if (strcmp(m->owners[i], owner) == 0) {
            free(m->owners[i]);
            memmove(&m->owners[i], &m->owners[i + 1], (m->n_owners - i - 1) * sizeof(char *));
            m->n_owners--;
            return true;
        }
    return false;
}

static void free_mount(struct tracked_mount *m)
{
    for (size_t i = 0; i < m->n_owners; i++)
        free(m->owners[i]);
    free(m->owners);
    free(m->mount_point);
    free(m->driver);
    free(m);
}

static int release_mount(struct agent_storages *st, struct tracked_mount *m, struct kerr **err)
{
    if (m->mounted && unmount_path(m->mount_point, err) < 0)
        return -1;
    log_info("storage: released %s at `%s`", m->driver, m->mount_point);
    for (struct tracked_mount **pp = &st->mounts; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    free_mount(m);
    return 0;
}

/* ---- Kubernetes fsGroup ---- */

/* Kata's masks: group read (+write unless read-only), search on directories
 * and setgid so new files inherit the group. */
#define FS_GROUP_RW_MASK 0660
#define FS_GROUP_RO_MASK 0440
#define FS_GROUP_EXEC    0110

static struct {
    gid_t gid;
    bool read_only;
    int error;
    char *failed;
} fs_group_walk;

static int fs_group_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_SL || type == FTW_SLN)
        return 0; /* never through a symlink */
    mode_t mask = fs_group_walk.read_only ? FS_GROUP_RO_MASK : FS_GROUP_RW_MASK;
    if (S_ISDIR(st->st_mode))
        mask |= FS_GROUP_EXEC | S_ISGID;
    if (lchown(path, (uid_t)-1, fs_group_walk.gid) < 0 ||
        chmod(path, (st->st_mode & 07777) | mask) < 0) {
        fs_group_walk.error = errno;
        fs_group_walk.failed = xstrdup(path);
        return 1;
    }
    return 0;
}

/* Give the volume at mount_point to the group (recursively, on its own file
 * system), unless the policy says its root already matches. */
static int apply_fs_group(const Grpc__Storage *s, const struct mount_opts *opts, struct kerr **err)
{
    const Grpc__FSGroup *g = s->fs_group;
    bool read_only = (opts->flags & MS_RDONLY) != 0;
    struct stat st;
    if (stat(s->mount_point, &st) < 0)
        return kerr_make(err, errno, "fsGroup of `%s`", s->mount_point);
    mode_t want = (read_only ? FS_GROUP_RO_MASK : FS_GROUP_RW_MASK) | FS_GROUP_EXEC | S_ISGID;
    if (g->group_change_policy == TYPES__FSGROUP_CHANGE_POLICY__OnRootMismatch &&
        st.st_gid == g->group_id && (st.st_mode & want) == want)
        return 0;
    fs_group_walk.gid = g->group_id;
    fs_group_walk.read_only = read_only;
    fs_group_walk.error = 0;
    fs_group_walk.failed = NULL;
    int r = nftw(s->mount_point, fs_group_visit, 32, FTW_PHYS | FTW_MOUNT);
    if (r != 0) {
        int e = fs_group_walk.error ? fs_group_walk.error : errno;
        kerr_make(err, e, "fsGroup %u of `%s`", g->group_id,
                  fs_group_walk.failed ? fs_group_walk.failed : s->mount_point);
        free(fs_group_walk.failed);
        return -1;
    }
    return 0;
}

/* Make the mount point (rel, under the storage root) and mount on it. */
static int apply_plan(struct agent *a, const Grpc__Storage *s, const char *rel,
                      const struct mount_plan *plan, struct kerr **err)
{
    cleanup_close int rootfd = open_storage_root(a, err);
    if (rootfd < 0)
        return -1;
    cleanup_close int target =
        mkdir_beneath(rootfd, rel, plan->no_mount ? plan->dir_mode : 0755, err);
    if (target < 0)
        return -1;
    if (plan->no_mount) {
        if (fchmodat(rootfd, rel, plan->dir_mode, 0) < 0)
            return kerr_make(err, errno, "chmod `%s`", s->mount_point);
        return s->fs_group ? apply_fs_group(s, &plan->opts, err) : 0;
    }
    if (mount_on_fd(plan->source, target, s->mount_point, plan->fstype, &plan->opts, err) < 0)
        return -1;
    if (s->fs_group && apply_fs_group(s, &plan->opts, err) < 0) {
        cleanup_kerr struct kerr *undo = NULL;
        if (unmount_path(s->mount_point, &undo) < 0)
            log_warn("storage: %s", undo->msg);
        return -1;
    }
    return 0;
}

/* Mount one storage (or take a reference on its mount point). */
static int add_one(struct agent *a, const Grpc__Storage *s, const char *owner,
                   struct tracked_mount **added, struct kerr **err)
{
    struct agent_storages *st = storages_of(a);
    storage_handler handler = handler_for(s->driver);
    if (handler == NULL)
        return kerr_make(err, 0, "unknown storage driver `%s`", s->driver);
    const char *rel;
    if (path_under_root(a->opts.storage_root, s->mount_point, "mount point", &rel, err) < 0)
        return -1;
    if (*rel == '\0')
        return kerr_make(err, 0, "mount point `%s`: the storage root itself", s->mount_point);
    struct tracked_mount *m = find_mount(st, s->mount_point);
    if (m) {
        add_owner(m, owner);
        *added = NULL;
        return 0;
    }
    struct mount_plan plan = {0};
    mount_opts_parse(s->options, s->n_options, &plan.opts);
    int ret = handler(a, s, &plan, err);
    if (ret == 0)
        ret = apply_plan(a, s, rel, &plan, err);
    plan_release(&plan);
    if (ret < 0)
        return -1;
    m = xcalloc(1, sizeof(*m));
    m->mount_point = xstrdup(s->mount_point);
    m->driver = xstrdup(s->driver);
    m->mounted = !plan.no_mount;
    add_owner(m, owner);
    m->next = st->mounts;
    st->mounts = m;
    *added = m;
    log_info("storage: %s `%s` at `%s` for `%s`", s->driver, s->source, s->mount_point, owner);
    return 0;
}

int storage_add(struct agent *a, Grpc__Storage *const *storages, size_t n, const char *owner,
                struct kerr **err)
{
    return storage_add_waiting(a, storages, n, owner, DEVICE_WAIT_NS, err);
}

int storage_add_waiting(struct agent *a, Grpc__Storage *const *storages, size_t n,
                        const char *owner, uint64_t device_wait_ns, struct kerr **err)
{
    struct agent_storages *st = storages_of(a);
    st->device_wait_ns = device_wait_ns;
    for (size_t i = 0; i < n; i++) {
        struct tracked_mount *added = NULL;
        if (add_one(a, storages[i], owner, &added, err) == 0)
            continue;
        kerr_wrap(err, "storage %zu (%s)", i, storages[i]->driver);
        /* Undo this call: references taken, then mounts made (newest first). */
        for (size_t k = i; k-- > 0;) {
            struct tracked_mount *m = find_mount(st, storages[k]->mount_point);
            if (m && drop_owner(m, owner) && m->n_owners == 0) {
                cleanup_kerr struct kerr *undo = NULL;
                if (release_mount(st, m, &undo) < 0)
                    log_warn("storage: undo: %s", undo->msg);
            }
        }
        return -1;
    }
    return 0;
}

int storage_remove_owner(struct agent *a, const char *owner, struct kerr **err)
{
    struct agent_storages *st = storages_of(a);
    int ret = 0;
    for (struct tracked_mount *m = st->mounts, *next; m; m = next) {
        next = m->next;
        while (drop_owner(m, owner))
            ;
        if (m->n_owners > 0)
            continue;
        cleanup_kerr struct kerr *e = NULL;
        if (release_mount(st, m, &e) < 0) {
            if (ret == 0)
                ret = kerr_make(err, 0, "remove storages of `%s`: %s", owner, e->msg);
            add_owner(m, owner); /* still mounted: keep tracking it */
        }
    }
    return ret;
}

void storage_remove_all(struct agent *a)
{
    struct agent_storages *st = storages_of(a);
    while (st->mounts) {
        cleanup_kerr struct kerr *e = NULL;
        struct tracked_mount *m = st->mounts;
        if (release_mount(st, m, &e) < 0) {
            log_warn("storage: %s", e->msg);
            st->mounts = m->next;
            free_mount(m);
        }
    }
}

size_t storage_count(struct agent *a)
{
    size_t n = 0;
    for (struct tracked_mount *m = storages_of(a)->mounts; m; m = m->next)
        n++;
    return n;
}
