"""Helpers shared by test_agent_containers.py (agent on the host) and
test_agent_containers_vm.py (agent in a VM): an agent-ctl client, OCI specs
for the static payload (tests/payload/payload.c), and container/process
handles with stream readers and writers that run concurrently.
"""
import base64
import json
import subprocess
import threading
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
AGENT = TOP / "build/src/agent/kata-agent"
CTL = TOP / "build/tests/tools/agent-ctl"
PAYLOAD = TOP / "build/tests/payload/payload"
BUSYBOX = Path("/usr/bin/busybox")

MIB = 1 << 20


class CallError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Ctl:
    """agent-ctl calls to one agent address (unix:PATH, serial-sock:PATH)."""

    def __init__(self, addr):
        self.addr = addr

    def call(self, method, request=None, timeout=60):
        r = subprocess.run([str(CTL), "--addr", self.addr, "--timeout", str(timeout), "call",
                            method, "-"], input=json.dumps(request or {}).encode(),
                           capture_output=True)
        if r.returncode == 1:
            msg = r.stderr.decode(errors="replace").strip()
            # "agent-ctl: Service/Method: CODE: message"
            parts = msg.split(": ")
            code = parts[2] if len(parts) > 2 else "?"
            # "FailedPrecondition" -> "FAILED_PRECONDITION"
            code = "".join("_" + ch if ch.isupper() and i else ch
                           for i, ch in enumerate(code)).upper()
            raise CallError(code, msg)
        if r.returncode != 0:
            raise RuntimeError(f"agent-ctl {method} exited {r.returncode}: {r.stderr!r}")
        return json.loads(r.stdout)

    def fails(self, method, request, code, *needles):
        try:
            self.call(method, request)
        except CallError as e:
            assert e.code == code, e.message
            for n in needles:
                assert n in e.message, e.message
            return e.message
        raise AssertionError(f"{method} succeeded, expected {code}")


def payload_pattern(n):
    """What `payload stdout N` writes."""
    unit = bytes(ord("a") + i % 26 for i in range(65536))
    return (unit * (n // len(unit) + 1))[:n]


def make_rootfs(path):
    """A container root: busybox, the payload, and the usual directories."""
    path = Path(path)
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "work", "ro", "secret"):
        (path / d).mkdir(parents=True, exist_ok=True)
    (path / "secret/key").write_text("hidden\n")
    (path / "ro/file").write_text("read only\n")
    (path / "etc/hostname").write_text("image\n")
    import shutil
    shutil.copy(PAYLOAD, path / "payload")
    if BUSYBOX.exists():
        shutil.copy(BUSYBOX, path / "bin/busybox")
        for tool in ("sh", "cat", "ls", "sleep"):
            link = path / "bin" / tool
            if not link.exists():
                link.symlink_to("busybox")
    return path


def default_mounts():
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
    ]


