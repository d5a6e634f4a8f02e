#!/usr/bin/env bash
# The agent's cgroup v2 library and OCI security code in the real guest
# kernel: tests/guest/cgroup_vm_init.c, linked by the static musl agent build
# (with libseccomp.a), is the /init of an initrd; the VM boots it under QEMU
# (TCG without KVM), it prints TAP on the serial console (limits written and
# read back, pids.max stopping fork, freeze stopping a busy child, an OOM
# kill counted in memory.events, io.max and io.stat on a virtio-blk disk,
# stats, seccomp and capabilities) and powers
# off.  Exits 0 when every guest test passed.  QEMU and the temporary
# directory are removed on exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
boot_timeout=${KATA_TEST_BOOT_TIMEOUT:-180}
qemu=${QEMU:-qemu-system-x86_64}

work=$(mktemp -d /tmp/test_agent_cgroup_vm.XXXXXX)
qpid=""
cleanup() {
  if [ -n "$qpid" ]; then
    kill "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The static agent build (tests/run's `make` configures it).
[ -f "$top/build-agent/build.ninja" ] || make -C "$top" agent >/dev/null
ninja -C "$top/build-agent" tests/guest/cgroup-vm-init >/dev/null
init=$top/build-agent/tests/guest/cgroup-vm-init
kdir=${KATA_TEST_KERNEL_DIR:-$("$top/guest/kernel/build.sh")}
"$top/guest/initrd/build.sh" --init "$init" --out "$work/cgroup.initrd" 2>/dev/null
# A 1 MiB disk for io.max and io.stat.
truncate -s 1M "$work/disk.img"

# KVM only where /dev/kvm is usable and the CPU has vmx/svm (a PVM nested host
# has /dev/kvm, but QEMU's KVM stops there with "emulation failure").
accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qw -E "vmx|svm" /proc/cpuinfo; then accel=kvm; fi
accel=${KATA_TEST_ACCEL:-$accel}
tsc_param=""
if tsc=$("$top/guest/host-tsc-khz.sh" 2>/dev/null); then tsc_param="tsc_early_khz=$tsc"; fi

log=$work/console.log
st=0
timeout -k 5 "$boot_timeout" "$qemu" \
  -M microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on \
  -global virtio-mmio.force-legacy=false \
  -accel "$accel" -m 256M -smp 1 -nodefaults -no-user-config -nographic -no-reboot \
  -serial stdio -kernel "$kdir/vmlinux" -initrd "$work/cgroup.initrd" \
  -drive "file=$work/disk.img,if=none,id=disk0,format=raw,readonly=on" \
  -device virtio-blk-device,drive=disk0 \
  -append "console=ttyS0 reboot=t panic=-1 quiet loglevel=1 $tsc_param" \
  < /dev/null > "$log" 2>&1 &
qpid=$!
wait "$qpid" || st=$?
qpid=""

tr -d '\r' < "$log" > "$work/tap"
sed 's/^/  | /' "$work/tap" | grep -E '^\s*\| (ok|not ok|#|1\.\.|CGROUP_VM_TEST_DONE)' || true
if [ "$st" = 124 ]; then
  echo "FAIL: no power-off within ${boot_timeout}s"
  tail -n 30 "$work/tap"
  exit 1
fi
plan=$(grep -oE '^1\.\.[0-9]+$' "$work/tap" | head -n1 | cut -d. -f3)
passed=$(grep -cE '^ok [0-9]+' "$work/tap" || true)
failed=$(grep -cE '^not ok [0-9]+' "$work/tap" || true)
if ! grep -q '^CGROUP_VM_TEST_DONE failures=0$' "$work/tap" || [ -z "$plan" ] ||
   [ "$passed" != "$plan" ] || [ "$failed" != 0 ]; then
  echo "FAIL: guest cgroup tests: plan ${plan:-missing}, $passed passed, $failed failed"
  tail -n 40 "$work/tap"
  exit 1
fi
echo "ok: $passed guest cgroup/security tests passed (QEMU $accel)"
