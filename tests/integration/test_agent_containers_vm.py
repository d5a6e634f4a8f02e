"""The agent's container methods inside a real VM (QEMU, TCG here): the
container rootfs is shared from the host over virtio-fs and over virtio-9p,
or comes from a block device (an ext4 image); the agent is PID 1 of the guest
(build/guest's initrd) and is reached through tests/tools/agent-vm, which
lets concurrent agent-ctl calls share the one agent channel.

The same core cases as the host test (payload output, exit codes, signals,
exec, streams, tty), plus what needs the guest's cgroup v2 controllers:
memory limit, OOM event, pause/resume and stats."""
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agent_containers_lib import (MIB, PAYLOAD, TOP, Container, Ctl, lines, make_rootfs,
                                  payload_pattern, spec)

AGENT_VM = TOP / "build/tests/tools/agent-vm"
GUEST = TOP / "build/guest"
KERNEL = GUEST / "vmlinux"
INITRD = GUEST / "kata-agent-initrd.img"
SHARED = "/run/kata-containers/shared/containers"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for QEMU and virtiofsd"),
    pytest.mark.skipif(not (KERNEL.exists() and INITRD.exists()),
                       reason="guest assets not built (bash guest/build-assets.sh)"),
    pytest.mark.skipif(not PAYLOAD.exists() or not AGENT_VM.exists(), reason="not built (make)"),
]


class GuestAgent:
    """A VM whose agent answers on a unix socket; the share is work/share."""

    def __init__(self, work, share_kind=None, block=None, memory=512):
        self.work = Path(work)
        self.share = self.work / "share"
        self.share.mkdir(exist_ok=True)
        self.sock = self.work / "agent.sock"
        self.err_path = self.work / "agent-vm.err"
        cmd = [str(AGENT_VM), "--kernel", str(KERNEL), "--initrd", str(INITRD), "--listen",
               str(self.sock), "--memory", str(memory), "--timeout", "120",
               "--run-dir", str(self.work / "run")]
        if share_kind == "virtio-fs":
            cmd += ["--virtiofs", str(self.share)]
        elif share_kind == "9p":
            cmd += ["--share9p", str(self.share)]
        if block:
            cmd += ["--block", str(block)]
        self.share_kind = share_kind
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.close()
            raise RuntimeError("agent-vm did not start: " + self.err_path.read_text())
        self.ctl = Ctl(f"unix:{self.sock}")

    def storages(self):
        if self.share_kind == "virtio-fs":
            return [{"driver": "virtio-fs", "source": "kataShared", "fstype": "virtiofs",
                     "mount_point": SHARED}]
        return [{"driver": "9p", "source": "kataShared", "fstype": "9p",
                 "options": ["trans=virtio", "version=9p2000.L"], "mount_point": SHARED}]

    def container(self, cid, args, **kw):
        """A container whose rootfs is share/CID/rootfs, reached through the share."""
        make_rootfs(self.share / cid / "rootfs")
        oci = spec(f"{SHARED}/{cid}/rootfs", args, **kw)
        return Container(self.ctl, cid, oci, storages=self.storages())

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # EOF: agent-vm stops the VM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


@pytest.fixture(scope="module", params=["virtio-fs", "9p"])
def guest(request):
    work = tempfile.mkdtemp(prefix="kata-ctr-vm.")
    g = GuestAgent(work, request.param)
    try:
        yield g
    finally:
        g.close()
        err = g.err_path.read_text(errors="replace")
        shutil.rmtree(work, ignore_errors=True)
        if err.strip():
            print(err[-3000:])
        # Nothing of ours may be left running.
        left = subprocess.run(["pgrep", "-f", work], capture_output=True, text=True).stdout
        assert not left.strip(), f"processes left: {left}"


def test_vm_hostname_mounts_exit_code(guest):
    c = guest.container("core", ["hostname", "pid", "mounts", "env", "exit", "3"],
                        hostname="vmbox")
    status, out, _ = c.run()
    got = lines(out)
    assert status == 3
    assert got["hostname"] == ["vmbox"] and got["pid"] == ["1"]
    fstype = "virtiofs" if guest.share_kind == "virtio-fs" else "9p"
    root = [m for m in got["mount"] if m.split()[4] == "/"]
    assert root and f" - {fstype} " in root[0], root
    assert "KATA_TEST=1" in got["env"]
    c.remove()


def test_vm_exec_signals_and_statuses(guest):
    c = guest.container("sig", ["marker", "up", "sleep", "120"], hostname="inner")
    c.start()
    c.init.read_until(b"up")
    p = c.exec("e1", ["hostname", "exit", "5"])
    out = p.reader()
    assert p.wait() == 5
    assert lines(out.result())["hostname"] == ["inner"]
    assert c.exec("e2", ["kill", "10"]).wait() == 138
    c.init.signal(9)
    assert c.init.wait() == 137
    c.remove()


