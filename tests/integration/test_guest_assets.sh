#!/usr/bin/env bash
# Guest assets end to end: build (cached) the guest kernel, the marker init and
# its initrd, a probe init, and boot them under QEMU (TCG where there is no KVM):
#   - marker initrd on -M microvm and on -M q35: "KATA_MARKER_INIT_READY" on the
#     serial console, then a clean power-off ("reboot: Power down", QEMU exits 0)
#   - probe initrd on microvm (virtio-serial-device) and q35 (virtio-serial-pci):
#     the port agent.channel.0 appears in /sys/class/virtio-ports with a /dev node,
#     and uname -r is the built kernel's release; on microvm also the cgroup v2
#     controllers, namespaces, seccomp actions and filesystems containers need
#   - the ext4 image as a virtio-blk root on q35 (root is ext4 on /dev/vda)
#   - virtio-fs (virtiofsd) and virtio-9p shares mounted in the guest (when
#     /usr/lib/qemu/virtiofsd exists), on microvm and q35
# Each boot has a timeout (KATA_TEST_BOOT_TIMEOUT, 120 s); no timing is asserted.
# Exits 0 when every check passed. Every QEMU/virtiofsd started here is killed
# on exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
boot_timeout=${KATA_TEST_BOOT_TIMEOUT:-120}
qemu=${QEMU:-qemu-system-x86_64}
virtiofsd=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}

work=$(mktemp -d /tmp/test_guest_assets.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]+"${pids[@]}"}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]+"${pids[@]}"}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

echo "== building assets (cached kernel: guest/kernel/build.sh)"
# KATA_TEST_KERNEL_DIR: use an already built kernel directory instead.
kdir=${KATA_TEST_KERNEL_DIR:-$("$top/guest/kernel/build.sh")}
vmlinux=$kdir/vmlinux
release=$(cat "$kdir/release")
echo "kernel: $kdir (release $release, vmlinux $(stat -c %s "$vmlinux") bytes)"
"$top/guest/static-cc.sh" "$top/guest/marker-init.c" "$work/marker-init"
"$top/guest/static-cc.sh" "$top/guest/test/probe-init.c" "$work/probe-init"
"$top/guest/initrd/build.sh" --init "$work/marker-init" --out "$work/marker.initrd" 2>/dev/null
"$top/guest/initrd/build.sh" --init "$work/probe-init" --out "$work/probe.initrd" 2>/dev/null
"$top/guest/image/build.sh" --init "$work/probe-init" --out "$work/probe-rootfs.img" --size-mb 32 2>/dev/null

accel=tcg
# /dev/kvm without vmx/svm (a PVM nested host) runs no ordinary guest.
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qw -E "vmx|svm" /proc/cpuinfo; then accel=kvm; fi
tsc_param=""
if tsc=$("$top/guest/host-tsc-khz.sh" 2>/dev/null); then
  tsc_param="tsc_early_khz=$tsc"
else
  echo "warning: host TSC frequency unknown: microvm may hang after 'Marking TSC unstable'"
fi
echo "accelerator: $accel, host TSC: ${tsc:-unknown} kHz"

microvm=(-M microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on
         -global virtio-mmio.force-legacy=false)
q35=(-M q35)
common=(-accel "$accel" -m 256M -smp 1 -nodefaults -no-user-config -nographic -no-reboot
        -serial stdio -kernel "$vmlinux")
cmdline="console=ttyS0 reboot=t panic=-1 quiet $tsc_param"

# boot NAME QEMU-ARGS...: runs QEMU with a timeout; the console goes to
# $work/NAME.log. Returns QEMU's status (124 on timeout).
boot() {
  local name=$1
  shift
  local log="$work/$name.log" st=0
  timeout -k 5 "$boot_timeout" "$qemu" "$@" < /dev/null > "$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait "$pid" || st=$?
  return $st
}

# expect_poweroff NAME STATUS: QEMU exited by itself after a guest power-off.
expect_poweroff() {
  local name=$1 st=$2 log="$work/$1.log"
  if [ "$st" = 124 ]; then
    bad "$name: no power-off within ${boot_timeout}s (QEMU killed)"
  elif [ "$st" != 0 ]; then
    bad "$name: QEMU exited with status $st"
  elif grep -q 'Kernel panic' "$log"; then
    bad "$name: kernel panic"
  elif ! grep -q 'reboot: Power down' "$log"; then
    bad "$name: QEMU exited without a guest power-off"
  else
    return 0
  fi
  sed 's/^/    | /' "$log" | tail -n 25
  return 1
}

# expect_words NAME KEY WORD...: the "PROBE KEY ..." line lists every WORD.
expect_words() {
  local name=$1 key=$2 line w missing=""
  shift 2
  line=$(tr -d '\r' < "$work/$name.log" | grep -E "PROBE $key( |\$)" | head -n1 || true)
  for w in "$@"; do
    [[ " $line " == *" $w "* ]] || missing+=" $w"
  done
  if [ -n "$line" ] && [ -z "$missing" ]; then
    ok "$name: $key has $*"
  else
    bad "$name: $key lacks${missing:- everything}: ${line:-no PROBE $key line}"
  fi
}

