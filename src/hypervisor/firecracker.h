/* The `firecracker` driver's request bodies, built by pure functions so tests
 * check them against Firecracker's API schema (tests/fc_api/schema.json,
 * written from firecracker-microvm/firecracker
 * src/firecracker/swagger/firecracker.yaml) without a VMM.  Each returns a
 * JSON text (caller frees). */
#ifndef KATA_FIRECRACKER_H
#define KATA_FIRECRACKER_H

#include "hypervisor.h"

/* The guest CID of the VM's vsock device (Kata's defaultGuestVSockCID). */
#define FC_GUEST_CID 3u
/* Firecracker's vcpu_count range. */
#define FC_VCPUS_MAX 32u

/* PUT /machine-config: MachineConfiguration (vcpu_count, mem_size_mib, smt). */
char *fc_machine_config_body(const struct vm_config *cfg);
/* PUT /boot-source: BootSource (kernel_image_path, boot_args, initrd_path). */
char *fc_boot_source_body(const struct vm_config *cfg, const char *cmdline);
/* PUT /drives/{drive_id}: Drive (never the root device: the command line
 * names the root itself). */
char *fc_drive_body(const char *drive_id, const char *path, bool readonly);
/* PATCH /drives/{drive_id}: PartialDrive (drive_id, path_on_host). */
char *fc_patch_drive_body(const char *drive_id, const char *path);
/* PUT /network-interfaces/{iface_id}: NetworkInterface (iface_id,
 * host_dev_name, guest_mac when mac is set). */
char *fc_network_interface_body(const char *iface_id, const char *host_dev_name, const char *mac);
/* PUT /vsock: Vsock (guest_cid, uds_path). */
char *fc_vsock_body(const char *uds_path);
/* PUT /logger: Logger (log_path, level Warning, or Debug with debug). */
char *fc_logger_body(const char *log_path, bool debug);
/* PUT /metrics: Metrics (metrics_path). */
char *fc_metrics_body(const char *metrics_path);
/* PUT /actions: InstanceActionInfo (action_type). */
char *fc_action_body(const char *action_type);
/* PATCH /vm: Vm (state "Paused" or "Resumed"). */
char *fc_vm_state_body(const char *state);
/* The instance id given with --id: the run directory's last component, kept
 * to Firecracker's alphabet (letters, digits, '-') and 64 bytes; "kata" when
 * nothing is left.  Caller frees. */
char *fc_instance_id(const char *run_dir);
/* Drive the VMM whose API socket is api_socket as vm's (the ops after
 * start: tests run them against a stand-in server). */
void fc_attach(struct vm *vm, const char *api_socket);

#endif
