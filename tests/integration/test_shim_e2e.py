"""The sandbox daemon end to end in real VMs, driven as containerd drives it:
the shim binary protocol, then Task calls (tests/tools/task-ctl) with stdio
through fifos, a busybox-static rootfs (runtime_bundle.py), events recorded by
a publish binary, and the fault cases (VMM or daemon SIGKILLed).  Every test
ends with nothing left: no VMM, virtiofsd, mount, state or shared dir."""
import os
import signal
import time

import pytest

from runtime_bundle import make_bundle
from shim_env import (FifoReader, alive, daemon_pid, exec_spec, task,
                      task_ok, wait_for, wait_gone)


def bundle(sh, cid, args, terminal=False, annotations=None):
    return make_bundle(os.path.join(sh.root, "bundles", cid), args, terminal=terminal,
                       annotations=annotations)


def run_container(sh, cid, args, terminal=False, stdin=False, stderr=True):
    """start + Create + Start; returns (address, stdout reader, stderr reader, stdin path)."""
    b = bundle(sh, cid, args, terminal)
    out = sh.fifo(cid + ".out")
    err = sh.fifo(cid + ".err") if stderr and not terminal else ""
    inp = sh.fifo(cid + ".in") if stdin else ""
    ro, re_ = FifoReader(out), (FifoReader(err) if err else None)
    address = sh.start(cid, b)
    resp = task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out, "stderr": err,
                                       "stdin": inp, "terminal": terminal})
    assert resp["pid"] > 0
    task_ok(address, "Start", {"id": cid})
    return address, ro, re_, inp


def finish(sh, address, cid):
    """Delete the container (the VM goes with the last one), then Shutdown."""
    pid = daemon_pid(address)
    task_ok(address, "Delete", {"id": cid})
    task_ok(address, "Shutdown", {"id": cid})
    assert wait_gone(pid)
    sh.assert_clean()


def test_output_stderr_and_exit_status_through_fifos(sh):
    address, out, err, _ = run_container(sh, "c1",
                                         ["sh", "-c", "echo out; echo err >&2; exit 3"])
    resp = task_ok(address, "Wait", {"id": "c1"})
    assert resp["exit_status"] == 3
    assert out.read_until(lambda d: d.endswith(b"out\n")) == b"out\n"
    assert err.read_until(lambda d: d.endswith(b"err\n")) == b"err\n"
    state = task_ok(address, "State", {"id": "c1"})
    assert state["status"] == "STOPPED" and state["exit_status"] == 3
    resp = task_ok(address, "Delete", {"id": "c1"})
    assert resp["exit_status"] == 3
    pid = daemon_pid(address)
    task_ok(address, "Shutdown", {"id": "c1"})
    assert wait_gone(pid)
    sh.assert_clean()
    events = sh.events()
    assert events[:2] == ["/tasks/create", "/tasks/start"], events
    assert events.index("/tasks/exit") < events.index("/tasks/delete")


def test_stdin_through_a_fifo_and_close_io(sh):
    address, out, _, inp = run_container(sh, "c1", ["cat"], stdin=True, stderr=False)
    w = os.open(inp, os.O_RDWR)
    os.write(w, b"hello through stdin\n")
    assert out.read_until(lambda d: d.endswith(b"\n")) == b"hello through stdin\n"
    task_ok(address, "CloseIO", {"id": "c1", "stdin": True})
    os.close(w)
    assert task_ok(address, "Wait", {"id": "c1"}, 60)["exit_status"] == 0
    finish(sh, address, "c1")


