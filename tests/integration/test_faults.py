"""Fault injection (issue 13, item 5), with kata-runtime and the real sandbox
daemon (a QEMU VM per sandbox):

  * a table over phases (while create boots the VM, after create, after
    start, during a foreground exec) and host processes (the daemon, the VMM,
    virtiofsd, the holder, the CLI itself), each SIGKILLed, then `delete
    --force`: nothing is left (processes naming the test's dirs, mounts, state
    dirs) and a new container of the same id runs;
  * the clear-error cases: a missing kernel or initrd, a VMM binary that exits
    at once, a guest that powers off at once, an agent that never answers, a
    full file system under the CLI's or the daemon's state dir:
    create fails within a bounded time with an error naming what failed, and
    nothing is left.

The daemon or the VMM SIGKILLed while the container runs are the cases of
test_runtime_lifecycle.py (test_daemon_killed_then_delete_force_cleans_up,
test_vmm_killed_container_reported_stopped): not repeated here."""
import os
import signal
import subprocess
import time

import pytest

from runtime_bundle import mounts_under, processes_mentioning
from test_runtime_lifecycle import (Runtime, children_of, daemon_pid, pid_alive,
                                    real_daemon_available, wait_gone)

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "guest")
# Every fault must end within this (a VM boot under TCG on a loaded machine
# included).
DELETE_BOUND = 60


@pytest.fixture
def rt(tmp_path):
    if not real_daemon_available() or not os.path.exists(os.path.join(ASSETS, "vmlinux")):
        pytest.skip("needs the sandbox daemon and the guest assets")
    runtime = Runtime(tmp_path, "vm")
    yield runtime
    runtime.delete_all_and_check()


def poll(predicate, timeout, what):
    deadline = time.time() + timeout
    while True:
        v = predicate()
        if v:
            return v
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def child_named(parent, prefix):
    for p in children_of(parent):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip().startswith(prefix):
                    return p
        except OSError:
            pass
    return None


def recorded_daemon(rt, cid="c1"):
    try:
        return daemon_pid(rt, cid) or None
    except (OSError, ValueError, KeyError):
        return None


def holder_pid(rt, cid="c1"):
    return int((rt.tmp / f"{cid}.pid").read_text())


def victim_pid(rt, victim, cli=None, exec_cli=None):
    """The pid of the process to SIGKILL, once it exists."""
    if victim == "cli":
        return exec_cli.pid if exec_cli else cli.pid
    if victim == "holder":
        if exec_cli:  # the exec's own holder: the exec CLI's child
            return poll(lambda: child_named(exec_cli.pid, "kata-runtime"), 30, "exec holder")
        return holder_pid(rt)
    daemon = poll(lambda: recorded_daemon(rt), rt.timeout, "the daemon")
    if victim == "daemon":
        return daemon
    prefix = {"vmm": "qemu", "virtiofsd": "virtiofsd"}[victim]
    return poll(lambda: child_named(daemon, prefix), rt.timeout, victim)


