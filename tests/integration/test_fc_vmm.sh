#!/usr/bin/env bash
# The firecracker driver over Firecracker's API in the KVM test bed, with
# configuration-fc.toml's `path` naming kata-vmm (tests/kvm-testbed/fc-vmm.sh):
# the driver's boot, pause and resume (vm-probe), kata-runtime run from a
# block-device rootfs (shared_fs = "none"), the VMM killed with SIGKILL then
# delete --force, a pod whose containers' disks are swapped in and out of the
# placeholder drives; nothing left.  KATA_FC_VMM=/path/to/firecracker runs
# the same checks against another VMM that speaks the API (on a host with KVM,
# the script runs directly: docs/hypervisor.md).  A step that fails runs again on a fresh L1
# (tests/kvm-testbed/run-steps) and fails the test only if it fails again.
# tests/run timeout: 1500
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$top/build/src/vmm/kata-vmm" "$top/build/tests/tools/vm-probe" \
  "$top/build/guest/vmlinux" "$top/build/guest/kata-agent-initrd.img"; do
  [ -e "$f" ] || { echo "FAIL: $f missing: run make and guest/build-assets.sh first" >&2; exit 1; }
done
exec "$top/tests/kvm-testbed/steps-test" --plan "1..6" --timeout 1200 -- \
  tests/kvm-testbed/fc-vmm.sh
