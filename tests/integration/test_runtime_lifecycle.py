"""kata-runtime driven as runc's users drive it: run/create/start/state/kill/
delete, exit statuses, stdio through inherited fds and through a console
socket (the pty master received over SCM_RIGHTS), exec, pause/resume, ps,
list, signals, faults, and 20 cycles that must leave nothing behind.

Each test runs against every sandbox daemon available:
  host - tests/tools/host-task-shim: the Task API with the container's
         processes on the host (the CLI's side, always available);
  vm   - the real containerd-shim-kata-v2 (a QEMU VM per sandbox), once it
         serves Task/Create (KATA_TEST_DAEMONS=host,vm to choose)."""
import array
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from runtime_bundle import BUILD, RUNTIME, SHIM, make_bundle, mounts_under, processes_mentioning

HOST_SHIM = os.path.join(BUILD, "tests", "tools", "host-task-shim")


def real_daemon_available():
    if not os.access(SHIM, os.X_OK):
        return False
    r = subprocess.run([SHIM], capture_output=True, text=True)
    return "not implemented" not in r.stderr


def daemons():
    wanted = os.environ.get("KATA_TEST_DAEMONS")
    if wanted:
        return wanted.split(",")
    return ["host"] + (["vm"] if real_daemon_available() else [])


def write_config(path):
    """The build's qemu configuration with the build's guest assets."""
    guest = os.path.join(BUILD, "guest")
    text = open(os.path.join(BUILD, "config", "configuration-qemu.toml")).read()
    lines = []
    for line in text.splitlines():
        if line.startswith("kernel = "):
            line = f'kernel = "{guest}/vmlinux"'
        elif line.startswith("initrd = "):
            line = f'initrd = "{guest}/kata-agent-initrd.img"'
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


class Runtime:
    def __init__(self, tmp_path, daemon):
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.config = write_config(tmp_path / "configuration.toml")
        self.daemon = daemon
        self.env = dict(os.environ)
        # The daemon's own directories, never the host's /run: test runs that
        # share the machine must not meet (daemon sockets are named by the
        # container id).  The socket dir is short: unix socket paths are
        # limited to 107 bytes.
        self.short = tempfile.mkdtemp(prefix="krt.", dir="/tmp")
        self.env["KATA_SHIM_SOCKET_DIR"] = self.short
        if daemon == "host":
            self.env["KATA_SHIM_PATH"] = HOST_SHIM
        else:
            self.env["KATA_SHIM_PATH"] = SHIM
            self.env["KATA_STATE_DIR"] = str(tmp_path / "vc")
            self.env["KATA_SHARED_DIR"] = str(tmp_path / "shared")
        self.timeout = 30 if daemon == "host" else 300

    def argv(self, *args):
        return [RUNTIME, "--root", str(self.root), "--config", str(self.config), *args]

    def __call__(self, *args, input=None, check=False, **kw):
        kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
        r = subprocess.run(self.argv(*args), capture_output=True, text=True, input=input,
                           timeout=self.timeout, env=self.env, **kw)
        if check:
            assert r.returncode == 0, f"{args}: {r.stderr}"
        return r

    def state(self, cid):
        r = self("state", cid, check=True)
        return json.loads(r.stdout)

    def bundle(self, name, args, **kw):
        return make_bundle(str(self.tmp / name), args, **kw)

    def create(self, cid, bundle, *extra):
        """create with stdio to files (a detached container must not hold our pipes)."""
        out = open(self.tmp / f"{cid}.out", "w+")
        err = open(self.tmp / f"{cid}.err", "w+")
        pidfile = self.tmp / f"{cid}.pid"
        r = subprocess.run(self.argv("create", "--bundle", bundle, "--pid-file", str(pidfile),
                                     *extra, cid),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                           timeout=self.timeout)
        err.seek(0)
        assert r.returncode == 0, err.read()
        return int(pidfile.read_text())

    def output(self, cid):
        return (self.tmp / f"{cid}.out").read_text()

    def delete_all_and_check(self):
        """Whatever the test did, nothing of it may remain: no holder, daemon,
        VMM or virtiofsd (each names the test's directories), mount or state."""
        for cid in self("list", "-q").stdout.split():
            self("delete", "--force", cid)
        assert not self.root.exists() or os.listdir(self.root) == []
        deadline = time.time() + 10
        while (processes_mentioning(self.tmp) or processes_mentioning(self.short)) and \
                time.time() < deadline:
            time.sleep(0.05)
        assert processes_mentioning(self.tmp) == [] and processes_mentioning(self.short) == []
        assert mounts_under(str(self.tmp)) == []
        for d in (self.short, self.tmp / "vc"):
            assert not os.path.exists(d) or os.listdir(d) == [], f"{d} not empty"
        shutil.rmtree(self.short, ignore_errors=True)


