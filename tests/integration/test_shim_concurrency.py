"""The sandbox daemon under concurrent Task calls, in real VMs, run from the
ASan/UBSan build (build-asan, `make asan`; KATA_ASAN_BUILD names another tree).

A synchronous agent call runs the daemon's loop until the guest answers, and
the daemon serves other Task calls meanwhile: each of them comes here on its
own connection (as two `kata-runtime delete` or containerd's calls do), all
released at once, against one sandbox: Delete, Kill, Exec, Start, Pause,
Resume, Stats, State, Wait, and a Shutdown or Delete while Create boots the VM.
The daemon must not crash (any sanitizer report, written to
<test dir>/sanitizer.<pid> through ASAN_OPTIONS/UBSAN_OPTIONS log_path, fails
the test), must answer sanely (one of concurrent Deletes wins, the others get
NotFound; one Exec of an id, the others AlreadyExists), and must leave
nothing behind."""
import glob
import os
import signal
import threading
import time

import pytest

import shim_env
from runtime_bundle import make_bundle
from shim_env import (ShimEnv, assets_built, daemon_pid, exec_spec, task, task_ok, wait_for,
                      wait_gone)

ASAN_BUILD = os.environ.get("KATA_ASAN_BUILD", os.path.join(shim_env.TOP, "build-asan"))
ASAN_SHIM = os.path.join(ASAN_BUILD, "src", "shim", "containerd-shim-kata-v2")

# What a call refused in a race may answer.
REFUSALS = ("NotFound", "FailedPrecondition", "AlreadyExists")
POD = "io.kubernetes.cri.container-type"


@pytest.fixture
def sh(monkeypatch):
    if not assets_built():
        pytest.skip("guest assets not built (guest/build-assets.sh)")
    if not os.path.exists(ASAN_SHIM):
        pytest.skip("no ASan build of the shim at %s (make asan)" % ASAN_SHIM)
    monkeypatch.setattr(shim_env, "SHIM", ASAN_SHIM)
    e = ShimEnv()
    reports = os.path.join(e.root, "sanitizer")
    # halt_on_error: a UBSan finding ends the daemon like an ASan one.
    e.env["ASAN_OPTIONS"] = "log_path=%s:detect_leaks=1:halt_on_error=1" % reports
    e.env["UBSAN_OPTIONS"] = "log_path=%s:print_stacktrace=1:halt_on_error=1" % reports
    yield e
    found = sanitizer_reports(e)
    e.cleanup()
    assert not found, "sanitizer reports:\n" + "\n".join(found)


def sanitizer_reports(sh):
    out = []
    for path in sorted(glob.glob(os.path.join(sh.root, "sanitizer.*"))):
        with open(path, errors="replace") as f:
            out.append("%s:\n%s" % (path, f.read()[:6000]))
    return out


def assert_no_reports(sh):
    found = sanitizer_reports(sh)
    assert not found, "sanitizer reports:\n" + "\n".join(found)


def status(resp):
    """The status code name of a failed call: task-ctl prints
    "containerd.task.v2.Task/METHOD: CODE: message" ("" if the daemon did
    not answer: a refused connection, say)."""
    if not resp.startswith("containerd.task.v2.Task/"):
        return ""
    parts = resp.split(": ", 2)
    return parts[1] if len(parts) > 1 else ""


def bundle(sh, cid, args, annotations=None):
    return make_bundle(os.path.join(sh.root, "bundles", cid), args, annotations=annotations)


