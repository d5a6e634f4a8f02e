/* The `clh` driver's request bodies, built by pure functions so tests check
 * them against Cloud Hypervisor's API schema (tests/ch_api/schema.json)
 * without a VMM.  Each returns a JSON text (caller frees). */
#ifndef KATA_CLH_H
#define KATA_CLH_H

#include "hypervisor.h"

/* The guest CID of the VM's vsock device (Kata's defaultGuestVSockCID). */
#define CLH_GUEST_CID 3u

/* vm.create's VmConfig: payload (kernel, cmdline, initramfs), cpus, memory,
 * rng, serial and console, vsock (the agent's hybrid vsock on
 * vsock_socket), fs (virtiofsd on fs_socket, NULL: none), disks (the image,
 * then cfg's boot disks).  Network devices are not here: Cloud Hypervisor
 * takes a tap's fd only with vm.add-net (clh_add_net_body). */
char *clh_vm_config_body(const struct vm_config *cfg, const char *cmdline, const char *vsock_socket,
                         const char *fs_socket);
/* vm.add-disk's DiskConfig for a hotplugged disk (id and serial = dev->id). */
char *clh_add_disk_body(const struct vm_block_device *dev);
/* vm.add-net's NetConfig for network device `index` (id "net<index>"); its
 * tap goes as SCM_RIGHTS with the request. */
char *clh_add_net_body(const struct vm_net_device *dev, size_t index);
/* vm.remove-device's VmRemoveDevice. */
char *clh_remove_device_body(const char *id);

/* A PciDeviceInfo's bdf "0000:00:SS.0" as the guest's PCI path "SS" (Cloud
 * Hypervisor puts devices on the root bus of segment 0, no bridges).  NULL
 * with err when it is not of that form. */
char *clh_pci_path(const char *bdf, struct kerr **err);

/* Drive the VMM whose API socket is api_socket as vm's (the ops after
 * start: tests run them against a stand-in server). */
void clh_attach(struct vm *vm, const char *api_socket);

#endif
