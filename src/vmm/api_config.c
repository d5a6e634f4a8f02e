/* JSON VM configuration of the control socket (see api_config.h). */
#include "api_config.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#define MIB (1ull << 20)

/* Every key of obj must be one of keys[]. */
static int only_keys(struct json_object *obj, const char *where, const char *const *keys, size_t n,
                     struct kerr **err)
{
    if (!json_object_is_type(obj, json_type_object))
        return kerr_make(err, EINVAL, "config: `%s`: expected an object", where);
    json_object_object_foreach(obj, key, value)
    {
        (void)value;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, keys[i]) == 0;
        if (!known)
            return kerr_make(err, EINVAL, "config: unknown key `%s%s%s`", where, *where ? "." : "",
                             key);
    }
    return 0;
}

static int get_string(struct json_object *obj, const char *where, const char *key, bool required,
                      const char **out, struct kerr **err)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required)
            return kerr_make(err, EINVAL, "config: `%s.%s` is required", where, key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
        return kerr_make(err, EINVAL, "config: `%s.%s`: expected a non-empty string", where, key);
    *out = json_object_get_string(v);
    return 0;
}

static int get_uint(struct json_object *obj, const char *where, const char *key, uint64_t min,
                    uint64_t max, uint64_t *out, struct kerr **err)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    int64_t n = json_object_get_int64(v);
    if (!json_object_is_type(v, json_type_int) || n < 0 || (uint64_t)n < min || (uint64_t)n > max)
        return kerr_make(err, EINVAL, "config: `%s.%s`: expected an integer from %llu to %llu",
                         where, key, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)n;
    return 0;
}

static int get_bool(struct json_object *obj, const char *where, const char *key, bool *out,
                    struct kerr **err)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return kerr_make(err, EINVAL, "config: `%s.%s`: expected true or false", where, key);
    *out = json_object_get_boolean(v);
    return 0;
}

int vmm_api_disk_parse(struct json_object *obj, const char *where, struct vmm_disk *disk,
                       struct kerr **err)
{
    static const char *const keys[] = {"path", "readonly", "id"};
    *disk = (struct vmm_disk){0};
    if (only_keys(obj, where, keys, ARRAY_SIZE(keys), err) < 0 ||
        get_string(obj, where, "path", true, &disk->path, err) < 0 ||
        get_string(obj, where, "id", false, &disk->id, err) < 0)
        return -1;
    if (disk->id && strlen(disk->id) > 20)
        return kerr_make(err, EINVAL, "config: `%s.id`: at most 20 bytes", where);
    return get_bool(obj, where, "readonly", &disk->readonly, err);
}

int vmm_api_vsock_parse(struct json_object *obj, const char *where, uint64_t *cid,
                        const char **socket, struct kerr **err)
{
    static const char *const keys[] = {"cid", "socket"};
    *cid = 3;
    *socket = NULL;
    if (only_keys(obj, where, keys, ARRAY_SIZE(keys), err) < 0 ||
        get_uint(obj, where, "cid", 3, 0xfffffffeu, cid, err) < 0 ||
        get_string(obj, where, "socket", true, socket, err) < 0)
        return -1;
    return 0;
}

int vmm_api_fs_parse(struct json_object *obj, const char *where, struct vmm_fs *fs,
                     struct kerr **err)
{
    static const char *const keys[] = {"socket", "tag"};
    *fs = (struct vmm_fs){0};
    if (only_keys(obj, where, keys, ARRAY_SIZE(keys), err) < 0 ||
        get_string(obj, where, "socket", true, &fs->socket, err) < 0 ||
        get_string(obj, where, "tag", true, &fs->tag, err) < 0)
        return -1;
    if (strlen(fs->tag) > 36)
        return kerr_make(err, EINVAL, "config: `%s.tag`: at most 36 bytes", where);
    return 0;
}

/* {"fd", "mac", "mtu"}: fd is a tap kata-vmm inherited. */
static int net_parse(struct json_object *obj, const char *where, struct vmm_net *net,
                     struct kerr **err)
{
    static const char *const keys[] = {"fd", "mac", "mtu"};
    uint64_t fd = UINT64_MAX, mtu = 0;
    *net = (struct vmm_net){0};
    if (only_keys(obj, where, keys, ARRAY_SIZE(keys), err) < 0 ||
        get_uint(obj, where, "fd", 3, 65535, &fd, err) < 0 ||
        get_string(obj, where, "mac", false, &net->mac, err) < 0 ||
        get_uint(obj, where, "mtu", 68, 65535, &mtu, err) < 0)
        return -1;
    if (fd == UINT64_MAX)
        return kerr_make(err, EINVAL, "config: `%s.fd` is required", where);
    net->tap_fd = (int)fd;
    net->mtu = (unsigned)mtu;
    return 0;
}

/* {"mode": "Off" | "Tty"}, Cloud Hypervisor's names: "Tty" is a
 * virtio-console on kata-vmm's stdout (and stdin when it is a terminal or a
 * pipe), "Off" none (the default). */
static int console_parse(struct json_object *obj, bool *virtio_console, struct kerr **err)
{
    static const char *const keys[] = {"mode"};
    const char *mode = NULL;
    if (only_keys(obj, "console", keys, ARRAY_SIZE(keys), err) < 0 ||
        get_string(obj, "console", "mode", true, &mode, err) < 0)
        return -1;
    if (strcmp(mode, "Tty") != 0 && strcmp(mode, "Off") != 0)
        return kerr_make(err, EINVAL, "config: `console.mode`: `%s` (expected \"Tty\" or \"Off\")",
                         mode);
    *virtio_console = strcmp(mode, "Tty") == 0;
    return 0;
}