# expect_line NAME REGEX WHAT
expect_line() {
  # (The serial console ends lines with \r\n.)
  if tr -d '\r' < "$work/$1.log" | grep -qE "$2"; then
    ok "$1: $3"
  else
    bad "$1: $3: no line matching /$2/"
    sed 's/^/    | /' "$work/$1.log" | tail -n 25
  fi
}

echo "== marker initrd"
for m in microvm q35; do
  if [ $m = microvm ]; then margs=("${microvm[@]}"); else margs=("${q35[@]}"); fi
  st=0
  boot "marker-$m" "${margs[@]}" "${common[@]}" -initrd "$work/marker.initrd" -append "$cmdline" || st=$?
  if expect_poweroff "marker-$m" "$st"; then
    expect_line "marker-$m" 'KATA_MARKER_INIT_READY$' "marker printed, then power-off"
  fi
done

echo "== virtio-serial port agent.channel.0"
for m in microvm q35; do
  if [ $m = microvm ]; then
    margs=("${microvm[@]}" -device virtio-serial-device)
  else
    margs=("${q35[@]}" -device virtio-serial-pci)
  fi
  st=0
  boot "ports-$m" "${margs[@]}" "${common[@]}" -initrd "$work/probe.initrd" -append "$cmdline" \
    -chardev socket,id=ch0,path="$work/ports-$m.sock",server=on,wait=off \
    -device virtserialport,chardev=ch0,name=agent.channel.0 || st=$?
  if expect_poweroff "ports-$m" "$st"; then
    expect_line "ports-$m" 'PROBE port vport[0-9]+p[0-9]+ name=agent\.channel\.0 dev=yes' \
      "agent.channel.0 is a /dev/vport*p* port"
    expect_line "ports-$m" "PROBE release ${release//./\\.}\$" "uname -r is $release"
    if [ $m = microvm ]; then # what containers need, once
      expect_words "ports-$m" cgroup2 cpuset cpu io memory pids hugetlb
      expect_words "ports-$m" ns cgroup ipc mnt net pid time user uts
      expect_words "ports-$m" seccomp kill_process errno trap user_notif log allow
      expect_words "ports-$m" fs ext4 overlay tmpfs devtmpfs cgroup2 fuse virtiofs 9p hugetlbfs mqueue devpts
    fi
  fi
done

echo "== ext4 image as a virtio-blk root (q35)"
st=0
boot image-q35 "${q35[@]}" "${common[@]}" \
  -drive file="$work/probe-rootfs.img",if=none,id=root,format=raw \
  -device virtio-blk-pci,drive=root \
  -append "$cmdline root=/dev/vda rw rootfstype=ext4 init=/sbin/init" || st=$?
if expect_poweroff image-q35 "$st"; then
  expect_line image-q35 'PROBE root ext4 /dev/(vda|root)' "/ is the ext4 image on /dev/vda"
fi

echo "== virtio-fs and 9p shares"
if [ ! -x "$virtiofsd" ]; then
  echo "skip: $virtiofsd not found (package qemu-system-common)"
else
  share="$work/share"
  mkdir -p "$share"
  echo "hello from the host $$" > "$share/hello.txt"
  for m in microvm q35; do
    if [ $m = microvm ]; then
      margs=("${microvm[@]}" -device vhost-user-fs-device,chardev=vfs,tag=kataShared
             -device virtio-9p-device,fsdev=p9,mount_tag=kata9p)
    else
      margs=("${q35[@]}" -device vhost-user-fs-pci,chardev=vfs,tag=kataShared
             -device virtio-9p-pci,fsdev=p9,mount_tag=kata9p)
    fi
    sock="$work/vfs-$m.sock"
    "$virtiofsd" --socket-path="$sock" -o source="$share" -o cache=none \
      > "$work/virtiofsd-$m.log" 2>&1 &
    vpid=$!
    pids+=("$vpid")
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    st=0
    boot "shares-$m" "${margs[@]}" "${common[@]}" -initrd "$work/probe.initrd" \
      -object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem \
      -chardev socket,id=vfs,path="$sock" \
      -fsdev local,id=p9,path="$share",security_model=none \
      -append "$cmdline probe.virtiofs=kataShared probe.9p=kata9p" || st=$?
    kill "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    if expect_poweroff "shares-$m" "$st"; then
      expect_line "shares-$m" "PROBE virtiofs kataShared hello from the host $$\$" "virtio-fs mount reads the host file"
      expect_line "shares-$m" "PROBE 9p kata9p hello from the host $$\$" "9p mount reads the host file"
    fi
  done
fi

if [ $fail = 0 ]; then
  echo "PASS: guest assets"
else
  echo "FAILED: guest assets (console tails above)"
fi
exit $fail
