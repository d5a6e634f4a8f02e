/* Cloud Hypervisor's request bodies on the control socket (see api_config.h). */
#include "api_config.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define MIB (1ull << 20)

static const char *const type_names[] = {
    [API_STRING] = "a string",  [API_BOOL] = "true or false", [API_INT] = "an integer",
    [API_OBJECT] = "an object", [API_ARRAY] = "an array",
};

static bool has_type(struct json_object *v, enum vmm_api_type type)
{
    static const enum json_type json_types[] = {
        [API_STRING] = json_type_string, [API_BOOL] = json_type_boolean, [API_INT] = json_type_int,
        [API_OBJECT] = json_type_object, [API_ARRAY] = json_type_array,
    };
    return json_object_is_type(v, json_types[type]);
}

struct json_object *vmm_api_field(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v; /* NULL for JSON null */
}

/* A default-only field at another value. */
static int not_default(const char *where, const struct vmm_api_field *f, struct json_object *v,
                       struct kerr **err)
{
    const char *sep = *where ? "." : "";
    if (f->type == API_STRING)
        return kerr_make(err, ENOTSUP, "%s%s%s: `%.64s` is not supported by kata-vmm (only `%s`)",
                         where, sep, f->name, json_object_get_string(v), f->dflt_str);
    if (f->type == API_BOOL)
        return kerr_make(err, ENOTSUP, "%s%s%s: `%s` is not supported by kata-vmm (only `%s`)",
                         where, sep, f->name, f->dflt_int ? "false" : "true",
                         f->dflt_int ? "true" : "false");
    return kerr_make(err, ENOTSUP,
                     "%s%s%s: `%" PRId64 "` is not supported by kata-vmm (only `%" PRId64 "`)",
                     where, sep, f->name, json_object_get_int64(v), f->dflt_int);
}

static int check_field(const char *where, const struct vmm_api_field *f, struct json_object *v,
                       struct kerr **err)
{
    const char *sep = *where ? "." : "";
    if (v == NULL)
        return 0;
    if (f->use == API_REFUSED) {
        if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0)
            return 0;
        return kerr_make(err, ENOTSUP, "%s%s%s: not supported by kata-vmm", where, sep, f->name);
    }
    if (!has_type(v, f->type))
        return kerr_make(err, EINVAL, "%s%s%s: expected %s", where, sep, f->name,
                         type_names[f->type]);
    if (f->type == API_STRING && json_object_get_string_len(v) > (int)VMM_API_MAX_STRING)
        return kerr_make(err, E2BIG, "%s%s%s: longer than %u bytes", where, sep, f->name,
                         VMM_API_MAX_STRING);
    if (f->use != API_DEFAULT)
        return 0;
    bool same = f->type == API_STRING ? strcmp(json_object_get_string(v), f->dflt_str) == 0
                : f->type == API_BOOL ? json_object_get_boolean(v) == (f->dflt_int != 0)
                                      : json_object_get_int64(v) == f->dflt_int;
    return same ? 0 : not_default(where, f, v, err);
}

int vmm_api_check_fields(struct json_object *obj, const char *where,
                         const struct vmm_api_field *fields, size_t n, struct kerr **err)
{
    if (!json_object_is_type(obj, json_type_object))
        return kerr_make(err, EINVAL, "%s: expected an object", *where ? where : "the body");
    json_object_object_foreach(obj, key, value)
    {
        const struct vmm_api_field *f = NULL;
        for (size_t i = 0; i < n && f == NULL; i++)
            if (strcmp(key, fields[i].name) == 0)
                f = &fields[i];
        if (f == NULL)
            return kerr_make(err, EINVAL, "%s%s%.64s: unknown field", where, *where ? "." : "",
                             key);
        if (check_field(where, f, value, err) < 0)
            return -1;
    }
    return 0;
}

