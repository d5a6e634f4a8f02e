"""Issue 12, finding 4: the pid callers and OCI hooks get (the hooks' state
JSON, `kata-runtime state`, --pid-file) is a host process inside the
container's own network namespace, never one in the host's: Docker's
libnetwork prestart hook configures the netns of that pid (it once turned
IPv6 off on every host interface).  And finding 9: a config.json that is a
FIFO fails `create` at once.

The hook here does what libnetwork does, safely: it records the netns of the
pid it is given and, only when that is not the host's, turns IPv6 off in it.
Run through kata-runtime with the real sandbox daemon (a VM per test)."""
import json
import os
import subprocess
import uuid

import pytest

from runtime_bundle import SHIM
from test_runtime_lifecycle import Runtime, real_daemon_available, wait_gone, with_hooks

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not real_daemon_available(), reason=f"{SHIM} does not serve Task/Create"),
]

IPV6_ALL = "/proc/sys/net/ipv6/conf/all/disable_ipv6"

HOOK = r"""#!/bin/sh
# An OCI hook as Docker's libnetwork-setkey: the state JSON on stdin, then
# work on the network namespace of its pid.
out=$1 host=$2
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
ns=$(readlink "/proc/$pid/ns/net")
echo "$pid $ns" >> "$out"
if [ -n "$ns" ] && [ "$ns" != "$host" ]; then
    nsenter --net="/proc/$pid/ns/net" sh -c "echo 1 > $IPV6_ALL; ip -o link show" >> "$out.links"
fi
""".replace("$IPV6_ALL", IPV6_ALL)


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(tmp_path, "vm")
    yield runtime
    runtime.delete_all_and_check()


@pytest.fixture
def netns():
    """A private netns of this test (`ip netns add`), deleted afterwards."""
    name = f"kata-pid-{uuid.uuid4().hex[:12]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "delete", name], check=False)


def host_netns():
    return os.readlink("/proc/self/ns/net")


def host_ipv6():
    """disable_ipv6 of every host interface (and all, default)."""
    conf = "/proc/sys/net/ipv6/conf"
    values = {}
    for name in os.listdir(conf):
        try:
            values[name] = open(f"{conf}/{name}/disable_ipv6").read().strip()
        except OSError:
            pass  # went meanwhile
    return values


def assert_host_ipv6_unchanged(before):
    """Other tests on this machine add and remove host interfaces: compare
    those present before and after."""
    after = host_ipv6()
    common = set(before) & set(after)
    assert {"all", "default", "lo"} <= common
    assert {k: after[k] for k in common} == {k: before[k] for k in common}


def bundle_with_netns(rt, network):
    """A bundle whose spec's `network` namespace entry is network: a path, ""
    for a new netns (Docker's case), None for none (the host's)."""
    b = rt.bundle("b", ["sleep", "1000"])
    path = os.path.join(b, "config.json")
    spec = json.load(open(path))
    spaces = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    if network is not None:
        spaces.append({"type": "network", **({"path": network} if network else {})})
    spec["linux"]["namespaces"] = spaces
    json.dump(spec, open(path, "w"))
    hook = rt.tmp / "hook.sh"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    log = rt.tmp / "hook.log"
    entry = {"path": str(hook), "args": ["hook.sh", str(log), host_netns()], "timeout": 30}
    with_hooks(b, {"prestart": [entry], "createRuntime": [entry]})
    return b, log


def run_container(rt, network):
    """create + start with the hooks, an exec beside it; returns the netns of
    every pid reported (the hooks' twice, the state's, the exec's
    --pid-file) after checking that the host was left alone."""
    before = host_ipv6()
    assert before["all"] == "0", "IPv6 is off on this host: the test cannot tell"
    b, log = bundle_with_netns(rt, network)
    holder = rt.create("n1", b)
    rt("start", "n1", check=True)
    seen = [line.split() for line in log.read_text().splitlines()]
    assert len(seen) == 2, seen  # prestart and createRuntime
    state = rt.state("n1")
    assert state["pid"] == holder
    exec_pid_file = rt.tmp / "exec.pid"
    with open(rt.tmp / "exec.out", "w+") as out:
        # Files, not pipes: the detached exec's holder keeps its stdio.
        r = subprocess.run(rt.argv("exec", "--detach", "--pid-file", str(exec_pid_file), "n1",
                                   "sleep", "1000"), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=out, env=rt.env, timeout=rt.timeout)
        out.seek(0)
        assert r.returncode == 0, out.read()
    exec_holder = int(exec_pid_file.read_text())
    netns = [ns for _, ns in seen] + [os.readlink(f"/proc/{holder}/ns/net"),
                                      os.readlink(f"/proc/{exec_holder}/ns/net")]
    # exec --process naming a FIFO fails at once, naming it.
    fifo = rt.tmp / "process.json"
    os.mkfifo(fifo)
    r = rt("exec", "--process", str(fifo), "n1")
    assert r.returncode != 0 and f"`{fifo}` is a FIFO, not a regular file" in r.stderr, r.stderr
    rt("delete", "--force", "n1", check=True)
    wait_gone(holder)
    assert_host_ipv6_unchanged(before)
    return netns


def test_hooks_and_state_get_a_pid_in_the_spec_netns(rt, netns):
    path = f"/run/netns/{netns}"
    want = subprocess.run(["ip", "netns", "exec", netns, "readlink", "/proc/self/ns/net"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert want != host_netns()
    assert run_container(rt, path) == [want] * 4
    # The hook acted on the container's netns: IPv6 off there, not on the host.
    inside = subprocess.run(["ip", "netns", "exec", netns, "cat", IPV6_ALL],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert inside == "1"


def test_a_new_netns_without_a_path_is_made_for_the_vmm(rt):
    """Docker's case: the spec asks for a new netns (no path) and the
    libnetwork hook configures the netns of the pid it is given: one made
    for the sandbox, with its loopback only."""
    netns = run_container(rt, "")
    assert len(set(netns)) == 1, netns
    assert netns[0].startswith("net:[") and netns[0] != host_netns()
    try:  # pid 1 may be out of reach (this test bed runs in a sandbox)
        assert netns[0] != os.readlink("/proc/1/ns/net")
    except PermissionError:
        pass
    links = (rt.tmp / "hook.log.links").read_text().splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"] * 2, links


def test_no_network_entry_keeps_the_host_netns(rt):
    """No `network` namespace in the spec: the host's network, as runc."""
    assert run_container(rt, None) == [host_netns()] * 4
    assert not (rt.tmp / "hook.log.links").exists()


def test_a_fifo_config_json_fails_create_at_once(rt):
    b = rt.bundle("fifo", ["true"])
    config = os.path.join(b, "config.json")
    os.unlink(config)
    os.mkfifo(config)
    # Before the fix, the open of the FIFO waited for a writer for ever.
    r = subprocess.run(rt.argv("create", "--bundle", b, "f1"), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=rt.env, timeout=60)
    assert r.returncode != 0
    assert f"`{config}` is a FIFO, not a regular file" in r.stderr, r.stderr
    assert "does not exist" in rt("state", "f1").stderr
