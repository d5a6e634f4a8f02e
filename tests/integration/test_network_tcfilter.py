"""Container networking on the host side (Kata's tcfilter model), the way CNI
leaves a container's network namespace: a veth pair with one end in the netns
(an address, a default route, a permanent neighbour) and the other on the host.

net-probe (tests/tools/net-probe.c) drives src/lib/network.h: scan, attach
(tap + ingress qdiscs + u32/mirred redirects both ways), detach; and `vm`
boots a guest behind the tap, configures it through the agent
(UpdateInterface, UpdateRoutes, AddARPNeighbors) and the host pings it.

Every netns, veth and VM is removed by the fixtures, also when a test fails."""
import json
import os
import select
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from netns_env import assert_clean, netns, sh, subnet  # noqa: F401 (netns: a fixture)

TOP = Path(__file__).resolve().parents[2]
# KATA_NET_PROBE runs another build of it (build-asan's, say).
PROBE = Path(os.environ.get("KATA_NET_PROBE", TOP / "build/tests/tools/net-probe"))
ASSETS = Path(os.environ.get("KATA_ASSETS_DIR", TOP / "build/guest"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


def probe(*args, check=True):
    r = subprocess.run([str(PROBE), *args], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"net-probe {args}: {r.returncode}: {r.stderr}")
    return r


class Held:
    """A net-probe that holds something until its stdin closes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([str(PROBE), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self, timeout=120):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError("net-probe printed nothing in time")
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(timeout=30)
            raise AssertionError(f"net-probe exited {self.proc.returncode}: {self.proc.stderr.read()}")
        return json.loads(text)

    def send(self, text):
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


def test_scan_reports_what_the_guest_needs(netns):
    net = subnet()
    netns.add_veth("eth0", net, mtu=1400)
    netns.run("ip", "neigh", "add", f"{net}.9", "lladdr", "02:00:00:00:00:09", "dev", "eth0",
              "nud", "permanent")
    mac = netns.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    scan = json.loads(probe("scan", netns.path).stdout)
    [iface] = scan["interfaces"]
    assert iface["name"] == "eth0" and iface["device"] == "eth0"
    assert iface["hwAddr"] == mac
    assert iface["mtu"] == 1400
    assert iface["IPAddresses"] == [{"family": "v4", "address": f"{net}.2", "mask": "24"}]
    routes = {(r["dest"], r["gateway"]) for r in scan["routes"]["Routes"]}
    assert ("", f"{net}.1") in routes
    assert (f"{net}.0/24", "") in routes
    [neigh] = scan["neighbors"]["ARPNeighbors"]
    assert neigh["toIPAddress"]["address"] == f"{net}.9"
    assert neigh["lladdr"] == "02:00:00:00:00:09"


def test_attach_creates_tap_qdiscs_and_redirects_and_detach_removes_them(netns):
    netns.add_veth("eth0", subnet(), mtu=1420)
    mac = netns.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    held = Held("attach", netns.path)
    try:
        [tap] = held.line()["taps"]
        assert tap == {"name": "tap0_kata", "veth": "eth0", "mac": mac, "mtu": 1420}
        link = netns.run("ip", "-d", "link", "show", "tap0_kata").stdout
        assert "mtu 1420" in link and "tun type tap" in link and "vnet_hdr on" in link
        assert ",UP" in link
        qdiscs = netns.qdiscs()
        assert "qdisc ingress ffff: dev eth0 " in qdiscs
        assert "qdisc ingress ffff: dev tap0_kata " in qdiscs
        to_tap = netns.run("tc", "filter", "show", "dev", "eth0", "ingress").stdout
        assert "protocol all" in to_tap and "u32" in to_tap
        assert "mirred (Egress Redirect to device tap0_kata) stolen" in to_tap
        to_veth = netns.run("tc", "filter", "show", "dev", "tap0_kata", "ingress").stdout
        assert "mirred (Egress Redirect to device eth0) stolen" in to_veth
    finally:
        rc, err = held.finish()
    assert rc == 0, err
    probe("detach", netns.path)
    assert_clean(netns)
    # Detach is idempotent: a daemon retrying a delete finds nothing to do.
    probe("detach", netns.path)


# What Firecracker does with a NetworkInterface's host_dev_name: open the tap
# by name with TUNSETIFF (single queue, vnet header).
OPEN_TAP_BY_NAME = """
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
print("opened")
"""


def test_persistent_taps_open_by_name_for_a_vmm_and_detach_removes_them(netns):
    """A driver whose VMM opens taps by name (capabilities.tap_by_name): the
    taps outlive our fds, a single-queue open by name succeeds (it would be
    EBUSY while we held them), and detach removes them."""
    netns.add_veth("eth0", subnet())
    held = Held("attach", netns.path, "--persist")
    try:
        [tap] = held.line()["taps"]
        assert tap["name"] == "tap0_kata"
        r = netns.run("python3", "-c", OPEN_TAP_BY_NAME, "tap0_kata", check=False)
        assert r.returncode == 0 and "opened" in r.stdout, r.stderr
    finally:
        rc, err = held.finish()
    assert rc == 0, err
    # Nobody holds it now, and it is still there for the VMM.
    assert "tap0_kata" in netns.links()
    probe("detach", netns.path)
    assert_clean(netns)


def test_attach_one_tap_per_interface(netns):
    netns.add_veth("eth0", subnet())
    netns.add_veth("eth1", subnet(), mtu=9000, route=False)
    held = Held("attach", netns.path)
    try:
        taps = {t["veth"]: t for t in held.line()["taps"]}
        assert set(taps) == {"eth0", "eth1"}
        assert taps["eth1"]["mtu"] == 9000
        names = {t["name"] for t in taps.values()}
        assert names == {"tap0_kata", "tap1_kata"}
        for t in taps.values():
            out = netns.run("tc", "filter", "show", "dev", t["veth"], "ingress").stdout
            assert f"Redirect to device {t['name']})" in out
    finally:
        held.finish()
    probe("detach", netns.path)
    assert_clean(netns, ("eth0", "eth1"))


def test_detach_removes_taps_still_persistent(netns):
    """A tap left persistent by someone (or a crashed run) is removed too."""
    netns.add_veth("eth0", subnet())
    netns.run("ip", "tuntap", "add", "tap0_kata", "mode", "tap")
    probe("detach", netns.path)
    assert_clean(netns)


def test_model_none_leaves_the_netns_alone(netns):
    netns.add_veth("eth0", subnet())
    held = Held("attach", netns.path, "--model", "none")
    try:
        assert held.line() == {"taps": []}
        assert_clean(netns)
    finally:
        held.finish()


def test_failure_halfway_leaves_no_tap_or_qdisc(netns):
    netns.add_veth("eth0", subnet())
    netns.add_veth("eth1", subnet(), route=False)
    # eth1 already has an ingress qdisc: its attach fails after eth0's worked.
    netns.run("tc", "qdisc", "add", "dev", "eth1", "ingress")
    r = probe("attach", netns.path, check=False)
    assert r.returncode == 1
    assert f"netns `{netns.path}`: veth `eth1`: add ingress qdisc: File exists" in r.stderr
    assert_clean(netns, ("eth0",))
    # The caller's own qdisc is not ours to remove.
    assert "ingress ffff: dev eth1 " in netns.qdiscs()


def test_veth_gone_between_scan_and_attach(netns):
    netns.add_veth("eth0", subnet())
    netns.add_veth("eth1", subnet(), route=False)
    held = Held("attach", netns.path, "--pause-after-scan")
    try:
        assert held.line() == {"scanned": 2}
        netns.run("ip", "link", "del", "eth1")
        held.send("\n")
    finally:
        rc, err = held.finish()
    assert rc == 1
    assert f"netns `{netns.path}`: veth `eth1`: find it: No such device" in err
    assert_clean(netns, ("eth0",))


def test_netns_gone():
    path = "/run/netns/kt-net-no-such-netns"
    r = probe("attach", path, check=False)
    assert r.returncode == 1
    assert f"netns `{path}`: scan: open: No such file or directory" in r.stderr
    # Detach after the netns went: its interfaces went with it.
    probe("detach", path)


# ---- a VM behind the tap ----

def icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def icmp_ping(addr, seq, timeout=3.0):
    """One echo request; the round trip in seconds, or None."""
    ident = os.getpid() & 0xffff
    payload = b"kata-net-probe".ljust(56, b".")
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, icmp_checksum(header + payload), ident, seq) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        start = time.monotonic()
        s.sendto(packet, (addr, 0))
        while time.monotonic() - start < timeout:
            s.settimeout(timeout - (time.monotonic() - start))
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                return None
            ihl = (data[0] & 0x0f) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if peer[0] == addr and kind == 0 and rid == ident and rseq == seq:
                return time.monotonic() - start
    return None


def tap_packets(ns):
    out = ns.run("cat", "/sys/class/net/tap0_kata/statistics/rx_packets",
                 "/sys/class/net/tap0_kata/statistics/tx_packets").stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(not (ASSETS / "kata-agent-initrd.img").exists(),
                    reason="guest assets not built (guest/build-assets.sh)")
@pytest.mark.parametrize("machine", ["microvm", "q35"])
def test_guest_behind_the_tap_answers_ping(netns, machine):
    net = subnet()
    netns.add_veth("eth0", net, mtu=1400)
    mac = netns.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    held = Held("vm", netns.path, "--machine", machine, "--kernel", str(ASSETS / "vmlinux"),
                "--initrd", str(ASSETS / "kata-agent-initrd.img"))
    try:
        ready = held.line(timeout=180)
        [iface] = ready["interfaces"]
        # The agent's reply: the virtio-net device took the veth's name, MAC,
        # MTU and address.
        assert iface["name"] == "eth0"
        assert iface["hwAddr"] == mac
        assert iface["mtu"] == 1400
        assert {"family": "v4", "address": f"{net}.2", "mask": "24"} in iface["IPAddresses"]
        # vhost-net exactly where the host has it.
        qemu = sh("pgrep", "-af", f"mac={mac}").stdout
        vhost = os.access("/dev/vhost-net", os.R_OK | os.W_OK)
        assert ("vhost=on" if vhost else "vhost=off") in qemu, qemu
        if os.environ.get("KATA_NET_EXPECT_VHOST"):
            assert vhost
        rx0, tx0 = tap_packets(netns)
        rtts = [icmp_ping(f"{net}.2", seq) for seq in range(1, 6)]
        answered = [r for r in rtts if r is not None]
        assert len(answered) >= 3, rtts
        rx1, tx1 = tap_packets(netns)
        # The replies came from the guest through the tap, not from the netns.
        assert tx1 - tx0 >= len(answered) and rx1 - rx0 >= len(answered)
    finally:
        rc, err = held.finish(timeout=60)
    assert rc == 0, err
    assert_clean(netns)
    # The VMM that held the tap is gone.
    assert sh("pgrep", "-f", f"mac={mac}", check=False).stdout == ""