/* The getters run after vmm_api_check_fields: types are right. */
int vmm_api_get_string(struct json_object *obj, const char *where, const char *key, bool required,
                       const char **out, struct kerr **err)
{
    struct json_object *v = vmm_api_field(obj, key);
    if (v == NULL) {
        if (required)
            return kerr_make(err, EINVAL, "%s%s%s is required", where, *where ? "." : "", key);
        return 0;
    }
    if (json_object_get_string_len(v) == 0)
        return kerr_make(err, EINVAL, "%s%s%s: expected a non-empty string", where,
                         *where ? "." : "", key);
    *out = json_object_get_string(v);
    return 0;
}

int vmm_api_get_uint(struct json_object *obj, const char *where, const char *key, bool required,
                     uint64_t min, uint64_t max, uint64_t *out, struct kerr **err)
{
    struct json_object *v = vmm_api_field(obj, key);
    if (v == NULL) {
        if (required)
            return kerr_make(err, EINVAL, "%s%s%s is required", where, *where ? "." : "", key);
        return 0;
    }
    int64_t n = json_object_get_int64(v);
    if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
        return kerr_make(err, EINVAL, "%s%s%s: expected an integer from %llu to %llu", where,
                         *where ? "." : "", key, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)n;
    return 0;
}

static void get_bool(struct json_object *obj, const char *key, bool *out)
{
    struct json_object *v = vmm_api_field(obj, key);
    if (v)
        *out = json_object_get_boolean(v);
}

/* A queue-size hint: a power of two up to virtio's 32768. */
static int queue_size_hint(struct json_object *obj, const char *where, bool required,
                           struct kerr **err)
{
    uint64_t size = 1;
    if (vmm_api_get_uint(obj, where, "queue_size", required, 1, 32768, &size, err) < 0)
        return -1;
    if (size & (size - 1))
        return kerr_make(err, EINVAL, "%s.queue_size: %llu is not a power of two", where,
                         (unsigned long long)size);
    return 0;
}

int vmm_api_disk_parse(struct json_object *obj, const char *where, struct vmm_disk *disk,
                       struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("path", API_STRING),
        TAKEN("readonly", API_BOOL),
        BOOL_ONLY("direct", false),
        BOOL_ONLY("iommu", false),
        TAKEN("num_queues", API_INT),
        TAKEN("queue_size", API_INT),
        BOOL_ONLY("vhost_user", false),
        REFUSED("vhost_socket", API_STRING),
        REFUSED("rate_limiter_config", API_OBJECT),
        INT_ONLY("pci_segment", 0),
        REFUSED("pci_device_id", API_INT),
        TAKEN("id", API_STRING),
        REFUSED("serial", API_STRING),
        REFUSED("rate_limit_group", API_STRING),
        REFUSED("queue_affinity", API_ARRAY),
        BOOL_ONLY("backing_files", false),
        BOOL_ONLY("sparse", true),
        STR_ONLY("image_type", "Raw"),
        STR_ONLY("lock_granularity", "ByteRange"),
    };
    uint64_t queues = 1;
    *disk = (struct vmm_disk){0};
    if (vmm_api_check_fields(obj, where, fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_string(obj, where, "path", true, &disk->path, err) < 0 ||
        vmm_api_get_string(obj, where, "id", false, &disk->id, err) < 0 ||
        vmm_api_get_uint(obj, where, "num_queues", false, 1, 256, &queues, err) < 0 ||
        queue_size_hint(obj, where, false, err) < 0)
        return -1;
    if (disk->id && strlen(disk->id) > VMM_API_MAX_ID)
        return kerr_make(err, EINVAL, "%s.id: at most %u bytes (the virtio-blk serial)", where,
                         VMM_API_MAX_ID);
    get_bool(obj, "readonly", &disk->readonly);
    return 0;
}