int vmm_api_config_parse(struct json_object *obj, struct vmm_config *cfg,
                         struct vmm_api_config_storage *storage, struct kerr **err)
{
    static const char *const top[] = {"cpus", "memory", "payload", "disks",  "fs",
                                      "net",  "vsock",  "rng",     "console"};
    struct vmm_disk *disks = storage->disks;
    static const char *const cpus_keys[] = {"boot_vcpus"};
    static const char *const memory_keys[] = {"size"};
    static const char *const payload_keys[] = {"kernel", "initrd", "cmdline",
                                               "virtio_mmio_cmdline"};
    static const char *const rng_keys[] = {"src"};
    *cfg = (struct vmm_config){.memory_mb = 256, .vcpus = 1, .seccomp = true};
    if (only_keys(obj, "", top, ARRAY_SIZE(top), err) < 0)
        return -1;
    struct json_object *v;
    if (json_object_object_get_ex(obj, "cpus", &v)) {
        uint64_t n = 1;
        if (only_keys(v, "cpus", cpus_keys, 1, err) < 0 ||
            get_uint(v, "cpus", "boot_vcpus", 1, VMM_MAX_VCPUS, &n, err) < 0)
            return -1;
        cfg->vcpus = (unsigned)n;
    }
    if (json_object_object_get_ex(obj, "memory", &v)) {
        uint64_t size = 256 * MIB;
        if (only_keys(v, "memory", memory_keys, 1, err) < 0 ||
            get_uint(v, "memory", "size", 16 * MIB, 3072 * MIB, &size, err) < 0)
            return -1;
        if (size % MIB)
            return kerr_make(err, EINVAL, "config: `memory.size`: a multiple of 1 MiB");
        cfg->memory_mb = (unsigned)(size / MIB);
    }
    if (!json_object_object_get_ex(obj, "payload", &v))
        return kerr_make(err, EINVAL, "config: `payload` (kernel, initrd, cmdline) is required");
    if (only_keys(v, "payload", payload_keys, ARRAY_SIZE(payload_keys), err) < 0 ||
        get_string(v, "payload", "kernel", true, &cfg->kernel, err) < 0 ||
        get_string(v, "payload", "initrd", false, &cfg->initrd, err) < 0 ||
        get_string(v, "payload", "cmdline", false, &cfg->cmdline, err) < 0 ||
        get_bool(v, "payload", "virtio_mmio_cmdline", &cfg->devices_on_cmdline, err) < 0)
        return -1;
    if (json_object_object_get_ex(obj, "disks", &v)) {
        if (!json_object_is_type(v, json_type_array))
            return kerr_make(err, EINVAL, "config: `disks`: expected an array");
        size_t n = json_object_array_length(v);
        if (n > VMM_API_MAX_DISKS)
            return kerr_make(err, EINVAL, "config: `disks`: at most %u", VMM_API_MAX_DISKS);
        for (size_t i = 0; i < n; i++) {
            char where[16];
            snprintf(where, sizeof(where), "disks[%zu]", i);
            if (vmm_api_disk_parse(json_object_array_get_idx(v, i), where, &disks[i], err) < 0)
                return -1;
        }
        cfg->disks = disks;
        cfg->disk_count = (unsigned)n;
    }
    if (json_object_object_get_ex(obj, "fs", &v)) {
        if (!json_object_is_type(v, json_type_array))
            return kerr_make(err, EINVAL, "config: `fs`: expected an array");
        size_t n = json_object_array_length(v);
        if (n > VMM_API_MAX_FS)
            return kerr_make(err, EINVAL, "config: `fs`: at most %u", VMM_API_MAX_FS);
        for (size_t i = 0; i < n; i++) {
            char where[16];
            snprintf(where, sizeof(where), "fs[%zu]", i);
            if (vmm_api_fs_parse(json_object_array_get_idx(v, i), where, &storage->fs[i], err) < 0)
                return -1;
        }
        cfg->fs = storage->fs;
        cfg->fs_count = (unsigned)n;
    }
    if (json_object_object_get_ex(obj, "net", &v)) {
        if (!json_object_is_type(v, json_type_array))
            return kerr_make(err, EINVAL, "config: `net`: expected an array");
        size_t n = json_object_array_length(v);
        if (n > VMM_API_MAX_NETS)
            return kerr_make(err, EINVAL, "config: `net`: at most %u", VMM_API_MAX_NETS);
        for (size_t i = 0; i < n; i++) {
            char where[16];
            snprintf(where, sizeof(where), "net[%zu]", i);
            if (net_parse(json_object_array_get_idx(v, i), where, &storage->nets[i], err) < 0)
                return -1;
        }
        cfg->nets = storage->nets;
        cfg->net_count = (unsigned)n;
    }
    if (json_object_object_get_ex(obj, "vsock", &v) &&
        vmm_api_vsock_parse(v, "vsock", &cfg->vsock_cid, &cfg->vsock_socket, err) < 0)
        return -1;
    if (json_object_object_get_ex(obj, "rng", &v)) {
        const char *src = NULL;
        if (only_keys(v, "rng", rng_keys, 1, err) < 0 ||
            get_string(v, "rng", "src", false, &src, err) < 0)
            return -1;
        cfg->rng = true;
    }
    if (json_object_object_get_ex(obj, "console", &v) &&
        console_parse(v, &cfg->virtio_console, err) < 0)
        return -1;
    return 0;
}
