"""podman with kata-runtime, the way users run it: a private podman (own
containers.conf with `runtime = "kata"`, own storage) and an image imported
from a busybox-static rootfs (podman_env.py).  Each container is a VM: run
--rm with output and exit status, detached containers with ps/logs/exec/stop/
rm, kill -s, pause/unpause, inspect, env/workdir/user, -it through a pty
(the container's /dev/pts/0, window size), and nothing left after rm -f.
The network is `none` here; bridge networks are in test_podman_network.py."""
import fcntl
import json
import os
import pty
import re
import select
import struct
import termios
import time

import pytest

from podman_env import PODMAN, Podman, podman_available
from shim_env import alive, assets_built, mounts_under, wait_for

pytestmark = pytest.mark.skipif(not (assets_built() and podman_available()),
                                reason="guest assets not built or podman not installed")

NET = ("--network", "none")


@pytest.fixture(scope="module")
def podman():
    p = Podman()
    try:
        p.image = p.import_image()
        yield p
    finally:
        p.cleanup()


def state_of(podman, name):
    out = podman.out("inspect", "--format", "{{json .State}}", name)
    return json.loads(out)


def wait_logs(podman, name, text, seconds=60):
    """podman logs once text is in them (conmon writes them as they come)."""
    def got():
        r = podman.run("logs", name)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        return out if text in out else None
    out = podman.wait_for(got, seconds)
    assert out, "%r not in the logs of %s: %r" % (text, name, podman.run("logs", name).stdout)
    return out


class Terminal:
    """podman run/exec -it on a pty of ours, read with a deadline."""

    def __init__(self, podman, args, rows=24, cols=80):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(PODMAN, [PODMAN, *args], podman.env)
            finally:
                os._exit(127)
        self.data = b""

    def _read(self, quiet):
        """Take what podman writes until it is quiet for `quiet` seconds.
        False once the pty is closed (podman is gone)."""
        while select.select([self.fd], [], [], quiet)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: no writer left
                return False
            if not chunk:
                return False
            self.data += chunk
        return True

    def read_until(self, needle, seconds=120, since=0):
        """Read until needle shows up in the output from offset since on."""
        end = time.time() + seconds
        while needle not in self.data[since:] and time.time() < end:
            if not self._read(0.2):
                break
        assert needle in self.data[since:], "%r not in %r" % (needle, self.data[since:])
        return self.data[since:]

    def send(self, text):
        """Type text once the shell is done drawing its prompt (busybox asks
        the terminal for the cursor position after it, ESC[6n, and input
        typed into that exchange may be taken for the answer)."""
        self._read(0.3)
        os.write(self.fd, text)

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait(self, seconds=120):
        end = time.time() + seconds
        while time.time() < end:
            self._read(0)  # podman must not block on its output
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                self._read(0)
                os.close(self.fd)
                self.fd = -1
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        self.close()
        raise AssertionError("podman did not exit: %r" % self.data)

    def close(self):
        """Kill podman if it still runs (a failed test)."""
        if self.pid:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_info_names_kata(podman):
    out = podman.out("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
    assert out.split() == ["kata", os.path.realpath(podman.kata_runtime)]


def test_run_rm_output_and_status(podman):
    r = podman.run("run", "--rm", *NET, podman.image, "echo", "hello from a VM")
    assert r.stdout == b"hello from a VM\n"
    r = podman.run("run", "--rm", *NET, podman.image, "sh", "-c", "echo out; echo err >&2; exit 3",
                   check=False)
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"out\n"
    assert b"err\n" in r.stderr


def test_exit_code_propagation(podman):
    for script, code in (("exit 0", 0), ("exit 3", 3), ("false", 1), ("exit 255", 255)):
        r = podman.run("run", "--rm", *NET, podman.image, "sh", "-c", script, check=False)
        assert r.returncode == code, (script, r.stderr)


def test_run_stdin(podman):
    r = podman.run("run", "--rm", "-i", *NET, podman.image, "sh", "-c", "tr a-z A-Z; exit 2",
                   input=b"piped through the VM\n", check=False)
    assert r.returncode == 2, r.stderr
    assert r.stdout == b"PIPED THROUGH THE VM\n"


def test_run_tty_without_stdin(podman):
    """-t alone: conmon gets the terminal, the output comes through it (CRLF)."""
    r = podman.run("run", "--rm", "-t", *NET, podman.image, "sh", "-c", "tty; exit 9",
                   check=False)
    assert r.returncode == 9, r.stderr
    assert r.stdout == b"/dev/pts/0\r\n"


def test_env_workdir_user_hostname(podman):
    r = podman.run("run", "--rm", *NET, "-e", "GREETING=hi there", "-w", "/tmp", "-u", "1000:1001",
                   "--hostname", "vmhost", podman.image, "sh", "-c",
                   'echo "$GREETING"; pwd; id -u; id -g; hostname')
    assert r.stdout.decode().split("\n")[:5] == ["hi there", "/tmp", "1000", "1001", "vmhost"]


def test_detached_ps_logs_exec_stop_rm(podman):
    name = "detached"
    cid = podman.out("run", "-d", "--name", name, *NET, podman.image, "sh", "-c",
                     "echo started; while true; do sleep 1; done").strip()
    try:
        ps = podman.out("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", "--no-trunc")
        assert "%s %s Up" % (cid, name) in ps
        wait_logs(podman, name, "started")
        r = podman.run("exec", name, "sh", "-c", "echo exec says hi; exit 4", check=False)
        assert r.returncode == 4 and r.stdout == b"exec says hi\n"
        r = podman.run("exec", "-e", "X=1", "-w", "/etc", name, "sh", "-c", 'echo "$X $PWD"')
        assert r.stdout == b"1 /etc\n"
        # sh as pid 1 has no SIGTERM handler: the stop ends it with SIGKILL.
        podman.run("stop", "-t", "5", name)
        st = state_of(podman, name)
        assert st["Status"] == "exited" and st["ExitCode"] == 137
        assert cid not in podman.out("ps", "--no-trunc", "--format", "{{.ID}}")
        podman.run("rm", name)
        assert cid not in podman.out("ps", "-a", "--no-trunc", "--format", "{{.ID}}")
        assert not os.path.exists(podman.kata_state_dir(cid))
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


@pytest.mark.parametrize("how", ["stop", "kill -s USR1"])
def test_signal_reaches_a_trap(podman, how):
    """stop sends SIGTERM, kill -s the signal named: a shell's trap runs and
    its exit status is the container's."""
    sig = "TERM" if how == "stop" else "USR1"
    name = "trap-" + sig.lower()
    podman.run("run", "-d", "--name", name, *NET, podman.image, "sh", "-c",
               "trap 'echo got %s; exit 7' %s; echo ready; while true; do sleep 1; done"
               % (sig, sig))
    try:
        wait_logs(podman, name, "ready")
        if how == "stop":
            podman.run("stop", "-t", "30", name)
        else:
            podman.run("kill", "-s", sig, name)
        assert podman.out("wait", name).strip() == "7"
        wait_logs(podman, name, "got " + sig)
        st = state_of(podman, name)
        assert st["Status"] == "exited" and st["ExitCode"] == 7
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


def test_pause_unpause_inspect(podman):
    name = "pausable"
    cid = podman.out("run", "-d", "--name", name, *NET, podman.image, "sleep", "600").strip()
    try:
        st = state_of(podman, name)
        assert st["Status"] == "running" and st["Running"] and not st["Paused"]
        assert st["Pid"] > 0 and alive(st["Pid"])  # the runtime's holder: conmon's child
        podman.run("pause", name)
        st = state_of(podman, name)
        assert st["Status"] == "paused" and st["Paused"]
        # podman refuses exec into a paused container itself; the VM's cgroup is frozen.
        assert podman.run("exec", name, "true", check=False).returncode != 0
        podman.run("unpause", name)
        assert state_of(podman, name)["Status"] == "running"
        assert podman.out("exec", name, "echo", "thawed") == "thawed\n"
        podman.run("kill", name)
        podman.run("wait", name)
        st = state_of(podman, name)
        assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)
    assert not os.path.exists(podman.kata_state_dir(cid))


