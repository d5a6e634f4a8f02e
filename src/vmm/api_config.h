/* The request bodies of the control socket, in Cloud Hypervisor's shapes
 * (its OpenAPI document, vmm/src/api/openapi/cloud-hypervisor.yaml: VmConfig,
 * DiskConfig, NetConfig, FsConfig, VsockConfig, RngConfig, ConsoleConfig,
 * VmResize, VmRemoveDevice):
 *
 *   {"cpus": {"boot_vcpus": 2, "max_vcpus": 2},
 *    "memory": {"size": 268435456, "shared": true},
 *    "payload": {"kernel": "/path/vmlinux", "initramfs": "/path/initrd", "cmdline": "..."},
 *    "disks": [{"path": "/path/disk.img", "readonly": true, "id": "disk0"}],
 *    "fs": [{"tag": "kataShared", "socket": "/run/vm/virtiofsd.sock",
 *            "num_queues": 1, "queue_size": 1024}],
 *    "net": [{"mac": "aa:bb:cc:dd:ee:ff", "mtu": 1500}],
 *    "vsock": {"cid": 3, "socket": "/run/vm/kata.hvsock"},
 *    "rng": {"src": "/dev/urandom"},
 *    "serial": {"mode": "Tty"}, "console": {"mode": "Off"}}
 *
 * Every field of the document is known.  One kata-vmm implements is taken;
 * one it does not is refused when present ("disks[0].vhost_user: `true` is
 * not supported by kata-vmm (only `false`)"), except with the document's
 * default value, which is what it does anyway; a field the document does not
 * have is an error naming it.  JSON null counts as absent.  kata-vmm's
 * extensions (docs/vmm.md): `payload.virtio_mmio_cmdline` (announce the
 * devices on the command line), `net[].fd` (a tap kata-vmm inherited; Cloud
 * Hypervisor's way, the fd sent with vm.add-net, works too).  Hints kata-vmm
 * takes but serves its own way: `num_queues`/`queue_size` of disks and fs
 * (one queue of kata-vmm's size), `cpus.max_vcpus` and `memory.hotplug_size`
 * (the ceiling of a vm.resize, which kata-vmm answers only with the current
 * size). */
#ifndef KATA_VMM_API_CONFIG_H
#define KATA_VMM_API_CONFIG_H

#include <json-c/json.h>

#include "error.h"
#include "vmm.h"

#define VMM_API_MAX_DISKS  12u /* Firecracker's driver: image, boot disks, 8 placeholders */
#define VMM_API_MAX_FS     4u
#define VMM_API_MAX_NETS   4u
#define VMM_API_MAX_STRING 4096u /* any string of a body, in bytes */
#define VMM_API_MAX_ID     20u   /* a disk's id is its virtio-blk serial */
#define VMM_API_JSON_DEPTH 8u    /* nesting of a body (VmConfig needs 4) */

enum vmm_api_type { API_STRING, API_BOOL, API_INT, API_OBJECT, API_ARRAY };
enum vmm_api_use {
    API_TAKEN,   /* kata-vmm implements it */
    API_DEFAULT, /* only the document's default value (dflt_str / dflt_int) */
    API_REFUSED, /* not supported: an error when present (an empty array is fine) */
};
struct vmm_api_field {
    const char *name;
    enum vmm_api_type type;
    enum vmm_api_use use;
    const char *dflt_str; /* API_DEFAULT strings */
    int64_t dflt_int;     /* API_DEFAULT integers and booleans */
};

/* Field tables' entries. */
#define TAKEN(n, t)                                                                                \
    {                                                                                              \
        n, t, API_TAKEN, NULL, 0                                                                   \
    }
#define BOOL_ONLY(n, b)                                                                            \
    {                                                                                              \
        n, API_BOOL, API_DEFAULT, NULL, b                                                          \
    }
#define INT_ONLY(n, i)                                                                             \
    {                                                                                              \
        n, API_INT, API_DEFAULT, NULL, i                                                           \
    }
#define STR_ONLY(n, s)                                                                             \
    {                                                                                              \
        n, API_STRING, API_DEFAULT, s, 0                                                           \
    }
#define REFUSED(n, t)                                                                              \
    {                                                                                              \
        n, t, API_REFUSED, NULL, 0                                                                 \
    }

/* Check obj against fields[]: an object, no other key, each taken field of
 * its type, refused fields absent, default-only fields at their default.
 * `where` ("disks[0]", "" at the top) names the field in errors. */
int vmm_api_check_fields(struct json_object *obj, const char *where,
                         const struct vmm_api_field *fields, size_t n, struct kerr **err);
/* obj's `key`, NULL when absent or null. */
struct json_object *vmm_api_field(struct json_object *obj, const char *key);
/* After vmm_api_check_fields: obj's string `key` (non-empty), or its
 * integer in [min, max]; absent is an error when required, else *out stays. */
int vmm_api_get_string(struct json_object *obj, const char *where, const char *key, bool required,
                       const char **out, struct kerr **err);
int vmm_api_get_uint(struct json_object *obj, const char *where, const char *key, bool required,
                     uint64_t min, uint64_t max, uint64_t *out, struct kerr **err);

/* Room for the arrays a configuration points into. */
struct vmm_api_config_storage {
    struct vmm_disk disks[VMM_API_MAX_DISKS];
    struct vmm_fs fs[VMM_API_MAX_FS];
    struct vmm_net nets[VMM_API_MAX_NETS];
};

/* A VmConfig: fill cfg (strings point into obj, which must outlive cfg;
 * arrays into *storage).  A net without `fd` has tap_fd -1. */
int vmm_api_config_parse(struct json_object *obj, struct vmm_config *cfg,
                         struct vmm_api_config_storage *storage, struct kerr **err);
/* One DiskConfig, `where` names it in errors. */
int vmm_api_disk_parse(struct json_object *obj, const char *where, struct vmm_disk *disk,
                       struct kerr **err);
/* An FsConfig. */
int vmm_api_fs_parse(struct json_object *obj, const char *where, struct vmm_fs *fs,
                     struct kerr **err);
/* A NetConfig (tap_fd -1 without the `fd` extension). */
int vmm_api_net_parse(struct json_object *obj, const char *where, struct vmm_net *net,
                      struct kerr **err);
/* A VsockConfig. */
int vmm_api_vsock_parse(struct json_object *obj, const char *where, uint64_t *cid,
                        const char **socket, struct kerr **err);
/* A VmResize: *vcpus and *ram_bytes 0 when absent. */
int vmm_api_resize_parse(struct json_object *obj, uint64_t *vcpus, uint64_t *ram_bytes,
                         struct kerr **err);

#endif