@pytest.fixture(params=daemons())
def rt(request, tmp_path):
    runtime = Runtime(tmp_path, request.param)
    yield runtime
    runtime.delete_all_and_check()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while pid_alive(pid):
        assert time.time() < deadline, f"pid {pid} still alive"
        time.sleep(0.02)


def wait_status(rt, cid, status, timeout=30):
    deadline = time.time() + timeout
    while rt.state(cid)["status"] != status:
        assert time.time() < deadline, f"{cid} never became {status}"
        time.sleep(0.05)


# ---- run ----

def test_run_prints_output_and_exits_with_status_zero(rt):
    b = rt.bundle("b", ["sh", "-c", "echo hello from the container; echo to stderr >&2"])
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from the container\n"
    assert "to stderr" in r.stderr
    assert "does not exist" in rt("state", "c1").stderr  # run deletes it


@pytest.mark.parametrize("script,status", [("exit 3", 3), ("true", 0),
                                           ("sleep 100 & kill -9 $!; wait $!", 137)])
def test_run_exit_status(rt, script, status):
    b = rt.bundle("b", ["sh", "-c", script])
    assert rt("run", "--bundle", b, "c1").returncode == status


@pytest.mark.parametrize("sig,status", [("KILL", 137), ("9", 137)])
def test_run_of_a_container_killed_from_outside(rt, sig, status):
    """The container's init is PID 1 of its pid namespace: only SIGKILL (and
    SIGSTOP) reach it without a handler, from inside or out."""
    b = rt.bundle("b", ["sh", "-c", "echo up; sleep 1000"])
    out = open(rt.tmp / "run.out", "w")
    p = subprocess.Popen(rt.argv("run", "--bundle", b, "c1"), stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, env=rt.env)
    deadline = time.time() + rt.timeout
    while "up" not in (rt.tmp / "run.out").read_text():
        assert time.time() < deadline and p.poll() is None
        time.sleep(0.05)
    rt("kill", "c1", sig, check=True)
    assert p.wait(rt.timeout) == status


def test_run_with_stdin_piped(rt):
    b = rt.bundle("b", ["sh", "-c", "while read line; do echo \"<$line>\"; done; echo done"])
    r = rt("run", "--bundle", b, "c1", input="one\ntwo\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "<one>\n<two>\ndone\n"


def test_run_large_output_arrives_whole(rt):
    b = rt.bundle("b", ["sh", "-c", "seq 1 50000"])
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode == 0
    assert r.stdout == "".join(f"{i}\n" for i in range(1, 50001))


def test_run_detach_then_delete(rt):
    b = rt.bundle("b", ["sleep", "1000"])
    out = open(rt.tmp / "out", "w")
    err = open(rt.tmp / "err", "w+")
    r = subprocess.run(rt.argv("run", "--detach", "--bundle", b, "--pid-file",
                               str(rt.tmp / "pid"), "c1"), stdin=subprocess.DEVNULL,
                       stdout=out, stderr=err, env=rt.env, timeout=rt.timeout)
    assert r.returncode == 0, (rt.tmp / "err").read_text()
    s = rt.state("c1")
    assert s["status"] == "running" and s["pid"] == int((rt.tmp / "pid").read_text())
    assert rt("delete", "c1").returncode == 1  # running
    assert rt("delete", "--force", "c1").returncode == 0
    wait_gone(s["pid"])


# ---- OCI hooks ----

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")


def with_hooks(bundle, hooks):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["hooks"] = hooks
    with open(path, "w") as f:
        json.dump(spec, f)


def recording_hook(logdir, kind):
    """A host program that appends its kind to order.log and keeps its stdin."""
    script = f'/bin/cat > {logdir}/{kind}.json && echo {kind} >> {logdir}/order.log'
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 30}


