#!/usr/bin/env bash
# Time from starting QEMU to the "KATA_MARKER_INIT_READY" line on the serial
# console, over N boots of the marker initrd; prints each run and the median (s).
#
# Usage: guest/test/boot-to-marker.sh [--machine microvm|q35] [--runs N]
#          [--kernel VMLINUX] [--initrd FILE] [--append "EXTRA CMDLINE"]
#          [--accel ACCEL] (e.g. tcg,tb-size=64) [--show-cmd]
# Defaults: microvm, 10 runs, the cached kernel (guest/kernel/build.sh), a marker
# initrd built into a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
machine=microvm runs=10 kernel="" initrd="" extra="" show=0 accel=""
while [ $# -gt 0 ]; do
  case $1 in
    --machine) machine=$2; shift ;;
    --runs) runs=$2; shift ;;
    --kernel) kernel=$2; shift ;;
    --initrd) initrd=$2; shift ;;
    --append) extra=$2; shift ;;
    --accel) accel=$2; shift ;;
    --show-cmd) show=1 ;;
    *) echo "usage: see $0" >&2; exit 2 ;;
  esac
  shift
done
work=$(mktemp -d)
qpid=""
trap '[ -z "$qpid" ] || kill $qpid 2>/dev/null; rm -rf "$work"' EXIT
[ -n "$kernel" ] || kernel="$("$here/kernel/build.sh")/vmlinux"
if [ -z "$initrd" ]; then
  "$here/static-cc.sh" "$here/marker-init.c" "$work/marker-init"
  "$here/initrd/build.sh" --init "$work/marker-init" --out "$work/marker.initrd" 2>/dev/null
  initrd=$work/marker.initrd
fi
if [ -z "$accel" ]; then
  accel=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qw -E "vmx|svm" /proc/cpuinfo; then accel=kvm; fi
fi
append="console=ttyS0 reboot=t panic=-1 quiet"
case $machine in
  microvm)
    margs=(-M microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on
           -global virtio-mmio.force-legacy=false)
    append="$append tsc_early_khz=$("$here/host-tsc-khz.sh")" ;;
  q35) margs=(-M q35) ;;
  *) echo "unknown machine $machine" >&2; exit 2 ;;
esac
[ -z "$extra" ] || append="$append $extra"
cmd=(qemu-system-x86_64 "${margs[@]}" -accel "$accel" -m 256M -smp 1 -nodefaults -no-user-config
     -nographic -no-reboot -serial stdio -kernel "$kernel" -initrd "$initrd" -append "$append")
[ $show = 0 ] || { printf '%q ' "${cmd[@]}"; echo; }

times=()
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  t=""
  exec {fd}< <(exec timeout -k 5 120 "${cmd[@]}" < /dev/null 2>&1)
  qpid=$!
  while IFS= read -r -u "$fd" line; do
    if [ -z "$t" ] && [[ $line == *KATA_MARKER_INIT_READY* ]]; then
      t=$(( $(date +%s%N) - start ))
    fi
  done
  exec {fd}<&-
  wait "$qpid" 2>/dev/null || true
  qpid=""
  if [ -z "$t" ]; then
    echo "run $i: no marker" >&2
    exit 1
  fi
  times+=("$t")
  printf 'run %2d: %.3f s\n' "$i" "$(awk -v t="$t" 'BEGIN { print t / 1e9 }')"
done
printf '%s\n' "${times[@]}" | sort -n | awk -v m="$machine" '
  { v[NR] = $1 }
  END { med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s median of %d: %.3f s (min %.3f, max %.3f)\n", m, NR, med / 1e9, v[1] / 1e9, v[NR] / 1e9 }'
