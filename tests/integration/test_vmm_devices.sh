#!/usr/bin/env bash
# The built-in VMM's virtio-mmio devices with our guest, in the KVM test bed:
# tests/kvm-testbed/vmm-devices.sh boots kata-vmm on 2 vCPUs with
# virtio-rng, eight virtio-blk disks, two virtio-fs shares and hybrid vsock
# announced on the kernel command line (IRQs 5 to 16), reaches the agent from
# the host side, has it mount the disks and write into one, and checks the
# image afterwards; then vm-probe boots the agent through the `dragonball`
# hypervisor driver (devices on the command line too), and curl drives
# kata-vmm --api-socket (every thread under seccomp, pause, resume,
# vm.shutdown, SIGTERM);
# tests/kvm-testbed/vmm-net.sh has the guest answer ping through a tap
# (virtio-net) that net-probe attached with the driver; and
# tests/kvm-testbed/vmm-runtime.sh runs a container with `kata-runtime run`
# and configuration-dragonball.toml; tests/kvm-testbed/vmm-drives.sh runs
# containers whose rootfs is a block device (shared_fs = "none") through the
# driver's placeholder drives, alone and as a pod swapping two disks in and
# out; tests/kvm-testbed/vmm-guest.sh has a
# hostile guest (virtq-guest) hand the devices malformed virtqueues, which
# kata-vmm refuses without harm, boots the agent from a bzImage, and boots
# the marker initrd with console=hvc0 on a virtio-console (kata-vmm's
# --console virtio and the driver's), and has a guest kernel panic end in a
# triple fault (kata-vmm exits 4) and, through the driver, in a reset whose
# error says so.
# The five run in one L1 VM through tests/kvm-testbed/run-steps: one that
# fails runs again on a fresh L1 and fails the test only if it fails again.
# No timing is asserted; nothing is left behind (the test bed removes its run
# directory, the script its work directory).
# tests/run timeout: 2400
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$top/build/src/vmm/kata-vmm" "$top/build/tests/tools/agent-ctl" \
  "$top/build/guest/vmlinux" "$top/build/guest/kata-agent-initrd.img"; do
  [ -e "$f" ] || { echo "FAIL: $f missing: run make and guest/build-assets.sh first" >&2; exit 1; }
done
exec "$top/tests/kvm-testbed/steps-test" --plan "1..12 1..3 1..3 1..8 1..7" --timeout 1100 -- \
  tests/kvm-testbed/vmm-devices.sh tests/kvm-testbed/vmm-net.sh tests/kvm-testbed/vmm-runtime.sh \
  tests/kvm-testbed/vmm-drives.sh tests/kvm-testbed/vmm-guest.sh