def test_terminal_and_resize_pty_of_an_exec(sh):
    address, out, _, _ = run_container(
        sh, "c1", ["sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty; exec sleep 1000"],
        terminal=True)
    assert b"on-a-tty" in out.read_until(lambda d: b"on-a-tty" in d)
    xout = sh.fifo("x.out")
    xr = FifoReader(xout)
    task_ok(address, "Exec", {"id": "c1", "exec_id": "x", "terminal": True, "stdout": xout,
                              "spec": exec_spec(["sh", "-c", "sleep 3; stty size"], True)})
    task_ok(address, "Start", {"id": "c1", "exec_id": "x"})
    task_ok(address, "ResizePty", {"id": "c1", "exec_id": "x", "width": 100, "height": 40})
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "x"})["exit_status"] == 0
    assert b"40 100" in xr.read_until(lambda d: b"40 100" in d)
    task_ok(address, "Delete", {"id": "c1", "exec_id": "x"})
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 137
    finish(sh, address, "c1")


def test_exec_start_wait_of_a_second_process(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    xout = sh.fifo("x.out")
    xr = FifoReader(xout)
    task_ok(address, "Exec", {"id": "c1", "exec_id": "x", "stdout": xout,
                              "spec": exec_spec(["sh", "-c", "echo from-exec; exit 5"])})
    code, resp = task(address, "Exec", {"id": "c1", "exec_id": "x",
                                        "spec": exec_spec(["true"])})
    assert code == 1 and "AlreadyExists" in resp
    assert task_ok(address, "State", {"id": "c1", "exec_id": "x"})["status"] == "CREATED"
    task_ok(address, "Start", {"id": "c1", "exec_id": "x"})
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "x"})["exit_status"] == 5
    assert xr.read_until(lambda d: d.endswith(b"\n")) == b"from-exec\n"
    assert task_ok(address, "Delete", {"id": "c1", "exec_id": "x"})["exit_status"] == 5
    code, resp = task(address, "State", {"id": "c1", "exec_id": "x"})
    assert code == 1 and "NotFound" in resp
    assert task_ok(address, "State", {"id": "c1"})["status"] == "RUNNING"
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    task_ok(address, "Wait", {"id": "c1"})
    finish(sh, address, "c1")  # the daemon publishes what it queued before it exits
    events = sh.events()
    for topic in ("/tasks/exec-added", "/tasks/exec-started"):
        assert topic in events, events


def test_kill_by_signal_number_and_all(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    task_ok(address, "Exec", {"id": "c1", "exec_id": "x", "spec": exec_spec(["sleep", "1000"])})
    task_ok(address, "Start", {"id": "c1", "exec_id": "x"})
    task_ok(address, "Kill", {"id": "c1", "exec_id": "x", "signal": 15})
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "x"})["exit_status"] == 143
    assert task_ok(address, "State", {"id": "c1"})["status"] == "RUNNING"
    task_ok(address, "Delete", {"id": "c1", "exec_id": "x"})
    task_ok(address, "Exec", {"id": "c1", "exec_id": "y", "spec": exec_spec(["sleep", "1000"])})
    task_ok(address, "Start", {"id": "c1", "exec_id": "y"})
    task_ok(address, "Kill", {"id": "c1", "signal": 9, "all": True})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 137
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "y"})["exit_status"] == 137
    task_ok(address, "Kill", {"id": "c1", "signal": 9})  # a stopped task: not an error
    task_ok(address, "Delete", {"id": "c1", "exec_id": "y"})
    finish(sh, address, "c1")