def delete_force_bounded(rt, cid="c1"):
    t0 = time.time()
    r = rt("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert time.time() - t0 < DELETE_BOUND, "delete --force took %.1f s" % (time.time() - t0)
    assert not (rt.root / cid).exists()


def describe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            ppid = f.read().rsplit(")", 1)[1].split()[1]
        return f"{pid} (parent {ppid}): {argv[:200]}"
    except OSError:
        return f"{pid} (gone)"


def assert_nothing_left(rt):
    deadline = time.time() + 15
    while (processes_mentioning(rt.tmp) or processes_mentioning(rt.short)) and \
            time.time() < deadline:
        time.sleep(0.05)
    left = processes_mentioning(rt.tmp) + processes_mentioning(rt.short)
    assert left == [], [describe(p) for p in left]
    assert mounts_under(str(rt.tmp)) == []
    for d in (rt.short, rt.tmp / "vc", rt.tmp / "shared"):
        assert not os.path.exists(d) or os.listdir(d) == [], f"{d}: {os.listdir(d)}"


def same_id_runs_again(rt, cid="c1"):
    b = rt.bundle("again", ["sh", "-c", "echo again"])
    holder = rt.create(cid, b)
    rt("start", cid, check=True)
    wait_gone(holder, timeout=rt.timeout)
    rt("delete", cid, check=True)
    assert rt.output(cid) == "again\n"


# (phase, victim).  Phases: "boot" (create is booting the VM), "created",
# "running", "exec" (a foreground exec runs).
FAULTS = [
    ("boot", "cli"), ("boot", "daemon"), ("boot", "vmm"), ("boot", "virtiofsd"),
    ("created", "daemon"), ("created", "vmm"), ("created", "virtiofsd"), ("created", "holder"),
    ("running", "virtiofsd"), ("running", "holder"),
    ("exec", "cli"), ("exec", "holder"), ("exec", "daemon"), ("exec", "vmm"),
    ("exec", "virtiofsd"),
]


@pytest.mark.parametrize("phase,victim", FAULTS, ids=["-".join(f) for f in FAULTS])
def test_sigkill_then_delete_force_leaves_nothing(rt, phase, victim):
    b = rt.bundle("b", ["sh", "-c", "echo up; exec sleep 1000"])
    cli = exec_cli = None
    if phase == "boot":
        out = open(rt.tmp / "c1.out", "w")
        cli = subprocess.Popen(rt.argv("create", "--bundle", b, "--pid-file",
                                       str(rt.tmp / "c1.pid"), "c1"),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               env=rt.env)
        daemon = poll(lambda: recorded_daemon(rt), rt.timeout, "the daemon")
        # The VM is booting: its VMM is there, create has not answered.
        poll(lambda: child_named(daemon, "qemu"), rt.timeout, "the VMM")
    else:
        rt.create("c1", b)
        if phase != "created":
            rt("start", "c1", check=True)
            poll(lambda: "up" in rt.output("c1"), rt.timeout, "the container's output")
        if phase == "exec":
            xout = open(rt.tmp / "x.out", "w")
            exec_cli = subprocess.Popen(
                rt.argv("exec", "c1", "sh", "-c", "echo exec-up; exec sleep 1000"),
                stdin=subprocess.DEVNULL, stdout=xout, stderr=subprocess.STDOUT, env=rt.env)
            poll(lambda: "exec-up" in (rt.tmp / "x.out").read_text(), rt.timeout, "the exec")
    pid = victim_pid(rt, victim, cli, exec_cli)
    assert pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    delete_force_bounded(rt)
    for p in (cli, exec_cli):
        if p:
            p.wait(DELETE_BOUND)
    assert_nothing_left(rt)
    same_id_runs_again(rt)


# ---- clear errors ----

def edit_config(rt, **keys):
    """Set top-level keys of the configuration's sections (first match)."""
    lines = rt.config.read_text().splitlines()
    for key, value in keys.items():
        for i, line in enumerate(lines):
            if line.startswith(key + " = "):
                lines[i] = f"{key} = {value}"
                break
        else:
            raise AssertionError(f"no key {key} in the configuration")
    rt.config.write_text("\n".join(lines) + "\n")


def script(rt, name, text):
    path = rt.tmp / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


CLEAR_ERRORS = {
    "missing-kernel": (lambda rt: {"kernel": f'"{rt.tmp}/nowhere/vmlinux"'},
                       ["nowhere/vmlinux"]),
    "missing-initrd": (lambda rt: {"initrd": f'"{rt.tmp}/nowhere/initrd.img"'},
                       ["nowhere/initrd.img"]),
    "vmm-exits-at-once": (lambda rt: {"path": '"%s"' % script(rt, "fake-qemu", "exit 1\n")},
                          ["fake-qemu", "status 1"]),
    "guest-powers-off": (lambda rt: {"initrd": f'"{ASSETS}/marker-initrd.img"'},
                         ["exited (status 0) before the agent answered",
                          "KATA_MARKER_INIT_READY"]),
    # The agent serves on a socket inside the guest: the host's dial never
    # meets it.
    "agent-never-answers": (lambda rt: {"kernel_params": '"agent.channel=unix:/run/nowhere.sock"',
                                        "dial_timeout": "5"},
                            ["the agent did not answer within 5 s", "dial_timeout"]),
}


@pytest.mark.parametrize("case", list(CLEAR_ERRORS))
def test_clear_error_within_a_bound_and_nothing_left(rt, case):
    keys, words = CLEAR_ERRORS[case]
    edit_config(rt, **keys(rt))
    b = rt.bundle("b", ["true"])
    t0 = time.time()
    r = subprocess.run(rt.argv("create", "--bundle", b, "c1"), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=rt.env, timeout=DELETE_BOUND * 2)
    took = time.time() - t0
    assert r.returncode != 0
    for w in words:
        assert w in r.stderr, r.stderr
    # The agent's wait is bounded by dial_timeout.
    bound = DELETE_BOUND + (60 if case == "agent-never-answers" else 0)
    assert took < bound, "create failed only after %.1f s: %s" % (took, r.stderr)
    assert not (rt.root / "c1").exists()
    assert rt("list", "-q").stdout == ""
    assert_nothing_left(rt)


@pytest.mark.parametrize("where", ["root", "vc"])
def test_a_full_disk_under_the_state_dir_is_a_clear_error(rt, where):
    """--root (the CLI's state) or the daemon's state dir on a full file
    system: create fails naming the file it could not write, within a bound,
    and nothing is left once space is back."""
    d = rt.tmp / where
    d.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], check=True)
    try:
        with open(d / "filler", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        b = rt.bundle("b", ["true"])
        t0 = time.time()
        r = subprocess.run(rt.argv("create", "--bundle", b, "c1"), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, env=rt.env,
                           timeout=DELETE_BOUND * 2)
        assert r.returncode != 0
        assert "No space left on device" in r.stderr and str(d) in r.stderr, r.stderr
        assert time.time() - t0 < DELETE_BOUND
        os.unlink(d / "filler")
        rt("delete", "--force", "c1")
        assert os.listdir(d) == []
    finally:
        subprocess.run(["umount", "-l", str(d)])
    assert_nothing_left(rt)
