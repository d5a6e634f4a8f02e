"""A container network namespace the way CNI leaves one: `ip netns add`, a
veth pair with one end inside (an address, a default route via the host end)
and the other end on the host with the gateway's address.  Used by
test_network_tcfilter.py, test_network_sandbox.py and bench/net (HostServer
also by test_podman_network.py).  Not a test module itself."""
import http.server
import os
import random
import subprocess
import threading

try:
    import pytest
except ImportError:  # bench/ scripts use Netns without pytest
    pytest = None


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def subnet():
    """A /24 prefix ("10.a.b") unlikely to meet another test run's."""
    return f"10.{random.randrange(200, 250)}.{random.randrange(1, 250)}"


class Netns:
    """A netns named like CNI's, with veths added by add_veth()."""

    def __init__(self):
        tag = f"{os.getpid() % 10000}{random.randrange(100, 1000)}"
        self.name = f"kt-net-{tag}"
        self.path = f"/run/netns/{self.name}"
        self.tag = tag
        self.host_ends = []
        sh("ip", "netns", "add", self.name)

    def add_veth(self, inside, subnet, mtu=1500, route=True):
        host = f"kt{self.tag}{len(self.host_ends)}"
        self.host_ends.append(host)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", inside, "netns", self.name)
        sh("ip", "addr", "add", f"{subnet}.1/24", "dev", host)
        sh("ip", "link", "set", host, "up")
        sh("ip", "-n", self.name, "link", "set", inside, "mtu", str(mtu), "up")
        sh("ip", "-n", self.name, "addr", "add", f"{subnet}.2/24", "dev", inside)
        if route:
            sh("ip", "-n", self.name, "route", "add", "default", "via", f"{subnet}.1")
        return host

    def run(self, *args, check=True):
        return sh("ip", "netns", "exec", self.name, *args, check=check)

    def links(self):
        return self.run("ip", "-o", "link", "show").stdout

    def qdiscs(self):
        return self.run("tc", "qdisc", "show").stdout

    def mac(self, dev):
        return self.run("cat", f"/sys/class/net/{dev}/address").stdout.strip()

    def delete(self):
        for host in self.host_ends:
            sh("ip", "link", "del", host, check=False)
        sh("ip", "netns", "del", self.name, check=False)


def _netns():
    """A fresh Netns, deleted (with its veths) after the test."""
    ns = Netns()
    try:
        yield ns
    finally:
        ns.delete()


netns = pytest.fixture(_netns, name="netns") if pytest else None


class HostServer:
    """An HTTP server on the host (addr "" for all addresses); clients lists
    the address of each request."""

    def __init__(self, addr):
        clients = self.clients = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                clients.append(self.client_address[0])
                body = b"hello from the host\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((addr, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def assert_clean(ns, veths=("eth0",)):
    """No tap of ours and no ingress qdisc on the veths."""
    assert "_kata" not in ns.links()
    qdiscs = ns.qdiscs()
    for veth in veths:
        assert f"ingress ffff: dev {veth} " not in qdiscs, qdiscs