def test_oci_hooks_run_on_the_host_in_order_with_the_state(rt):
    if rt.daemon != "vm":
        pytest.skip("the sandbox daemon runs the hooks")
    logdir = rt.tmp / "hooks"
    logdir.mkdir()
    b = rt.bundle("b", ["sh", "-c", "echo in-the-container"])
    with_hooks(b, {k: [recording_hook(logdir, k)] for k in HOOK_KINDS})
    r = rt("run", "--bundle", b, "h1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "in-the-container\n"
    # The host paths never reach the guest (they would fail there).
    assert (logdir / "order.log").read_text().split() == list(HOOK_KINDS)
    for kind, status in [("prestart", "creating"), ("poststart", "running"),
                         ("poststop", "stopped")]:
        state = json.loads((logdir / f"{kind}.json").read_text())
        assert state["id"] == "h1" and state["status"] == status, state
        assert state["bundle"] == b and state["pid"] > 0, state
        assert state["ociVersion"]


def test_a_failing_prestart_hook_fails_the_create_and_leaves_nothing(rt):
    if rt.daemon != "vm":
        pytest.skip("the sandbox daemon runs the hooks")
    b = rt.bundle("b", ["true"])
    with_hooks(b, {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
                   "poststop": [{"path": "/nonexistent/hook"}]})
    r = rt("run", "--bundle", b, "h2")
    assert r.returncode != 0
    assert "prestart hook 0" in r.stderr and "/bin/sh" in r.stderr and "exit status 3" in r.stderr
    assert "does not exist" in rt("state", "h2").stderr


# ---- create / start / state / kill / delete ----

def test_lifecycle_as_runc_users_drive_it(rt):
    b = rt.bundle("b", ["sh", "-c", "echo started; sleep 1000"],
                  annotations={"org.example/key": "value"})
    holder = rt.create("c1", b)
    s = rt.state("c1")
    assert s["status"] == "created" and s["pid"] == holder and pid_alive(holder)
    assert s["id"] == "c1" and s["bundle"] == b and s["rootfs"] == f"{b}/rootfs"
    assert s["annotations"] == {"org.example/key": "value"} and s["ociVersion"]
    assert s["created"].endswith("Z") and s["owner"] == "root"
    assert rt.output("c1") == ""  # not started yet
    listed = json.loads(rt("list", "--format", "json").stdout)
    assert [(c["id"], c["status"]) for c in listed] == [("c1", "created")]

    rt("start", "c1", check=True)
    assert rt.state("c1")["status"] == "running"
    assert "already running" in rt("start", "c1").stderr
    deadline = time.time() + rt.timeout
    while rt.output("c1") != "started\n":
        assert time.time() < deadline
        time.sleep(0.05)
    assert "c1" in rt("list").stdout and "running" in rt("list").stdout

    rt("kill", "c1", "KILL", check=True)
    wait_gone(holder)
    s = rt.state("c1")
    assert s["status"] == "stopped" and s["pid"] == 0
    rt("delete", "c1", check=True)
    assert "does not exist" in rt("state", "c1").stderr


def holder_status_as_conmon(rt, bundle, *verb):
    """create c1 with --pid-file under a subreaper parent (as conmon is: the
    holder becomes its child), run `kata-runtime VERB...`, then wait on the
    holder; the completed wrapper prints the holder's exit code last."""
    code = (
        "import ctypes, json, os, subprocess, sys\n"
        "ctypes.CDLL(None).prctl(36, 1)\n"
        "rt, root, config = sys.argv[1], sys.argv[3], sys.argv[5]\n"
        "subprocess.run(sys.argv[1:-1], check=True, stdin=subprocess.DEVNULL)\n"
        "pid = int(open(sys.argv[-1]).read())\n"
        "subprocess.run([rt, '--root', root, '--config', config] + json.loads(%r), check=True)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n") % json.dumps(list(verb))
    pidfile = rt.tmp / "pid"
    r = subprocess.run(["python3", "-c", code] +
                       rt.argv("create", "--bundle", bundle, "--pid-file", str(pidfile), "c1") +
                       [str(pidfile)], capture_output=True, text=True, env=rt.env,
                       timeout=rt.timeout)
    assert r.returncode == 0, r.stderr
    return r


def test_holder_exit_status_is_the_containers(rt):
    """conmon waits on the --pid-file pid and takes its status: the holder is
    not our child, so its status is read through a wrapper that waits on it."""
    b = rt.bundle("b", ["sh", "-c", "exit 42"])
    r = holder_status_as_conmon(rt, b, "start", "c1")
    assert r.stdout.split()[-1] == "42"
    assert rt.state("c1")["status"] == "stopped"
    rt("delete", "c1", check=True)


def test_kill_signal_names_and_numbers(rt):
    b = rt.bundle("b", ["sh", "-c", "trap 'echo got USR1' USR1; trap 'exit 7' TERM; "
                                    "echo ready; while true; do sleep 0.1; done"])
    holder = rt.create("c1", b)
    rt("start", "c1", check=True)
    deadline = time.time() + rt.timeout
    while "ready" not in rt.output("c1"):
        assert time.time() < deadline
        time.sleep(0.05)
    for n, name in enumerate(["SIGUSR1", "usr1", "10"], start=1):
        rt("kill", "c1", name, check=True)
        # one at a time: the shell folds signals that arrive before its trap ran
        while rt.output("c1").count("got USR1") < n:
            assert time.time() < deadline
            time.sleep(0.05)
    rt("kill", "c1", "15", check=True)
    wait_gone(holder)
    assert rt.state("c1")["status"] == "stopped"
    rt("delete", "c1", check=True)


def test_kill_all_and_default_sigterm(rt):
    b = rt.bundle("b", ["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    holder = rt.create("c1", b)
    rt("start", "c1", check=True)
    rt("kill", "--all", "c1", "KILL", check=True)
    wait_gone(holder)
    rt("delete", "c1", check=True)


def test_delete_of_a_created_container(rt):
    b = rt.bundle("b", ["true"])
    holder = rt.create("c1", b)
    rt("delete", "c1", check=True)
    wait_gone(holder)
    assert "does not exist" in rt("state", "c1").stderr


def test_signals_to_the_holder_reach_the_container(rt):
    b = rt.bundle("b", ["sh", "-c", "trap 'echo term; exit 9' TERM; echo ready; "
                                    "while true; do sleep 0.1; done"])
    holder = rt.create("c1", b)
    rt("start", "c1", check=True)
    deadline = time.time() + rt.timeout
    while "ready" not in rt.output("c1"):
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(holder, signal.SIGTERM)
    wait_gone(holder)
    assert "term" in rt.output("c1")
    rt("delete", "c1", check=True)


# ---- console socket ----

def recv_master(listener, timeout):
    listener.settimeout(timeout)
    conn, _ = listener.accept()
    with conn:
        fds = array.array("i")
        msg, ancdata, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:fds.itemsize])
        assert len(fds) == 1, "no fd received"
        return fds[0], msg.decode()


def read_until(fd, needle, timeout):
    data = b""
    deadline = time.time() + timeout
    while needle.encode() not in data:
        left = deadline - time.time()
        assert left > 0, f"never saw {needle!r}; got {data!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


@pytest.fixture
def console(tmp_path):
    path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    yield path, listener
    listener.close()


def test_console_socket_receives_the_pty_master(rt, console):
    path, listener = console
    b = rt.bundle("b", ["sh", "-c", "test -t 0 && test -t 1 && echo tty:yes; read x; "
                                    "echo got:$x; exit 4"], terminal=True)
    holder = rt.create("c1", b, "--console-socket", str(path))
    master, name = recv_master(listener, rt.timeout)
    try:
        assert name.startswith("/dev/pts/")
        rt("start", "c1", check=True)
        assert "tty:yes" in read_until(master, "tty:yes", rt.timeout)
        os.write(master, b"typed\n")
        out = read_until(master, "got:typed", rt.timeout)
        assert "typed" in out  # the guest's pty echoes
        wait_gone(holder)
        assert rt.state("c1")["status"] == "stopped"
    finally:
        os.close(master)
    rt("delete", "c1", check=True)


def test_console_window_size_reaches_the_container(rt, console):
    import fcntl
    import struct
    import termios
    path, listener = console
    b = rt.bundle("b", ["sh", "-c", "read x; stty size"], terminal=True)
    holder = rt.create("c1", b, "--console-socket", str(path))
    master, _ = recv_master(listener, rt.timeout)
    try:
        rt("start", "c1", check=True)
        # As a terminal emulator does: the new size on the master; the holder
        # (the slave's session leader) gets SIGWINCH and calls ResizePty.
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 37, 121, 0, 0))
        time.sleep(0.5)
        os.write(master, b"go\n")
        assert "37 121" in read_until(master, "37 121", rt.timeout)
        wait_gone(holder)
    finally:
        os.close(master)
    rt("delete", "c1", check=True)


