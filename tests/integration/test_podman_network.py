"""podman with kata-runtime on bridge networks (netavark, aardvark-dns): a
published port fetched from the host, the host reached from a container over
the bridge, two containers on a user-defined network finding each other by
name, `podman wait` and `run --rm` on the bridge, and nothing left after rm -f
(no tap or ingress qdisc in the container's netns, no veth on the bridge, no
firewall rule of the network, no aardvark-dns).  The private podman
(podman_env.py) has a default network of its own (its own bridge and /24)."""
import json
import os
import socket
import subprocess
import time

import pytest

from netns_env import HostServer
from podman_env import Podman, podman_available
from shim_env import alive, assets_built

pytestmark = pytest.mark.skipif(
    not (assets_built() and podman_available() and os.path.exists("/usr/lib/podman/netavark")),
    reason="guest assets not built or podman/netavark not installed")

PAGE = "hello from a kata container"


@pytest.fixture(scope="module")
def podman():
    p = Podman(netns="bridge")
    try:
        p.image = p.import_image()
        yield p
    finally:
        p.cleanup()


def httpd(text):
    """A shell command serving text on port 80 (busybox httpd in the foreground)."""
    return ["sh", "-c", "mkdir -p /www && echo '%s' > /www/index.html && "
            "exec httpd -f -p 80 -h /www" % text]


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def curl(url, seconds=90):
    """The page at url, retried until the server in the VM answers."""
    end = time.time() + seconds
    while True:
        r = subprocess.run(["curl", "-sS", "-m", "10", url], capture_output=True, text=True)
        if r.returncode == 0 or time.time() > end:
            assert r.returncode == 0, "curl %s: %s" % (url, r.stderr)
            return r.stdout
        time.sleep(0.5)


def sandbox_key(podman, name):
    return podman.out("inspect", "--format", "{{.NetworkSettings.SandboxKey}}", name).strip()


class HeldNetns:
    """An fd on a container's netns: it outlives podman's unmount of the
    netns file, so what is left in it after rm can still be seen."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)

    def run(self, *cmd):
        r = subprocess.run(["nsenter", "--net=/proc/self/fd/%d" % self.fd, *cmd],
                           pass_fds=(self.fd,), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def links(self):
        return self.run("ip", "-o", "link", "show")

    def qdiscs(self):
        return self.run("tc", "qdisc", "show")

    def close(self):
        os.close(self.fd)


def assert_attached(ns):
    """The daemon's tcfilter wiring: a tap beside eth0, both with ingress qdiscs."""
    assert "tap0_kata" in ns.links(), ns.links()
    qdiscs = ns.qdiscs()
    assert "ingress ffff: dev eth0 " in qdiscs and "ingress ffff: dev tap0_kata " in qdiscs, qdiscs


def assert_left_nothing(podman, ns, cid, bridge):
    """After rm: the netns holds nothing but its loopback (no tap, no qdisc,
    the veth gone), no VMM or virtiofsd, no veth on the bridge."""
    links = ns.links()
    assert "_kata" not in links and "eth0" not in links, links
    assert "ingress" not in ns.qdiscs()
    assert podman.vmms(cid) == []
    assert not os.path.exists(podman.kata_state_dir(cid))
    r = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True,
                       text=True)
    assert r.stdout == "", r.stdout  # the bridge itself is gone once nothing is on it


def test_published_port_reached_from_the_host(podman):
    port = free_port()
    name = "web"
    cid = podman.out("run", "-d", "--name", name, "-p", "%d:80" % port, podman.image,
                     *httpd(PAGE)).strip()
    ns = HeldNetns(sandbox_key(podman, name))
    try:
        assert_attached(ns)
        ip = podman.out("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).strip()
        assert ip.startswith(podman.subnet.rsplit(".", 1)[0] + "."), ip
        assert curl("http://127.0.0.1:%d/" % port).strip() == PAGE
        assert curl("http://%s:80/" % ip).strip() == PAGE
        podman.run("rm", "-f", "-t", "0", name)
        assert_left_nothing(podman, ns, cid, podman.network)
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)
        ns.close()


def test_container_reaches_the_host_over_the_bridge(podman):
    """wget from the container to a server of the test, by the gateway's
    address and by the name podman gives it (host.containers.internal): the
    server sees the container's own address (no NAT on the bridge)."""
    server = HostServer("")  # the bridge exists only while a container is on it
    port = server.port
    gateway = podman.subnet.rsplit(".", 1)[0] + ".1"
    try:
        out = podman.out("run", "--rm", podman.image, "sh", "-c",
                         "wget -qO- http://%s:%d/a && wget -qO- http://host.containers.internal:%d/b"
                         " && ip -4 -o addr show eth0" % (gateway, port, port))
        lines = out.splitlines()
        assert lines[:2] == ["hello from the host"] * 2, out
        own = lines[2].split()[3].split("/")[0]
        assert server.clients == [own, own], (server.clients, out)
    finally:
        server.close()


