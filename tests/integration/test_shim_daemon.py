"""The sandbox daemon's binary protocol and lifecycle (containerd-shim-kata-v2
`start`/`delete`, Connect, Shutdown, pod address reuse) and a daemon killed
while Create boots the VM.  End-to-end container behaviour is in
test_shim_e2e.py.  Every test checks that nothing is left behind."""
import json
import os
import signal
import subprocess
import time


from runtime_bundle import make_bundle
from shim_env import TASK_CTL, daemon_pid, task, wait_gone


def bundle(sh, cid, args, annotations=None):
    return make_bundle(os.path.join(sh.root, "bundles", cid), args, annotations=annotations)


def test_start_prints_only_the_address_and_connect_answers(sh):
    b1 = bundle(sh, "c1", ["true"])
    address = sh.start("c1", b1)
    pid = daemon_pid(address)
    assert os.getsid(pid) == pid  # its own session
    # A pod's second container gets the same daemon.
    b2 = bundle(sh, "c2", ["true"], {"io.kubernetes.cri.container-type": "container",
                                     "io.kubernetes.cri.sandbox-id": "c1"})
    assert sh.start("c2", b2) == address
    code, resp = task(address, "Checkpoint", {"id": "c1"})
    assert code == 1 and "Unimplemented" in resp
    code, resp = task(address, "State", {"id": "nope"})
    assert code == 1 and "NotFound" in resp
    code, _ = task(address, "Shutdown", {"id": "c1"})
    assert code == 0
    assert wait_gone(pid)
    assert not os.path.exists(address[len("unix://"):])
    sh.assert_clean()


def test_a_second_container_without_its_sandbox_is_refused(sh):
    b2 = bundle(sh, "c2", ["true"], {"io.kubernetes.cri.container-type": "container",
                                     "io.kubernetes.cri.sandbox-id": "nosuchpod"})
    r = sh.shim("start", "c2", b2)
    assert r.returncode != 0 and b"no daemon for sandbox `nosuchpod`" in r.stderr
    assert r.stdout == b""
    sh.assert_clean()


def test_delete_after_sigkill_of_the_daemon_during_create_cleans_everything(sh):
    b = bundle(sh, "c1", ["sleep", "100"])
    address = sh.start("c1", b)
    pid = daemon_pid(address)
    # Create boots the VM; kill the daemon once the VMM is recorded.
    creator = subprocess.Popen([TASK_CTL, address, "Create",
                                json.dumps({"id": "c1", "bundle": b})],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(sh.root, "state", "c1", "state.json")
    vmm = 0
    for _ in range(600):
        try:
            with open(state) as f:
                vmm = json.load(f).get("vmm", {}).get("pid", 0)
        except (OSError, ValueError):
            pass
        if vmm:
            break
        time.sleep(0.05)
    assert vmm, "the daemon never recorded a VMM"
    os.kill(pid, signal.SIGKILL)
    creator.wait(timeout=60)
    assert wait_gone(pid)
    # The state dir, the shared dir's mount, the VMM and virtiofsd remain for `delete`.
    assert os.path.exists(state)
    r = sh.shim("delete", "c1", b)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) > 0  # a DeleteResponse protobuf
    sh.assert_clean()