# ---- exec ----

def start_sleeper(rt, cid="c1"):
    b = rt.bundle("b", ["sleep", "1000"])
    holder = rt.create(cid, b)
    rt("start", cid, check=True)
    return holder


def test_exec_runs_in_the_container_with_its_status(rt):
    start_sleeper(rt)
    r = rt("exec", "c1", "sh", "-c", "echo in container; cat /etc/passwd; exit 5")
    assert r.returncode == 5
    assert r.stdout.startswith("in container\nroot:x:0:0")
    r = rt("exec", "--env", "FOO=bar", "--cwd", "/tmp", "c1", "sh", "-c", "echo $FOO $(pwd)")
    assert r.returncode == 0 and r.stdout == "bar /tmp\n"
    r = rt("exec", "c1", "cat", input="piped in\n")
    assert r.stdout == "piped in\n"
    assert rt("ps", "--format", "json", "c1").returncode == 0
    rt("delete", "--force", "c1", check=True)


def test_exec_process_file_detached_with_pid_file(rt):
    start_sleeper(rt)
    process = json.loads(json.dumps(
        {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
         "args": ["sh", "-c", "echo from process file > /tmp/mark; sleep 1000"],
         "env": ["PATH=/bin"]}))
    (rt.tmp / "process.json").write_text(json.dumps(process))
    pidfile = rt.tmp / "exec.pid"
    err = open(rt.tmp / "exec.err", "w+")
    r = subprocess.run(rt.argv("exec", "--process", str(rt.tmp / "process.json"), "--detach",
                               "--pid-file", str(pidfile), "c1"), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=err, env=rt.env, timeout=rt.timeout)
    assert r.returncode == 0, (rt.tmp / "exec.err").read_text()
    exec_holder = int(pidfile.read_text())
    assert pid_alive(exec_holder)
    deadline = time.time() + rt.timeout
    while rt("exec", "c1", "cat", "/tmp/mark").stdout != "from process file\n":
        assert time.time() < deadline
        time.sleep(0.1)
    # Kata's daemons report host pids only (the VMM's): guest pids mean
    # nothing on the host.  A list of pids, not necessarily one per process.
    pids = json.loads(rt("ps", "--format", "json", "c1").stdout)
    assert pids and all(isinstance(p, int) and p > 0 for p in pids)
    rt("delete", "--force", "c1", check=True)
    wait_gone(exec_holder)


