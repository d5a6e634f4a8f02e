"""The sandbox daemon (containerd-shim-kata-v2) driven the way containerd
drives it: the `start`/`delete` binary protocol, then the Task API over ttrpc
(tests/tools/task-ctl), with real VMs.  Every test checks that nothing is left
behind: no QEMU or virtiofsd of the sandbox, no mount, no state dir.

Until the agent's container methods land (CreateContainer, ...), Create
reports the agent's Unimplemented and the tests check the sandbox's boot and
teardown paths around it."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHIM = os.path.join(TOP, "build", "src", "shim", "containerd-shim-kata-v2")
TASK_CTL = os.path.join(TOP, "build", "tests", "tools", "task-ctl")
ASSETS = os.path.join(TOP, "build", "guest")
BUSYBOX = "/bin/busybox"


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def procs_mentioning(text):
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def env(tmp_path):
    if not os.path.exists(os.path.join(ASSETS, "vmlinux")):
        pytest.skip("guest assets not built (guest/build-assets.sh)")
    root = tempfile.mkdtemp(prefix="shimtest.", dir="/tmp")
    conf = os.path.join(root, "configuration.toml")
    with open(os.path.join(TOP, "build", "config", "configuration-qemu.toml")) as f:
        text = f.read()
    text = text.replace('"/opt/kata/share/kata-containers/vmlinux.container"',
                        '"%s/vmlinux"' % ASSETS)
    text = text.replace('"/opt/kata/share/kata-containers/kata-containers-initrd.img"',
                        '"%s/kata-agent-initrd.img"' % ASSETS)
    text = text.replace("default_memory = 2048", "default_memory = 256")
    with open(conf, "w") as f:
        f.write(text)
    e = dict(os.environ)
    e.update(KATA_CONF_FILE=conf, KATA_STATE_DIR=root + "/state",
             KATA_SHARED_DIR=root + "/shared", KATA_SHIM_SOCKET_DIR=root + "/sock")
    yield {"root": root, "env": e}
    for pid in procs_mentioning(root):
        os.kill(pid, signal.SIGKILL)
    for m in reversed(mounts_under(root)):
        subprocess.run(["umount", "-l", m])
    shutil.rmtree(root, ignore_errors=True)


def make_bundle(root, cid, args, annotations=None):
    bundle = os.path.join(root, "bundles", cid)
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for tool in ("sh", "echo", "cat", "sleep", "true"):
        os.symlink("busybox", os.path.join(rootfs, "bin", tool))
    spec = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "hostname": cid,
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "annotations": annotations or {},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
    }
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def shim(env, verb, cid, bundle):
    return subprocess.run([SHIM, "-namespace", "test", "-id", cid, "-bundle", bundle, verb],
                          cwd=bundle, env=env["env"], capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def task(address, method, req, timeout=300):
    r = subprocess.run([TASK_CTL, address, method, json.dumps(req), str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 30)
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else r.stderr.strip())


def start(env, cid, bundle):
    r = shim(env, "start", cid, bundle)
    assert r.returncode == 0, r.stderr
    address = r.stdout.decode()
    assert address.startswith("unix://" + env["root"] + "/sock/") and address.endswith(".sock\n")
    return address.strip()


def daemon_pid(address):
    code, resp = task(address, "Connect", {"id": "x"})
    assert code == 0, resp
    return resp["shim_pid"]


def wait_gone(pid, seconds=30):
    for _ in range(seconds * 10):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def assert_clean(env):
    root = env["root"]
    assert procs_mentioning(root + "/state") == [], "VMM or virtiofsd left"
    assert mounts_under(root) == [], "mounts left: %r" % mounts_under(root)
    state = os.path.join(root, "state")
    assert not os.path.exists(state) or os.listdir(state) == []
    shared = os.path.join(root, "shared")
    assert not os.path.exists(shared) or os.listdir(shared) == []


def test_start_prints_only_the_address_and_connect_answers(env):
    bundle = make_bundle(env["root"], "c1", ["true"])
    address = start(env, "c1", bundle)
    pid = daemon_pid(address)
    assert os.getsid(pid) == pid  # its own session
    # A pod's second container gets the same daemon.
    b2 = make_bundle(env["root"], "c2", ["true"], {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": "c1"})
    assert start(env, "c2", b2) == address
    code, resp = task(address, "Checkpoint", {"id": "c1"})
    assert code == 1 and "Unimplemented" in resp
    code, resp = task(address, "State", {"id": "nope"})
    assert code == 1 and "NotFound" in resp
    code, _ = task(address, "Shutdown", {"id": "c1"})
    assert code == 0
    assert wait_gone(pid)
    assert not os.path.exists(address[len("unix://"):])
    assert_clean(env)


def test_create_boots_the_vm_and_runs_or_cleans_up(env):
    root = env["root"]
    bundle = make_bundle(root, "c1", ["echo", "hello"])
    os.mkfifo(os.path.join(root, "stdout"))
    out = os.open(os.path.join(root, "stdout"), os.O_RDONLY | os.O_NONBLOCK)
    address = start(env, "c1", bundle)
    pid = daemon_pid(address)
    code, resp = task(address, "Create", {"id": "c1", "bundle": bundle,
                                          "stdout": os.path.join(root, "stdout")})
    if code != 0:
        # The agent cannot create containers yet: the error says so, and the
        # sandbox it booted for this container is gone again.
        assert "create container `c1`" in resp and "CreateContainer" in resp, resp
        assert_clean(env)
    else:
        assert resp["pid"] > 0  # the VMM
        code, resp = task(address, "Start", {"id": "c1"})
        assert code == 0, resp
        code, resp = task(address, "Wait", {"id": "c1"})
        assert code == 0 and resp["exit_status"] == 0, resp
        time.sleep(0.5)
        assert os.read(out, 100) == b"hello\n"
        code, resp = task(address, "Delete", {"id": "c1"})
        assert code == 0, resp
        assert_clean(env)
    os.close(out)
    task(address, "Shutdown", {"id": "c1", "now": True})
    assert wait_gone(pid)
    assert_clean(env)


def test_delete_after_sigkill_of_the_daemon_cleans_everything(env):
    root = env["root"]
    bundle = make_bundle(root, "c1", ["sleep", "100"])
    address = start(env, "c1", bundle)
    pid = daemon_pid(address)
    # Create boots the VM; kill the daemon once the VMM is recorded.
    creator = subprocess.Popen([TASK_CTL, address, "Create",
                                json.dumps({"id": "c1", "bundle": bundle})],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(root, "state", "c1", "state.json")
    vmm = 0
    for _ in range(600):
        try:
            with open(state) as f:
                vmm = json.load(f)["vmm_pid"]
        except (OSError, ValueError):
            pass
        if vmm:
            break
        time.sleep(0.05)
    assert vmm, "the daemon never recorded a VMM"
    os.kill(pid, signal.SIGKILL)
    creator.wait(timeout=60)
    # The VMM may die with it (its console pipe breaks) or not; the state dir,
    # the shared dir's mount and possibly virtiofsd remain for `delete`.
    assert os.path.exists(state)
    r = shim(env, "delete", "c1", bundle)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) > 0  # a DeleteResponse protobuf
    assert_clean(env)