int vmm_api_vsock_parse(struct json_object *obj, const char *where, uint64_t *cid,
                        const char **socket, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("cid", API_INT),      TAKEN("socket", API_STRING),       BOOL_ONLY("iommu", false),
        INT_ONLY("pci_segment", 0), REFUSED("pci_device_id", API_INT), TAKEN("id", API_STRING),
    };
    *cid = 3;
    *socket = NULL;
    if (vmm_api_check_fields(obj, where, fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_uint(obj, where, "cid", true, 3, 0xfffffffeu, cid, err) < 0 ||
        vmm_api_get_string(obj, where, "socket", true, socket, err) < 0)
        return -1;
    return 0;
}

int vmm_api_fs_parse(struct json_object *obj, const char *where, struct vmm_fs *fs,
                     struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("tag", API_STRING),   TAKEN("socket", API_STRING),
        INT_ONLY("num_queues", 1),  TAKEN("queue_size", API_INT),
        INT_ONLY("pci_segment", 0), REFUSED("pci_device_id", API_INT),
        TAKEN("id", API_STRING),
    };
    *fs = (struct vmm_fs){0};
    if (vmm_api_check_fields(obj, where, fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_string(obj, where, "socket", true, &fs->socket, err) < 0 ||
        vmm_api_get_string(obj, where, "tag", true, &fs->tag, err) < 0)
        return -1;
    if (vmm_api_field(obj, "num_queues") == NULL)
        return kerr_make(err, EINVAL, "%s.num_queues is required", where);
    if (queue_size_hint(obj, where, true, err) < 0)
        return -1;
    if (strlen(fs->tag) > 36)
        return kerr_make(err, EINVAL, "%s.tag: at most 36 bytes", where);
    return 0;
}

int vmm_api_net_parse(struct json_object *obj, const char *where, struct vmm_net *net,
                      struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        REFUSED("tap", API_STRING),
        STR_ONLY("ip", "192.168.249.1"),
        STR_ONLY("mask", "255.255.255.0"),
        TAKEN("mac", API_STRING),
        REFUSED("host_mac", API_STRING),
        TAKEN("mtu", API_INT),
        BOOL_ONLY("iommu", false),
        INT_ONLY("num_queues", 2),
        TAKEN("queue_size", API_INT),
        BOOL_ONLY("vhost_user", false),
        REFUSED("vhost_socket", API_STRING),
        STR_ONLY("vhost_mode", "Client"),
        TAKEN("id", API_STRING),
        INT_ONLY("pci_segment", 0),
        REFUSED("pci_device_id", API_INT),
        REFUSED("rate_limiter_config", API_OBJECT),
        TAKEN("offload_tso", API_BOOL),  /* a hint: kata-vmm offers none */
        TAKEN("offload_ufo", API_BOOL),  /* a hint: kata-vmm offers none */
        TAKEN("offload_csum", API_BOOL), /* a hint: kata-vmm offers none */
        TAKEN("fd", API_INT),            /* kata-vmm's: an inherited tap */
    };
    uint64_t fd = UINT64_MAX, mtu = 0;
    *net = (struct vmm_net){0};
    if (vmm_api_check_fields(obj, where, fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_uint(obj, where, "fd", false, 3, 65535, &fd, err) < 0 ||
        vmm_api_get_string(obj, where, "mac", false, &net->mac, err) < 0 ||
        vmm_api_get_uint(obj, where, "mtu", false, 68, 65535, &mtu, err) < 0 ||
        queue_size_hint(obj, where, false, err) < 0)
        return -1;
    net->tap_fd = fd == UINT64_MAX ? -1 : (int)fd;
    net->mtu = (unsigned)mtu;
    return 0;
}

/* ConsoleConfig ("console") or SerialConfig ("serial"): "Tty" on kata-vmm's
 * stdout, "Off" or "Null" none (COM1 stays, silent). */
