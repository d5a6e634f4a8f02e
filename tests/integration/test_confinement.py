"""The VMM and virtiofsd confined (issue 12, findings 3, 5, 8, 9), in real VMs
driven through the sandbox daemon as containerd drives it:
- QEMU runs with its seccomp sandbox, no capabilities at all and no_new_privs;
  with `rootless = true` as a uid of its own;
- virtiofsd runs in its own namespaces without CAP_MKNOD and CAP_SETFCAP, so a
  container with CAP_MKNOD cannot create a device node in its rootfs (which
  is on the virtio-fs share) while it still can on its own /dev (tmpfs);
- a pod's annotation cannot rewrite virtiofsd's arguments;
- qemu.log and virtiofsd.log stay bounded however much the daemons write."""
import json
import os

import pytest

from runtime_bundle import make_bundle
from shim_env import (FifoReader, alive, daemon_pid, exec_spec,
                      procs_mentioning, task, task_ok, wait_for, wait_gone)

ROOTLESS_BASE = 0x5a000000
CAP_MKNOD, CAP_SETFCAP = 27, 31


def configure(sh, **keys):
    """Set [hypervisor.qemu] keys in the test's configuration."""
    with open(sh.config) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        name = line.split("=")[0].strip().lstrip("#").strip()
        if name in keys:
            continue
        out.append(line)
        if line.strip() == "[hypervisor.qemu]":
            out += ["%s = %s" % (k, json.dumps(v)) for k, v in keys.items()]
    with open(sh.config, "w") as f:
        f.write("\n".join(out) + "\n")


def status_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def run_mknod_container(sh, cid="c1"):
    """A busybox container with CAP_MKNOD that tries a device node in its
    rootfs (virtio-fs) and in its /dev (tmpfs), then sleeps."""
    script = ("mknod /blockdev b 8 0 2>&1; echo rootfs-rc=$?; "
              "mknod /dev/nulldev c 1 3 && echo devtmpfs-ok; echo done; exec sleep 1000")
    b = make_bundle(os.path.join(sh.root, "bundles", cid), ["sh", "-c", script])
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    for kind in ("bounding", "effective", "permitted"):
        spec["process"]["capabilities"].setdefault(kind, []).append("CAP_MKNOD")
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    out = sh.fifo(cid + ".out")
    reader = FifoReader(out)
    address = sh.start(cid, b)
    task_ok(address, "Create", {"id": cid, "bundle": b, "stdout": out, "stderr": ""})
    task_ok(address, "Start", {"id": cid})
    text = reader.read_until(lambda d: b"done" in d, 240).decode()
    return b, address, text


def sandbox_processes(sh):
    """The sandbox's QEMU and virtiofsd (parent) processes."""
    procs = [p for p in procs_mentioning(sh.root + "/") if alive(p)]
    qemu = [p for p in procs if "qemu-system" in exe_of(p)]
    fsd = [p for p in procs if exe_of(p).endswith("virtiofsd")]
    parents = [p for p in fsd if int(status_of(p)["PPid"]) not in fsd]
    return qemu, parents


def finish(sh, address, cid="c1"):
    pid = daemon_pid(address)
    task_ok(address, "Kill", {"id": cid, "signal": 9})
    task_ok(address, "Wait", {"id": cid})
    task_ok(address, "Delete", {"id": cid})
    task_ok(address, "Shutdown", {"id": cid})
    assert wait_gone(pid)
    sh.assert_clean()
    # The log relays end with the daemons they drain.
    assert wait_for(lambda: not log_relays(sh), 10), log_relays(sh)


def log_relays(sh):
    """This test's relays: their environment is the daemon's."""
    found = []
    for p in procs_mentioning("kata-log-relay"):
        try:
            with open("/proc/%d/comm" % p) as f:
                comm = f.read().strip()
            with open("/proc/%d/environ" % p, "rb") as f:
                env = f.read().decode(errors="replace")
        except OSError:
            continue
        if comm == "kata-log-relay" and sh.root in env and alive(p):
            found.append(p)
    return found


def assert_no_capabilities(st):
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[k], 16) == 0, "%s = %s" % (k, st[k])
    assert st["NoNewPrivs"].strip() == "1"


def test_qemu_and_virtiofsd_are_confined_and_the_guest_cannot_mknod_on_the_share(sh):
    b, address, text = run_mknod_container(sh)
    # The device node on the share is refused by virtiofsd; the same
    # capability works on the container's own tmpfs /dev.
    assert "rootfs-rc=1" in text and "Operation not permitted" in text, text
    assert "devtmpfs-ok" in text, text
    assert not os.path.lexists(os.path.join(b, "rootfs", "blockdev"))

    qemu, fsd = sandbox_processes(sh)
    assert len(qemu) == 1 and len(fsd) == 1, (qemu, fsd)
    st = status_of(qemu[0])
    assert st["Seccomp"].strip() == "2", st["Seccomp"]  # QEMU's -sandbox filter
    assert_no_capabilities(st)
    assert st["Uid"].split()[0] == "0"  # not rootless: root without capabilities
    with open("/proc/%d/cmdline" % qemu[0]) as f:
        assert "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny" in \
            f.read().split("\0")

    # virtiofsd: the parent waits, its child serves from new namespaces.
    workers = children_of(fsd[0])
    assert len(workers) == 1, workers
    w = workers[0]
    for ns in ("mnt", "pid", "net"):
        assert os.readlink("/proc/%d/ns/%s" % (w, ns)) != os.readlink("/proc/self/ns/" + ns), ns
    caps = int(status_of(w)["CapEff"], 16) | int(status_of(w)["CapPrm"], 16)
    assert not caps & (1 << CAP_MKNOD) and not caps & (1 << CAP_SETFCAP), hex(caps)
    with open("/proc/%d/cmdline" % fsd[0]) as f:
        argv = f.read().split("\0")
    assert "sandbox=namespace" in argv and "modcaps=-mknod:-setfcap" in argv, argv
    finish(sh, address)


