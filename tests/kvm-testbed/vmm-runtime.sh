#!/usr/bin/env bash
# kata-runtime with configuration-dragonball.toml in the KVM test bed (run by
# tests/integration/test_vmm_devices.sh): `kata-manager -S dragonball`
# switches /etc/kata-containers to it, then `kata-runtime run` of a busybox
# bundle boots the sandbox VM in the built-in VMM (the shim picks the
# `dragonball` driver from the configuration; kata-vmm comes from
# KATA_VMM_PATH), the container's rootfs reaches the guest over virtio-fs,
# its process prints what it sees (the virtio devices' vendor id is
# kata-vmm's) and exits 3, and run exits 3.  Then delete
# leaves no kata-vmm, virtiofsd or state behind.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
runtime=$build/src/runtime/kata-runtime
work=$(mktemp -d /tmp/vmm-runtime.XXXXXX)
# As a user does it: the packaged configurations under the prefix (this
# build's, asset paths pointed at build/guest), `kata-manager -S dragonball`,
# then kata-runtime with no configuration option.  The test bed's /etc is a
# throw-away overlay and /opt its tmpfs; both are removed again here.
defaults=/opt/kata/share/defaults/kata-containers
cleanup() {
  "$runtime" --root "$work/root" delete --force vmmctr > /dev/null 2>&1
  rm -rf "$work" /opt/kata /etc/kata-containers
}
trap cleanup EXIT

[ ! -e /opt/kata ] && [ ! -e /etc/kata-containers ] ||
  { echo "vmm-runtime.sh: /opt/kata or /etc/kata-containers exists already" >&2; exit 1; }
unset KATA_CONF_FILE
mkdir -p "$defaults"
for f in "$build"/config/configuration-*.toml; do
  sed -e "s|^kernel = .*|kernel = \"$assets/vmlinux\"|" \
    -e "s|^initrd = .*|initrd = \"$assets/kata-agent-initrd.img\"|" "$f" > "$defaults/${f##*/}"
done
ln -s configuration-qemu.toml "$defaults/configuration.toml"
out=$("$build/src/manager/kata-manager" -S dragonball 2>&1 && "$build/src/manager/kata-manager" -L 2>&1)
[ $? -eq 0 ] && [ "$(readlink -f /etc/kata-containers/configuration.toml)" = \
  /etc/kata-containers/configuration-dragonball.toml ] &&
  printf '%s\n' "$out" | grep -q '^\* *dragonball\|dragonball.*\*'
result $? "kata-manager -S dragonball: /etc/kata-containers/configuration.toml is the dragonball configuration" "$out"
export KATA_SHIM_PATH=$build/src/shim/containerd-shim-kata-v2
export KATA_VMM_PATH=$build/src/vmm/kata-vmm

bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo uname nproc cat; do
  ln -s busybox "$bundle/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
"$runtime" spec --bundle "$bundle"
bundle_command "$bundle/config.json" \
  "echo \"in the built-in VMM: kernel \$(uname -r), \$(nproc) CPU(s), virtio vendor \$(cat /sys/bus/virtio/devices/virtio0/vendor)\"; exit 3"

status=0
out=$(timeout 300 "$runtime" --root "$work/root" run --bundle "$bundle" vmmctr < /dev/null 2>&1) ||
  status=$?
echo "# run: $(printf '%s' "$out" | grep 'in the built-in VMM' | head -n 1)"
# The guest's virtio devices carry kata-vmm's vendor id ("KATA"), not QEMU's.
[ $status -eq 3 ] && [[ $out == *"in the built-in VMM: kernel 6.1"* ]] &&
  [[ $out == *"virtio vendor 0x4b415441"* ]]
result $? "kata-runtime run with configuration-dragonball.toml: the container ran in kata-vmm and exited 3 (status $status)" \
  "$out
$(cat "$work"/root/*/vm/kata-vmm.log 2> /dev/null; find "$work/root" -name '*.log' 2> /dev/null)"

"$runtime" --root "$work/root" delete --force vmmctr > /dev/null 2>&1
! pgrep -x kata-vmm > /dev/null && ! pgrep -f "virtiofsd.*$work" > /dev/null &&
  [ -z "$("$runtime" --root "$work/root" list -q 2> /dev/null)" ]
result $? "delete leaves no kata-vmm, virtiofsd or container" "$(pgrep -a kata-vmm; pgrep -af virtiofsd)"

finish