def spec(rootfs, args, **kw):
    """An OCI spec like `runc spec` makes, running the payload."""
    process = {
        "Args": ["/payload"] + list(args),
        "Env": ["PATH=/bin:/usr/bin", "HOME=/root", "KATA_TEST=1"],
        "Cwd": kw.pop("cwd", "/"),
        "User": kw.pop("user", {"UID": 0, "GID": 0}),
        "Terminal": kw.pop("terminal", False),
        "NoNewPrivileges": kw.pop("nnp", False),
    }
    if "console" in kw:
        rows, cols = kw.pop("console")
        process["ConsoleSize"] = {"Height": rows, "Width": cols}
    for key in ("Capabilities", "Rlimits", "OOMScoreAdj"):
        if key in kw:
            process[key] = kw.pop(key)
    linux = {
        "Namespaces": [{"Type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
        "MaskedPaths": kw.pop("masked", []),
        "ReadonlyPaths": kw.pop("readonly_paths", []),
    }
    for key in ("Seccomp", "Resources", "CgroupsPath", "Sysctl", "Devices"):
        if key in kw:
            linux[key] = kw.pop(key)
    if kw.pop("cgroupns", False):
        linux["Namespaces"].append({"Type": "cgroup"})
    s = {
        "Version": "1.1.0",
        "Process": process,
        "Root": {"Path": str(rootfs), "Readonly": kw.pop("readonly", False)},
        "Hostname": kw.pop("hostname", "ctr"),
        "Mounts": default_mounts() + kw.pop("mounts", []),
        "Linux": linux,
    }
    if "hooks" in kw:
        s["Hooks"] = kw.pop("hooks")
    assert not kw, f"unknown spec keys {kw}"
    return s


class Reader(threading.Thread):
    """Reads one output stream until EOF (empty answer)."""

    def __init__(self, ctl, cid, eid, method="ReadStdout", chunk=MIB):
        super().__init__(daemon=True)
        self.ctl, self.cid, self.eid, self.method, self.chunk = ctl, cid, eid, method, chunk
        self.data = bytearray()
        self.error = None
        self.start()

    def run(self):
        try:
            while True:
                r = self.ctl.call(self.method, {"container_id": self.cid, "exec_id": self.eid,
                                                "len": self.chunk})
                chunk = base64.b64decode(r["data"]) if r.get("data") else b""
                if not chunk:
                    return
                self.data += chunk
        except Exception as e:  # reported by result()
            self.error = e

    def result(self, timeout=120):
        self.join(timeout)
        assert not self.is_alive(), f"{self.method} did not reach EOF"
        if self.error:
            raise self.error
        return bytes(self.data)


class Process:
    def __init__(self, ctl, cid, eid):
        self.ctl, self.cid, self.eid = ctl, cid, eid

    def ids(self, **extra):
        return dict(container_id=self.cid, exec_id=self.eid, **extra)

    def wait(self, timeout=60):
        return self.ctl.call("WaitProcess", self.ids(), timeout=timeout)["status"]

    def signal(self, sig):
        return self.ctl.call("SignalProcess", self.ids(signal=sig))

    def write(self, data):
        r = self.ctl.call("WriteStdin", self.ids(data=base64.b64encode(data).decode()))
        return r.get("len", 0)

    def close_stdin(self):
        self.ctl.call("CloseStdin", self.ids())

    def read(self, n=MIB, method="ReadStdout"):
        r = self.ctl.call(method, self.ids(len=n))
        return base64.b64decode(r["data"]) if r.get("data") else b""

    def reader(self, method="ReadStdout"):
        return Reader(self.ctl, self.cid, self.eid, method)

    def read_until(self, needle, limit=200):
        """Read stdout until needle shows up (for long-running processes)."""
        data = b""
        for _ in range(limit):
            data += self.read(65536)
            if needle in data:
                return data
        raise AssertionError(f"{needle!r} not in {data!r}")

    def resize(self, rows, cols):
        self.ctl.call("TtyWinResize", self.ids(row=rows, column=cols))


class Container:
    def __init__(self, ctl, cid, oci, storages=None, sandbox_pidns=False):
        self.ctl, self.id = ctl, cid
        req = {"container_id": cid, "exec_id": cid, "OCI": oci, "sandbox_pidns": sandbox_pidns}
        if storages:
            req["storages"] = storages
        ctl.call("CreateContainer", req)
        self.init = Process(ctl, cid, cid)

    def start(self):
        self.ctl.call("StartContainer", {"container_id": self.id})
        return self

    def run(self):
        """Start, read both streams to EOF, wait: (status, stdout, stderr)."""
        out, err = self.init.reader(), self.init.reader("ReadStderr")
        self.start()
        status = self.init.wait()
        return status, out.result(), err.result()

    def exec(self, eid, args, terminal=False, user=None, env=None, argv=None):
        """Run the payload with args (or argv as it is) in the container."""
        proc = {"Args": argv or ["/payload"] + list(args), "Env": env or ["PATH=/bin"], "Cwd": "/",
                "Terminal": terminal, "User": user or {"UID": 0, "GID": 0}}
        self.ctl.call("ExecProcess", {"container_id": self.id, "exec_id": eid, "process": proc})
        return Process(self.ctl, self.id, eid)

    def remove(self, timeout=10):
        self.ctl.call("RemoveContainer", {"container_id": self.id, "timeout": timeout})


def lines(data):
    """payload output as {key: [values]}."""
    out = {}
    for line in data.decode(errors="replace").splitlines():
        key, _, value = line.partition(": ")
        out.setdefault(key, []).append(value)
    return out