def test_run_interactive_tty(podman):
    name = "interactive"
    t = Terminal(podman, ["run", "-it", "--rm", "--name", name, *NET, podman.image, "sh"],
                 rows=33, cols=111)
    try:
        t.read_until(b"# ")
        t.send(b"tty; stty size; echo marker-$((40+2))\r")
        out = t.read_until(b"marker-42")
        # The container's own devpts instance: the pty is /dev/pts/0 in there.
        assert b"/dev/pts/0\r\n" in out
        assert b"33 111\r\n" in out
        t.resize(40, 120)  # podman -> conmon -> the holder -> the guest's pty
        deadline = time.time() + 60
        n = 0
        while b"40 120\r\n" not in t.data and time.time() < deadline:
            n += 1
            since = len(t.data)
            t.send(b"stty size; echo size-%d\r" % n)
            t.read_until(b"\r\nsize-%d\r\n" % n, 30, since)
            time.sleep(0.2)
        assert b"40 120\r\n" in t.data
        t.send(b"exit 5\r")
        assert t.wait() == 5
    finally:
        t.close()
        podman.run("rm", "-f", "-t", "0", name, check=False)


def test_exec_interactive_tty(podman):
    name = "exectty"
    podman.run("run", "-d", "--name", name, *NET, podman.image, "sleep", "600")
    try:
        t = Terminal(podman, ["exec", "-it", name, "sh"])
        t.read_until(b"# ")
        t.send(b"tty; exit 6\r")
        assert t.wait() == 6
        out = t.data.split(b"tty; exit 6\r\n", 1)[1]
        assert out.startswith(b"/dev/pts/"), t.data
        # Another user gets the slave as its own, the group stays devpts' (tty, 5).
        t = Terminal(podman, ["exec", "-it", "-u", "1000:1000", name, "sh"])
        t.read_until(b"$ ")
        t.send(b"stat -c 'owner %u:%g' $(tty); echo hi > $(tty); exit 7\r")
        assert t.wait() == 7
        out = t.data.split(b"exit 7\r\n", 1)[1]
        assert out.startswith(b"owner 1000:5\r\nhi\r\n"), t.data
    finally:
        t.close()
        podman.run("rm", "-f", "-t", "0", name, check=False)


