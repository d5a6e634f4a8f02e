"""containerd with containerd-shim-kata-v2: a private containerd (own config,
root, state and sockets; containerd_env.py) with our shim on its PATH, a
locally built busybox-static image imported from an OCI archive, driven with
`ctr` as users drive it: run --rm with output and exit status, -t with a tty,
task exec, kill, pause/resume, metrics, delete; a pod of two containers in one
VM through the CRI annotations; and cleanup when the shim is killed, the VMM
is killed, or containerd restarts while a container runs."""
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from containerd_env import KATA, Containerd
from shim_env import alive, assets_built, mounts_under, wait_for, wait_gone

POD = "io.kubernetes.cri.container-type"
POD_ID = "io.kubernetes.cri.sandbox-id"


@pytest.fixture(scope="module")
def ctrd():
    if not assets_built():
        pytest.skip("guest assets not built (guest/build-assets.sh)")
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (scripts/install-deps.sh)")
    c = Containerd().start()
    c.image = c.import_image()
    yield c
    c.cleanup()


@pytest.fixture(autouse=True)
def no_leftovers(ctrd):
    """A failed test leaves no task or container for the next one."""
    yield
    for cid in tasks(ctrd):
        ctrd.ctr("task", "rm", "-f", cid, check=False)
    for cid in ctrd.ctr("container", "ls", "-q").stdout.decode().split():
        ctrd.ctr("container", "rm", cid, check=False)


def assert_clean(c):
    """No VMM, shim, mount or sandbox state of ours remains."""
    assert wait_for(lambda: c.vmms() == [], 30), "VMMs left: %r" % c.vmms()
    assert wait_for(lambda: c.shims() == [], 30), "shims left: %r" % c.shims()
    assert [m for m in mounts_under(c.root) if "/shared" in m or "/vc" in m] == []
    for d in ("vc", "shared"):
        path = os.path.join(c.root, d)
        assert not os.path.exists(path) or os.listdir(path) == [], os.listdir(path)


def tasks(c):
    """{id: status} from `ctr task ls`."""
    out = c.ctr("task", "ls").stdout.decode().splitlines()[1:]
    return {line.split()[0]: line.split()[2] for line in out if line.strip()}


def run_detached(c, cid, *args, annotations=(), mounts=()):
    argv = ["run", "-d", "--runtime", KATA]
    for a in annotations:
        argv += ["--annotation", a]
    for m in mounts:
        argv += ["--mount", m]
    c.ctr(*argv, c.image, cid, *args)
    assert wait_for(lambda: tasks(c).get(cid) == "RUNNING", 60), tasks(c)


def remove(c, cid):
    c.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
    wait_for(lambda: tasks(c).get(cid) in ("STOPPED", None), 60)
    c.ctr("task", "rm", cid, check=False)
    c.ctr("container", "rm", cid)


def test_run_rm_prints_output_and_returns_the_exit_status(ctrd):
    r = ctrd.ctr("run", "--rm", "--runtime", KATA, ctrd.image, "r1", "sh", "-c",
                 "echo to-stdout; echo to-stderr >&2; exit 7", check=False)
    assert r.returncode == 7, r.stderr
    assert r.stdout == b"to-stdout\n"
    assert r.stderr == b"to-stderr\n"
    assert_clean(ctrd)
    assert "r1" not in ctrd.ctr("container", "ls", "-q").stdout.decode().split()
    # The daemon's own log reached containerd through the bundle's `log` fifo.
    assert "serving sandbox of `r1`" in open(ctrd.log).read()


