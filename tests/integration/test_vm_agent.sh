#!/usr/bin/env bash
# Real VMs: our kernel and our agent as PID 1, on microvm and q35 (initrd) and
# on q35 with the ext4 image as a virtio-blk root.  Each guest's agent must
# answer grpc.Health/Check with SERVING and report the kernel release that was
# built, then power off on DestroySandbox.  No timing is asserted.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
assets=$(bash "$top/guest/build-assets.sh" | tail -1)
want=$(cat "$assets/kernel-release")
probe=$top/build/tests/tools/vm-probe
fail=0
work=$(mktemp -d /tmp/test-vm-agent.XXXXXX)
trap 'rm -rf "$work"' EXIT

check() { # name, vm-probe args...
  local name=$1
  shift
  local out
  mkdir -p "$work/$name"
  if ! out=$(timeout 300 "$probe" --json --timeout 240 --run-dir "$work/$name" --kernel "$assets/vmlinux" "$@"); then
    echo "FAIL $name: vm-probe failed"
    fail=1
    return
  fi
  echo "$name: $out"
  python3 - "$name" "$want" "$out" <<'PY' || fail=1
import json, sys
name, want, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
errors = []
if out["health"] != "SERVING":
    errors.append("health %s" % out["health"])
if out["kernel_release"] != want:
    errors.append("kernel %r, built %r" % (out["kernel_release"], want))
if out["online_cpus"] < 1 or out["memory_bytes"] <= 0:
    errors.append("guest size %r" % out)
if name.endswith("2cpu") and (out["online_cpus"] != 2 or out["memory_bytes"] < 400 << 20):
    errors.append("asked for 2 CPUs and 512 MiB, guest has %d CPUs and %d bytes"
                  % (out["online_cpus"], out["memory_bytes"]))
if errors:
    print("FAIL %s: %s" % (name, "; ".join(errors)))
    sys.exit(1)
print("ok %s" % name)
PY
}

check microvm-initrd --machine microvm --initrd "$assets/kata-agent-initrd.img"
check q35-initrd --machine q35 --initrd "$assets/kata-agent-initrd.img"
check q35-image --machine q35 --image "$assets/kata-agent-rootfs.img"
check microvm-2cpu --machine microvm --vcpus 2 --memory 512 --initrd "$assets/kata-agent-initrd.img"

# Nothing may survive: no QEMU of ours, no probe run dir.
# Only this test's VMs count (their sockets are under $work).
if pgrep -f "qemu-system-x86_64 -name kata-sandbox .*$work/" >/dev/null; then
  echo "FAIL: a QEMU process was left running"
  fail=1
fi
exit $fail
