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
    nothing is left;
  * the guest's agent crashing (it is the guest's init: the guest kernel
    panics and the VMM exits) during start, while running and during an
    exec; and SIGKILL of the CLI, the daemon, the VMM or virtiofsd while
    `delete --force` runs: then `delete --force`, nothing left and the
    host unchanged (taps and qdiscs in the container's netns, netns files
    and nsfs mounts, cgroups, mounts and processes naming the container's
    own id, compared before and after), and a new container of the same id
    runs in the same netns.

The daemon or the VMM SIGKILLed while the container runs are the cases of
test_runtime_lifecycle.py (test_daemon_killed_then_delete_force_cleans_up,
test_vmm_killed_container_reported_stopped): not repeated here."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from netns_env import Netns, subnet
from netns_env import assert_clean as netns_assert_clean
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


# ---- the host before and after: taps, netns, cgroups, mounts, processes ----
#
# The tests below give their container an id of their own (CID_PREFIX + a
# random tag) and a CNI-like named netns with a veth, so that what the
# runtime could leave on the host is attributable to them even while other
# test runs share the machine: taps are made beside the veth in that netns,
# a netns it made would be a /run/netns file or an nsfs mount, a cgroup
# would carry the id.

CID_PREFIX = "kflt"


def unique_cid():
    return f"{CID_PREFIX}{os.getpid() % 10000}{random.randrange(1000, 10000)}"


def cgroup_dirs():
    found = set()
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            found.add(os.path.join(top, d))
    return found


def nsfs_mounts():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if " - nsfs " in line}


class HostSnapshot:
    """What the runtime could leave on the host, in names that can be ours."""

    def __init__(self, cid, netns):
        self.cid, self.netns = cid, netns
        self.links = netns.links_names()
        self.qdiscs = netns.qdiscs()
        self.host_links = set(os.listdir("/sys/class/net"))
        self.netns_files = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        self.cgroups = cgroup_dirs()
        self.nsfs = nsfs_mounts()

    def assert_unchanged(self):
        ns = self.netns
        assert ns.links_names() == self.links, (self.links, ns.links())
        assert ns.qdiscs() == self.qdiscs
        netns_assert_clean(ns)
        new_links = set(os.listdir("/sys/class/net")) - self.host_links
        assert not [n for n in new_links if "kata" in n or self.cid in n], new_links
        files = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        assert not [n for n in files - self.netns_files if self.cid in n or "kata" in n], files
        assert ns.name in files
        cg = [d for d in cgroup_dirs() - self.cgroups if self.cid in d]
        assert cg == [], cg
        assert not [m for m in nsfs_mounts() - self.nsfs if self.cid in m or "kata" in m]
        with open("/proc/self/mountinfo") as f:
            assert not [line for line in f if self.cid in line]
        left = processes_mentioning(self.cid)
        assert left == [], [describe(p) for p in left]


class LinkNetns(Netns):
    def links_names(self):
        return {line.split(":")[1].strip().split("@")[0]
                for line in self.links().splitlines()}


@pytest.fixture
def host(tmp_path, rt):
    """A CNI-like netns (a veth, an address, a route), a unique container id
    and the host's snapshot; the snapshot is compared at the end."""
    ns = LinkNetns()
    try:
        ns.add_veth("eth0", subnet())
        cid = unique_cid()
        snap = HostSnapshot(cid, ns)
        yield snap
        rt.delete_all_and_check()
        snap.assert_unchanged()
    finally:
        ns.delete()


