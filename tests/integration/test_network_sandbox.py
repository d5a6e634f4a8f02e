"""A container's network through the sandbox daemon (Kata's tcfilter model):
the test makes a netns the way CNI's bridge plugin does (netns_env.py: a veth
with an address and a default route inside, the gateway's address on the host
end), points the bundle's `network` namespace at it and runs the container
with `kata-runtime run` (and `ctr run --with-ns`).  Inside, eth0 has the
veth's address and MAC and the default route; the host pings the container
and opens TCP to it, the container fetches from an HTTP server on the host
end.  After delete the netns has no tap or ingress qdisc left; a daemon killed
with SIGKILL is cleaned by `delete --force`; a netns path that does not exist
fails naming it; internetworking_model = "none" and disable_new_netns.

Every netns, veth, VM and state dir is removed by the fixtures."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from netns_env import HostServer, assert_clean, netns, subnet  # noqa: F401 (netns: a fixture)
from runtime_bundle import make_bundle
from shim_env import assets_built, wait_for
from test_runtime_lifecycle import Runtime

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not assets_built(), reason="guest assets not built (guest/build-assets.sh)"),
]

# What the container prints before it serves TCP on port 5001 (each
# connection: the byte count it received, back to the sender).
PROBE_SCRIPT = ("ip -o addr show; ip -o link show; ip route; "
                "wget -q -O- http://{gw}:{port}/hello; echo; echo READY; "
                "exec nc -ll -p 5001 -e wc -c")


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(tmp_path, "vm")
    yield runtime
    runtime.delete_all_and_check()


def netns_bundle(rt, name, args, netns_path):
    """A bundle whose `network` namespace is netns_path (None: the entry without a path)."""
    path = make_bundle(str(rt.tmp / name), args)
    with open(os.path.join(path, "config.json")) as f:
        spec = json.load(f)
    namespaces = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
    namespaces.append({"type": "network", "path": netns_path} if netns_path else {"type": "network"})
    spec["linux"]["namespaces"] = namespaces
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    return path


def set_runtime_option(rt, key, value):
    text = rt.config.read_text()
    text = re.sub(rf"^#?{key} = .*$", f"{key} = {value}", text, flags=re.M)
    rt.config.write_text(text)


def run_in_background(rt, cid, bundle):
    out = open(rt.tmp / f"{cid}.out", "w")
    proc = subprocess.Popen(rt.argv("run", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT, env=rt.env)
    out.close()
    return proc


def wait_output(rt, cid, proc, text, timeout=300):
    deadline = time.time() + timeout
    while text not in rt.output(cid):
        assert proc.poll() is None, f"run exited {proc.returncode}: {rt.output(cid)}"
        assert time.time() < deadline, f"no {text!r} in time: {rt.output(cid)}"
        time.sleep(0.1)
    return rt.output(cid)


def tcp_count(addr, payload, timeout=60):
    """Send payload to the container's port 5001, return the count it received."""
    with socket.create_connection((addr, 5001), timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.strip())


def stop(rt, cid, proc):
    rt("kill", cid, "KILL", check=True)
    assert proc.wait(rt.timeout) == 137