def test_exec_with_a_tty_through_the_console_socket(rt, console):
    path, listener = console
    start_sleeper(rt)
    p = subprocess.Popen(rt.argv("exec", "--tty", "--console-socket", str(path), "c1", "sh", "-c",
                                 "test -t 0 && echo exec-tty; read x; echo [$x]"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=rt.env)
    master, _ = recv_master(listener, rt.timeout)
    try:
        read_until(master, "exec-tty", rt.timeout)
        os.write(master, b"abc\n")
        read_until(master, "[abc]", rt.timeout)
        assert p.wait(rt.timeout) == 0
    finally:
        os.close(master)
    rt("delete", "--force", "c1", check=True)


def test_exec_into_a_stopped_container_is_refused(rt):
    b = rt.bundle("b", ["true"])
    holder = rt.create("c1", b)
    rt("start", "c1", check=True)
    wait_gone(holder)
    r = rt("exec", "c1", "true")
    assert r.returncode == 1 and "cannot exec in a stopped container" in r.stderr
    rt("delete", "c1", check=True)


# ---- pause / resume / update / ps ----

def test_pause_and_resume(rt):
    b = rt.bundle("b", ["sh", "-c", "while true; do date +%s%N > /tmp/tick; sleep 0.05; done"])
    rt.create("c1", b)
    rt("start", "c1", check=True)
    rt("pause", "c1", check=True)
    assert rt.state("c1")["status"] == "paused"
    assert "not stopped: paused" in rt("delete", "c1").stderr
    assert "cannot start a paused container" in rt("start", "c1").stderr
    rt("resume", "c1", check=True)
    assert rt.state("c1")["status"] == "running"
    assert "is not paused" in rt("resume", "c1").stderr
    rt("update", "--memory", "256m", "--cpu-quota", "50000", "--pids-limit", "100", "c1",
       check=True)
    r = rt("ps", "c1")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "PID"
    rt("delete", "--force", "c1", check=True)


def test_delete_force_of_a_paused_container(rt):
    b = rt.bundle("b", ["sleep", "1000"])
    holder = rt.create("c1", b)
    rt("start", "c1", check=True)
    rt("pause", "c1", check=True)
    rt("delete", "--force", "c1", check=True)
    wait_gone(holder)


# ---- faults ----

def daemon_pid(rt, cid):
    state = json.loads((rt.root / cid / "state.json").read_text())
    return state["daemon_pid"]


def test_daemon_killed_then_delete_force_cleans_up(rt):
    holder = start_sleeper(rt)
    pid = daemon_pid(rt, "c1")
    assert pid > 0 and pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    wait_gone(holder)  # the holder lost its daemon
    s = rt.state("c1")
    assert s["status"] == "stopped" and s["pid"] == 0
    r = rt("delete", "--force", "c1")
    assert r.returncode == 0, r.stderr
    assert not (rt.root / "c1").exists()


def test_verbs_with_an_empty_environment_reach_the_daemon(rt):
    """podman calls start, kill and delete with an almost empty environment and
    no --config: the state file carries the configuration and the daemon's
    binary and dirs, even for a delete --force after the daemon was killed."""
    holder = start_sleeper(rt)
    bare = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

    def call(*args):
        return subprocess.run([RUNTIME, "--root", str(rt.root), *args], capture_output=True,
                              text=True, env=bare, stdin=subprocess.DEVNULL, timeout=rt.timeout)
    r = call("state", "c1")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "running", r.stderr
    os.kill(daemon_pid(rt, "c1"), signal.SIGKILL)
    wait_gone(holder)
    r = call("delete", "--force", "c1")
    assert r.returncode == 0, r.stderr
    assert not (rt.root / "c1").exists()
    # The fixture checks that no VMM, virtiofsd, mount or daemon dir is left.


def children_of(pid):
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(p))
            except OSError:
                pass
    return kids


