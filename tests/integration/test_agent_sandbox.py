"""The agent's sandbox, storage and network methods, with the agent running on
the host as an ordinary process in private mount, UTS and network namespaces,
driven by agent-ctl (tests/tools/agent-ctl.c) the way the runtime drives it.

A `sleep` process holds the namespaces so that mounts and links can be
inspected (through nsenter) even after the agent has exited; killing it tears
everything down, so nothing leaks into the host even when a test fails."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
# KATA_TEST_AGENT runs another build of the agent (build-asan's, say).
AGENT = Path(os.environ.get("KATA_TEST_AGENT", TOP / "build/src/agent/kata-agent")).resolve()
CTL = TOP / "build/tests/tools/agent-ctl"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and mounts")


class CallError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Agent:
    def __init__(self, workdir, sysfs=None):
        self.dir = Path(workdir)
        self.root = self.dir / "storage"
        self.sock = self.dir / "agent.sock"
        self.log_path = self.dir / "agent.log"
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--net", "--propagation", "private", "sleep", "infinity"])
        self.proc = None
        self.log = None
        try:
            self._start(sysfs)
        except BaseException:
            self.close()
            raise

    def _start(self, sysfs):
        self._wait_for_namespace()
        cmd = [str(AGENT), "--listen", f"unix:{self.sock}", "--storage-root", str(self.root),
               "--log-level", "debug"]
        if sysfs:
            cmd += ["--sysfs", str(sysfs)]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.nsenter_args() + cmd, stderr=self.log)
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("agent did not start: " + self.log_path.read_text())
            time.sleep(0.02)

    def _wait_for_namespace(self):
        mine = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{self.holder.pid}/ns/mnt") != mine:
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("namespace holder did not start")

    def nsenter_args(self):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-u", "-n"]

    def ns(self, *cmd, check=True):
        """Run a command in the agent's namespaces; its stdout."""
        r = subprocess.run(self.nsenter_args() + list(cmd), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{cmd}: {r.stderr}")
        return r.stdout

    def call(self, method, request=None, timeout=30):
        # The request on stdin: CopyFile chunks exceed the size of one argument.
        r = subprocess.run([str(CTL), "--addr", f"unix:{self.sock}", "--timeout", str(timeout),
                            "call", method, "-"], input=json.dumps(request or {}),
                           capture_output=True, text=True)
        if r.returncode == 1:
            msg = r.stderr.strip()
            # "agent-ctl: Service/Method: Code: message"
            code = msg.split(": ")[2] if msg.count(": ") >= 2 else "?"
            raise CallError(code, msg)
        if r.returncode != 0:
            raise RuntimeError(f"agent-ctl {method} exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    def fails(self, method, request, code, *needles):
        with pytest.raises(CallError) as e:
            self.call(method, request)
        assert e.value.code == code, e.value.message
        for n in needles:
            assert n in e.value.message, e.value.message
        return e.value.message

    def mount_points(self):
        out = self.ns("cat", "/proc/self/mountinfo")
        return [line.split()[4] for line in out.splitlines()]

    def storage_mounts(self):
        root = str(self.root)
        return [m for m in self.mount_points() if m == root or m.startswith(root + "/")]

    def destroy(self):
        if self.proc.poll() is None:
            self.call("DestroySandbox")
            self.proc.wait(timeout=10)
        # A clean exit (sanitizer builds exit non-zero on leaks and errors).
        assert self.proc.returncode == 0, self.log_path.read_text()[-4000:]

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            # Let a sanitizer build report at exit; then make sure.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.holder.kill()
        self.holder.wait()
        if self.log:
            self.log.close()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="agent-sandbox-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def agent(workdir):
    a = Agent(workdir)
    yield a
    a.close()


@pytest.fixture
def loop_ext4(workdir):
    """An ext4 filesystem on a loop device holding a file hello.txt."""
    img = workdir / "disk.img"
    subprocess.run(["truncate", "-s", "16M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    subprocess.run(["debugfs", "-w", "-R", "mkdir data", str(img)], check=True, capture_output=True)
    dev = subprocess.run(["losetup", "-f", "--show", str(img)], check=True, capture_output=True,
                         text=True).stdout.strip()
    yield dev
    for _ in range(50):
        if subprocess.run(["losetup", "-d", dev], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)


def test_create_sandbox_hostname_dns_and_twice(agent):
    agent.call("CreateSandbox", {"hostname": "pod-one", "sandbox_id": "sb1",
                                 "dns": ["nameserver 10.0.0.1", "search example.com"]})
    assert agent.ns("hostname").strip() == "pod-one"
    assert os.uname().nodename != "pod-one"
    assert (agent.root / "resolv.conf").read_text() == "nameserver 10.0.0.1\nsearch example.com\n"
    agent.fails("CreateSandbox", {"hostname": "x"}, "AlreadyExists", "sandbox `sb1` already exists")
    assert agent.ns("hostname").strip() == "pod-one"


def test_bad_requests_keep_the_agent_serving(agent):
    agent.fails("CreateSandbox", {"hostname": "h" * 65}, "InvalidArgument", "longer than 64")
    agent.fails("CreateSandbox", {"dns": ["a\nb"]}, "Internal", "newline")
    # A failed CreateSandbox leaves no sandbox behind: the next one works.
    agent.call("CreateSandbox", {"sandbox_id": "ok"})
    assert agent.call("grpc.Health.Check") == {"status": "SERVING"}


def test_storages_mounted_tracked_and_unmounted(agent, loop_ext4):
    r = str(agent.root)
    storages = [
        {"driver": "ephemeral", "source": "tmpfs", "fstype": "tmpfs",
         "options": ["size=4m", "nosuid"], "mount_point": f"{r}/eph"},
        {"driver": "local", "options": ["mode=0750"], "mount_point": f"{r}/local/vol"},
        {"driver": "mmioblk", "source": loop_ext4, "fstype": "ext4", "options": ["nodev"],
         "mount_point": f"{r}/blk"},
        # The same mount point again: a reference, not a second mount.
        {"driver": "ephemeral", "source": "tmpfs", "mount_point": f"{r}/eph"},
    ]
    agent.call("CreateSandbox", {"sandbox_id": "sb", "storages": storages})
    mounts = agent.storage_mounts()
    assert mounts.count(f"{r}/eph") == 1
    assert f"{r}/blk" in mounts
    assert f"{r}/local/vol" not in mounts  # a directory, not a mount
    assert oct((agent.root / "local/vol").stat().st_mode & 0o7777) == oct(0o750)
    info = agent.ns("findmnt", "-n", "-o", "FSTYPE,OPTIONS", f"{r}/eph")
    assert info.startswith("tmpfs") and "nosuid" in info and "size=4096k" in info, info
    info = agent.ns("findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", f"{r}/blk")
    assert info.startswith("ext4") and loop_ext4 in info and "nodev" in info, info
    assert "data" in agent.ns("ls", f"{r}/blk")

    agent.destroy()
    assert agent.storage_mounts() == []


def test_bind_and_overlay(workdir):
    b = Agent(workdir)
    try:
        r = str(b.root)
        # Directories under the storage root (on the host's file system).
        for d in ("lower", "upper", "work", "src"):
            (b.root / "dirs" / d).mkdir(parents=True, exist_ok=True)
        (b.root / "dirs/lower/f").write_text("from-lower\n")
        (b.root / "dirs/src/g").write_text("bound\n")
        b.call("CreateSandbox", {"storages": [
            {"driver": "bind", "source": f"{r}/dirs/src", "options": ["ro"],
             "mount_point": f"{r}/bound"},
            {"driver": "overlayfs", "source": "overlay", "fstype": "overlay",
             "options": [f"lowerdir={r}/dirs/lower", f"upperdir={r}/dirs/upper",
                         f"workdir={r}/dirs/work"],
             "mount_point": f"{r}/merged"},
        ]})
        assert b.ns("cat", f"{r}/bound/g") == "bound\n"
        assert "ro" in b.ns("findmnt", "-n", "-o", "OPTIONS", f"{r}/bound").split(",")
        assert b.ns("touch", f"{r}/bound/new", check=False) == ""
        assert not (b.root / "dirs/src/new").exists()
        assert b.ns("cat", f"{r}/merged/f") == "from-lower\n"
        b.ns("sh", "-c", f"echo written > {r}/merged/w")
        assert (b.root / "dirs/upper/w").read_text() == "written\n"
        assert sorted(b.storage_mounts()) == [f"{r}/bound", f"{r}/merged"]
        b.destroy()
        assert b.storage_mounts() == []
    finally:
        b.close()


@pytest.mark.parametrize("storage,needle", [
    ({"driver": "nfs", "mount_point": "{r}/x"}, "unknown storage driver `nfs`"),
    ({"driver": "ephemeral", "mount_point": "relative/x"}, "not an absolute path"),
    ({"driver": "ephemeral", "mount_point": "{r}/../escape"}, "`..` components are not allowed"),
    ({"driver": "ephemeral", "mount_point": "/tmp/elsewhere"}, "not under"),
    ({"driver": "ephemeral", "mount_point": "{r}"}, "the storage root itself"),
    ({"driver": "bind", "source": "/etc", "mount_point": "{r}/etc"}, "bind source `/etc`: not under"),
    ({"driver": "overlayfs", "options": ["lowerdir=/usr:{r}/a"], "mount_point": "{r}/o"},
     "overlay directory `/usr`: not under"),
    ({"driver": "overlayfs", "options": ["upperdir={r}/u"], "mount_point": "{r}/o"},
     "needs a lowerdir"),
    ({"driver": "blk", "source": "zz/01", "fstype": "ext4", "mount_point": "{r}/b"},
     "PCI path `zz/01`"),
    ({"driver": "blk", "source": "/dev/../etc/passwd", "fstype": "ext4", "mount_point": "{r}/b"},
     "not a plain /dev entry"),
    ({"driver": "mmioblk", "source": "/dev/null", "fstype": "ext4", "mount_point": "{r}/b"},
     "not a block device"),
    ({"driver": "scsi", "source": "nonsense", "fstype": "ext4", "mount_point": "{r}/b"},
     "SCSI address `nonsense`"),
    ({"driver": "virtio-fs", "mount_point": "{r}/v"}, "needs its tag"),
    ({"driver": "local", "options": ["mode=999"], "mount_point": "{r}/l"}, "bad option `mode=999`"),
])
def test_storage_validation(agent, storage, needle):
    r = str(agent.root)
    s = json.loads(json.dumps(storage).replace("{r}", r))
    ok = {"driver": "ephemeral", "mount_point": f"{r}/first"}
    agent.fails("CreateSandbox", {"storages": [ok, s]}, "InvalidArgument", needle)
    # What the call mounted before the bad storage was undone.
    assert agent.storage_mounts() == []


def test_symlink_escape_rejected(agent, workdir):
    outside = workdir / "outside"
    outside.mkdir()
    agent.root.mkdir(parents=True, exist_ok=True)
    (agent.root / "link").symlink_to(outside)
    r = str(agent.root)
    msg = agent.fails("CreateSandbox", {"storages": [
        {"driver": "ephemeral", "mount_point": f"{r}/link/x"}]}, "Internal", "link")
    assert "Invalid cross-device link" in msg or "Too many levels" in msg, msg
    assert list(outside.iterdir()) == []
    agent.fails("CopyFile", {"path": f"{r}/link/f", "file_size": 1, "data": {"@text": "x"}},
                "Internal")
    assert list(outside.iterdir()) == []


def test_copy_file_chunks_modes_and_limits(agent):
    r = str(agent.root)
    data = os.urandom(3 * 1024 * 1024 + 123)
    chunk = 1024 * 1024
    path = f"{r}/shared/containers/c1/hosts"
    for off in range(0, len(data), chunk):
        part = data[off:off + chunk]
        agent.call("CopyFile", {"path": path, "file_size": len(data), "file_mode": 0o100640,
                                "dir_mode": 0o750, "uid": 123, "gid": 456, "offset": off,
                                "data": base64.b64encode(part).decode()})
        # Not in place until complete.
        assert (agent.root / "shared/containers/c1/hosts").exists() == (off + chunk >= len(data))
    st = (agent.root / "shared/containers/c1/hosts").stat()
    assert (agent.root / "shared/containers/c1/hosts").read_bytes() == data
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 123, 456)
    assert (agent.root / "shared/containers/c1").stat().st_mode & 0o7777 == 0o750
    assert [p.name for p in (agent.root / "shared/containers/c1").iterdir()] == ["hosts"]

    # Empty file, directory, symlink.
    agent.call("CopyFile", {"path": f"{r}/empty", "file_size": 0, "file_mode": 0o100600})
    assert (agent.root / "empty").read_bytes() == b""
    agent.call("CopyFile", {"path": f"{r}/d", "file_mode": 0o40711})
    assert (agent.root / "d").is_dir() and (agent.root / "d").stat().st_mode & 0o7777 == 0o711
    agent.call("CopyFile", {"path": f"{r}/d/l", "file_mode": 0o120777, "file_size": 6,
                            "data": {"@text": "target"}})
    assert os.readlink(agent.root / "d/l") == "target"

    agent.fails("CopyFile", {"path": "/etc/passwd", "file_size": 1, "data": {"@text": "x"}},
                "InvalidArgument", "copy destination `/etc/passwd`: not under")
    agent.fails("CopyFile", {"path": f"{r}/a/../../x", "file_size": 1}, "InvalidArgument", "`..`")
    agent.fails("CopyFile", {"path": f"{r}/big", "file_size": 2 << 30}, "InvalidArgument",
                "outside 0..1073741824")
    agent.fails("CopyFile", {"path": f"{r}/f", "file_size": 2, "offset": 1,
                             "data": {"@text": "xy"}}, "InvalidArgument", "outside the file")
    agent.fails("CopyFile", {"path": f"{r}/f", "file_size": 2, "offset": -1}, "InvalidArgument")
    agent.fails("CopyFile", {"path": f"{r}/dir/", "file_size": 0}, "InvalidArgument",
                "not a file name")
    agent.fails("CopyFile", {"path": r, "file_size": 0}, "InvalidArgument", "not a file name")


def test_set_guest_date_time_refused_on_host(agent):
    agent.fails("SetGuestDateTime", {"Sec": 1, "Usec": 2000000}, "InvalidArgument", "bad time")
    agent.fails("SetGuestDateTime", {"Sec": 2000000000}, "FailedPrecondition",
                "refusing to set the host clock")


def test_online_cpu_mem_on_a_fake_sysfs(workdir):
    sysfs = workdir / "sys"
    cpus = sysfs / "devices/system/cpu"
    for n, state in [(0, None), (1, "1"), (2, "0"), (3, "0")]:
        (cpus / f"cpu{n}").mkdir(parents=True)
        if state is not None:
            (cpus / f"cpu{n}/online").write_text(state + "\n")
    (cpus / "cpufreq").mkdir()
    mem = sysfs / "devices/system/memory"
    for n, state in [(0, "online"), (1, "offline")]:
        (mem / f"memory{n}").mkdir(parents=True)
        (mem / f"memory{n}/state").write_text(state + "\n")
    a = Agent(workdir, sysfs=sysfs)
    try:
        a.call("OnlineCPUMem", {"nb_cpus": 2, "wait": True, "cpu_only": True})
        assert (cpus / "cpu2/online").read_text().strip() == "1"
        assert (cpus / "cpu3/online").read_text().strip() == "1"
        assert (mem / "memory1/state").read_text().strip() == "offline"
        a.fails("OnlineCPUMem", {"nb_cpus": 1, "wait": True}, "DeadlineExceeded", "0 of the 1")
        assert (mem / "memory1/state").read_text().strip() == "online"
        a.call("OnlineCPUMem", {"nb_cpus": 1, "wait": False})
    finally:
        a.close()


def test_sandbox_pidns(agent):
    agent.call("CreateSandbox", {"sandbox_pidns": True})
    pids = subprocess.run(["pgrep", "-P", str(agent.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1
    pause = pids[0]
    assert os.readlink(f"/proc/{pause}/ns/pid") != os.readlink("/proc/self/ns/pid")
    status = Path(f"/proc/{pause}/status").read_text()
    nspid = [line for line in status.splitlines() if line.startswith("NSpid:")]
    assert nspid and nspid[0].split()[-1] == "1", nspid
    agent.destroy()
    assert not Path(f"/proc/{pause}").exists()


def test_network_interfaces_routes_neighbours(agent):
    agent.ns("ip", "link", "add", "v0", "address", "02:00:00:00:00:01", "type", "veth",
             "peer", "name", "v1")
    agent.ns("ip", "addr", "add", "192.0.2.9/24", "dev", "v0")  # replaced by UpdateInterface
    iface = agent.call("UpdateInterface", {"interface": {
        "hwAddr": "02:00:00:00:00:01", "name": "eth0", "mtu": 1400,
        "IPAddresses": [{"family": "v4", "address": "10.1.2.3", "mask": "24"},
                        {"family": "v6", "address": "fd00::5", "mask": "64"}]}})
    assert iface["name"] == "eth0" and iface["mtu"] == 1400
    assert iface["hwAddr"] == "02:00:00:00:00:01" and iface["type"] == "veth"
    assert iface["raw_flags"] & 1  # IFF_UP
    assert {(a["address"], a["mask"]) for a in iface["IPAddresses"]} == {
        ("10.1.2.3", "24"), ("fd00::5", "64")}
    link = json.loads(agent.ns("ip", "-j", "addr", "show", "eth0"))[0]
    assert link["mtu"] == 1400 and "UP" in link["flags"]
    assert {a["local"] for a in link["addr_info"] if a["scope"] == "global"} == {
        "10.1.2.3", "fd00::5"}
    listed = agent.call("ListInterfaces")["Interfaces"]
    assert [i for i in listed if i["name"] == "eth0"] == [iface]
    assert {i["name"] for i in listed} == {"lo", "v1", "eth0"}

    routes = agent.call("UpdateRoutes", {"routes": {"Routes": [
        {"dest": "", "gateway": "10.1.2.1", "device": "eth0"},
        {"dest": "192.168.7.0/24", "device": "eth0", "scope": 253},
        {"dest": "fd01::/64", "gateway": "fd00::1", "device": "eth0", "family": "v6"},
    ]}})["Routes"]
    assert agent.call("ListRoutes")["Routes"] == routes
    text = agent.ns("ip", "route")
    assert "default via 10.1.2.1 dev eth0" in text
    assert "192.168.7.0/24 dev eth0 scope link" in text
    assert "10.1.2.0/24 dev eth0 proto kernel" in text
    assert "fd01::/64 via fd00::1 dev eth0" in agent.ns("ip", "-6", "route")
    # Replacing: only the kernel's own routes survive besides the new ones.
    agent.call("UpdateRoutes", {"routes": {"Routes": [
        {"dest": "10.9.0.0/16", "gateway": "10.1.2.254", "device": "eth0"}]}})
    text = agent.ns("ip", "route")
    assert "default" not in text and "192.168.7.0" not in text, text
    assert "10.9.0.0/16 via 10.1.2.254 dev eth0" in text
    assert "fd01::" not in agent.ns("ip", "-6", "route")

    agent.call("AddARPNeighbors", {"neighbors": {"ARPNeighbors": [
        {"toIPAddress": {"address": "10.1.2.9"}, "device": "eth0", "lladdr": "02:aa:bb:cc:dd:ee"},
        {"toIPAddress": {"address": "fd00::9"}, "device": "eth0", "lladdr": "02:aa:bb:cc:dd:ef"},
    ]}})
    neigh = agent.ns("ip", "neigh", "show", "dev", "eth0")
    assert "10.1.2.9 lladdr 02:aa:bb:cc:dd:ee PERMANENT" in neigh, neigh
    assert "fd00::9 lladdr 02:aa:bb:cc:dd:ef PERMANENT" in neigh, neigh


def test_network_errors(agent):
    agent.ns("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    agent.fails("UpdateInterface", {"interface": {"hwAddr": "02:12:34:56:78:9a"}}, "NotFound",
                "interface `02:12:34:56:78:9a`")
    agent.fails("UpdateInterface", {"interface": {"hwAddr": "zz"}}, "InvalidArgument",
                "bad hardware address")
    agent.fails("UpdateInterface", {"interface": {"device": "v0", "IPAddresses": [
        {"address": "10.0.0.300", "mask": "24"}]}}, "InvalidArgument", "bad address `10.0.0.300/24`")
    agent.fails("UpdateInterface", {"interface": {"device": "v0", "name": "x" * 16}},
                "InvalidArgument", "too long")
    agent.fails("UpdateInterface", {}, "InvalidArgument", "no interface")
    agent.fails("UpdateRoutes", {"routes": {"Routes": [{"dest": "10.0.0.0/8", "device": "nope"}]}},
                "NotFound", "device `nope`")
    agent.fails("UpdateRoutes", {"routes": {"Routes": [{"dest": "10.0.0.0/33"}]}},
                "InvalidArgument", "bad destination")
    # The kernel's refusal comes back with its reason (unreachable gateway).
    agent.fails("UpdateRoutes", {"routes": {"Routes": [
        {"dest": "10.0.0.0/8", "gateway": "172.16.0.1", "device": "v0"}]}}, "Internal",
        "add route to `10.0.0.0/8`")
    agent.fails("AddARPNeighbors", {"neighbors": {"ARPNeighbors": [
        {"toIPAddress": {"address": "10.0.0.1"}, "device": "nope"}]}}, "NotFound", "device `nope`")
    # Interface v0 untouched by the failed calls; the agent still serves.
    assert json.loads(agent.ns("ip", "-j", "link", "show", "v0"))[0]["ifname"] == "v0"
    assert agent.call("grpc.Health.Check") == {"status": "SERVING"}


def test_fs_group(agent):
    """Kubernetes fsGroup: the volume's files go to the group, group-writable,
    directories setgid; symlinks are not followed; OnRootMismatch skips a
    volume whose root already matches."""
    src = agent.root / "vol"
    (src / "sub").mkdir(parents=True)
    (src / "sub/f").write_text("x")
    (src / "sub/f").chmod(0o600)
    outside = agent.dir / "outside"
    outside.write_text("o")
    outside.chmod(0o600)
    (src / "link").symlink_to(outside)
    r = str(agent.root)
    agent.call("CreateSandbox", {"storages": [
        {"driver": "bind", "source": f"{r}/vol", "mount_point": f"{r}/mnt",
         "fs_group": {"group_id": 4321}},
        {"driver": "local", "mount_point": f"{r}/loc",
         "fs_group": {"group_id": 99, "group_change_policy": "OnRootMismatch"}},
    ]})
    f = (src / "sub/f").stat()
    d = (src / "sub").stat()
    assert (f.st_gid, f.st_mode & 0o7777) == (4321, 0o660)
    assert d.st_gid == 4321 and d.st_mode & 0o2070 == 0o2070
    o = outside.stat()
    assert (o.st_gid, o.st_mode & 0o7777) == (0, 0o600)
    loc = (agent.root / "loc").stat()
    assert loc.st_gid == 99 and loc.st_mode & 0o2770 == 0o2770


def test_create_sandbox_waits_for_a_late_disk_without_blocking(agent, loop_ext4):
    """A block device that is not there yet (a hotplug in progress): CreateSandbox
    waits on the agent's loop, other calls are served meanwhile, and the
    mount happens once the device node appears."""
    r = str(agent.root)
    # A private /dev in the agent's mount namespace, so the node can come later.
    agent.ns("mount", "-t", "tmpfs", "tmpfs", "/dev")
    rdev = os.stat(loop_ext4).st_rdev
    req = {"storages": [{"driver": "mmioblk", "source": "/dev/vdlate", "fstype": "ext4",
                         "mount_point": f"{r}/late"}]}
    pending = subprocess.Popen([str(CTL), "--addr", f"unix:{agent.sock}", "call", "CreateSandbox",
                                json.dumps(req)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(0.3)
        assert pending.poll() is None
        assert agent.call("grpc.Health.Check") == {"status": "SERVING"}
        agent.fails("CreateSandbox", {}, "AlreadyExists", "being created")
        agent.ns("mknod", "/dev/vdlate", "b", str(os.major(rdev)), str(os.minor(rdev)))
        out, errs = pending.communicate(timeout=10)
        assert pending.returncode == 0, errs
    finally:
        if pending.poll() is None:
            pending.kill()
            pending.wait()
    assert f"{r}/late" in agent.storage_mounts()
    assert "data" in agent.ns("ls", f"{r}/late")
    agent.destroy()


def test_abandoned_create_sandbox_leaves_nothing(agent):
    r = str(agent.root)
    req = {"storages": [{"driver": "mmioblk", "source": "/dev/never-there", "fstype": "ext4",
                         "mount_point": f"{r}/never"}]}
    r1 = subprocess.run([str(CTL), "--addr", f"unix:{agent.sock}", "--timeout", "0.5", "call",
                         "CreateSandbox", json.dumps(req)], capture_output=True, text=True)
    assert r1.returncode != 0 and "DeadlineExceeded" in r1.stderr, r1.stderr
    # The agent forgot it: a new CreateSandbox is not "being created".
    agent.call("CreateSandbox", {"sandbox_id": "after"})
    assert agent.storage_mounts() == []


def test_storage_sources_resolved_beneath_the_root(agent, workdir):
    """Issue 12 finding 9: a symlink CopyFile made inside the storage root that
    leads outside it (absolute or by `..`) lets neither a bind nor an overlay
    directory mount from outside: sources are resolved beneath the root
    through an fd, not checked as text.  A symlink that stays inside works."""
    outside = workdir / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host\n")
    r = str(agent.root)

    def symlink(path, target):
        agent.call("CopyFile", {"path": path, "file_mode": 0o120777, "file_size": len(target),
                                "data": {"@text": target}})

    symlink(f"{r}/shared/abs", str(outside))
    symlink(f"{r}/shared/rel", "../../outside")
    assert os.readlink(agent.root / "shared/abs") == str(outside)
    for src in (f"{r}/shared/abs", f"{r}/shared/abs/secret", f"{r}/shared/rel"):
        agent.fails("CreateSandbox", {"storages": [
            {"driver": "bind", "source": src, "mount_point": f"{r}/bound"}]},
            "Internal", f"bind source `{src}`: leads outside `{r}`")
    for option in (f"lowerdir={r}/shared/abs", f"lowerdir={r}/ok:{r}/shared/rel"):
        (agent.root / "ok").mkdir(exist_ok=True)
        agent.fails("CreateSandbox", {"storages": [
            {"driver": "overlayfs", "source": "overlay", "fstype": "overlay",
             "options": [option, f"upperdir={r}/u", f"workdir={r}/w"],
             "mount_point": f"{r}/merged"}]},
            "Internal", "overlay directory", "leads outside")
    # upperdir and workdir through the symlink: refused as well.
    agent.fails("CreateSandbox", {"storages": [
        {"driver": "overlayfs", "source": "overlay", "fstype": "overlay",
         "options": [f"lowerdir={r}/ok", f"upperdir={r}/shared/abs/u", f"workdir={r}/w"],
         "mount_point": f"{r}/merged"}]}, "Internal")
    assert agent.storage_mounts() == []
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert "host" not in agent.ns("cat", "/proc/self/mountinfo")

    # Inside the root, a relative symlink (Kubernetes' ..data layout) is fine.
    agent.call("CopyFile", {"path": f"{r}/shared/data/key", "file_mode": 0o100644,
                            "file_size": 6, "data": {"@text": "value\n"}})
    symlink(f"{r}/shared/alias", "data")
    (agent.root / "upper").mkdir()
    (agent.root / "work").mkdir()
    agent.call("CreateSandbox", {"storages": [
        {"driver": "bind", "source": f"{r}/shared/alias", "options": ["ro"],
         "mount_point": f"{r}/bound"},
        {"driver": "overlayfs", "source": "overlay", "fstype": "overlay",
         "options": [f"lowerdir={r}/shared/alias", f"upperdir={r}/upper", f"workdir={r}/work"],
         "mount_point": f"{r}/merged"}]})
    assert agent.ns("cat", f"{r}/bound/key") == "value\n"
    assert agent.ns("cat", f"{r}/merged/key") == "value\n"
    agent.ns("sh", "-c", f"echo new > {r}/merged/added")
    assert (agent.root / "upper/added").read_text() == "new\n"
    assert sorted(agent.storage_mounts()) == [f"{r}/bound", f"{r}/merged"]
    agent.destroy()
    assert agent.storage_mounts() == []
