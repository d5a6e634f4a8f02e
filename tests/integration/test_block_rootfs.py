"""Container root filesystems on block devices (docs/block-rootfs.md): an ext4
image with a busybox rootfs, attached to a loop device.

- kata-runtime run with the image loop-mounted on the bundle's rootfs, on
  microvm (the disk attached at boot) and q35 (hotplugged), with the default
  virtio-fs share and with shared_fs = "none": the container sees the image's
  files, its writes are in the image afterwards, the caller's loop device and
  mount stay as they were, and nothing of ours is left; also with
  block_device_driver = "virtio-scsi" (hotplugged on both machines).
- The configuration refusing the disk (disable_block_device_use = true) with
  shared_fs = "none": a clear error before any VM boots.
- containerd's way (what its devmapper snapshotter hands a runtime): Create
  with a rootfs mount of type ext4 whose source is the device, in a pod (q35
  with virtio-blk, microvm with virtio-scsi): the second container's disk is
  hotplugged, and unplugged from the still running VM when the container is
  deleted.
"""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from runtime_bundle import (RUNTIME, make_bundle, make_rootfs, mounts_under,
                            processes_mentioning)
from shim_env import ShimEnv, FifoReader, assets_built, exec_spec, task_ok, task, alive

MARKER = "made-in-the-image"


@pytest.fixture(autouse=True)
def needs_assets():
    if not assets_built():
        pytest.skip("guest assets not built (guest/build-assets.sh)")


class Image:
    """An ext4 image holding a busybox rootfs, on a loop device."""

    def __init__(self, work):
        self.path = os.path.join(work, "rootfs.img")
        src = os.path.join(work, "image-src")
        make_rootfs(src)
        with open(os.path.join(src, "etc", "marker"), "w") as f:
            f.write(MARKER + "\n")
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", src, self.path, "64M"], check=True)
        shutil.rmtree(src)
        self.loop = subprocess.run(["losetup", "--find", "--show", self.path], check=True,
                                   capture_output=True, text=True).stdout.strip()
        self.mounted = []

    def mount_on(self, target, ro=False):
        os.makedirs(target, exist_ok=True)
        subprocess.run(["mount"] + (["-o", "ro"] if ro else []) + [self.loop, target], check=True)
        self.mounted.append(target)

    def cat(self, path):
        """A file of the image as the disk has it (not the host mount's view)."""
        r = subprocess.run(["debugfs", "-R", "cat " + path, self.path], capture_output=True,
                           text=True)
        return r.stdout

    def loop_attached(self):
        r = subprocess.run(["losetup", "--noheadings", "-O", "BACK-FILE", self.loop],
                           capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() == self.path

    def close(self):
        for m in reversed(self.mounted):
            subprocess.run(["umount", m])
        subprocess.run(["losetup", "-d", self.loop])


def write_config(path, machine, shared_fs, extra="", driver="virtio-blk"):
    from shim_env import write_config as base
    base(path)
    lines = []
    for line in open(path).read().splitlines():
        if line.startswith("machine_type = "):
            line = 'machine_type = "%s"' % machine
        elif line.startswith("shared_fs = "):
            line = 'shared_fs = "%s"' % shared_fs
        elif line.startswith("block_device_driver = "):
            line = 'block_device_driver = "%s"' % driver
        elif line.startswith("disable_block_device_use = ") and extra:
            line = extra
        lines.append(line)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Runtime:
    def __init__(self, work, machine, shared_fs, extra="", driver="virtio-blk"):
        self.work = work
        self.config = os.path.join(work, "configuration.toml")
        write_config(self.config, machine, shared_fs, extra, driver)
        self.short = os.path.join(work, "s")  # daemon sockets: a short path
        os.makedirs(self.short)
        self.env = dict(os.environ, KATA_SHIM_SOCKET_DIR=self.short,
                        KATA_STATE_DIR=os.path.join(work, "vc"),
                        KATA_SHARED_DIR=os.path.join(work, "shared"))

    def __call__(self, *args):
        return subprocess.run([RUNTIME, "--root", os.path.join(self.work, "root"), "--config",
                               self.config, *args], capture_output=True, text=True,
                              timeout=300, env=self.env, stdin=subprocess.DEVNULL)

    def assert_clean(self):
        deadline = time.time() + 15
        while (processes_mentioning(self.work) or processes_mentioning(self.short)) and \
                time.time() < deadline:
            time.sleep(0.05)
        assert processes_mentioning(self.work) == [] and processes_mentioning(self.short) == []
        for d in (self.short, os.path.join(self.work, "vc"), os.path.join(self.work, "root"),
                  os.path.join(self.work, "shared")):
            assert not os.path.exists(d) or os.listdir(d) == [], "%s not empty" % d


@pytest.fixture
def work():
    d = tempfile.mkdtemp(prefix="blockroot.", dir="/tmp")
    yield d
    for pid in processes_mentioning(d):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    for m in reversed(mounts_under(d)):
        subprocess.run(["umount", "-l", m])
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def image(work):
    img = Image(work)
    yield img
    img.close()


@pytest.mark.parametrize("machine,driver", [("microvm", "virtio-blk"), ("q35", "virtio-blk"),
                                            ("microvm", "virtio-scsi"), ("q35", "virtio-scsi")])
@pytest.mark.parametrize("shared_fs", ["virtio-fs", "none"])
def test_run_with_a_loop_mounted_image_as_rootfs(work, image, machine, driver, shared_fs):
    rt = Runtime(work, machine, shared_fs, driver=driver)
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, ["sh", "-c", "cat /etc/marker; grep ' / ' /proc/mounts; "
                         "echo written-by-the-container > /persist; sync"], rootfs=False)
    image.mount_on(os.path.join(bundle, "rootfs"))
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == MARKER, r.stdout
    # The root is the disk itself (ext4 on a virtio or SCSI disk), not a share.
    disk = "/dev/sd" if driver == "virtio-scsi" else "/dev/vd"
    assert " ext4 " in lines[1] and lines[1].startswith(disk), r.stdout
    rt.assert_clean()
    # The caller's loop device and mount are as they made them.
    assert image.loop_attached()
    assert mounts_under(work) == [os.path.join(bundle, "rootfs")]
    assert image.cat("/persist") == "written-by-the-container\n"