def test_rootless_qemu_runs_as_a_uid_of_its_own(sh):
    configure(sh, rootless=True)
    b, address, text = run_mknod_container(sh)
    assert "rootfs-rc=1" in text and "devtmpfs-ok" in text, text
    vmm = task_ok(address, "State", {"id": "c1"})["pid"]
    qemu = [p for p in [vmm] + children_of(vmm) if "qemu-system" in exe_of(p)]
    if not qemu:  # the State pid may be another process of the sandbox
        qemu, _ = sandbox_processes(sh)
    assert qemu, "no QEMU found"
    st = status_of(qemu[0])
    uids, gids = st["Uid"].split(), st["Gid"].split()
    assert uids == [str(ROOTLESS_BASE + qemu[0])] * 4, uids
    assert gids == [str(ROOTLESS_BASE + qemu[0])] * 4, gids
    assert st["Groups"].strip() == ""
    assert_no_capabilities(st)
    assert st["Seccomp"].strip() == "2"
    # An exec still reaches the agent (the channel QEMU got as an fd).
    xout = sh.fifo("x.out")
    xr = FifoReader(xout)
    task_ok(address, "Exec", {"id": "c1", "exec_id": "x", "stdout": xout,
                              "spec": exec_spec(["echo", "exec-ok"])})
    task_ok(address, "Start", {"id": "c1", "exec_id": "x"})
    assert task_ok(address, "Wait", {"id": "c1", "exec_id": "x"})["exit_status"] == 0
    assert b"exec-ok" in xr.read_until(lambda d: b"exec-ok" in d)
    task_ok(address, "Delete", {"id": "c1", "exec_id": "x"})
    finish(sh, address)
    assert not alive(qemu[0])


@pytest.mark.parametrize("value,option", [
    ('["-o", "source=/"]', "source=/"),
    ('["--shared-dir=/"]', "--shared-dir=/"),
    ('["-o", "sandbox=chroot"]', "sandbox=chroot"),
])
def test_an_annotation_cannot_rewrite_virtiofsds_arguments(sh, value, option):
    key = "io.katacontainers.config.hypervisor.virtio_fs_extra_args"
    b = make_bundle(os.path.join(sh.root, "bundles", "c1"), ["true"], annotations={key: value})
    address = sh.start("c1", b)
    code, resp = task(address, "Create", {"id": "c1", "bundle": b})
    assert code == 1 and key in resp and "enable_annotations" in resp, resp
    # Even where the configuration lets the annotation through, the option is
    # refused, naming the annotation and the option.
    configure(sh, enable_annotations=["kernel_params", "virtio_fs_extra_args"])
    code, resp = task(address, "Create", {"id": "c1", "bundle": b})
    assert code == 1 and key in resp and "`%s` refused" % option in resp, resp
    sh.assert_clean()
    pid = daemon_pid(address)
    task_ok(address, "Shutdown", {"id": "c1"})
    assert wait_gone(pid)


def find_file(top, name):
    for d, _, files in os.walk(top):
        if name in files:
            return os.path.join(d, name)
    return None


def test_virtiofsd_and_qemu_logs_stay_bounded(sh):
    # virtiofsd's debug output logs every request the guest makes: a
    # container that keeps creating files floods it.
    configure(sh, virtio_fs_extra_args=["-d"])
    script = ("i=0; while [ $i -lt 4000 ]; do echo x > /f$i; rm /f$i; i=$((i+1)); done; "
              "echo done; exec sleep 1000")
    b = make_bundle(os.path.join(sh.root, "bundles", "c1"), ["sh", "-c", script])
    out = sh.fifo("c1.out")
    reader = FifoReader(out)
    address = sh.start("c1", b)
    task_ok(address, "Create", {"id": "c1", "bundle": b, "stdout": out, "stderr": ""})
    task_ok(address, "Start", {"id": "c1"})
    assert b"done" in reader.read_until(lambda d: b"done" in d, 600)
    relays = log_relays(sh)
    assert len(relays) == 2  # qemu.log and virtiofsd.log
    for p in relays:  # not counted as a shim by whoever looks for one
        with open("/proc/%d/cmdline" % p) as f:
            cmdline = f.read()
        assert cmdline.rstrip("\0") == "kata-log-relay", cmdline
    log = find_file(sh.root + "/state", "virtiofsd.log")
    assert log, "no virtiofsd.log under the state dir"
    qemu_log = os.path.join(os.path.dirname(log), "qemu.log")
    assert os.path.exists(qemu_log)
    # Past 1 MiB the content moved to virtiofsd.log.1: both stay bounded.
    assert os.path.exists(log + ".1"), "the flood did not reach 1 MiB"
    for path in (log, log + ".1", qemu_log):
        size = os.stat(path).st_size
        assert size <= (1 << 20) + 65536, "%s: %d bytes" % (path, size)
    with open(log, "rb") as f:
        assert f.read().strip(), "the current log is empty"
    finish(sh, address)
