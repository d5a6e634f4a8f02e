#!/usr/bin/env bash
# The clh driver over Cloud Hypervisor's API in the KVM test bed, with
# configuration-clh.toml's `path` naming kata-vmm (tests/kvm-testbed/clh-vmm.sh):
# kata-runtime run, the driver's pause/resume, a pod of two containers, the
# VMM killed with SIGKILL then delete --force, a block-device rootfs; nothing
# left.  KATA_CLH_VMM=/path/to/cloud-hypervisor runs the same checks against
# another VMM that speaks the API (on a host with KVM, the script runs
# directly: docs/hypervisor.md).  A step that fails runs again on a fresh L1
# (tests/kvm-testbed/run-steps) and fails the test only if it fails again.
# tests/run timeout: 1500
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$top/build/src/vmm/kata-vmm" "$top/build/tests/tools/vm-probe" \
  "$top/build/guest/vmlinux" "$top/build/guest/kata-agent-initrd.img"; do
  [ -e "$f" ] || { echo "FAIL: $f missing: run make and guest/build-assets.sh first" >&2; exit 1; }
done
exec "$top/tests/kvm-testbed/steps-test" --plan "1..8" --timeout 1200 -- \
  tests/kvm-testbed/clh-vmm.sh
