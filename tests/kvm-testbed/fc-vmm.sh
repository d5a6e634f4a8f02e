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
#   5. a pod through the shim's Task API (what containerd drives), every
#      container from a block-device rootfs of its own: the sandbox's disk at
#      boot, then two containers one after the other whose disks are swapped
#      into a placeholder drive and out again (PATCH /drives); then
#      everything deleted: nothing left.
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

# 5. A pod of block-rootfs containers through the Task API: disks swapped in
# and out of the placeholder drives.
out=$(cd "$top/tests/integration" && KATA_BUILD=$build FC_CONF=$work/configuration.toml \
  FC_SRC=$work/src FC_BUNDLES=$work/bpod timeout 900 python3 - << 'PY' 2>&1
import os, subprocess, sys, time
from shim_env import ShimEnv, FifoReader, task_ok, alive
from runtime_bundle import make_bundle

def check(ok, what):
    print("CHECK %d %s" % (0 if ok else 1, what), flush=True)

def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()

loops, mounts = [], []
def block_bundle(cid, args, annotations):
    """A bundle whose rootfs is an ext4 image of its own on a loop device."""
    path = os.path.join(os.environ["FC_BUNDLES"], cid)
    make_bundle(path, args, annotations=annotations, rootfs=False)
    with open(os.path.join(os.environ["FC_SRC"], "etc/marker"), "w") as f:
        f.write("image-of-%s\n" % cid)
    img = path + ".img"
    run("mkfs.ext4", "-q", "-F", "-d", os.environ["FC_SRC"], img, "64M")
    loops.append(run("losetup", "--find", "--show", img))
    os.makedirs(path + "/rootfs")
    run("mount", loops[-1], path + "/rootfs")
    mounts.append(path + "/rootfs")
    return path

sh = ShimEnv()
open(sh.config, "w").write(open(os.environ["FC_CONF"]).read())
pod = "fcpod"
def in_pod(kind):
    return {"io.kubernetes.cri.container-type": kind, "io.kubernetes.cri.sandbox-id": pod}

def container(address, cid):
    b = block_bundle(cid, ["sh", "-c", "cat /etc/marker"], in_pod("container"))
    assert sh.start(cid, b) == address
    out = sh.fifo(cid + ".out")
    r = FifoReader(out)
    task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out})
    task_ok(address, "Start", {"id": cid})
    status = task_ok(address, "Wait", {"id": cid})["exit_status"]
    text = r.read_until(lambda d: b"\n" in d).decode().strip()
    task_ok(address, "Delete", {"id": cid})
    return status, text

try:
    b1 = block_bundle(pod, ["sleep", "1000"], in_pod("sandbox"))
    address = sh.start(pod, b1)
    task_ok(address, "Create", {"id": pod, "bundle": b1})
    task_ok(address, "Start", {"id": pod})
    vmm = task_ok(address, "State", {"id": pod})["pid"]
    got = [container(address, "c1"), container(address, "c2")]
    check(got == [(0, "image-of-c1"), (0, "image-of-c2")] and alive(vmm),
          "two containers one after the other, each from its own disk swapped into the pod's VM "
          "(%r)" % got)
    task_ok(address, "Kill", {"id": pod, "signal": 9})
    task_ok(address, "Wait", {"id": pod})
    pid = task_ok(address, "Connect", {"id": "x"})["shim_pid"]
    task_ok(address, "Delete", {"id": pod})
    task_ok(address, "Shutdown", {"id": pod})
    for _ in range(300):
        if not alive(pid):
            break
        time.sleep(0.1)
    try:
        sh.assert_clean()
        clean = True
    except AssertionError as e:
        print("# %s" % e)
        clean = False
    check(clean and not alive(vmm), "the pod deleted: no VMM, shim, mount or state left")
except Exception as e:
    print("# %r" % e, flush=True)
    check(False, "the pod sequence ran to its end")
finally:
    sh.cleanup()
    for m in mounts:
        subprocess.run(["umount", m])
    for l in loops:
        subprocess.run(["losetup", "-d", l])
PY
)
printf '%s\n' "$out" | grep '^#'
checks=$(printf '%s\n' "$out" | grep '^CHECK')
while read -r _ st what; do
  [ -n "$st" ] || continue
  result "$st" "pod: $what" "$(printf '%s\n' "$out" | grep -v '^CHECK' | tail -n 40)"
done <<< "$checks"
[ -n "$checks" ] || result 1 "pod: the Task API sequence ran" "$out"

finish
