#!/usr/bin/env bash
# The clh driver over Cloud Hypervisor's API, in the KVM test bed (run by
# tests/integration/test_clh_vmm.sh).  The VMM is the configuration's `path`:
# kata-vmm by default (it speaks the same API: docs/vmm.md), any other binary
# that speaks it with KATA_CLH_VMM=/path/to/cloud-hypervisor, so on a host with
# KVM the same checks run against a real Cloud Hypervisor (docs/hypervisor.md,
# "Testing the clh driver against Cloud Hypervisor").
#   1. `kata-runtime run` of a container with configuration-clh.toml
#      (virtio-fs): it runs and exits 3; delete leaves no VMM, virtiofsd,
#      socket, mount or state.
#   2. vm-probe through clh_ops: the agent answers, the VM pauses and resumes
#      (vm.pause, vm.info, vm.resume), the VMM exits at power-off.
#   3. a pod of two containers through the shim's Task API (what containerd
#      drives), then everything deleted: nothing left.
#   4. a container, its VMM killed with SIGKILL, then `delete --force`:
#      nothing left (VMM, virtiofsd, sockets, mounts, state).
#   5. a block-device rootfs (shared_fs = "none"): the booting container's
#      disk goes into vm.create (capabilities.rootfs_at_boot), so it runs on
#      kata-vmm (no hotplug bus) as on Cloud Hypervisor; nothing is left.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
runtime=$build/src/runtime/kata-runtime
work=$(mktemp -d /tmp/clh-vmm.XXXXXX)
loop=
cleanup() {
  for c in clhctr killctr blkctr; do
    "$runtime" --root "$work/root" delete --force "$c" > /dev/null 2>&1
  done
  umount "$work/blk/rootfs" 2> /dev/null
  [ -z "$loop" ] || losetup -d "$loop" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The configuration: the packaged clh one, our guest assets, `path` the VMM.
vmm=${KATA_CLH_VMM:-$build/src/vmm/kata-vmm}
sed -e "s|^path = .*|path = \"$vmm\"|" \
  -e "s|^valid_hypervisor_paths = .*|valid_hypervisor_paths = [\"$vmm\"]|" \
  -e "s|^kernel = .*|kernel = \"$assets/vmlinux\"|" \
  -e "s|^image = .*|initrd = \"$assets/kata-agent-initrd.img\"|" \
  -e "s|^default_memory = .*|default_memory = 512|" \
  "$build/config/configuration-clh.toml" > "$work/configuration.toml"
# From here the VMM is what the configuration says.
vmm=$(sed -n 's/^path = "\(.*\)"$/\1/p' "$work/configuration.toml" | head -n 1)
echo "# VMM: $vmm ($("$vmm" --version 2>&1 | head -n 1))"
export KATA_CONF_FILE=$work/configuration.toml
export KATA_SHIM_PATH=$build/src/shim/containerd-shim-kata-v2
export KATA_STATE_DIR=$work/state KATA_SHARED_DIR=$work/shared KATA_SHIM_SOCKET_DIR=$work/s

vmm_pids() { pgrep -f "^$vmm --api-socket" 2> /dev/null; }
# Nothing of ours left: no VMM, no virtiofsd for our dirs, no socket, mount
# or state under the work directory.
leftovers() {
  vmm_pids | sed 's/^/vmm pid /'
  pgrep -af "virtiofsd.*$work" 2> /dev/null
  grep " $work" /proc/mounts
  find "$work/state" "$work/shared" "$work/s" "$work/root" -type s 2> /dev/null
  [ -z "$(ls -A "$work/state" 2> /dev/null)" ] || ls -A "$work/state"
}

make_bundle() { # DIR SCRIPT [writable]
  mkdir -p "$1/rootfs/bin" "$1/rootfs/etc"
  cp /bin/busybox "$1/rootfs/bin/busybox"
  for applet in sh echo uname nproc cat sleep; do ln -sf busybox "$1/rootfs/bin/$applet"; done
  echo "root:x:0:0:root:/root:/bin/sh" > "$1/rootfs/etc/passwd"
  "$runtime" spec --bundle "$1"
  bundle_command "$1/config.json" "$2" ${3:-}
}

# 1. kata-runtime run.
make_bundle "$work/b1" "echo \"in clh's VMM: kernel \$(uname -r), \$(nproc) CPU(s)\"; exit 3"
status=0
out=$(timeout 300 "$runtime" --root "$work/root" run --bundle "$work/b1" clhctr < /dev/null 2>&1) ||
  status=$?
echo "# run: $(printf '%s' "$out" | grep "in clh's VMM" | head -n 1)"
[ $status -eq 3 ] && [[ $out == *"in clh's VMM: kernel 6.1"* ]]
result $? "kata-runtime run with configuration-clh.toml (path = the VMM): the container ran and exited 3 (status $status)" \
  "$out
$(find "$work/state" -name 'clh.log' -exec tail -n 20 {} \; 2> /dev/null)"
"$runtime" --root "$work/root" delete --force clhctr > /dev/null 2>&1
left=$(leftovers)
[ -z "$left" ]
result $? "delete leaves no VMM, virtiofsd, socket, mount or state" "$left"

# 2. The driver's pause and resume (vm.pause, vm.info, vm.resume), through vm-probe.
out=$(timeout 300 "$build/tests/tools/vm-probe" --hypervisor clh --qemu "$vmm" \
  --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" --qmp-check --json \
  --timeout 240 2>&1)
st=$?
echo "# vm-probe: $(printf '%s' "$out" | tail -n 1)"
[ $st -eq 0 ] && [[ $out == *'"health": "SERVING"'* ]] &&
  [[ $out == *'"qmp_paused": "paused", "qmp_resumed": "running"'* ]] && [ -z "$(vmm_pids)" ]
result $? "vm-probe --hypervisor clh: the agent answers, the VM pauses and resumes (status paused, then running), the VMM is gone after" "$out"

# 3. A pod of two containers through the Task API.
out=$(cd "$top/tests/integration" && KATA_BUILD=$build CLH_CONF=$work/configuration.toml \
  timeout 900 python3 - << 'PY' 2>&1
import os, sys, time
from shim_env import ShimEnv, FifoReader, task_ok, alive
from runtime_bundle import make_bundle

def check(ok, what):
    print("CHECK %d %s" % (0 if ok else 1, what), flush=True)

sh = ShimEnv()
open(sh.config, "w").write(open(os.environ["CLH_CONF"]).read())
pod = "clhpod"
def in_pod(kind):
    return {"io.kubernetes.cri.container-type": kind, "io.kubernetes.cri.sandbox-id": pod}

def container(address, cid, word):
    b = make_bundle(os.path.join(sh.root, "bundles", cid), ["sh", "-c", "echo " + word],
                    annotations=in_pod("container"))
    assert sh.start(cid, b) == address
    out = sh.fifo(cid + ".out")
    r = FifoReader(out)
    task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out})
    task_ok(address, "Start", {"id": cid})
    status = task_ok(address, "Wait", {"id": cid})["exit_status"]
    return status, r.read_until(lambda d: b"\n" in d).decode().strip()

try:
    b1 = make_bundle(os.path.join(sh.root, "bundles", pod), ["sleep", "1000"],
                     annotations=in_pod("sandbox"))
    address = sh.start(pod, b1)
    task_ok(address, "Create", {"id": pod, "bundle": b1})
    task_ok(address, "Start", {"id": pod})
    vmm = task_ok(address, "State", {"id": pod})["pid"]
    got = [container(address, "c1", "from-c1"), container(address, "c2", "from-c2")]
    check(got == [(0, "from-c1"), (0, "from-c2")] and alive(vmm),
          "two containers in the pod's VM ran and printed (%r)" % got)
    for cid in ("c1", "c2"):
        task_ok(address, "Delete", {"id": cid})
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
PY
)
printf '%s\n' "$out" | grep '^#'
checks=$(printf '%s\n' "$out" | grep '^CHECK')
while read -r _ st what; do
  [ -n "$st" ] || continue
  result "$st" "pod: $what" "$(printf '%s\n' "$out" | grep -v '^CHECK' | tail -n 40)"
