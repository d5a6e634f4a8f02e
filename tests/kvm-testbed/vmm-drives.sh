#!/usr/bin/env bash
# Block-device rootfs on the built-in VMM, in the KVM test bed (run by
# tests/integration/test_vmm_devices.sh).  kata-vmm has no hotplug
# (virtio-mmio): the `dragonball` driver attaches placeholder drives at boot
# and swaps a free one's file for the container's disk (vm.update-disk).
#   1. `kata-runtime run` with configuration-dragonball.toml and
#      shared_fs = "none" on a bundle whose rootfs is a loop-mounted ext4
#      image: the container sees the image's files, its root is ext4 on
#      /dev/vdX whose serial is drive_0, what it writes is in the image
#      afterwards, the loop device and mount are untouched, nothing is left
#      (no kata-vmm, no placeholder files, no state).
#   2. a pod through the shim's Task API (shared_fs = "none"): the sandbox
#      container's disk, then two containers' disks (containerd rootfs mounts
#      of loop devices, 64 and 32 MiB) in at once, one deleted (kata-vmm lets
#      go of its loop device) and its disk plugged again for a third
#      container, which sees its files at the right size; everything deleted
#      leaves no process, mount, state or placeholder behind.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
runtime=$build/src/runtime/kata-runtime
work=$(mktemp -d /tmp/vmm-drives.XXXXXX)
loops=()
cleanup() {
  "$runtime" --root "$work/root" delete --force drivectr > /dev/null 2>&1
  umount "$work/bundle/rootfs" 2> /dev/null
  for l in "${loops[@]+"${loops[@]}"}"; do losetup -d "$l" 2> /dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

modprobe loop 2> /dev/null
sed -e "s|^kernel = .*|kernel = \"$assets/vmlinux\"|" \
  -e "s|^initrd = .*|initrd = \"$assets/kata-agent-initrd.img\"|" \
  -e "s|^shared_fs = .*|shared_fs = \"none\"|" -e "s|^default_memory = .*|default_memory = 512|" \
  "$build/config/configuration-dragonball.toml" > "$work/configuration.toml"
export KATA_CONF_FILE=$work/configuration.toml
export KATA_SHIM_PATH=$build/src/shim/containerd-shim-kata-v2
export KATA_VMM_PATH=$build/src/vmm/kata-vmm
export KATA_STATE_DIR=$work/state KATA_SHARED_DIR=$work/shared KATA_SHIM_SOCKET_DIR=$work/s

# An ext4 image with a busybox rootfs and a marker, on a loop device.
mkdir -p "$work/src/bin" "$work/src/etc" "$work/src/proc" "$work/src/sys" "$work/src/dev" \
  "$work/src/tmp"
cp /bin/busybox "$work/src/bin/busybox"
for applet in sh cat grep echo sync basename cut; do ln -s busybox "$work/src/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/src/etc/passwd"
echo made-in-the-image > "$work/src/etc/marker"
mkfs.ext4 -q -F -d "$work/src" "$work/rootfs.img" 64M > /dev/null
loop=$(losetup --find --show "$work/rootfs.img")
[ -n "$loop" ] && loops+=("$loop")

bundle=$work/bundle
mkdir -p "$bundle/rootfs"
"$runtime" spec --bundle "$bundle"
mount "$loop" "$bundle/rootfs"
bundle_command "$bundle/config.json" \
  "cat /etc/marker; grep ' / ' /proc/mounts; d=\$(grep ' / ' /proc/mounts | cut -d' ' -f1); cat /sys/block/\$(basename \$d)/serial; echo; echo written-by-the-container > /persist; sync" \
  writable

status=0
out=$(timeout 300 "$runtime" --root "$work/root" run --bundle "$bundle" drivectr < /dev/null 2>&1) ||
  status=$?
echo "# run: $(printf '%s' "$out" | tr '\n' '|')"
[ $status -eq 0 ] && [[ $out == made-in-the-image* ]] &&
  printf '%s\n' "$out" | grep -q '^/dev/vd[a-z] / ext4 ' &&
  printf '%s\n' "$out" | grep -qx 'drive_0'
result $? "kata-runtime run, dragonball, shared_fs = \"none\": the rootfs image is the container's root (ext4 on /dev/vdX, serial drive_0)" \
  "$out
$(cat "$work"/state/*/vm/kata-vmm.log 2> /dev/null)"

"$runtime" --root "$work/root" delete --force drivectr > /dev/null 2>&1
umount "$bundle/rootfs"
got=$(debugfs -R "cat /persist" "$work/rootfs.img" 2> /dev/null)
left=$(find "$work" -name 'drive_*' 2> /dev/null)
[ "$got" = written-by-the-container ] &&
  [ "$(losetup --noheadings -O BACK-FILE "$loop")" = "$work/rootfs.img" ] &&
  ! pgrep -x kata-vmm > /dev/null && [ -z "$left" ] &&
  [ -z "$(ls -A "$work/state" 2> /dev/null)" ]
result $? "the container's write is in the image; the loop device stays; no kata-vmm, placeholder drive or state left" \
  "got '$got'; left: $left $(ls -A "$work/state" 2> /dev/null); $(pgrep -a kata-vmm)"

# 2. A pod through the Task API.
out=$(cd "$top/tests/integration" && KATA_BUILD=$build timeout 900 python3 - "$work" << 'PY' 2>&1
import json, os, subprocess, sys, time
from shim_env import ShimEnv, FifoReader, task_ok, alive, exec_spec, mounts_under
from runtime_bundle import make_bundle, make_rootfs

work = sys.argv[1]
checks = []
def check(ok, what):
    checks.append(ok)
    print("CHECK %d %s" % (0 if ok else 1, what), flush=True)

def image(name, size):
    src = os.path.join(work, name + "-src")
    make_rootfs(src)
    with open(os.path.join(src, "etc", "marker"), "w") as f:
        f.write("marker-" + name + "\n")
    path = os.path.join(work, name + ".img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", src, path, size], check=True)
    loop = subprocess.run(["losetup", "--find", "--show", path], check=True,
                          capture_output=True, text=True).stdout.strip()
    with open(os.path.join(work, "loops"), "a") as f:
        f.write(loop + "\n")
    return path, loop

def vmm_holds(pid, device):
    try:
        return any(os.readlink("/proc/%d/fd/%s" % (pid, fd)) == device
                   for fd in os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return False

def debugfs_cat(path, name):
    return subprocess.run(["debugfs", "-R", "cat " + name, path], capture_output=True,
                          text=True).stdout

sh = ShimEnv()
build = os.environ["KATA_BUILD"]
text = open(os.path.join(build, "config", "configuration-dragonball.toml")).read()
lines = []
for line in text.splitlines():
    if line.startswith("kernel = "):
        line = 'kernel = "%s/guest/vmlinux"' % build
    elif line.startswith("initrd = "):
        line = 'initrd = "%s/guest/kata-agent-initrd.img"' % build
    elif line.startswith("shared_fs = "):
        line = 'shared_fs = "none"'
    elif line.startswith("default_memory = "):
        line = "default_memory = 512"
    lines.append(line)
open(sh.config, "w").write("\n".join(lines) + "\n")
sh.env["KATA_VMM_PATH"] = os.path.join(build, "src", "vmm", "kata-vmm")
os.environ["KATA_VMM_PATH"] = sh.env["KATA_VMM_PATH"]
pause_img, pause_loop = image("pause", "32M")
a_img, a_loop = image("a", "64M")
b_img, b_loop = image("b", "32M")
pod = "p1"
def in_pod(kind):
    return {"io.kubernetes.cri.container-type": kind, "io.kubernetes.cri.sandbox-id": pod}

# The root device, its serial and size in sectors, as the container sees them.
SHOW = ("cat /etc/marker; d=$(grep ' / ' /proc/mounts | cut -d' ' -f1); n=${d#/dev/}; "
        "echo $d $(cat /sys/block/$n/serial) $(cat /sys/block/$n/size)")

def container(address, cid, loop, extra="", lines=2):
    b = make_bundle(os.path.join(sh.root, "bundles", cid), ["sh", "-c", SHOW + extra],
                    annotations=in_pod("container"), rootfs=False)
    assert sh.start(cid, b) == address
    out = sh.fifo(cid + ".out")
    r = FifoReader(out)
    mount = {"type": "ext4", "source": loop, "options": ["rw"]}
    task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out, "rootfs": [mount]})
    task_ok(address, "Start", {"id": cid})
    status = task_ok(address, "Wait", {"id": cid})["exit_status"]
    text = r.read_until(lambda d: d.count(b"\n") >= lines).decode()
    print("# %s: %s" % (cid, text.replace("\n", "|")), flush=True)
    return status, text.splitlines()

try:
    b1 = make_bundle(os.path.join(sh.root, "bundles", pod), ["sleep", "1000"],
                     annotations=in_pod("sandbox"), rootfs=False)
    address = sh.start(pod, b1)
    mount = {"type": "ext4", "source": pause_loop, "options": ["rw"]}
    task_ok(address, "Create", {"id": pod, "bundle": b1, "rootfs": [mount]})
    task_ok(address, "Start", {"id": pod})
    vmm = task_ok(address, "State", {"id": pod})["pid"]
    check(vmm_holds(vmm, pause_loop), "the pod's sandbox container runs from its disk (drive_0)")

    # Two disks in at once, each in a drive of its own.
    s2, l2 = container(address, "c2", a_loop, "; echo from-c2 > /persist; sync")
    s3, l3 = container(address, "c3", b_loop)
    check(s2 == 0 and l2[0] == "marker-a" and l2[1].split()[1:] == ["drive_1", "131072"] and
          s3 == 0 and l3[0] == "marker-b" and l3[1].split()[1:] == ["drive_2", "65536"] and
          vmm_holds(vmm, a_loop) and vmm_holds(vmm, b_loop),
          "two containers' disks (64 and 32 MiB) in drive_1 and drive_2 at once, each read at its size")

    # Deleting c2 gives drive_1 its placeholder back: kata-vmm lets go of A.
    task_ok(address, "Delete", {"id": "c2"})
    check(alive(vmm) and not vmm_holds(vmm, a_loop) and vmm_holds(vmm, b_loop) and
          debugfs_cat(a_img, "/persist") == "from-c2\n",
          "c2 deleted: kata-vmm no longer holds its disk, which has c2's write; c3's stays")

    # A's disk again for c4: into the freed drive, at its size, with c2's file.
    s4, l4 = container(address, "c4", a_loop, "; cat /persist", lines=3)
    check(s4 == 0 and l4[0] == "marker-a" and l4[1].split()[1:] == ["drive_1", "131072"] and
          "from-c2" in l4,
          "the disk plugged again for c4 goes into the freed drive_1 and is read at 64 MiB")
    task_ok(address, "Delete", {"id": "c3"})
    task_ok(address, "Delete", {"id": "c4"})
    check(not vmm_holds(vmm, a_loop) and not vmm_holds(vmm, b_loop),
          "c3 and c4 deleted: kata-vmm holds neither disk")

    task_ok(address, "Kill", {"id": pod, "signal": 9})
    task_ok(address, "Wait", {"id": pod})
    pid = task_ok(address, "Connect", {"id": "x"})["shim_pid"]
    task_ok(address, "Delete", {"id": pod})
    task_ok(address, "Shutdown", {"id": pod})
    for _ in range(300):
        if not alive(pid):
            break
        time.sleep(0.1)
    left = [os.path.join(d, f) for d, _, fs in os.walk(sh.root) for f in fs
            if f.startswith("drive_")]
    try:
        sh.assert_clean()
        clean = True
    except AssertionError as e:
        print("# %s" % e)
        clean = False
    check(clean and left == [] and not alive(vmm),
          "the pod gone: no kata-vmm, mount, state or placeholder drive left (%r)" % left)
except Exception as e:
    print("# %r" % e, flush=True)
    for name in ("state",):
        for d, _, fs in os.walk(os.path.join(sh.root, name)):
            for f in fs:
                if f.endswith(".log"):
                    print("# " + f + ": " + open(os.path.join(d, f)).read()[-3000:].replace("\n", "\n# "))
    check(False, "the pod sequence ran to its end")
finally:
    sh.cleanup()
PY
)
# (No /dev/fd in the test bed: no process substitution.)
for l in $(cat "$work/loops" 2> /dev/null); do loops+=("$l"); done
printf '%s\n' "$out" | grep '^#'
checks=$(printf '%s\n' "$out" | grep '^CHECK')
while read -r _ st what; do
  [ -n "$st" ] || continue
  result "$st" "pod: $what" "$(printf '%s\n' "$out" | grep -v '^CHECK' | tail -n 40)"
done <<< "$checks"
[ -n "$checks" ] || result 1 "pod: the Task API sequence ran" "$out"

finish
