#!/usr/bin/env bash
# Print the host's TSC frequency in kHz (an integer), for the guest kernel's
# tsc_early_khz=<kHz> parameter. Under TCG the guest's TSC runs at the host's TSC
# rate; on -M microvm (no PIT, no HPET) the guest otherwise calibrates the TSC
# badly and about 3 boots in 10 hang after "Marking TSC unstable".
#
# Sources, first that answers wins:
#   1. $KATA_HOST_TSC_KHZ (override)
#   2. /sys/devices/system/cpu/cpu0/tsc_freq_khz (some kernels export it)
#   3. kernel log: "tsc: Refined TSC clocksource calibration: N MHz", then
#      "tsc: Detected N MHz processor" (dmesg, or journalctl -k)
#   4. a measurement: rdtsc against CLOCK_MONOTONIC_RAW over 200 ms (needs a C
#      compiler: cc, gcc or musl-gcc)
#   5. /proc/cpuinfo "cpu MHz", only when the TSC is invariant (constant_tsc,
#      nonstop_tsc) and no cpufreq driver varies the reported clock
# Exits 1, printing nothing on stdout, when none works. -v tells which source.
set -euo pipefail
export LC_ALL=C

verbose=0
[ "${1-}" = -v ] && verbose=1
say() { [ $verbose = 0 ] || echo "host-tsc-khz: $*" >&2; }

valid() { [[ ${1-} =~ ^[0-9]+$ ]] && [ "$1" -ge 100000 ] && [ "$1" -le 20000000 ]; }
answer() { say "$2"; echo "$1"; exit 0; }
mhz_to_khz() { awk '{ printf "%d\n", $1 * 1000 + 0.5 }' <<< "$1"; }

if [ "$(uname -m)" != x86_64 ]; then
  echo "host-tsc-khz: not an x86_64 host" >&2
  exit 1
fi

v=${KATA_HOST_TSC_KHZ-}
valid "$v" && answer "$v" "from KATA_HOST_TSC_KHZ"

f=/sys/devices/system/cpu/cpu0/tsc_freq_khz
if [ -r "$f" ]; then
  v=$(cat "$f" 2>/dev/null || true)
  valid "$v" && answer "$v" "from $f"
fi

klog=$(dmesg 2>/dev/null || true)
[ -n "$klog" ] || klog=$(journalctl -k -b -q --no-pager 2>/dev/null || true)
if [ -n "$klog" ]; then
  for pat in 'Refined TSC clocksource calibration: ([0-9.]+) MHz' 'tsc: Detected ([0-9.]+) MHz processor'; do
    mhz=$(sed -nE "s/.*$pat.*/\\1/p" <<< "$klog" | tail -n1)
    if [ -n "$mhz" ]; then
      v=$(mhz_to_khz "$mhz")
      valid "$v" && answer "$v" "from the kernel log: ${pat/(\[0-9.\]+)/$mhz}"
    fi
  done
fi

cc=""
for c in cc gcc musl-gcc; do command -v "$c" >/dev/null && { cc=$c; break; }; done
if [ -n "$cc" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cat > "$tmp/m.c" <<'EOF'
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
int main(void)
{
    double best = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        unsigned long long c0 = __rdtsc();
        struct timespec d = {0, 66 * 1000 * 1000};
        nanosleep(&d, NULL);
        double t1 = now();
        unsigned long long c1 = __rdtsc();
        double khz = (c1 - c0) / (t1 - t0) / 1000.0;
        if (round == 0 || khz < best) /* preemption only makes it look faster */
            best = khz;
    }
    printf("%.0f\n", best);
    return 0;
}
EOF
  if "$cc" -O2 -o "$tmp/m" "$tmp/m.c" 2>/dev/null; then
    v=$("$tmp/m" || true)
    valid "$v" && answer "$v" "measured (rdtsc vs CLOCK_MONOTONIC_RAW)"
  fi
fi

flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
if [[ $flags == *" constant_tsc"* && $flags == *" nonstop_tsc"* ]] &&
   [ ! -e /sys/devices/system/cpu/cpu0/cpufreq ]; then
  mhz=$(awk -F': *' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
  if [ -n "$mhz" ]; then
    v=$(mhz_to_khz "$mhz")
    valid "$v" && answer "$v" "from /proc/cpuinfo cpu MHz"
  fi
fi

echo "host-tsc-khz: cannot determine the host TSC frequency; set KATA_HOST_TSC_KHZ" >&2
exit 1