def test_pause_resume_pids_stats_update(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    task_ok(address, "Pause", {"id": "c1"})
    assert task_ok(address, "State", {"id": "c1"})["status"] == "PAUSED"
    task_ok(address, "Resume", {"id": "c1"})
    assert task_ok(address, "State", {"id": "c1"})["status"] == "RUNNING"
    pids = task_ok(address, "Pids", {"id": "c1"})["processes"]
    assert len(pids) == 1 and alive(pids[0]["pid"])  # the VMM
    resources = {"pids": {"limit": 42}, "memory": {"limit": 64 * 1024 * 1024}}
    import json
    task_ok(address, "Update", {"id": "c1", "resources": {
        "type_url": "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        "value": {"@text": json.dumps(resources)}}})
    stats = task_ok(address, "Stats", {"id": "c1"})
    assert stats["stats"]["type_url"] == "io.containerd.cgroups.v2.Metrics"
    m = stats["metrics"]
    assert m["pids"]["current"] >= 1 and m["pids"]["limit"] == 42
    assert m["memory"]["usage"] > 0 and m["memory"]["usage_limit"] == 64 * 1024 * 1024
    assert m["cpu"]["usage_usec"] > 0
    assert wait_for(lambda: {"/tasks/paused", "/tasks/resumed"} <= set(sh.events()))
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    task_ok(address, "Wait", {"id": "c1"})
    finish(sh, address, "c1")


def test_delete_of_a_running_container_is_refused_until_killed(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    code, resp = task(address, "Delete", {"id": "c1"})
    assert code == 1 and "FailedPrecondition" in resp
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 137
    finish(sh, address, "c1")


def test_vmm_sigkill_reports_the_task_exited_and_delete_cleans(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    vmm = task_ok(address, "State", {"id": "c1"})["pid"]
    os.kill(vmm, signal.SIGKILL)
    resp = task_ok(address, "Wait", {"id": "c1"}, 60)
    assert resp["exit_status"] != 0
    assert task_ok(address, "State", {"id": "c1"})["status"] == "STOPPED"
    assert wait_for(lambda: "/tasks/exit" in sh.events())
    finish(sh, address, "c1")


def start_sleeper(sh):
    """c1 running `sleep 1000`: (bundle, address, daemon pid, VMM pid)."""
    b = bundle(sh, "c1", ["sleep", "1000"])
    address = sh.start("c1", b)
    task_ok(address, "Create", {"id": "c1", "bundle": b})
    task_ok(address, "Start", {"id": "c1"})
    return b, address, daemon_pid(address), task_ok(address, "State", {"id": "c1"})["pid"]


def test_daemon_sigkill_keeps_the_vmm_and_delete_cleans_everything(sh):
    b, address, pid, vmm = start_sleeper(sh)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    time.sleep(1)
    assert alive(vmm)  # its console is a file: the daemon's death does not kill it
    r = sh.shim("delete", "c1", b)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) > 0  # a DeleteResponse protobuf
    assert wait_gone(vmm)  # killed (its exit may take a moment under load)
    assert not os.path.exists(address[len("unix://"):])
    sh.assert_clean()


def pidfd_getfd(pid, fd):
    """A copy of another process's fd (pidfd_getfd(2), x86-64 syscall 438)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        r = libc.syscall(438, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if r < 0:
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return r


def test_delete_cleans_when_another_process_holds_the_dead_daemons_socket(sh):
    """A child the daemon forked (a publish, the VMM) holds its listening
    socket until exec: killed in that window, the socket still connects, but
    the recorded daemon pid is gone and delete cleans everything."""
    b, _, pid, vmm = start_sleeper(sh)
    held = pidfd_getfd(pid, 3)  # the daemon's listening socket is its fd 3
    try:
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        r = sh.shim("delete", "c1", b)
        assert r.returncode == 0, r.stderr
        assert wait_gone(vmm)
        sh.assert_clean()
    finally:
        os.close(held)


def test_a_stdout_reader_that_does_not_keep_up_stalls_only_its_container(sh):
    size = 2 * 1024 * 1024
    address, out, _, _ = run_container(sh, "c1", ["sh", "-c", "head -c %d /dev/zero" % size],
                                       stderr=False)
    # Nobody reads: the fifo fills, the daemon stops asking the guest for
    # more (the agent holds or the process blocks), and the daemon still
    # answers every other call.
    time.sleep(3)
    for _ in range(3):
        assert task_ok(address, "State", {"id": "c1"}, timeout=20)["id"] == "c1"
    data = out.read_until(lambda d: len(d) >= size, 300)
    assert len(data) == size and data.count(b"\0") == size
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 0
    finish(sh, address, "c1")


def test_a_pod_sized_by_its_cri_annotations_with_a_second_container(sh):
    pod = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "p1",
           "io.kubernetes.cri.sandbox-cpu-quota": "100000",
           "io.kubernetes.cri.sandbox-cpu-period": "100000",
           "io.kubernetes.cri.sandbox-memory": str(128 << 20),
           # allowed by the shipped configuration's enable_annotations
           "io.katacontainers.config.hypervisor.kernel_params": "kata_test_marker=1"}
    b1 = bundle(sh, "p1", ["sleep", "1000"], annotations=pod)
    address = sh.start("p1", b1)
    task_ok(address, "Create", {"id": "p1", "bundle": b1})
    task_ok(address, "Start", {"id": "p1"})
    b2 = bundle(sh, "c2", ["sh", "-c", "nproc; grep MemTotal /proc/meminfo; cat /proc/cmdline"],
                annotations={"io.kubernetes.cri.container-type": "container",
                             "io.kubernetes.cri.sandbox-id": "p1"})
    assert sh.start("c2", b2) == address  # the pod's daemon
    out = sh.fifo("c2.out")
    r = FifoReader(out)
    vmm = task_ok(address, "State", {"id": "p1"})["pid"]
    assert task_ok(address, "Create", {"id": "c2", "bundle": b2, "stdout": out})["pid"] == vmm
    task_ok(address, "Start", {"id": "c2"})
    assert task_ok(address, "Wait", {"id": "c2"})["exit_status"] == 0
    text = r.read_until(lambda d: b"kata_test_marker" in d).decode()
    lines = text.splitlines()
    assert lines[0] == "2", text  # default_vcpus 1 + the pod's one CPU
    mem_kb = int(lines[1].split()[1])
    assert (256 + 64) * 1024 < mem_kb <= (256 + 128) * 1024, text  # 256 MiB + 128 MiB
    assert "kata_test_marker=1" in lines[2]
    task_ok(address, "Delete", {"id": "c2"})
    assert alive(vmm)  # the sandbox stays
    task_ok(address, "Kill", {"id": "p1", "signal": 9})
    task_ok(address, "Wait", {"id": "p1"})
    finish(sh, address, "p1")


@pytest.mark.parametrize("key,value,message", [
    ("io.kubernetes.cri.sandbox-memory", "lots", "is not a number"),
    ("io.katacontainers.config.hypervisor.default_memory", "4096", "enable_annotations"),
])
def test_a_bad_or_forbidden_pod_annotation_fails_create_and_leaves_nothing(sh, key, value,
                                                                             message):
    b = bundle(sh, "c1", ["true"], annotations={key: value})
    address = sh.start("c1", b)
    code, resp = task(address, "Create", {"id": "c1", "bundle": b})
    assert code == 1 and key in resp and message in resp, resp
    sh.assert_clean()
    pid = daemon_pid(address)
    task_ok(address, "Shutdown", {"id": "c1"})
    assert wait_gone(pid)


def test_an_oom_kill_in_the_guest_is_published_as_task_oom(sh):
    import json
    b = bundle(sh, "c1", ["sh", "-c", "head -c 200000000 /dev/zero | tail"])
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    spec["linux"].setdefault("resources", {})["memory"] = {"limit": 32 << 20}
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    address = sh.start("c1", b)
    task_ok(address, "Create", {"id": "c1", "bundle": b})
    task_ok(address, "Start", {"id": "c1"})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] != 0
    assert wait_for(lambda: "/tasks/oom" in sh.events()), sh.events()
    metrics = task_ok(address, "Stats", {"id": "c1"})["metrics"]
    assert metrics["memory"]["usage_limit"] == 32 << 20
    finish(sh, address, "c1")


@pytest.mark.parametrize("close_before_start", [True, False])
def test_stdin_written_then_closed_at_once_arrives_whole(sh, close_before_start):
    """A client writes its input and calls CloseIO straight away (kata-runtime's
    holder does, maybe before Start): nothing still in the fifo is lost."""
    b = bundle(sh, "c1", ["sh", "-c", 'while read line; do echo "<$line>"; done; echo done'])
    out, inp = sh.fifo("out"), sh.fifo("in")
    r = FifoReader(out)
    w = os.open(inp, os.O_RDWR)
    address = sh.start("c1", b)
    task_ok(address, "Create", {"id": "c1", "bundle": b, "stdout": out, "stdin": inp})
    if not close_before_start:
        task_ok(address, "Start", {"id": "c1"})
    os.write(w, b"one\ntwo\n")
    task_ok(address, "CloseIO", {"id": "c1", "stdin": True})
    os.close(w)
    if close_before_start:
        task_ok(address, "Start", {"id": "c1"})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 0
    assert r.read_until(lambda d: d.endswith(b"done\n")) == b"<one>\n<two>\ndone\n"
    finish(sh, address, "c1")


# ---- the state follows the process in every phase ----

def create_only(sh, cid, args):
    """start + Create, no Start: (bundle, address, stdout reader)."""
    b = bundle(sh, cid, args)
    out = sh.fifo(cid + ".out")
    reader = FifoReader(out)
    address = sh.start(cid, b)
    task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out})
    assert task_ok(address, "State", {"id": cid})["status"] == "CREATED"
    return b, address, reader


@pytest.mark.parametrize("sig", [9, 15])
def test_kill_of_a_created_task_stops_it(sh, sig):
    """Killed before it was ever started: Wait answers 137 (the init of a pid
    namespace ignores a TERM it has no handler for: TERM becomes KILL, as
    Kata's agent does), State says STOPPED, TaskExit is published, Start is
    refused, and Delete + Shutdown leave nothing."""
    _, address, out = create_only(sh, "c1", ["sh", "-c", "echo never"])
    task_ok(address, "Kill", {"id": "c1", "signal": sig})
    assert task_ok(address, "Wait", {"id": "c1"}, 30)["exit_status"] == 137
    state = task_ok(address, "State", {"id": "c1"})
    assert state["status"] == "STOPPED" and state["exit_status"] == 137
    assert wait_for(lambda: "/tasks/exit" in sh.events())
    code, resp = task(address, "Start", {"id": "c1"})
    assert code == 1 and "it has exited (status 137)" in resp, resp
    assert out.read_until(lambda d: False, 1) == b""
    finish(sh, address, "c1")


def test_a_start_that_fails_half_way_stops_the_task(sh):
    """The exec of the process fails: Start fails naming the binary, and the
    dead process's exit reaches Wait, State and the events."""
    _, address, _ = create_only(sh, "c1", ["/no/such/binary"])
    code, resp = task(address, "Start", {"id": "c1"})
    assert code == 1 and "/no/such/binary" in resp, resp
    assert task_ok(address, "Wait", {"id": "c1"}, 30)["exit_status"] != 0
    assert task_ok(address, "State", {"id": "c1"})["status"] == "STOPPED"
    assert wait_for(lambda: "/tasks/exit" in sh.events())
    assert "/tasks/start" not in sh.events()
    finish(sh, address, "c1")


def test_kill_of_a_created_exec_stops_it(sh):
    address, _, _, _ = run_container(sh, "c1", ["sleep", "1000"])
    task_ok(address, "Exec", {"id": "c1", "exec_id": "x", "spec": exec_spec(["sleep", "1000"])})
    task_ok(address, "Kill", {"id": "c1", "exec_id": "x", "signal": 9})
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "x"}, 30)["exit_status"] == 137
    assert task_ok(address, "State", {"id": "c1", "exec_id": "x"})["status"] == "STOPPED"
    task_ok(address, "Delete", {"id": "c1", "exec_id": "x"})
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 137
    finish(sh, address, "c1")