def test_vmm_killed_container_reported_stopped(rt):
    if rt.daemon != "vm":
        pytest.skip("a VMM exists only with the VM daemon")
    holder = start_sleeper(rt)
    daemon = daemon_pid(rt, "c1")
    # Only this sandbox's VMM: the daemon's own child, never another test's VM.
    vmms = [p for p in children_of(daemon)
            if open(f"/proc/{p}/comm").read().strip().startswith("qemu")]
    assert len(vmms) == 1, vmms
    os.kill(vmms[0], signal.SIGKILL)
    wait_gone(holder, timeout=rt.timeout)
    s = rt.state("c1")
    assert s["status"] == "stopped" and s["pid"] == 0
    rt("delete", "c1", check=True)
    assert not (rt.root / "c1").exists()


def test_daemon_killed_under_a_foreground_run_exits_non_zero_and_cleans(rt):
    b = rt.bundle("b", ["sh", "-c", "echo up; sleep 1000"])
    out = open(rt.tmp / "run.out", "w")
    p = subprocess.Popen(rt.argv("run", "--bundle", b, "c1"), stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, env=rt.env)
    deadline = time.time() + rt.timeout
    while "up" not in (rt.tmp / "run.out").read_text():
        assert time.time() < deadline and p.poll() is None
        time.sleep(0.05)
    os.kill(daemon_pid(rt, "c1"), signal.SIGKILL)
    assert p.wait(rt.timeout) != 0
    assert not (rt.root / "c1").exists()  # run deleted it, through the shim's cleanup