def test_a_read_only_mount_gives_a_read_only_disk(work, image):
    rt = Runtime(work, "microvm", "none")
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, ["sh", "-c", "cat /etc/marker; touch /x 2>&1; grep ' / ' /proc/mounts"],
                rootfs=False)
    image.mount_on(os.path.join(bundle, "rootfs"), ro=True)
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == MARKER
    assert "Read-only file system" in r.stdout
    assert " ro," in r.stdout.splitlines()[-1], r.stdout
    rt.assert_clean()


def test_disable_block_device_use_with_shared_fs_none_is_a_clear_error(work, image):
    rt = Runtime(work, "microvm", "none", extra="disable_block_device_use = true")
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, ["true"], rootfs=False)
    image.mount_on(os.path.join(bundle, "rootfs"))
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode != 0
    assert "disable_block_device_use = true" in r.stderr, r.stderr
    assert image.loop in r.stderr and 'shared_fs = "none"' in r.stderr, r.stderr
    rt.assert_clean()
    assert mounts_under(work) == [os.path.join(bundle, "rootfs")]


def test_shared_fs_none_without_a_block_rootfs_is_a_clear_error(work):
    rt = Runtime(work, "microvm", "none")
    bundle = make_bundle(os.path.join(work, "bundle"), ["true"])
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode != 0
    assert "is not a mount of a block device" in r.stderr, r.stderr
    assert os.path.join(bundle, "rootfs") in r.stderr, r.stderr
    rt.assert_clean()


def test_disable_block_device_use_shares_the_files_instead(work, image):
    rt = Runtime(work, "microvm", "virtio-fs", extra="disable_block_device_use = true")
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, ["sh", "-c", "cat /etc/marker; grep ' / ' /proc/mounts"], rootfs=False)
    image.mount_on(os.path.join(bundle, "rootfs"))
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == MARKER
    assert " virtiofs " in r.stdout.splitlines()[1], r.stdout
    rt.assert_clean()


