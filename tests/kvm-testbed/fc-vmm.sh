#!/usr/bin/env bash
# The firecracker driver over Firecracker's API, in the KVM test bed (run by
# tests/integration/test_fc_vmm.sh).  The VMM is the configuration's `path`:
# kata-vmm by default (`--api-sock` speaks Firecracker's API: docs/vmm.md),
# any other binary that speaks it with KATA_FC_VMM=/path/to/firecracker, so on
# a host with KVM the same checks run against a real Firecracker.
#   1. vm-probe through firecracker_ops: the agent answers over the hybrid
#      vsock, the VM pauses and resumes (PATCH /vm, GET /), the VMM exits
#      after (SendCtrlAltDel).
#   2. `kata-runtime run` of a container from a block-device rootfs with
#      configuration-fc.toml (shared_fs = "none"): the image is the
#      container's root (ext4) and the container exits 0.
#   3. delete leaves no VMM, socket, placeholder drive or state; the loop
#      device stays.
#   4. a container from the same rootfs, its VMM killed with SIGKILL, then
#      `delete --force`: nothing left.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
runtime=$build/src/runtime/kata-runtime
work=$(mktemp -d /tmp/fc-vmm.XXXXXX)
loop=
cleanup() {
  for c in blkctr killctr; do
    "$runtime" --root "$work/root" delete --force "$c" > /dev/null 2>&1
  done
  umount "$work/blk/rootfs" 2> /dev/null
  [ -z "$loop" ] || losetup -d "$loop" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The configuration: the packaged fc one, our guest assets, `path` the VMM.
vmm=${KATA_FC_VMM:-$build/src/vmm/kata-vmm}
sed -e "s|^path = .*|path = \"$vmm\"|" \
  -e "s|^valid_hypervisor_paths = .*|valid_hypervisor_paths = [\"$vmm\"]|" \
  -e "s|^kernel = .*|kernel = \"$assets/vmlinux\"|" \
  -e "s|^image = .*|initrd = \"$assets/kata-agent-initrd.img\"|" \
  -e "s|^default_memory = .*|default_memory = 512|" \
  "$build/config/configuration-fc.toml" > "$work/configuration.toml"
vmm=$(sed -n 's/^path = "\(.*\)"$/\1/p' "$work/configuration.toml" | head -n 1)
echo "# VMM: $vmm ($("$vmm" --version 2>&1 | head -n 1))"
export KATA_CONF_FILE=$work/configuration.toml
export KATA_SHIM_PATH=$build/src/shim/containerd-shim-kata-v2
export KATA_STATE_DIR=$work/state KATA_SHARED_DIR=$work/shared KATA_SHIM_SOCKET_DIR=$work/s

vmm_pids() { pgrep -f "^$vmm --api-sock " 2> /dev/null; }
# Nothing of ours left: no VMM, no socket, placeholder, mount or state under
# the work directory.
leftovers() {
  vmm_pids | sed 's/^/vmm pid /'
  grep " $work/[^b]" /proc/mounts
  find "$work/state" "$work/shared" "$work/s" "$work/root" \( -type s -o -name 'drive_*' \) \
    2> /dev/null
  [ -z "$(ls -A "$work/state" 2> /dev/null)" ] || ls -A "$work/state"
}

# 1. The driver's boot, pause and resume, through vm-probe.
mkdir -p "$work/probe"
out=$(timeout 300 "$build/tests/tools/vm-probe" --hypervisor firecracker --qemu "$vmm" \
  --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" --qmp-check --json \
  --run-dir "$work/probe" --timeout 240 2>&1)
st=$?
echo "# vm-probe: $(printf '%s' "$out" | tail -n 1)"
[ $st -eq 0 ] && [[ $out == *'"health": "SERVING"'* ]] &&
  [[ $out == *'"qmp_paused": "paused", "qmp_resumed": "running"'* ]] && [ -z "$(vmm_pids)" ]
result $? "vm-probe --hypervisor firecracker: the agent answers, the VM pauses and resumes (paused, then running), the VMM is gone after" \
  "$out
$(tail -n 20 "$work/probe/firecracker.log" 2> /dev/null)"

# 2. A block-device rootfs, shared_fs = "none" (configuration-fc.toml's).
modprobe loop 2> /dev/null
mkdir -p "$work/src/bin" "$work/src/etc" "$work/src/proc" "$work/src/sys" "$work/src/dev"
cp /bin/busybox "$work/src/bin/busybox"
for applet in sh cat grep cut echo sleep; do ln -s busybox "$work/src/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/src/etc/passwd"
echo made-in-the-image > "$work/src/etc/marker"
mkfs.ext4 -q -F -d "$work/src" "$work/rootfs.img" 64M > /dev/null
loop=$(losetup --find --show "$work/rootfs.img")
mkdir -p "$work/blk/rootfs"
"$runtime" spec --bundle "$work/blk"
mount "$loop" "$work/blk/rootfs"
bundle_command "$work/blk/config.json" "cat /etc/marker; grep ' / ' /proc/mounts"
status=0
out=$(timeout 300 "$runtime" --root "$work/root" run --bundle "$work/blk" blkctr < /dev/null 2>&1) ||
  status=$?
echo "# block rootfs: $(printf '%s' "$out" | tr '\n' '|' | cut -c1-300)"
[ $status -eq 0 ] && [[ $out == made-in-the-image* ]] && printf '%s\n' "$out" | grep -q ' / ext4 '
result $? "kata-runtime run with configuration-fc.toml (path = the VMM), block rootfs: the image is the container's root (ext4)" \
  "$out
$(find "$work/state" -name 'firecracker.log' -exec tail -n 20 {} \; 2> /dev/null)"
"$runtime" --root "$work/root" delete --force blkctr > /dev/null 2>&1
left=$(leftovers)
[ -z "$left" ] && [ "$(losetup --noheadings -O BACK-FILE "$loop")" = "$work/rootfs.img" ]
result $? "delete leaves no VMM, socket, placeholder drive or state; the loop device stays" "$left"

# 4. The VMM killed with SIGKILL, then delete --force.
bundle_command "$work/blk/config.json" "echo up; sleep 1000"
"$runtime" --root "$work/root" run --detach --bundle "$work/blk" killctr < /dev/null \
  > "$work/run4.out" 2>&1
st=$?
pids=$(vmm_pids)
[ $st -eq 0 ] && [ -n "$pids" ] && kill -9 $pids
status=0
out=$(timeout 120 "$runtime" --root "$work/root" delete --force killctr 2>&1) || status=$?
left=$(leftovers)
[ -n "$pids" ] && [ $status -eq 0 ] && [ -z "$left" ]
result $? "the VMM (pid ${pids:-none}) killed with SIGKILL, then delete --force (status $status): nothing left" \
  "$(cat "$work/run4.out")
$out
$left"
umount "$work/blk/rootfs"

finish
