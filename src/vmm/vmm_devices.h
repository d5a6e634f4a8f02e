/* The built-in VMM's virtio-mmio devices and the thread that runs them.
 *
 * Each device gets a 4 KiB register block at VMM_MMIO_BASE + 4 KiB * n and
 * GSI VMM_MMIO_FIRST_GSI + n.  The guest learns of them from the DSDT
 * (LNRO0005 devices) or from `virtio_mmio.device=4K@0xd0000000:5` on the
 * command line (with the MP table of mptable.h for the IRQ).  Register
 * accesses arrive as MMIO exits on the vCPU thread; QueueNotify writes go
 * through KVM ioeventfds to the device thread's epoll loop, which also
 * watches the devices' host sockets; interrupts go out through KVM irqfds.
 * With vm_fd -1 (unit tests) nothing is registered with KVM: a QueueNotify
 * write signals the same eventfd and interrupts only signal the irqfd. */
#ifndef KATA_VMM_DEVICES_H
#define KATA_VMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acpi.h"
#include "error.h"
#include "guest_memory.h"
#include "virtio_blk.h"

#define VMM_MMIO_BASE      0xd0000000ull
#define VMM_MMIO_FIRST_GSI 5u
#define VMM_MAX_DEVICES    16u

struct vmm_devices;
struct virtio_mmio;

/* log receives a line for each device the guest broke (may be NULL). */
struct vmm_devices *vmm_devices_new(int vm_fd, const struct guest_memory *mem,
                                    void (*log)(void *ctx, const char *message), void *log_ctx,
                                    struct kerr **err);
/* Stops the device thread, then frees every device. */
void vmm_devices_free(struct vmm_devices *devs);

int vmm_devices_add_rng(struct vmm_devices *devs, struct kerr **err);
/* virtio-console: the guest's output goes to output (on the device thread);
 * input_fd (non-blocking, or -1: output-only) feeds its input and becomes
 * the device's, closed with it (also when this fails). */
int vmm_devices_add_console(struct vmm_devices *devs, int input_fd,
                            void (*output)(void *ctx, const uint8_t *bytes, size_t len),
                            void *output_ctx, struct kerr **err);
int vmm_devices_add_blk(struct vmm_devices *devs, const char *path, bool readonly, const char *id,
                        struct kerr **err);
/* Put path behind the virtio-blk disk whose id is `id` while the VM runs
 * (virtio_blk_replace); any thread. */
int vmm_devices_replace_blk(struct vmm_devices *devs, const char *id, const char *path,
                            bool readonly, struct kerr **err);
/* The disks' states in device order (at most max); free each path. */
unsigned vmm_devices_blk_states(struct vmm_devices *devs, struct virtio_blk_state *out,
                                unsigned max);
/* Hybrid vsock: host clients connect to uds_path; guest connections to host
 * port P go to `<uds_path>_<P>`. */
int vmm_devices_add_vsock(struct vmm_devices *devs, uint64_t guest_cid, const char *uds_path,
                          struct kerr **err);

/* vhost-user-fs: virtiofsd listens on socket_path; the guest mounts `tag`.
 * Needs the guest memory's memfd (vmm_devices_set_memory_fd). */
int vmm_devices_add_fs(struct vmm_devices *devs, const char *socket_path, const char *tag,
                       struct kerr **err);
/* virtio-net over tap_fd (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR; stays the
 * caller's); mac may be NULL, mtu 0. */
int vmm_devices_add_net(struct vmm_devices *devs, int tap_fd, const char *mac, unsigned mtu,
                        struct kerr **err);
/* The memfd behind guest memory (for vhost-user back-ends); -1: none. */
void vmm_devices_set_memory_fd(struct vmm_devices *devs, int fd);

unsigned vmm_devices_count(const struct vmm_devices *devs);
/* The devices for the DSDT; returns how many (at most max). */
unsigned vmm_devices_acpi(const struct vmm_devices *devs, struct vmm_acpi_mmio *out, unsigned max);
/* " virtio_mmio.device=4K@0x...:GSI" for each device (malloc'd, "" when none). */
char *vmm_devices_cmdline(const struct vmm_devices *devs);
/* The device at index n, for tests. */
struct virtio_mmio *vmm_devices_get(struct vmm_devices *devs, unsigned n);
/* The eventfd the device's interrupt signals (tests poll it with vm_fd -1). */
int vmm_devices_irqfd(const struct vmm_devices *devs, unsigned n);

/* Start the device thread (once, after every device is added); with seccomp
 * it loads the device thread's filter (vmm_seccomp.h) before serving. */
int vmm_devices_start(struct vmm_devices *devs, bool seccomp, struct kerr **err);

/* An MMIO access from a vCPU: true when it hit a device (reads fill data). */
bool vmm_devices_mmio(struct vmm_devices *devs, uint64_t gpa, uint8_t *data, unsigned len,
                      bool is_write);

#endif