def test_bind_mounted_files_are_copied_and_directories_refused_without_a_share(work, image):
    import json
    rt = Runtime(work, "microvm", "none")
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, ["cat", "/etc/greeting"], rootfs=False)
    image.mount_on(os.path.join(bundle, "rootfs"))
    host_file = os.path.join(work, "greeting")
    with open(host_file, "w") as f:
        f.write("hello from the host\n")
    spec_path = os.path.join(bundle, "config.json")
    spec = json.load(open(spec_path))
    spec["mounts"].append({"destination": "/etc/greeting", "type": "bind", "source": host_file,
                           "options": ["rbind", "ro"]})
    json.dump(spec, open(spec_path, "w"))
    r = rt("run", "--bundle", bundle, "c1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from the host\n"
    rt.assert_clean()
    spec["mounts"][-1]["source"] = work
    json.dump(spec, open(spec_path, "w"))
    r = rt("run", "--bundle", bundle, "c2")
    assert r.returncode != 0
    assert "is not a regular file" in r.stderr and "/etc/greeting" in r.stderr, r.stderr
    rt.assert_clean()


# ---- containerd's block rootfs mount (devmapper snapshotter style) ----

def qemu_holds(pid, device):
    try:
        return any(os.readlink("/proc/%d/fd/%s" % (pid, fd)) == device
                   for fd in os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return False


def guest_disks(sh, address, exec_id):
    """/sys/block of the guest, seen from an exec in the pod's first container."""
    out = sh.fifo(exec_id + ".out")
    r = FifoReader(out)
    task_ok(address, "Exec", {"id": "p1", "exec_id": exec_id, "stdout": out,
                              "spec": exec_spec(["sh", "-c", "ls /sys/block; echo end"])})
    task_ok(address, "Start", {"id": "p1", "exec_id": exec_id})
    assert task_ok(address, "Wait", {"id": "p1", "exec_id": exec_id})["exit_status"] == 0
    text = r.read_until(lambda d: b"end\n" in d).decode()
    assert text.endswith("end\n"), text
    task_ok(address, "Delete", {"id": "p1", "exec_id": exec_id})
    return text


@pytest.mark.parametrize("machine,driver", [("q35", "virtio-blk"), ("microvm", "virtio-scsi")])
def test_containerd_rootfs_mount_of_a_block_device_is_hotplugged_and_unplugged(machine, driver):
    sh = ShimEnv()
    write_config(sh.config, machine, "virtio-fs", driver=driver)
    disk = "sd" if driver == "virtio-scsi" else "vd"
    img = Image(sh.root)
    try:
        pod = {"io.kubernetes.cri.container-type": "sandbox",
               "io.kubernetes.cri.sandbox-id": "p1"}
        b1 = make_bundle(os.path.join(sh.root, "bundles", "p1"), ["sleep", "1000"],
                         annotations=pod)
        address = sh.start("p1", b1)
        task_ok(address, "Create", {"id": "p1", "bundle": b1})
        task_ok(address, "Start", {"id": "p1"})
        vmm = task_ok(address, "State", {"id": "p1"})["pid"]
        # The bundle's rootfs stays empty: the device is the guest's to mount.
        b2 = make_bundle(os.path.join(sh.root, "bundles", "c2"),
                         ["sh", "-c", "cat /etc/marker; echo from-c2 > /persist; sync"],
                         annotations={"io.kubernetes.cri.container-type": "container",
                                      "io.kubernetes.cri.sandbox-id": "p1"}, rootfs=False)
        assert sh.start("c2", b2) == address
        out = sh.fifo("c2.out")
        r = FifoReader(out)
        mount = {"type": "ext4", "source": img.loop, "options": ["rw"]}
        task_ok(address, "Create", {"id": "c2", "bundle": b2, "stdout": out, "rootfs": [mount]})
        assert qemu_holds(vmm, img.loop)
        assert mounts_under(os.path.join(sh.root, "bundles")) == []
        task_ok(address, "Start", {"id": "c2"})
        assert task_ok(address, "Wait", {"id": "c2"})["exit_status"] == 0
        assert MARKER in r.read_until(lambda d: MARKER.encode() in d).decode()
        assert disk + "a" in guest_disks(sh, address, "e1")
        task_ok(address, "Delete", {"id": "c2"})
        assert alive(vmm)  # the pod's VM stays, without the disk
        assert not qemu_holds(vmm, img.loop)
        assert img.cat("/persist") == "from-c2\n"
        # The disk went from the guest too.
        assert disk not in guest_disks(sh, address, "e2"), "the disk is still in the guest"
        task_ok(address, "Kill", {"id": "p1", "signal": 9})
        task_ok(address, "Wait", {"id": "p1"})
        pid = task_ok(address, "Connect", {"id": "x"})["shim_pid"]
        task_ok(address, "Delete", {"id": "p1"})
        task_ok(address, "Shutdown", {"id": "p1"})
        for _ in range(300):
            if not alive(pid):
                break
            time.sleep(0.1)
        sh.assert_clean()
        assert img.loop_attached()
    finally:
        sh.cleanup()  # the VMM first: then the loop device is free to detach
        img.close()
