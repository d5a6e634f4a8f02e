#!/usr/bin/env bash
# The hypervisor layer with real VMs: the sandbox share over virtio-fs (the
# driver starts and stops virtiofsd) and virtio-9p, a disk attached at boot,
# a disk hotplugged over QMP on q35, and QMP stop/cont/query-status.  Each
# guest's agent must answer; afterwards no QEMU or virtiofsd of ours may be
# left, nor a socket in the run dir.  A share that does not exist fails the
# start with a clear message and leaves nothing behind.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
assets=$(bash "$top/guest/build-assets.sh" | tail -1)
probe=$top/build/tests/tools/vm-probe
work=$(mktemp -d /tmp/test_vm_shares.XXXXXX)
fail=0

leftovers() { # processes whose command line names our work dir
  pgrep -f "$work" || true
}
cleanup() {
  for pid in $(leftovers); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/share"
echo hello >"$work/share/file"
truncate -s 8M "$work/disk.img"
truncate -s 8M "$work/hot.img"

check() { # name, jq-like python expression over `out`, vm-probe args...
  local name=$1 expect=$2
  shift 2
  local out run="$work/run-$name"
  if ! out=$(timeout 300 "$probe" --json --timeout 240 --run-dir "$run" --kernel "$assets/vmlinux" \
    --initrd "$assets/kata-agent-initrd.img" "$@"); then
    echo "FAIL $name: vm-probe failed"
    fail=1
    return
  fi
  echo "$name: $out"
  if ! python3 -c "
import json, sys
out = json.loads(sys.argv[1])
assert out['health'] == 'SERVING', out
assert $expect, out
" "$out"; then
    echo "FAIL $name: unexpected report"
    fail=1
  fi
  if [ -n "$(leftovers)" ]; then
    echo "FAIL $name: processes left: $(leftovers | xargs -r ps -o pid=,args= -p)"
    fail=1
  fi
  if [ -n "$(find "$run" -type s 2>/dev/null)" ]; then
    echo "FAIL $name: sockets left in $run: $(find "$run" -type s)"
    fail=1
  fi
}

check microvm-virtiofs "out['qmp_paused'] == 'paused' and out['qmp_resumed'] == 'running' and out['vm_processes'] == 2" \
  --machine microvm --virtiofs "$work/share" --qmp-check
check q35-virtiofs "out['qmp_resumed'] == 'running' and out['vm_processes'] == 2" \
  --machine q35 --virtiofs "$work/share" --qmp-check
check microvm-9p-disk "out['vm_processes'] == 1" \
  --machine microvm --share9p "$work/share" --block "$work/disk.img"
check q35-9p-hotplug "out['hotplug_path'] == '18/00'" \
  --machine q35 --share9p "$work/share" --hotplug "$work/hot.img"

# A missing share: a clear error, nothing running.
if err=$(timeout 60 "$probe" --run-dir "$work/run-bad" --kernel "$assets/vmlinux" \
  --initrd "$assets/kata-agent-initrd.img" --virtiofs "$work/missing" 2>&1); then
  echo "FAIL missing-share: vm-probe succeeded"
  fail=1
elif ! grep -q "virtio-fs shared directory \`$work/missing\`: No such file or directory" <<<"$err"; then
  echo "FAIL missing-share: unexpected error: $err"
  fail=1
else
  echo "ok missing-share: $err"
fi
if [ -n "$(leftovers)" ]; then
  echo "FAIL: processes left after the failed start"
  fail=1
fi
exit $fail
