"""Helpers for the sandbox daemon's tests (test_shim_*.py): a private
configuration and private state/shared/socket dirs, the shim's binary protocol,
Task calls through tests/tools/task-ctl, a recording publish binary, stdio
fifos, and leak checks.  Not a test module itself."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KATA_BUILD", os.path.join(TOP, "build"))
SHIM = os.path.join(BUILD, "src", "shim", "containerd-shim-kata-v2")
TASK_CTL = os.path.join(BUILD, "tests", "tools", "task-ctl")
ASSETS = os.path.join(BUILD, "guest")
EXEC_SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"


def assets_built():
    return os.path.exists(os.path.join(ASSETS, "vmlinux"))


def write_config(path, memory_mb=256):
    """The build's qemu configuration with the build's guest assets."""
    with open(os.path.join(BUILD, "config", "configuration-qemu.toml")) as f:
        text = f.read()
    lines = []
    for line in text.splitlines():
        if line.startswith("kernel = "):
            line = 'kernel = "%s/vmlinux"' % ASSETS
        elif line.startswith("initrd = "):
            line = 'initrd = "%s/kata-agent-initrd.img"' % ASSETS
        elif line.startswith("default_memory = "):
            line = "default_memory = %d" % memory_mb
        lines.append(line)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def procs_mentioning(text):
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, seconds=30):
    for _ in range(seconds * 10):
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def wait_for(predicate, seconds=30):
    for _ in range(seconds * 20):
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    return predicate()


def kill_and_unmount(root, extra_pids=()):
    """A test's leftovers after a failure: SIGKILL the processes that name its
    directory (and extra_pids), then lazily unmount what is under it."""
    for pid in procs_mentioning(root) + list(extra_pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in procs_mentioning(root):
        wait_gone(pid, 5)
    for m in reversed(mounts_under(root)):
        subprocess.run(["umount", "-l", m])


PUBLISH = """#!/bin/sh
# Records `publish --topic T` calls as containerd's publish binary gets them.
topic=""
while [ $# -gt 0 ]; do [ "$1" = "--topic" ] && topic=$2; shift; done
n=$(cat | wc -c)
echo "$topic $n" >> "%s"
"""


class ShimEnv:
    """One test's private world: config, dirs, publish recorder."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="shimtest.", dir="/tmp")
        self.config = write_config(os.path.join(self.root, "configuration.toml"))
        self.events_log = os.path.join(self.root, "events.log")
        self.publish = os.path.join(self.root, "publish")
        with open(self.publish, "w") as f:
            f.write(PUBLISH % self.events_log)
        os.chmod(self.publish, 0o755)
        self.env = dict(os.environ)
        self.env.update(KATA_CONF_FILE=self.config, KATA_STATE_DIR=self.root + "/state",
                        KATA_SHARED_DIR=self.root + "/shared",
                        KATA_SHIM_SOCKET_DIR=self.root + "/sock")

    def cleanup(self):
        kill_and_unmount(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    # The shim binary protocol.
    def shim(self, verb, cid, bundle, publish=True):
        argv = [SHIM, "-namespace", "test", "-id", cid, "-bundle", bundle]
        if publish:
            argv += ["-address", self.root + "/containerd.sock", "-publish-binary", self.publish]
        return subprocess.run(argv + [verb], cwd=bundle, env=self.env, capture_output=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    def start(self, cid, bundle, publish=True):
        r = self.shim("start", cid, bundle, publish)
        assert r.returncode == 0, r.stderr
        address = r.stdout.decode()
        assert address.startswith("unix://" + self.root + "/sock/") and address.endswith(".sock\n")
        return address.strip()

    def events(self):
        try:
            with open(self.events_log) as f:
                return [line.split()[0] for line in f]
        except OSError:
            return []

    def fifo(self, name):
        path = os.path.join(self.root, name)
        os.mkfifo(path)
        return path

    def assert_clean(self):
        root = self.root
        assert [p for p in procs_mentioning(root + "/state") if alive(p)] == [], \
            "VMM or virtiofsd left"
        assert mounts_under(root) == [], "mounts left: %r" % mounts_under(root)
        for d in ("state", "shared"):
            path = os.path.join(root, d)
            assert not os.path.exists(path) or os.listdir(path) == [], \
                "%s left: %r" % (d, os.listdir(path))


def task(address, method, req, timeout=300):
    r = subprocess.run([TASK_CTL, address, method, json.dumps(req), str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 30)
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else r.stderr.strip())


def task_ok(address, method, req, timeout=300):
    code, resp = task(address, method, req, timeout)
    assert code == 0, "%s: %s" % (method, resp)
    return resp


def exec_spec(args, terminal=False, env=("PATH=/bin",)):
    """ExecProcessRequest.spec: an Any holding the OCI process as JSON."""
    proc = {"terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": list(env), "cwd": "/"}
    return {"type_url": EXEC_SPEC_URL, "value": {"@text": json.dumps(proc)}}


def daemon_pid(address):
    return task_ok(address, "Connect", {"id": "x"})["shim_pid"]


class FifoReader:
    """The read side containerd keeps on a stdout/stderr fifo."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = b""

    def read_until(self, predicate, seconds=60):
        end = time.time() + seconds
        while time.time() < end:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                self.data += chunk
            if predicate(self.data):
                return self.data
            if chunk == b"":
                time.sleep(0.05)  # no writer yet, or the writer closed
            elif chunk is None:
                time.sleep(0.05)
        return self.data

    def close(self):
        os.close(self.fd)