def net_bundle(rt, name, args, netns, guest_root=False):
    """A bundle in netns; guest_root: the container shares the guest's pid
    namespace (the agent is its pid 1) with CAP_SYS_PTRACE and no seccomp,
    a privileged workload able to crash the agent."""
    b = rt.bundle(name, args)
    path = os.path.join(b, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spaces = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    spaces.append({"type": "network", "path": netns.path})
    if guest_root:
        spaces = [n for n in spaces if n["type"] != "pid"]
        for caps in spec["process"]["capabilities"].values():
            caps.append("CAP_SYS_PTRACE")
        spec["linux"].pop("seccomp", None)
    spec["linux"]["namespaces"] = spaces
    with open(path, "w") as f:
        json.dump(spec, f)
    return b


def same_id_runs_again_in(rt, host):
    """A new container of the same id in the same netns runs and is deleted."""
    cid = host.cid
    b = net_bundle(rt, "again", ["sh", "-c", "echo again"], host.netns)
    holder = rt.create(cid, b)
    rt("start", cid, check=True)
    wait_gone(holder, timeout=rt.timeout)
    rt("delete", cid, check=True)
    assert rt.output(cid) == "again\n"


# ---- the guest's agent dies ----
#
# The agent is the guest's init: nothing in the guest can SIGKILL it (the
# kernel drops signals to init that it has no handler for), and when it dies
# the guest kernel panics ("Attempted to kill init!") and the VMM exits
# (-no-reboot).  What really kills it is a crash: a privileged workload in
# the guest's pid namespace writes `ud2` where the agent's thread will
# resume (/proc/1/syscall's pc, through /proc/1/mem); the agent dies of
# SIGILL as soon as it wakes up.  Nothing of the user runs in the guest
# before `start` (and exec into a created container is refused): the phases
# are during `start` (the container's own process does it), while running
# (an exec does it) and while a foreground exec runs (a second exec does it).

# The site patched is the agent's epoll_pwait (281) or epoll_wait (232), where
# its loop comes back (a site of another call might not be met again); dd's
# report on stderr is output the agent relays: it wakes it up.
CRASH_AGENT = ("while :; do set -- $(cat /proc/1/syscall); "
               "case $1 in 232|281) break;; esac; done; "
               "printf '\\017\\013' | dd of=/proc/1/mem bs=1 seek=$(($9)) conv=notrunc")


def crash_agent_by_exec(rt, cid):
    # The exec's own connection dies with the agent: its status is the
    # runtime's "lost" one, not the shell's.
    r = rt("exec", cid, "sh", "-c", CRASH_AGENT + "; sleep 1000")
    assert r.returncode != 0


@pytest.mark.parametrize("phase", ["start", "running", "exec"])
def test_agent_crash_then_delete_force_leaves_nothing(rt, host, phase):
    cid = host.cid
    if phase == "start":
        args = ["sh", "-c", CRASH_AGENT + "; exec sleep 1000"]
    else:
        args = ["sh", "-c", "echo up; exec sleep 1000"]
    b = net_bundle(rt, "b", args, host.netns, guest_root=True)
    rt.create(cid, b)
    daemon = recorded_daemon(rt, cid)
    vmm = poll(lambda: child_named(daemon, "qemu"), rt.timeout, "the VMM")
    rt("start", cid)  # with phase "start" the agent may die before it answers
    xcli = None
    if phase == "exec":
        xout = open(rt.tmp / "x.out", "w")
        xcli = subprocess.Popen(
            rt.argv("exec", cid, "sh", "-c", "echo exec-up; exec sleep 1000"),
            stdin=subprocess.DEVNULL, stdout=xout, stderr=subprocess.STDOUT, env=rt.env)
        poll(lambda: "exec-up" in (rt.tmp / "x.out").read_text(), rt.timeout, "the exec")
    if phase != "start":
        poll(lambda: "up" in rt.output(cid), rt.timeout, "the container's output")
        assert "_kata" in host.netns.links()  # the tap the check below looks for
        crash_agent_by_exec(rt, cid)
    # The guest panics; its VMM exits; the container is stopped.
    wait_gone(vmm, timeout=rt.timeout)
    console = (rt.tmp / "vc" / cid / "vm" / "console.log").read_text(errors="replace")
    assert "Attempted to kill init" in console, console[-2000:]
    poll(lambda: rt.state(cid)["status"] == "stopped", rt.timeout, "stopped")
    if xcli:
        assert xcli.wait(DELETE_BOUND) != 0
    delete_force_bounded(rt, cid)
    assert_nothing_left(rt)
    same_id_runs_again_in(rt, host)


# ---- faults while delete runs ----
#
# The daemon is frozen (SIGSTOP) under a running container, `delete --force`
# started and waited for until its connection to the daemon is pending in
# the daemon's listen backlog: the delete is in progress, blocked on the
# daemon.  Then the victim is SIGKILLed and the daemon (if alive) thawed;
# whatever the first delete did or left, a second `delete --force` leaves
# nothing.

def listen_backlog(path):
    r = subprocess.run(["ss", "-xlH", "src", path], capture_output=True, text=True)
    fields = r.stdout.split()
    return int(fields[2]) if len(fields) > 2 and fields[1] == "LISTEN" else 0


def daemon_socket(rt, cid):
    state = json.loads((rt.root / cid / "state.json").read_text())
    address = state["address"]
    return address[len("unix://"):] if address.startswith("unix://") else address


@pytest.mark.parametrize("victim", ["cli", "daemon", "vmm", "virtiofsd"])
def test_sigkill_during_delete_then_delete_force_leaves_nothing(rt, host, victim):
    cid = host.cid
    b = net_bundle(rt, "b", ["sh", "-c", "echo up; exec sleep 1000"], host.netns)
    rt.create(cid, b)
    rt("start", cid, check=True)
    poll(lambda: "up" in rt.output(cid), rt.timeout, "the container's output")
    assert "_kata" in host.netns.links()  # the tap the check at the end looks for
    daemon = recorded_daemon(rt, cid)
    pid = daemon
    if victim in ("vmm", "virtiofsd"):
        prefix = {"vmm": "qemu", "virtiofsd": "virtiofsd"}[victim]
        pid = poll(lambda: child_named(daemon, prefix), rt.timeout, victim)
    sock = daemon_socket(rt, cid)
    before = listen_backlog(sock)
    os.kill(daemon, signal.SIGSTOP)
    try:
        cli = subprocess.Popen(rt.argv("delete", "--force", cid), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=rt.env)
        poll(lambda: listen_backlog(sock) > before, rt.timeout, "delete's connection")
        os.kill(cli.pid if victim == "cli" else pid, signal.SIGKILL)
    finally:
        if pid_alive(daemon):
            os.kill(daemon, signal.SIGCONT)
    cli.wait(DELETE_BOUND)
    delete_force_bounded(rt, cid)
    assert_nothing_left(rt)
    same_id_runs_again_in(rt, host)


# ---- virtiofsd slow to start (issue 13, item 2: the start-up window) ----
#
# The daemon listens on virtiofsd's socket before it starts virtiofsd or the
# VMM, and QEMU realizes vhost-user-fs (and lets the guest run) only once
# virtiofsd answers GET_FEATURES: a virtiofsd that starts late delays the
# boot, never races the guest's mount.  QEMU greets on QMP only after that
# too; the daemon's QMP session (which tells how a guest ended) must wait
# for it as long as it waits for the boot (it once gave up after 10 s and
# lost the session for the VM's life).
SLOW_VIRTIOFSD_S = 12  # more than the QMP command timeout (10 s)


def slow_virtiofsd(rt, seconds):
    w = script(rt, "slow-virtiofsd", f'sleep {seconds}\nexec /usr/lib/qemu/virtiofsd "$@"\n')
    edit_config(rt, virtio_fs_daemon=f'"{w}"', valid_virtio_fs_daemon_paths=f'["{w}"]')


def test_a_slow_virtiofsd_delays_the_boot_and_the_container_runs(rt):
    slow_virtiofsd(rt, SLOW_VIRTIOFSD_S)
    b = rt.bundle("b", ["sh", "-c", "echo through-the-share > /tmp/x; cat /tmp/x"])
    t0 = time.time()
    holder = rt.create("c1", b)
    assert time.time() - t0 >= SLOW_VIRTIOFSD_S  # the boot waited for virtiofsd
    rt("start", "c1", check=True)
    wait_gone(holder, timeout=rt.timeout)
    assert rt.output("c1") == "through-the-share\n"
    rt("delete", "c1", check=True)
    assert_nothing_left(rt)


@pytest.mark.parametrize("delay", [0, SLOW_VIRTIOFSD_S])
def test_how_the_guest_ended_is_told_even_after_a_slow_virtiofsd(rt, delay):
    if delay:
        slow_virtiofsd(rt, delay)
    edit_config(rt, initrd=f'"{ASSETS}/marker-initrd.img"')
    b = rt.bundle("b", ["true"])
    r = subprocess.run(rt.argv("create", "--bundle", b, "c1"), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=rt.env, timeout=DELETE_BOUND * 2)
    assert r.returncode != 0
    assert "before the agent answered: the guest powered off" in r.stderr, r.stderr
    assert_nothing_left(rt)
