#!/usr/bin/env bash
# kata-vmm against guests other than our agent's usual vmlinux, inside the KVM
# test bed (run by tests/integration/test_vmm_devices.sh):
#   - virtq-guest (tests/kvm-testbed/virtq-guest), a freestanding hostile
#     virtio driver, hands virtio-rng and virtio-blk malformed queues and
#     chains (descriptor loops, rings and buffers outside RAM or wrapping,
#     indices out of range, bad indirect tables, a readable buffer after a
#     writable one, a sector past the disk's end).  Every one is refused
#     (DEVICE_NEEDS_RESET, or IOERR for the sector), kata-vmm logs one line
#     per refusal and keeps running, both devices work again after a reset,
#     and the guest's power-off ends kata-vmm with status 0;
#   - the same kernel as a bzImage (Linux boot protocol, 64-bit entry) boots
#     to the agent, which answers over hybrid vsock and powers off;
#   - the marker initrd with console=hvc0 on kata-vmm --console virtio (stdin
#     a pipe): the kernel's later messages and the marker line come through
#     the virtio-console, and the guest's power-off ends kata-vmm with status 0;
#   - the same through the dragonball driver (vm-probe --params console=hvc0):
#     the driver adds the virtio-console and reads the marker from it;
#   - a guest kernel that panics (no init: rdinit=/no-such-init) with
#     reboot=t triple-faults: kata-vmm exits 4, not 0, and says so on stderr;
#   - the same panic through the driver (its reboot=k: an i8042 reset): kata-vmm
#     exits 3 and the driver's error says the guest reset, with the console's
#     panic lines.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
vmm=$build/src/vmm/kata-vmm
ctl=$build/tests/tools/agent-ctl
guest=$build/tests/kvm-testbed/virtq-guest/virtq-guest
# Unix sockets need a local file system (the shares are 9p).
work=$(mktemp -d /tmp/vmm-guest.XXXXXX)
vmm_pid=
cleanup() {
  [ -z "$vmm_pid" ] || kill -9 "$vmm_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# 1-2. The hostile driver.
printf 'vqg-disk' > "$work/disk.img"
truncate -s 1M "$work/disk.img"
status=0
timeout 300 "$vmm" --kernel "$guest" --memory 64 --rng --disk "$work/disk.img" --timeout 240 \
  > "$work/console.log" 2> "$work/vmm.err" || status=$?
checks=$(grep -c '^ok ' "$work/console.log")
[ $status -eq 0 ] && grep -q '^virtq-guest: 23 passed, 0 failed$' "$work/console.log" &&
  ! grep -q '^not ok' "$work/console.log"
result $? "virtq-guest: $checks of 23 checks passed (malformed queues and chains refused, devices usable after a reset), kata-vmm exited $status" \
  "$(cat "$work/console.log" "$work/vmm.err")"
refusals=$(grep -c '^kata-vmm: virtio-\(rng\|blk\) at 0xd000[01]000: ' "$work/vmm.err")
[ "$refusals" -eq 18 ] && [ "$(grep -c . "$work/vmm.err")" -eq 18 ] &&
  grep -q 'chain 0: longer than its queue of 8 descriptors (a loop?)$' "$work/vmm.err"
result $? "kata-vmm logged one line per refused queue or chain ($refusals of 18) and nothing else" \
  "$(cat "$work/vmm.err")"

# 3. The agent initrd under the bzImage.
sock=$work/vsock.sock
"$vmm" --kernel "$top/build/guest/bzImage" --initrd "$top/build/guest/kata-agent-initrd.img" \
  --cmdline "console=ttyS0 reboot=k panic=-1 rdinit=/init" --memory 256 --vsock "$sock" \
  --timeout 240 > "$work/bz-console.log" 2> "$work/bz-vmm.err" &
vmm_pid=$!
out=""
for _ in $(seq 1 120); do
  out=$(timeout 20 "$ctl" --addr "hvsock:$sock" --timeout 10 call Check '{}' 2>&1) && break
  kill -0 "$vmm_pid" 2> /dev/null || break
  sleep 1
done
timeout 60 "$ctl" --addr "hvsock:$sock" --timeout 30 call DestroySandbox '{}' > /dev/null 2>&1
status=124
for _ in $(seq 1 120); do
  if ! kill -0 "$vmm_pid" 2> /dev/null; then
    wait "$vmm_pid"
    status=$?
    vmm_pid=
    break
  fi
  sleep 1
done
[[ $out == *SERVING* ]] && [ $status -eq 0 ] &&
  grep -q 'Kernel command line: console=ttyS0 reboot=k panic=-1 rdinit=/init' "$work/bz-console.log"
result $? "a bzImage (64-bit boot protocol) boots the agent initrd: it answers over hybrid vsock and powers off (status $status)" \
  "$out
$(cat "$work/bz-vmm.err"; tail -n 20 "$work/bz-console.log")"

# 4. virtio-console: hvc0 is the only console, so what the kernel prints
# once the device probed, and init's marker, arrive through it (input: a
# pipe, read to its end).
status=0
printf 'typed\n' | timeout 300 "$vmm" --kernel "$top/build/guest/vmlinux" \
  --initrd "$top/build/guest/marker-initrd.img" --console virtio \
  --cmdline "console=hvc0 reboot=k panic=-1 rdinit=/init" --memory 128 \
  --marker KATA_MARKER_INIT_READY --timeout 240 \
  > "$work/hvc-console.log" 2> "$work/hvc-vmm.err" || status=$?
[ $status -eq 0 ] && grep -q '^KATA_MARKER_INIT_READY' "$work/hvc-console.log" &&
  grep -q 'Run /init as init process' "$work/hvc-console.log" &&
  ! grep -q 'virtio-console at' "$work/hvc-vmm.err"
result $? "kata-vmm --console virtio: the kernel's messages and the marker come through hvc0, kata-vmm exited $status" \
  "$(cat "$work/hvc-vmm.err"; tail -n 20 "$work/hvc-console.log")"

# 5. The dragonball driver adds the virtio-console for console=hvc0.
out=$(timeout 300 "$build/tests/tools/vm-probe" --hypervisor dragonball --qemu "$vmm" \
  --kernel "$top/build/guest/vmlinux" --initrd "$top/build/guest/marker-initrd.img" \
  --params console=hvc0 --marker KATA_MARKER_INIT_READY --json --timeout 240 2>&1)
st=$?
[ $st -eq 0 ] && ! pgrep -x kata-vmm > /dev/null
result $? "vm-probe --hypervisor dragonball --params console=hvc0: the marker arrives through the driver's virtio-console (status $st)" \
  "$out"

# 6. A guest that crashes is not a power-off: the kernel finds no init and
# panics; panic=-1 reboot=t make it triple-fault (KVM_EXIT_SHUTDOWN).
status=0
timeout 300 "$vmm" --kernel "$top/build/guest/vmlinux" --initrd "$top/build/guest/marker-initrd.img" \
  --cmdline "console=ttyS0 reboot=t panic=-1 quiet rdinit=/no-such-init" --memory 128 \
  --timeout 240 > "$work/tf-console.log" 2> "$work/tf-vmm.err" || status=$?
[ $status -eq 4 ] && grep -q 'Kernel panic - not syncing' "$work/tf-console.log" &&
  grep -qx 'kata-vmm: the guest triple-faulted (KVM_EXIT_SHUTDOWN): it crashed: exit status 4' \
    "$work/tf-vmm.err"
result $? "a guest kernel panic with reboot=t triple-faults: kata-vmm exits 4 (not 0) and says so (status $status)" \
  "$(cat "$work/tf-vmm.err"; tail -n 20 "$work/tf-console.log")"

# 7. The same panic through the driver (reboot=k: the i8042 reset): the
# driver's error says the guest reset, with the console's panic lines.
out=$(timeout 300 "$build/tests/tools/vm-probe" --hypervisor dragonball --qemu "$vmm" \
  --kernel "$top/build/guest/vmlinux" --initrd "$top/build/guest/marker-initrd.img" \
  --params rdinit=/no-such-init --timeout 240 2>&1)
st=$?
line=$(printf '%s\n' "$out" | grep -m1 'the built-in VMM exited (status ')
[ $st -ne 0 ] && ! pgrep -x kata-vmm > /dev/null &&
  [[ $line == *"exited (status 3) before the agent answered: the guest reset the VM"* ]] &&
  [[ $line == *"its log: kata-vmm: the guest reset the VM"* ]] &&
  [[ $line == *"the guest console's last lines: "*"Kernel panic - not syncing"* ]]
result $? "a guest kernel panic through the dragonball driver: kata-vmm exits 3 and the driver's error says the guest reset, with the panic from the console (status $st)" \
  "$out"
finish