done <<< "$checks"
[ -n "$checks" ] || result 1 "pod: the Task API sequence ran" "$out"

# 4. The VMM killed with SIGKILL, then delete --force.
make_bundle "$work/b4" "echo up; sleep 1000"
"$runtime" --root "$work/root" run --detach --bundle "$work/b4" killctr < /dev/null > "$work/run4.out" 2>&1
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

# 5. A block-device rootfs, shared_fs = "none".
modprobe loop 2> /dev/null
sed -i -e "s|^shared_fs = .*|shared_fs = \"none\"|" "$work/configuration.toml"
mkdir -p "$work/src/bin" "$work/src/etc" "$work/src/proc" "$work/src/sys" "$work/src/dev"
cp /bin/busybox "$work/src/bin/busybox"
for applet in sh cat grep cut; do ln -s busybox "$work/src/bin/$applet"; done
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
result $? "block rootfs through clh (a disk of vm.create): the image is the container's root (ext4)" "$out"
"$runtime" --root "$work/root" delete --force blkctr > /dev/null 2>&1
umount "$work/blk/rootfs"
left=$(leftovers)
[ -z "$left" ] && [ "$(losetup --noheadings -O BACK-FILE "$loop")" = "$work/rootfs.img" ]
result $? "block rootfs: after delete nothing is left; the loop device stays" "$left"

finish