def test_vm_streams_round_trip(guest):
    c = guest.container("io", ["echo"])
    c.start()
    data = os.urandom(10 * MIB)
    out = c.init.reader()
    for off in range(0, len(data), MIB):
        assert c.init.write(data[off:off + MIB]) == MIB
    c.init.close_stdin()
    assert c.init.wait() == 0
    got = out.result(timeout=600)
    assert len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    c.remove()
    n = 10 * MIB
    c = guest.container("io2", ["stdout", str(n), "stderr", str(n)])
    status, out, err = c.run()
    assert status == 0 and out == payload_pattern(n) and err == payload_pattern(n)
    c.remove()


def test_vm_terminal(guest):
    c = guest.container("tty", ["tty", "ttyname", "winsize", "wait-winch"], terminal=True,
                        console=(24, 80))
    c.start()
    first = c.init.read_until(b"waiting: winch")
    assert b"tty: yes" in first and b"winsize: 24x80" in first
    # The container's own devpts instance, not the guest's /dev/pts.
    assert b"ttyname: /dev/pts/0\r\n" in first
    c.init.resize(40, 100)
    assert b"winsize: 40x100" in c.init.reader().result()
    assert c.init.wait() == 0
    c.remove()


def test_vm_memory_limit_and_oom_event(guest):
    if guest.share_kind != "virtio-fs":
        pytest.skip("cgroup cases run once (virtio-fs guest)")
    resources = {"Memory": {"Limit": 32 * MIB, "Swap": 32 * MIB}}
    c = guest.container("oom", ["marker", "up", "alloc", "256"], Resources=resources,
                        CgroupsPath="/kata/oom")
    import threading
    event = {}
    waiter = threading.Thread(target=lambda: event.update(guest.ctl.call("GetOOMEvent", {},
                                                                          timeout=120)))
    waiter.start()
    time.sleep(0.5)  # the waiter is in the agent before the OOM happens
    out = c.init.reader()
    c.start()
    assert c.init.wait() == 137  # killed by the OOM killer
    out.result()
    waiter.join(60)
    assert event.get("container_id") == "oom"
    c.remove()


def test_vm_pause_resume_update_stats(guest):
    if guest.share_kind != "virtio-fs":
        pytest.skip("cgroup cases run once (virtio-fs guest)")
    c = guest.container("pz", ["marker", "up", "sleep", "120"],
                        Resources={"Pids": {"Limit": 64}})
    c.start()
    c.init.read_until(b"up")
    guest.ctl.call("PauseContainer", {"container_id": "pz"})
    guest.ctl.fails("PauseContainer", {"container_id": "pz"}, "FAILED_PRECONDITION")
    guest.ctl.call("ResumeContainer", {"container_id": "pz"})
    guest.ctl.call("UpdateContainer", {"container_id": "pz", "resources": {
        "Memory": {"Limit": 64 * MIB}, "Pids": {"Limit": 32}}})
    stats = guest.ctl.call("StatsContainer", {"container_id": "pz"})["cgroup_stats"]
    assert stats["pids_stats"]["current"] == "1" or stats["pids_stats"]["current"] == 1
    assert int(stats["pids_stats"]["limit"]) == 32
    assert int(stats["memory_stats"]["usage"]["limit"]) == 64 * MIB
    # A paused container's processes still die on removal.
    guest.ctl.call("PauseContainer", {"container_id": "pz"})
    c.remove()


def test_vm_block_device_rootfs():
    work = Path(tempfile.mkdtemp(prefix="kata-ctr-blk."))
    try:
        src = make_rootfs(work / "rootfs")
        image = work / "rootfs.img"
        subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(image)], check=True)
        g = GuestAgent(work, None, block=image)
        try:
            mount_point = "/run/kata-containers/blk/rootfs"
            storages = [{"driver": "mmioblk", "source": "/dev/vda", "fstype": "ext4",
                         "options": ["ro"], "mount_point": mount_point}]
            oci = spec(mount_point, ["mounts", "try-write", "/x", "exit", "7"])
            c = Container(g.ctl, "blk", oci, storages=storages)
            status, out, _ = c.run()
            got = lines(out)
            assert status == 7
            root = [m for m in got["mount"] if m.split()[4] == "/"]
            assert root and " - ext4 /dev/vda " in root[0], root
            assert got["try-write /x"] == ["Read-only file system"]
            c.remove()
        finally:
            g.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