def test_run_with_a_tty(ctrd):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 91, 0, 0))
    p = subprocess.Popen(["ctr", "--address", ctrd.socket, "run", "--rm", "-t", "--runtime",
                          KATA, ctrd.image, "t1", "sh", "-c",
                          "test -t 0 && test -t 1 && echo on-a-tty; sleep 2; stty size; exit 4"],
                         env=ctrd.env, stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    out = b""
    end = time.time() + 120
    while time.time() < end and p.poll() is None or select.select([master], [], [], 0)[0]:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    p.wait(timeout=60)
    os.close(master)
    assert p.returncode == 4, out
    assert b"on-a-tty" in out and b"30 91" in out, out
    assert_clean(ctrd)


def test_exec_kill_pause_resume_metrics_delete(ctrd):
    c = ctrd
    run_detached(c, "d1", "sleep", "1000")
    r = c.ctr("task", "exec", "--exec-id", "x1", "d1", "sh", "-c", "echo from-exec; exit 6",
              check=False)
    assert r.returncode == 6 and r.stdout == b"from-exec\n", r
    c.ctr("task", "pause", "d1")
    assert tasks(c)["d1"] == "PAUSED"
    c.ctr("task", "resume", "d1")
    assert tasks(c)["d1"] == "RUNNING"
    metrics = c.ctr("task", "metrics", "d1").stdout.decode()
    assert "pids.current" in metrics and "memory.usage" in metrics, metrics
    r = c.ctr("task", "rm", "d1", check=False)
    assert r.returncode != 0  # running: refused
    c.ctr("task", "kill", "-s", "SIGTERM", "d1")
    assert wait_for(lambda: tasks(c).get("d1") == "STOPPED", 60), tasks(c)
    c.ctr("task", "rm", "d1")
    c.ctr("container", "rm", "d1")
    assert_clean(c)


def test_a_pod_of_two_containers_in_one_vm(ctrd):
    c = ctrd
    vol = os.path.join(c.root, "volume")
    os.makedirs(vol, exist_ok=True)
    mount = "type=bind,src=%s,dst=/vol,options=rbind:rw" % vol
    run_detached(c, "pod1", "sh", "-c", "echo from-sandbox > /vol/a; nc -l -p 8080 -e echo pong",
                 annotations=(POD + "=sandbox", POD_ID + "=pod1"), mounts=(mount,))
    run_detached(c, "pod1-c2", "sleep", "1000",
                 annotations=(POD + "=container", POD_ID + "=pod1"), mounts=(mount,))
    assert len(c.vmms()) == 1, "one VM for the pod"
    the_shim(c)  # one shim for the pod
    r = c.ctr("task", "exec", "--exec-id", "x", "pod1-c2", "cat", "/vol/a", check=False)
    assert r.stdout == b"from-sandbox\n", r
    # The same network: the sandbox container listens, the other connects.
    r = c.ctr("task", "exec", "--exec-id", "y", "pod1-c2", "sh", "-c",
              "echo ping | nc 127.0.0.1 8080", check=False)
    assert b"pong" in r.stdout, r
    remove(c, "pod1-c2")
    assert len(c.vmms()) == 1  # the sandbox remains
    remove(c, "pod1")
    assert_clean(c)


def the_shim(c):
    """The one shim daemon; a `start` invocation may not have exited yet."""
    assert wait_for(lambda: len(c.shims()) == 1, 10), "shims: %r" % c.shims()
    [shim] = c.shims()
    return shim


def test_shim_killed_cleans_up(ctrd):
    c = ctrd
    run_detached(c, "k1", "sleep", "1000")
    shim = the_shim(c)
    vmm = c.vmms()
    assert len(vmm) == 1
    os.kill(shim, signal.SIGKILL)
    # containerd runs `containerd-shim-kata-v2 delete` for the dead shim: the
    # task goes (or shows stopped), and so do the VMM and everything else.
    assert wait_for(lambda: tasks(c).get("k1") in (None, "STOPPED"), 60), tasks(c)
    assert wait_gone(vmm[0])
    c.ctr("task", "rm", "k1", check=False)
    c.ctr("container", "rm", "k1")
    assert_clean(c)


def test_vmm_killed_stops_the_task_and_cleans_up(ctrd):
    c = ctrd
    run_detached(c, "v1", "sleep", "1000")
    [vmm] = c.vmms()
    os.kill(vmm, signal.SIGKILL)
    assert wait_for(lambda: tasks(c).get("v1") == "STOPPED", 60), tasks(c)
    c.ctr("task", "rm", "v1")
    c.ctr("container", "rm", "v1")
    assert_clean(c)


def test_containerd_restart_while_a_container_runs(ctrd):
    c = ctrd
    run_detached(c, "z1", "sleep", "1000")
    shim = the_shim(c)
    c.stop()
    time.sleep(0.5)
    assert alive(shim)
    c.start()
    assert tasks(c).get("z1") == "RUNNING"
    r = c.ctr("task", "exec", "--exec-id", "after", "z1", "echo", "still-here", check=False)
    assert r.stdout == b"still-here\n", r
    remove(c, "z1")
    assert_clean(c)