def test_name_resolution_on_a_user_defined_network(podman):
    """Two containers (two VMs) on a network made by `podman network create`:
    aardvark-dns answers on the gateway's address, the guest's resolv.conf
    (the bundle's, through the shared dir) names it, B resolves A and fetches
    its page."""
    net = podman.network[:-1] + "d"
    a, b = podman.subnet.split(".")[1:3]
    subnet = "10.%s.%d" % (a, int(b) % 249 + 1)  # beside the default network's
    podman.run("network", "create", "--subnet", subnet + ".0/24", net)
    cid = bridge = None
    try:
        info = json.loads(podman.out("network", "inspect", net))[0]
        assert info["dns_enabled"] is True
        # podman 4.3 has no --interface-name: the bridge is the first free podmanN.
        bridge = info["network_interface"]
        cid = podman.out("run", "-d", "--name", "srva", "--network", net, podman.image,
                         *httpd("served by srva")).strip()
        out = podman.out("run", "--rm", "--network", net, podman.image, "sh", "-c",
                         "cat /etc/resolv.conf; nslookup srva; "
                         "for i in $(seq 60); do wget -qO- http://srva/ && exit 0; sleep 1; done;"
                         " exit 1")
        assert "nameserver %s.1" % subnet in out, out
        ip = podman.out("inspect", "--format",
                        "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % net,
                        "srva").strip()
        assert ip in out and out.rstrip().endswith("served by srva"), out
        podman.run("rm", "-f", "-t", "0", "srva")
        # netavark stops aardvark-dns with the network's last container.
        assert podman.wait_for(lambda: not [p for p in aardvark_pids(podman) if alive(p)], 30)
    finally:
        podman.run("rm", "-f", "-t", "0", "srva", check=False)
        podman.run("network", "rm", "-f", net, check=False)
    assert podman.vmms(cid) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert bridge and " %s:" % bridge not in links, links


def aardvark_pids(podman):
    out = subprocess.run(["pgrep", "-f", "aardvark-dns --config " + podman.root],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_wait_run_rm_and_rm_force_on_the_bridge(podman):
    r = podman.run("run", "--rm", podman.image, "sh", "-c", "ip -o link show eth0; exit 3",
                   check=False)
    assert r.returncode == 3 and b"eth0" in r.stdout, r

    name = "waited"
    cid = podman.out("run", "-d", "--name", name, podman.image, "sh", "-c",
                     "sleep 2; exit 5").strip()
    try:
        assert podman.out("wait", name).strip() == "5"
        podman.run("rm", name)
        assert podman.vmms(cid) == []
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)

    name = "forced"
    cid = podman.out("run", "-d", "--name", name, podman.image, "sleep", "600").strip()
    ns = HeldNetns(sandbox_key(podman, name))
    try:
        assert_attached(ns)
        podman.run("rm", "-f", "-t", "0", name)
        assert_left_nothing(podman, ns, cid, podman.network)
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)
        ns.close()
    # netavark took the network's firewall rules with its last container.
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert podman.subnet not in rules, [l for l in rules.splitlines() if podman.subnet in l]


def test_daemon_killed_rm_force_detaches(podman):
    """The sandbox daemon SIGKILLed: `kata-runtime delete --force` (podman's
    rm -f) kills the recorded VMM and detaches the recorded netns."""
    name = "orphaned"
    cid = podman.out("run", "-d", "--name", name, podman.image, "sleep", "600").strip()
    ns = HeldNetns(sandbox_key(podman, name))
    try:
        assert_attached(ns)
        with open(os.path.join(podman.kata_state_dir(cid), "state.json")) as f:
            state = json.load(f)
        with open(os.path.join(podman.root, "vc", cid, "state.json")) as f:
            assert json.load(f)["netns"] == sandbox_key(podman, name)  # the daemon's record
        os.kill(state["daemon_pid"], 9)
        assert podman.wait_for(
            lambda: podman.out("inspect", "--format", "{{.State.Status}}", name).strip()
            == "exited")
        podman.run("rm", "-f", "-t", "0", name)
        assert_left_nothing(podman, ns, cid, podman.network)
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)
        ns.close()