def at_once(address, calls, timeout=120):
    """Each (method, request[, timeout]) on its own connection, released
    together; returns [(method, request, exit code, response or
    "containerd.task.v2.Task/Method: Code: message")]."""
    gate = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def one(i, method, req, seconds=timeout):
        gate.wait()
        results[i] = (method, req) + task(address, method, req, seconds)

    threads = [threading.Thread(target=one, args=(i,) + tuple(c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def outcomes(results, method, key=None):
    """(successes, refusals) of one method (and request id) in at_once's results;
    any other failure (the daemon gone, an unexpected code) fails the test."""
    ok, refused = [], []
    for m, req, code, resp in results:
        if m != method or (key is not None and req.get("id") != key):
            continue
        if code == 0:
            ok.append(resp)
        else:
            assert status(resp) in REFUSALS, "%s %r: %s" % (m, req, resp)
            refused.append(status(resp))
    return ok, refused


def answered(results):
    """Every call got an answer of the daemon itself: no connection refused
    or lost, no deadline missed."""
    for m, req, code, resp in results:
        assert code == 0 or status(resp) not in ("", "Unavailable", "DeadlineExceeded"), \
            "%s %r: %s" % (m, req, resp)


def pod(sh, ids):
    """A pod: ids[0] its sandbox container, all running `sleep 1000`."""
    first = ids[0]
    address = None
    for cid in ids:
        ann = {POD: "sandbox" if cid == first else "container",
               "io.kubernetes.cri.sandbox-id": first}
        b = bundle(sh, cid, ["sleep", "1000"], ann)
        a = sh.start(cid, b)
        address = address or a
        assert a == address
        task_ok(address, "Create", {"id": cid, "bundle": b})
        task_ok(address, "Start", {"id": cid})
    return address


def test_concurrent_exec_kill_pause_and_deletes_against_one_sandbox(sh):
    address = pod(sh, ["p1", "c2"])
    pid = daemon_pid(address)
    vmm = task_ok(address, "State", {"id": "p1"})["pid"]

    # One exec id asked for three times at once, among reads and Stats.
    spec = exec_spec(["sleep", "1000"])
    r = at_once(address, [("Exec", {"id": "c2", "exec_id": "x", "spec": spec})] * 3 +
                [("State", {"id": "c2"}), ("Stats", {"id": "c2"}), ("Pids", {"id": "c2"}),
                 ("State", {"id": "c2", "exec_id": "x"})])
    answered(r)
    ok, refused = outcomes(r, "Exec")
    assert len(ok) == 1 and all(x == "AlreadyExists" for x in refused), r

    # Started twice at once: once.
    r = at_once(address, [("Start", {"id": "c2", "exec_id": "x"})] * 2 +
                [("State", {"id": "c2", "exec_id": "x"}), ("Stats", {"id": "p1"})])
    answered(r)
    ok, refused = outcomes(r, "Start")
    assert len(ok) == 1 and all(x == "FailedPrecondition" for x in refused), r

    # Pause and Resume of both containers, with reads in between.
    for verb, status in (("Pause", "PAUSED"), ("Resume", "RUNNING")):
        r = at_once(address, [(verb, {"id": "c2"}), (verb, {"id": "p1"}),
                              ("State", {"id": "c2"}), ("State", {"id": "p1"}),
                              ("Pids", {"id": "p1"})])
        answered(r)
        assert [c for m, _, c, _ in r if m == verb] == [0, 0], r
        assert task_ok(address, "State", {"id": "c2"})["status"] == status

    # The exec killed three times and deleted three times at once: its
    # deletes are refused while it runs, only one succeeds once it stopped.
    r = at_once(address, [("Kill", {"id": "c2", "exec_id": "x", "signal": 9})] * 3 +
                [("Delete", {"id": "c2", "exec_id": "x"})] * 3 +
                [("Wait", {"id": "c2", "exec_id": "x"})])
    answered(r)
    assert len(outcomes(r, "Delete")[0]) <= 1, r
    if not outcomes(r, "Delete")[0]:
        task_ok(address, "Wait", {"id": "c2", "exec_id": "x"})
        r = at_once(address, [("Delete", {"id": "c2", "exec_id": "x"})] * 3)
        answered(r)
        ok, refused = outcomes(r, "Delete")
        assert len(ok) == 1 and all(x == "NotFound" for x in refused), r

    # Both containers stopped, then each deleted three times at once, among
    # kills, execs, pauses and reads: the last Delete takes the VM down in
    # the middle of the others.
    r = at_once(address, [("Kill", {"id": "c2", "signal": 9, "all": True}),
                          ("Kill", {"id": "p1", "signal": 9}), ("Kill", {"id": "p1", "signal": 9}),
                          ("Wait", {"id": "c2"}), ("Wait", {"id": "p1"})])
    answered(r)
    assert task_ok(address, "Wait", {"id": "p1"})["exit_status"] == 137
    assert task_ok(address, "Wait", {"id": "c2"})["exit_status"] == 137
    r = at_once(address, [("Delete", {"id": "c2"})] * 3 + [("Delete", {"id": "p1"})] * 3 +
                [("Kill", {"id": "p1", "signal": 9}), ("State", {"id": "c2"}),
                 ("Exec", {"id": "p1", "exec_id": "y", "spec": spec}), ("Pause", {"id": "c2"}),
                 ("Stats", {"id": "p1"}), ("Wait", {"id": "c2"})])
    answered(r)
    for cid in ("p1", "c2"):
        ok, refused = outcomes(r, "Delete", cid)
        assert len(ok) == 1 and all(x == "NotFound" for x in refused), r
        assert ok[0]["exit_status"] == 137
    for m in ("Kill", "State", "Wait"):
        outcomes(r, m)  # answered, or refused as NotFound once deleted
    # Exec, Pause and Stats of a stopped container: the agent's error, or
    # NotFound once deleted (answered() checked they were answered).

    assert wait_gone(vmm)  # the last Delete took the VM
    assert daemon_pid(address) == pid  # and the daemon lives on
    assert_no_reports(sh)
    task_ok(address, "Shutdown", {"id": "p1"})
    assert wait_gone(pid)
    sh.assert_clean()


@pytest.mark.parametrize("racer", ["Delete", "Shutdown"])
def test_calls_while_create_boots_the_vm_wait_for_it(sh, racer):
    """A Delete (or Shutdown), Kill and Exec arriving while Create boots the
    VM run after it, on the container it made; State, Pids and Connect are
    answered at once.  Nothing runs in the middle of the boot."""
    b = bundle(sh, "c1", ["sleep", "1000"])
    address = sh.start("c1", b)
    pid = daemon_pid(address)
    created = []
    t = threading.Thread(
        target=lambda: created.append(task(address, "Create", {"id": "c1", "bundle": b})))
    t.start()
    # Once the daemon has begun the boot (the sandbox's state written).
    assert wait_for(lambda: glob.glob(os.path.join(sh.root, "state", "*", "state.json")), 60)
    r = at_once(address, [(racer, {"id": "c1"}), ("Kill", {"id": "c1", "signal": 9}),
                          ("Exec", {"id": "c1", "exec_id": "x", "spec": exec_spec(["true"])}),
                          ("State", {"id": "c1"}), ("Pids", {"id": "c1"}),
                          ("Connect", {"id": "c1"})])
    t.join()
    answered(r)
    assert created[0][0] == 0, created
    by = {m: (c, x) for m, _, c, x in r}
    # It came while Create ran and ran after it: Delete found the created
    # container; Shutdown found a container and left the daemon serving.
    assert by[racer][0] == 0, r
    # Kill and Exec ran before or after that Delete: done, the agent's
    # refusal (a task not started), or NotFound.
    for m in ("Kill", "Exec", "State", "Pids"):
        assert by[m][0] == 0 or status(by[m][1]) in ("NotFound", "Unknown"), r
    assert daemon_pid(address) == pid
    if racer == "Shutdown":
        assert task_ok(address, "State", {"id": "c1"})["status"] in ("CREATED", "STOPPED")
        task_ok(address, "Delete", {"id": "c1"})
    code, resp = task(address, "State", {"id": "c1"})
    assert code == 1 and status(resp) == "NotFound", resp
    assert_no_reports(sh)
    task_ok(address, "Shutdown", {"id": "c1"})
    assert wait_gone(pid)
    sh.assert_clean()


def test_a_stalled_guest_delays_only_the_calls_that_need_it(sh):
    """The VMM stopped (SIGSTOP): the guest answers nothing.  A Stats waits
    for the agent; a Kill behind it waits too, and its deadline still counts
    (it never runs); State, Pids and Connect are answered at once."""
    address = pod(sh, ["c1"])
    pid = daemon_pid(address)
    vmm = task_ok(address, "State", {"id": "c1"})["pid"]
    os.kill(vmm, signal.SIGSTOP)
    try:
        stats = []
        t = threading.Thread(target=lambda: stats.append(task(address, "Stats", {"id": "c1"}, 60)))
        t.start()
        # Stats waits for the guest once a harmless exclusive call (CloseIO
        # without stdin) cannot run before its deadline.
        def held():
            code, resp = task(address, "CloseIO", {"id": "c1"}, 1)
            return code == 1 and status(resp) == "DeadlineExceeded"
        assert wait_for(held, 60)
        start = time.monotonic()
        r = at_once(address, [("State", {"id": "c1"}, 10), ("Pids", {"id": "c1"}, 10),
                              ("Connect", {"id": "c1"}, 10),
                              ("Kill", {"id": "c1", "signal": 9}, 2)])
        took = time.monotonic() - start
        by = {m: (c, x) for m, _, c, x in r}
        assert by["State"][0] == 0 and by["State"][1]["status"] == "RUNNING", r
        assert by["Pids"][0] == 0 and by["Connect"][0] == 0, r
        assert by["Kill"][0] == 1 and status(by["Kill"][1]) == "DeadlineExceeded", r
        assert took < 20, took  # not held until SIGCONT (nor Stats' 30 s deadline)
        assert not stats  # still waiting
    finally:
        os.kill(vmm, signal.SIGCONT)
    t.join()
    assert stats[0][0] == 0, stats
    # The Kill whose deadline passed in the queue never reached the guest.
    assert task_ok(address, "State", {"id": "c1"})["status"] == "RUNNING"
    task_ok(address, "Kill", {"id": "c1", "signal": 9})
    assert task_ok(address, "Wait", {"id": "c1"})["exit_status"] == 137
    task_ok(address, "Delete", {"id": "c1"})
    assert_no_reports(sh)
    task_ok(address, "Shutdown", {"id": "c1"})
    assert wait_gone(pid)
    sh.assert_clean()