def test_twenty_cycles_leave_nothing_behind(rt):
    b = rt.bundle("b", ["sh", "-c", "echo cycle"])
    fifos_dir = rt.root
    for i in range(20):
        holder = rt.create(f"c{i}", b)
        rt("start", f"c{i}", check=True)
        wait_gone(holder)
        rt("delete", f"c{i}", check=True)
        assert not (fifos_dir / f"c{i}").exists()
    assert rt("list", "-q").stdout == ""
    assert mounts_under(str(rt.tmp)) == []
    assert rt.output("c19") == "cycle\n"
    # No process keeps a descriptor on anything of the test's (fifos, state).
    holders = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith(str(rt.root)):
                        holders.append((pid, target))
            except OSError:
                pass
    assert holders == []


# ---- the state follows the process in every phase ----

@pytest.mark.parametrize("sig,status", [("KILL", 137), ("TERM", 137)])
def test_kill_of_a_created_container_stops_it(rt, sig, status):
    """A container killed before it was ever started: its process dies in the
    guest, the state says stopped within a bounded wait, the holder exits with
    the status, and a plain delete (as runc's users do after `stopped`) leaves
    nothing."""
    b = rt.bundle("b", ["sh", "-c", "echo never"])
    holder = rt.create("c1", b)
    assert rt.state("c1")["status"] == "created"
    rt("kill", "c1", sig, check=True)
    wait_status(rt, "c1", "stopped", timeout=20)
    assert rt.state("c1")["pid"] == 0
    wait_gone(holder, timeout=20)
    assert "cannot start a container that has stopped" in rt("start", "c1").stderr
    rt("delete", "c1", check=True)
    assert not (rt.root / "c1").exists()
    assert rt.output("c1") == ""


def test_a_start_that_fails_half_way_leaves_a_stopped_container(rt):
    """The process's exec fails (a missing binary): start fails naming it, the
    state follows the dead process to stopped, and delete leaves nothing."""
    if rt.daemon != "vm":
        pytest.skip("the host daemon execs at once: its start cannot fail half way")
    b = rt.bundle("b", ["/no/such/binary"])
    holder = rt.create("c1", b)
    r = rt("start", "c1")
    assert r.returncode != 0 and "/no/such/binary" in r.stderr, r.stderr
    wait_status(rt, "c1", "stopped", timeout=20)
    wait_gone(holder, timeout=20)
    rt("delete", "c1", check=True)
    assert not (rt.root / "c1").exists()


def test_kill_of_a_paused_container_stops_it(rt):
    holder = start_sleeper(rt)
    rt("pause", "c1", check=True)
    assert rt.state("c1")["status"] == "paused"
    rt("kill", "c1", "KILL", check=True)
    wait_status(rt, "c1", "stopped", timeout=20)
    wait_gone(holder, timeout=20)
    rt("delete", "c1", check=True)


def test_holder_of_a_created_container_killed_exits_137(rt):
    """The holder (what conmon waits on) of a container killed before its
    start exits with the process's status, and nothing lingers."""
    b = rt.bundle("b", ["sh", "-c", "echo never"])
    r = holder_status_as_conmon(rt, b, "kill", "c1", "KILL")
    assert r.stdout.split()[-1] == "137"
    assert rt.state("c1")["status"] == "stopped"
    rt("delete", "c1", check=True)