def test_container_has_the_netns_network_both_ways(rt, netns):
    net = subnet()
    netns.add_veth("eth0", net, mtu=1400)
    mac = netns.mac("eth0")
    server = HostServer(f"{net}.1")
    try:
        script = PROBE_SCRIPT.format(gw=f"{net}.1", port=server.port)
        b = netns_bundle(rt, "b", ["sh", "-c", script], netns.path)
        proc = run_in_background(rt, "c1", b)
        try:
            out = wait_output(rt, "c1", proc, "READY")
            # The guest's eth0: the veth's address, MAC and MTU, the default route.
            assert re.search(rf"eth0\s+inet {re.escape(net)}\.2/24", out), out
            assert re.search(rf"eth0:.*mtu 1400.*link/ether {mac}", out), out
            assert f"default via {net}.1 dev eth0" in out, out
            # container -> host: HTTP through tap, redirect, veth.
            assert "hello from the host" in out, out
            # While it runs: a tap beside eth0, eth0's ingress redirected.
            assert "tap0_kata" in netns.links()
            assert "ingress ffff: dev eth0 " in netns.qdiscs()
            # host -> container: ICMP and TCP.
            ping = subprocess.run(["busybox", "ping", "-c", "3", "-W", "20", f"{net}.2"],
                                  capture_output=True, text=True, timeout=120)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            assert tcp_count(f"{net}.2", b"z" * 300000) == 300000
            stop(rt, "c1", proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        server.close()
    # `run` deleted the container: the netns is as CNI left it.
    assert_clean(netns)
    assert "eth0" in netns.links()


def test_create_start_delete_leaves_the_netns_clean(rt, netns):
    net = subnet()
    netns.add_veth("eth0", net)
    b = netns_bundle(rt, "b", ["sh", "-c", "sleep 600"], netns.path)
    rt.create("c1", b)
    state_dirs = os.listdir(rt.tmp / "vc")
    assert len(state_dirs) == 1
    state = json.loads((rt.tmp / "vc" / state_dirs[0] / "state.json").read_text())
    assert state["netns"] == netns.path
    rt("start", "c1", check=True)
    ping = subprocess.run(["busybox", "ping", "-c", "2", "-W", "20", f"{net}.2"],
                          capture_output=True, text=True, timeout=120)
    assert ping.returncode == 0, ping.stdout
    rt("delete", "--force", "c1", check=True)
    assert_clean(netns)


def test_daemon_killed_then_delete_force_detaches(rt, netns):
    net = subnet()
    netns.add_veth("eth0", net)
    b = netns_bundle(rt, "b", ["sh", "-c", "sleep 600"], netns.path)
    rt.create("c1", b)
    sid = os.listdir(rt.tmp / "vc")[0]
    state = json.loads((rt.tmp / "vc" / sid / "state.json").read_text())
    os.kill(state["daemon"]["pid"], signal.SIGKILL)
    assert "ingress ffff: dev eth0 " in netns.qdiscs()
    rt("delete", "--force", "c1", check=True)
    assert wait_for(lambda: "_kata" not in netns.links(), 30), netns.links()
    assert_clean(netns)


def test_missing_netns_fails_naming_it(rt):
    missing = f"/run/netns/kt-missing-{os.getpid()}"
    b = netns_bundle(rt, "b", ["true"], missing)
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode != 0
    assert missing in r.stderr and "No such file or directory" in r.stderr, r.stderr


def test_not_a_netns_fails_naming_it(rt):
    b = netns_bundle(rt, "b", ["true"], "/etc/hostname")
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode != 0
    assert "/etc/hostname" in r.stderr and "not a network namespace" in r.stderr, r.stderr


def test_new_netns_gives_loopback_only(rt):
    b = netns_bundle(rt, "b", ["sh", "-c", "ip -o link show"], None)
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode == 0, r.stderr
    assert "lo:" in r.stdout and "eth" not in r.stdout, r.stdout


def test_model_none_leaves_the_netns_alone(rt, netns):
    netns.add_veth("eth0", subnet())
    set_runtime_option(rt, "internetworking_model", '"none"')
    b = netns_bundle(rt, "b", ["sh", "-c", "ip -o link show"], netns.path)
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode == 0, r.stderr
    assert "eth0" not in r.stdout, r.stdout
    assert_clean(netns)


def test_disable_new_netns_needs_model_none(rt, netns):
    netns.add_veth("eth0", subnet())
    set_runtime_option(rt, "disable_new_netns", "true")
    b = netns_bundle(rt, "b", ["true"], netns.path)
    r = rt("run", "--bundle", b, "c1")
    assert r.returncode != 0
    assert "disable_new_netns" in r.stderr and "internetworking_model" in r.stderr, r.stderr
    assert str(rt.config) in r.stderr, r.stderr
    assert_clean(netns)
    # With "none" it is accepted: no interface.
    set_runtime_option(rt, "internetworking_model", '"none"')
    b = netns_bundle(rt, "b2", ["sh", "-c", "ip -o link show"], netns.path)
    r = rt("run", "--bundle", b, "c2")
    assert r.returncode == 0, r.stderr
    assert "eth0" not in r.stdout, r.stdout


def test_ctr_run_with_ns(netns):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (scripts/install-deps.sh)")
    from containerd_env import KATA, Containerd
    net = subnet()
    netns.add_veth("eth0", net)
    mac = netns.mac("eth0")
    server = HostServer(f"{net}.1")
    c = Containerd().start()
    try:
        image = c.import_image()
        r = c.ctr("run", "--rm", "--runtime", KATA, "--with-ns", f"network:{netns.path}", image,
                  "netc1", "sh", "-c",
                  f"ip -o addr show eth0; ip -o link show eth0; ip route; "
                  f"wget -q -O- http://{net}.1:{server.port}/")
        out = r.stdout.decode()
        assert f"inet {net}.2/24" in out and mac in out, out
        assert f"default via {net}.1 dev eth0" in out, out
        assert "hello from the host" in out, out
    finally:
        c.cleanup()
        server.close()
    assert_clean(netns)