static int console_parse(struct json_object *obj, const char *where, bool *on, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("mode", API_STRING),         REFUSED("file", API_STRING),
        REFUSED("socket", API_STRING),     BOOL_ONLY("iommu", false),
        TAKEN("id", API_STRING),           INT_ONLY("pci_segment", 0),
        REFUSED("pci_device_id", API_INT),
    };
    const char *mode = NULL;
    size_t n = ARRAY_SIZE(fields);
    if (strcmp(where, "serial") == 0)
        n = 3; /* SerialConfig: mode, file, socket */
    if (vmm_api_check_fields(obj, where, fields, n, err) < 0 ||
        vmm_api_get_string(obj, where, "mode", true, &mode, err) < 0)
        return -1;
    if (strcmp(mode, "Pty") == 0 || strcmp(mode, "File") == 0 || strcmp(mode, "Socket") == 0)
        return kerr_make(err, ENOTSUP,
                         "%s.mode: `%s` is not supported by kata-vmm (Tty, Off, Null)", where,
                         mode);
    if (strcmp(mode, "Tty") != 0 && strcmp(mode, "Off") != 0 && strcmp(mode, "Null") != 0)
        return kerr_make(err, EINVAL,
                         "%s.mode: `%.64s` (expected Off, Pty, Tty, File, Socket or Null)", where,
                         mode);
    *on = strcmp(mode, "Tty") == 0;
    return 0;
}

static int cpus_parse(struct json_object *obj, struct vmm_config *cfg, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("boot_vcpus", API_INT),      TAKEN("max_vcpus", API_INT),
        REFUSED("topology", API_OBJECT),   BOOL_ONLY("kvm_hyperv", false),
        REFUSED("max_phys_bits", API_INT), BOOL_ONLY("nested", true),
        REFUSED("affinity", API_ARRAY),    REFUSED("features", API_OBJECT),
        STR_ONLY("core_scheduling", "Vm"),
    };
    uint64_t boot = 1, max = 1;
    if (vmm_api_check_fields(obj, "cpus", fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_uint(obj, "cpus", "boot_vcpus", true, 1, VMM_MAX_VCPUS, &boot, err) < 0 ||
        vmm_api_get_uint(obj, "cpus", "max_vcpus", true, 1, 255, &max, err) < 0)
        return -1;
    if (max < boot)
        return kerr_make(err, EINVAL, "cpus.max_vcpus: %llu is below boot_vcpus %llu",
                         (unsigned long long)max, (unsigned long long)boot);
    cfg->vcpus = (unsigned)boot;
    return 0;
}

static int memory_parse(struct json_object *obj, struct vmm_config *cfg, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("size", API_INT),
        TAKEN("hotplug_size", API_INT),
        INT_ONLY("hotplugged_size", 0),
        BOOL_ONLY("mergeable", false),
        TAKEN("hotplug_method", API_STRING),
        TAKEN("shared", API_BOOL),
        BOOL_ONLY("hugepages", false),
        REFUSED("hugepage_size", API_INT),
        BOOL_ONLY("prefault", false),
        BOOL_ONLY("reserve", false),
        BOOL_ONLY("thp", true),
        REFUSED("zones", API_ARRAY),
    };
    uint64_t size = 256 * MIB, hotplug = 0;
    const char *method = NULL;
    if (vmm_api_check_fields(obj, "memory", fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_uint(obj, "memory", "size", true, 16 * MIB, 3072 * MIB, &size, err) < 0 ||
        vmm_api_get_uint(obj, "memory", "hotplug_size", false, 0, INT64_MAX, &hotplug, err) < 0 ||
        vmm_api_get_string(obj, "memory", "hotplug_method", false, &method, err) < 0)
        return -1;
    if (size % MIB)
        return kerr_make(err, EINVAL, "memory.size: a multiple of 1 MiB");
    if (method && strcmp(method, "Acpi") != 0 && strcmp(method, "VirtioMem") != 0)
        return kerr_make(err, EINVAL, "memory.hotplug_method: `%.64s` (Acpi or VirtioMem)", method);
    cfg->memory_mb = (unsigned)(size / MIB);
    return 0;
}