def test_rm_force_leaves_nothing(podman):
    mounts_before = set(mounts_under(podman.root))
    names = ("gone1", "gone2")
    cids = []
    for name in names:
        cids.append(podman.out("run", "-d", "--name", name, *NET, podman.image, "sleep",
                               "600").strip())
    vmms = [p for cid in cids for p in podman.vmms(cid)]
    assert len(vmms) >= 2  # a VMM (and virtiofsd) per container
    podman.run("exec", names[1], "true")
    podman.run("pause", names[1])
    podman.run("rm", "-f", "-t", "0", *names)
    assert [p for p in vmms if alive(p)] == [], [open("/proc/%d/cmdline" % p).read()[:200] for p in vmms if alive(p)]
    assert [p for cid in cids for p in podman.vmms(cid)] == []
    # Ours: the shared dirs' binds.  podman's own (its storage driver's
    # mount, a container's overlay rootfs) come and go with `podman container
    # cleanup`, which may still be running.
    ours = lambda: [m for m in set(mounts_under(podman.root)) - mounts_before
                    if "/shared" in m or "/vc/" in m or any(c in m for c in cids)]
    assert wait_for(lambda: ours() == [], 30), ours()
    for cid in cids:
        for d in ("vc", "shared"):
            assert not os.path.exists(os.path.join(podman.root, d, cid))
        assert not os.path.exists(podman.kata_state_dir(cid))
    assert set(podman.out("ps", "-a", "-q", "--no-trunc").split()).isdisjoint(cids)


def test_daemon_killed_rm_force_cleans(podman):
    """The sandbox daemon SIGKILLed: podman sees the container exit (255) and
    rm -f, whose `kata-runtime delete --force` runs with podman's almost empty
    environment, still finds the daemon's private dirs (recorded in the
    runtime's state file) and cleans the VMM, virtiofsd and mounts."""
    name = "orphan"
    cid = podman.out("run", "-d", "--name", name, *NET, podman.image, "sleep", "600").strip()
    try:
        with open(os.path.join(podman.kata_state_dir(cid), "state.json")) as f:
            state = json.load(f)
        assert "KATA_STATE_DIR=%s/vc" % podman.root in state["daemon_env"]
        vmms = podman.vmms(cid)
        assert vmms
        os.kill(state["daemon_pid"], 9)
        assert podman.wait_for(lambda: state_of(podman, name)["Status"] == "exited")
        assert state_of(podman, name)["ExitCode"] == 255
        podman.run("rm", "-f", "-t", "0", name)
        assert [p for p in vmms if alive(p)] == []
        assert mounts_under(os.path.join(podman.root, "shared", cid)) == []
        for d in ("vc", "shared"):
            assert not os.path.exists(os.path.join(podman.root, d, cid))
        assert not os.path.exists(podman.kata_state_dir(cid))
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


def test_annotations_from_the_command_line(podman):
    """--annotation reaches the sandbox: one the configuration forbids fails
    naming the key and the file, leaving nothing; an allowed kernel parameter
    the agent does not know reaches its argv as PID 1 and is ignored."""
    before = {d: sorted(os.listdir(os.path.join(podman.root, d)))
              for d in ("vc", "shared") if os.path.isdir(os.path.join(podman.root, d))}
    r = podman.run("run", "--rm", "--name", "badannotation", *NET, "--annotation",
                   "io.katacontainers.config.hypervisor.default_memory=512", podman.image, "true",
                   check=False)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "annotation io.katacontainers.config.hypervisor.default_memory: not allowed" in err
    assert podman.kata_config in err and "enable_annotations" in err
    cid = re.search(r'create container "([0-9a-f]{64})"', err).group(1)
    assert not os.path.exists(podman.kata_state_dir(cid))
    assert podman.vmms(cid) == []
    after = {d: sorted(os.listdir(os.path.join(podman.root, d)))
             for d in ("vc", "shared") if os.path.isdir(os.path.join(podman.root, d))}
    assert after == before
    assert podman.out("ps", "-a", "-q", "--filter", "name=badannotation") == ""

    r = podman.run("run", "--rm", *NET, "--annotation",
                   "io.katacontainers.config.hypervisor.kernel_params=foo bar=1", podman.image,
                   "echo", "booted")
    assert r.stdout == b"booted\n"
