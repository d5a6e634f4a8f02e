/* The VM configuration the control socket takes (vm.create, vm.add-disk,
 * vm.add-vsock), in Cloud Hypervisor's shape where it overlaps:
 *
 *   {"cpus": {"boot_vcpus": 2},
 *    "memory": {"size": 268435456},
 *    "payload": {"kernel": "/path/vmlinux", "initrd": "/path/initrd", "cmdline": "...",
 *                "virtio_mmio_cmdline": false},
 *    "disks": [{"path": "/path/disk.img", "readonly": true, "id": "disk0"}],
 *    "fs": [{"socket": "/run/vm/virtiofsd.sock", "tag": "kataShared"}],
 *    "net": [{"fd": 5, "mac": "aa:bb:cc:dd:ee:ff", "mtu": 1500}],
 *    "vsock": {"cid": 3, "socket": "/run/vm/kata.hvsock"},
 *    "rng": {},
 *    "console": {"mode": "Tty"}}
 *
 * "console" is the virtio-console ("Tty": on kata-vmm's stdout, "Off": none,
 * the default); COM1 is always there.
 *
 * Strict: unknown keys and wrong types are errors naming the key. */
#ifndef KATA_VMM_API_CONFIG_H
#define KATA_VMM_API_CONFIG_H

#include <json-c/json.h>

#include "error.h"
#include "vmm.h"

#define VMM_API_MAX_DISKS 8u
#define VMM_API_MAX_FS    4u
#define VMM_API_MAX_NETS  4u

/* Room for the arrays a configuration points into. */
struct vmm_api_config_storage {
    struct vmm_disk disks[VMM_API_MAX_DISKS];
    struct vmm_fs fs[VMM_API_MAX_FS];
    struct vmm_net nets[VMM_API_MAX_NETS];
};

/* Fill cfg from the JSON object (strings point into obj, which must outlive
 * cfg; arrays into *storage). */
int vmm_api_config_parse(struct json_object *obj, struct vmm_config *cfg,
                         struct vmm_api_config_storage *storage, struct kerr **err);
/* One disk object ({"path", "readonly", "id"}), `where` names it in errors. */
int vmm_api_disk_parse(struct json_object *obj, const char *where, struct vmm_disk *disk,
                       struct kerr **err);
/* A virtio-fs share ({"socket", "tag"}). */
int vmm_api_fs_parse(struct json_object *obj, const char *where, struct vmm_fs *fs,
                     struct kerr **err);
/* A vsock object ({"cid", "socket"}). */
int vmm_api_vsock_parse(struct json_object *obj, const char *where, uint64_t *cid,
                        const char **socket, struct kerr **err);

#endif