static int payload_parse(struct json_object *obj, struct vmm_config *cfg, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        REFUSED("firmware", API_STRING),
        TAKEN("kernel", API_STRING),
        TAKEN("cmdline", API_STRING),
        TAKEN("initramfs", API_STRING),
        REFUSED("igvm", API_STRING),
        REFUSED("host_data", API_STRING),
        TAKEN("virtio_mmio_cmdline", API_BOOL), /* kata-vmm's */
    };
    if (obj == NULL)
        return kerr_make(err, EINVAL, "payload (kernel, initramfs, cmdline) is required");
    if (vmm_api_check_fields(obj, "payload", fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_string(obj, "payload", "kernel", true, &cfg->kernel, err) < 0 ||
        vmm_api_get_string(obj, "payload", "initramfs", false, &cfg->initrd, err) < 0 ||
        vmm_api_get_string(obj, "payload", "cmdline", false, &cfg->cmdline, err) < 0)
        return -1;
    get_bool(obj, "virtio_mmio_cmdline", &cfg->devices_on_cmdline);
    return 0;
}

static int rng_parse(struct json_object *obj, struct vmm_config *cfg, struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("src", API_STRING),          TAKEN("id", API_STRING),   INT_ONLY("pci_segment", 0),
        REFUSED("pci_device_id", API_INT), BOOL_ONLY("iommu", false),
    };
    const char *src = NULL;
    if (vmm_api_check_fields(obj, "rng", fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_string(obj, "rng", "src", true, &src, err) < 0)
        return -1;
    if (strcmp(src, "/dev/urandom") != 0 && strcmp(src, "/dev/random") != 0)
        return kerr_make(err, ENOTSUP,
                         "rng.src: `%.64s` is not supported by kata-vmm (it feeds the guest from "
                         "getrandom: /dev/urandom or /dev/random)",
                         src);
    cfg->rng = true;
    return 0;
}

typedef int (*item_parse)(struct json_object *obj, const char *where, void *item,
                          struct kerr **err);

static int parse_disk_item(struct json_object *obj, const char *where, void *item,
                           struct kerr **err)
{
    return vmm_api_disk_parse(obj, where, item, err);
}

static int parse_fs_item(struct json_object *obj, const char *where, void *item, struct kerr **err)
{
    return vmm_api_fs_parse(obj, where, item, err);
}

static int parse_net_item(struct json_object *obj, const char *where, void *item, struct kerr **err)
{
    return vmm_api_net_parse(obj, where, item, err);
}

/* An array of at most max items of item_size bytes each into items. */
static int array_parse(struct json_object *v, const char *key, unsigned max, item_parse parse,
                       void *items, size_t item_size, unsigned *count, struct kerr **err)
{
    *count = 0;
    if (v == NULL)
        return 0;
    size_t n = json_object_array_length(v);
    if (n > max)
        return kerr_make(err, E2BIG, "%s: at most %u", key, max);
    for (size_t i = 0; i < n; i++) {
        char where[24];
        snprintf(where, sizeof(where), "%s[%zu]", key, i);
        if (parse(json_object_array_get_idx(v, i), where, (char *)items + i * item_size, err) < 0)
            return -1;
    }
    *count = (unsigned)n;
    return 0;
}

static const struct vmm_api_field vm_config_fields[] = {
    TAKEN("cpus", API_OBJECT),
    TAKEN("memory", API_OBJECT),
    TAKEN("payload", API_OBJECT),
    REFUSED("rate_limit_groups", API_ARRAY),
    TAKEN("disks", API_ARRAY),
    TAKEN("net", API_ARRAY),
    TAKEN("rng", API_OBJECT),
    REFUSED("balloon", API_OBJECT),
    TAKEN("fs", API_ARRAY),
    REFUSED("generic_vhost_user", API_ARRAY),
    REFUSED("pmem", API_ARRAY),
    TAKEN("serial", API_OBJECT),
    TAKEN("console", API_OBJECT),
    REFUSED("debug_console", API_OBJECT),
    REFUSED("devices", API_ARRAY),
    REFUSED("user_devices", API_ARRAY),
    REFUSED("vdpa", API_ARRAY),
    TAKEN("vsock", API_OBJECT),
    REFUSED("numa", API_ARRAY),
    BOOL_ONLY("iommu", false),
    BOOL_ONLY("watchdog", false),
    REFUSED("rtc", API_OBJECT),
    BOOL_ONLY("pvpanic", false),
    REFUSED("pci_segments", API_ARRAY),
    REFUSED("platform", API_OBJECT),
    REFUSED("tpm", API_OBJECT),
    BOOL_ONLY("landlock_enable", false),
    REFUSED("landlock_rules", API_ARRAY),
};

int vmm_api_config_parse(struct json_object *obj, struct vmm_config *cfg,
                         struct vmm_api_config_storage *storage, struct kerr **err)
{
    *cfg = (struct vmm_config){.memory_mb = 256, .vcpus = 1, .seccomp = true};
    if (vmm_api_check_fields(obj, "", vm_config_fields, ARRAY_SIZE(vm_config_fields), err) < 0)
        return -1;
    struct json_object *v;
    bool serial = true;
    if (((v = vmm_api_field(obj, "cpus")) && cpus_parse(v, cfg, err) < 0) ||
        ((v = vmm_api_field(obj, "memory")) && memory_parse(v, cfg, err) < 0) ||
        payload_parse(vmm_api_field(obj, "payload"), cfg, err) < 0 ||
        array_parse(vmm_api_field(obj, "disks"), "disks", VMM_API_MAX_DISKS, parse_disk_item,
                    storage->disks, sizeof(storage->disks[0]), &cfg->disk_count, err) < 0 ||
        array_parse(vmm_api_field(obj, "fs"), "fs", VMM_API_MAX_FS, parse_fs_item, storage->fs,
                    sizeof(storage->fs[0]), &cfg->fs_count, err) < 0 ||
        array_parse(vmm_api_field(obj, "net"), "net", VMM_API_MAX_NETS, parse_net_item,
                    storage->nets, sizeof(storage->nets[0]), &cfg->net_count, err) < 0 ||
        ((v = vmm_api_field(obj, "vsock")) &&
         vmm_api_vsock_parse(v, "vsock", &cfg->vsock_cid, &cfg->vsock_socket, err) < 0) ||
        ((v = vmm_api_field(obj, "rng")) && rng_parse(v, cfg, err) < 0) ||
        ((v = vmm_api_field(obj, "serial")) && console_parse(v, "serial", &serial, err) < 0) ||
        ((v = vmm_api_field(obj, "console")) &&
         console_parse(v, "console", &cfg->virtio_console, err) < 0))
        return -1;
    cfg->disks = cfg->disk_count ? storage->disks : NULL;
    cfg->fs = cfg->fs_count ? storage->fs : NULL;
    cfg->nets = cfg->net_count ? storage->nets : NULL;
    cfg->serial_off = !serial;
    return 0;
}

int vmm_api_resize_parse(struct json_object *obj, uint64_t *vcpus, uint64_t *ram_bytes,
                         struct kerr **err)
{
    static const struct vmm_api_field fields[] = {
        TAKEN("desired_vcpus", API_INT),
        TAKEN("desired_ram", API_INT),
        REFUSED("desired_balloon", API_INT),
    };
    *vcpus = *ram_bytes = 0;
    if (vmm_api_check_fields(obj, "", fields, ARRAY_SIZE(fields), err) < 0 ||
        vmm_api_get_uint(obj, "", "desired_vcpus", false, 1, 255, vcpus, err) < 0 ||
        vmm_api_get_uint(obj, "", "desired_ram", false, 1, INT64_MAX, ram_bytes, err) < 0)
        return -1;
    return 0;
}
