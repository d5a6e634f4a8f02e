"""kata-vmm speaks Firecracker's API (docs/vmm.md, "Firecracker's API").

A real `kata-vmm --api-sock PATH --id ID` is started in a private temporary
directory and a network namespace of its own (`unshare --net`: the taps it
opens by name are made there and go with it), and talked to over its unix
socket as the firecracker driver does.  The requests are the driver's own
bodies (build/tests/tools/fc-bodies, built from the builders the driver
calls), each checked against tests/fc_api/schema.json (written from
Firecracker's swagger document) before it is sent; the refusals say whether
the document allows the body (kata-vmm does not support it) or not.  Every
answer is checked against the schema: 204 without a body, InstanceInfo for
GET /, and errors as Error, {"fault_message": "..."}, naming the route and
the field.

No guest boots here (these machines have no usable KVM): InstanceStart of a
VM whose kernel does not exist answers 500 and the VM stays "Not started".
Booted VMs, pause, resume and drive swaps are the KVM test bed's
(tests/kvm-testbed/fc-vmm.sh).

KATA_VMM_PATH names the VMM binary (default: build/src/vmm/kata-vmm)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import api_schema

TOP = Path(__file__).resolve().parents[2]
SCHEMA = api_schema.Schema(TOP / "tests/fc_api/schema.json", api_schema.format_checker("int64"))
schema = SCHEMA.fixture()
VMM = Path(os.environ.get("KATA_VMM_PATH", TOP / "build/src/vmm/kata-vmm"))
BODIES = Path(os.environ.get("KATA_FC_BODIES", TOP / "build/tests/tools/fc-bodies"))
# The run directory the driver's sample bodies name; replaced by the test's.
SAMPLE_RUN_DIR = "/run/kata/sb"


def route_of(schema, method, path):
    """The schema's route ("PUT /drives/{drive_id}") for a concrete path."""
    for route in schema["x-endpoints"]:
        m, pattern = route.split(" ")
        if m != method:
            continue
        head, _, tail = pattern.partition("{")
        if tail and path.startswith(head) and "/" not in path[len(head):] and path != head:
            return route
        if not tail and path == pattern:
            return route
    return None


class Vmm:
    """One kata-vmm --api-sock process in a directory and a netns of its own."""

    def __init__(self, tmp_path, instance_id="sb-1"):
        if not VMM.exists():
            pytest.fail(f"{VMM} is missing: build it (make -s all)")
        self.dir = tmp_path
        self.sock = str(tmp_path / "firecracker.socket")
        self.err = open(tmp_path / "vmm.err", "w+")
        self.proc = subprocess.Popen(
            ["unshare", "--net", str(VMM), "--api-sock", self.sock, "--id", instance_id],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 60
        while not self.connectable():
            assert self.proc.poll() is None, f"kata-vmm exited: {self.stderr()}"
            assert time.monotonic() < deadline, "kata-vmm's socket never accepted"
            time.sleep(0.02)

    def connectable(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stderr(self):
        return (self.dir / "vmm.err").read_text()

    def raw(self, method, path, data=b"", fds=()):
        """One request on a connection of its own: (status, body bytes)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(self.sock)
            head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
            msg = head.encode() + data
            if fds:
                sent = s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                          b"".join(fd.to_bytes(4, "little") for fd in fds))])
                s.sendall(msg[sent:])
            else:
                s.sendall(msg)
            resp = http.client.HTTPResponse(s)
            resp.begin()
            return resp.status, resp.read()
        finally:
            s.close()

    def netns_links(self):
        out = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n", "ip", "-o", "link"],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.err.close()


@pytest.fixture
def vmm(tmp_path):
    v = Vmm(tmp_path)
    yield v
    status = v.stop()
    assert status == 0, f"kata-vmm exited {status} after SIGTERM: {v.stderr()}"
    assert not os.path.exists(v.sock), "kata-vmm left its socket"


def call(schema, vmm, method, path, body=None, raw=None):
    """Send body (checked against the route's request definition unless raw
    bytes are given); check the answer against the schema; (status, answer)."""
    route = route_of(schema, method, path)
    spec = schema["x-endpoints"].get(route, {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    status, text = vmm.raw(method, path, data)
    if status == 204:
        assert text == b"", f"{method} {path}: 204 with a body: {text!r}"
        return status, None
    answer = json.loads(text)
    definition = "Error" if status >= 300 else spec.get("responses", {}).get(str(status))
    assert definition, f"{method} {path}: {status} is not an answer of the schema's"
    assert SCHEMA.errors(schema, definition, answer) == [], (method, path, status, answer)
    if definition == "Error":
        assert answer.get("fault_message"), f"{method} {path}: an error without fault_message"
    return status, answer


def state(schema, vmm):
    status, info = call(schema, vmm, "GET", "/")
    assert status == 200
    return info["state"]


def driver_rows(tmp_path):
    rows = []
    for request, body in api_schema.driver_bodies(BODIES):
        text = json.dumps(body).replace(SAMPLE_RUN_DIR, str(tmp_path))
        rows.append((request, json.loads(text)))
    return rows


def test_instance_info(schema, vmm):
    status, info = call(schema, vmm, "GET", "/")
    assert status == 200
    assert info["id"] == "sb-1" and info["state"] == "Not started"
    assert info["app_name"] == "kata-vmm" and info["vmm_version"]


def test_driver_bodies(schema, vmm, tmp_path):
    """Every body the driver sends, in its order; what kata-vmm cannot do
    before boot (or at all) is refused with a 400 naming the field."""
    expect_refused = {
        # (request, a field the body has): what the fault names
        ("PUT /machine-config", 32): "vcpu_count",  # kata-vmm: at most 16 vCPUs
        ("PUT /actions", "SendCtrlAltDel"): "not supported before starting",
        ("PATCH /vm", "Paused"): "not supported before starting",
        ("PATCH /vm", "Resumed"): "not supported before starting",
        ("PATCH /drives/drive_0", None): "not supported before starting",
    }
    seen = set()
    for request, body in driver_rows(tmp_path):
        method, path = request.split(" ")
        route = route_of(schema, method, path)
        assert route, f"{request}: not a route of the schema"
        spec = schema["x-endpoints"][route]
        assert SCHEMA.errors(schema, spec["request"], body) == [], (request, body)
        if request == "PUT /actions" and body["action_type"] == "InstanceStart":
            # The sample files (/k/...) do not exist: the VM cannot be built.
            status, answer = call(schema, vmm, method, path, body)
            assert status == 500 and "InstanceStart" in answer["fault_message"], answer
            assert "`/k/" in answer["fault_message"], answer
            assert state(schema, vmm) == "Not started"
            seen.add(route)
            continue
        key = next((v for v in (body.get("vcpu_count"), body.get("action_type"),
                                body.get("state")) if v is not None), None)
        if method == "PATCH" and path.startswith("/drives/"):
            key = None
        status, answer = call(schema, vmm, method, path, body)
        what = expect_refused.get((request, key))
        if what:
            assert status == 400, (request, body, answer)
            assert what in answer["fault_message"], answer
            assert (method + " " + path in answer["fault_message"]
                    or body.get("action_type", "") in answer["fault_message"]), answer
        else:
            assert status == 204, (request, body, answer)
        seen.add(route)
    for route, spec in schema["x-endpoints"].items():
        if "request" in spec:
            assert route in seen, f"fc-bodies sent nothing to {route}"
    # The taps the driver named were opened by name in kata-vmm's netns.
    links = vmm.netns_links()
    assert "tap0_kata" in links and "tap1_kata" in links, links
    # The logger and metrics files are kata-vmm's to write (FlushMetrics).
    status, _ = call(schema, vmm, "PUT", "/actions", {"action_type": "FlushMetrics"})
    assert status == 204
    metrics = (tmp_path / "fc-metrics.json").read_text()
    assert "utc_timestamp_ms" in json.loads(metrics.splitlines()[-1]), metrics
    assert (tmp_path / "fc-logger.log").exists()


# (method, path, body, what the fault names, whether the document allows it)
REFUSALS = [
    ("PUT", "/machine-config", {"vcpu_count": 1}, "mem_size_mib is required", False),
    ("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 128}, "vcpu_count", False),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 8}, "mem_size_mib", True),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "max_vcpus": 2},
     "max_vcpus: unknown field", False),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "T2"},
     "cpu_template: `T2` is not supported by kata-vmm", True),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "smt": True},
     "smt: `true` is not supported by kata-vmm", True),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": "128"},
     "mem_size_mib: expected an integer", False),
    ("PUT", "/boot-source", {"boot_args": "quiet"}, "kernel_image_path is required", False),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/p"},
     "is_root_device is required", False),
    ("PUT", "/drives/d1", {"drive_id": "d2", "path_on_host": "/p", "is_root_device": False},
     "drive_id `d2` differs from the path's `d1`", False),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/p", "is_root_device": True},
     "is_root_device: `true` is not supported by kata-vmm", True),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/p", "is_root_device": False,
                           "io_engine": "Async"}, "io_engine: `Async` is not supported", True),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/p", "is_root_device": False,
                           "rate_limiter": {}}, "rate_limiter: not supported by kata-vmm", True),
    ("PUT", "/drives/d1", {"drive_id": "d1", "is_root_device": False, "socket": "/s"},
     "socket: not supported by kata-vmm", True),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/p", "is_root_device": False,
                           "readonly": True}, "readonly: unknown field", False),
    ("PUT", "/drives/this_id_is_longer_than_20", {
        "drive_id": "this_id_is_longer_than_20", "path_on_host": "/p", "is_root_device": False},
     "at most 20 bytes", True),
    ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0"}, "host_dev_name is required", False),
    ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "t",
                                         "mtu": 67}, "mtu", False),
    ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "x" * 16},
     "host_dev_name", True),
    ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "t",
                                         "rx_rate_limiter": {}}, "rx_rate_limiter", True),
    ("PUT", "/vsock", {"guest_cid": 2, "uds_path": "/s"}, "cid", False),
    ("PUT", "/vsock", {"guest_cid": 3}, "socket is required", False),
    ("PUT", "/logger", {"level": "Verbose"}, "level: `Verbose`", False),
    ("PUT", "/logger", {"module": "vmm"}, "module: not supported by kata-vmm", True),
    ("PUT", "/logger", {"log_path": "/nonexistent-dir/log"}, "log_path `/nonexistent-dir/log`",
     True),
    ("PUT", "/metrics", {}, "metrics_path is required", False),
    ("PUT", "/actions", {"action_type": "Shutdown"}, "action_type: `Shutdown`", False),
    ("PUT", "/actions", {"action_type": "InstanceStart"}, "no boot source", True),
    ("PUT", "/actions", {"action_type": "FlushMetrics"}, "no metrics_path", True),
    ("PATCH", "/vm", {"state": "Running"}, "state: `Running`", False),
    ("PATCH", "/drives/d1", {"path_on_host": "/p"}, "not supported before starting", False),
    ("PUT", "/machine-config", None, "needs a JSON body", False),
]


@pytest.mark.parametrize("method,path,body,what,allowed", REFUSALS,
                         ids=[f"{m} {p} {w}" for m, p, _, w, _ in REFUSALS])
def test_refusals(schema, vmm, method, path, body, what, allowed):
    route = route_of(schema, method, path)
    if body is not None:
        spec = schema["x-endpoints"][route]
        errs = SCHEMA.errors(schema, spec["request"], body)
        param = spec.get("x-path-param")
        if param and param in body and body[param] != path.rsplit("/", 1)[1]:
            errs.append(f"{param} differs from the path")
        assert (errs == []) == allowed, (body, errs)
    status, answer = call(schema, vmm, method, path, body)
    assert status == 400, (body, answer)
    assert what in answer["fault_message"], answer
    assert state(schema, vmm) == "Not started"


@pytest.mark.parametrize("method,path,data,what", [
    ("PUT", "/machine-config", b"{\"vcpu_count\": 1,", "not JSON"),
    ("PUT", "/machine-config", b"[1, 2]", "expected an object"),
    ("PUT", "/machine-config", b"{}  {}", "bytes after the value"),
    ("PUT", "/boot-source", b"{\"kernel_image_path\": \"" + b"k" * 5000 + b"\"}",
     "longer than 4096 bytes"),
    ("GET", "/machine-config", b"", "Invalid request method and/or path"),
    ("PUT", "/snapshot/create", b"{}", "Invalid request method and/or path"),
    ("PUT", "/drives/", b"{}", "Invalid request method and/or path"),
    ("PUT", "/drives/a/b", b"{}", "Invalid request method and/or path"),
    ("GET", "/api/v1/vmm.ping", b"", "Invalid request method and/or path"),
])
def test_bad_requests(schema, vmm, method, path, data, what):
    status, answer = call(schema, vmm, method, path, raw=data)
    assert status == 400, answer
    assert what in answer["fault_message"], answer


def test_body_bounded(schema, vmm):
    """A body above kata-vmm's 64 KiB is refused before it is read whole."""
    data = b"{\"boot_args\": \"" + b"x" * (70 << 10) + b"\"}"
    status, text = vmm.raw("PUT", "/boot-source", data)
    assert status == 413
    answer = json.loads(text)
    assert SCHEMA.errors(schema, "Error", answer) == [] and answer["fault_message"]


def test_fds_refused(schema, vmm, tmp_path):
    with open(tmp_path / "f", "w") as f:
        status, text = vmm.raw("PUT", "/vsock", b"{\"guest_cid\": 3, \"uds_path\": \"/s\"}",
                               fds=[f.fileno()])
    assert status == 400
    assert "file descriptors" in json.loads(text)["fault_message"]


def test_put_replaces(schema, vmm, tmp_path):
    """A second PUT of a drive or an interface id replaces it, as
    Firecracker's does before boot; a new id adds one up to kata-vmm's
    limit (12 drives)."""
    for i in range(12):
        body = {"drive_id": f"d{i}", "path_on_host": f"/p{i}", "is_root_device": False}
        assert call(schema, vmm, "PUT", f"/drives/d{i}", body)[0] == 204
    body = {"drive_id": "d0", "path_on_host": "/other", "is_root_device": False,
            "is_read_only": True}
    assert call(schema, vmm, "PUT", "/drives/d0", body)[0] == 204
    body = {"drive_id": "d12", "path_on_host": "/p", "is_root_device": False}
    status, answer = call(schema, vmm, "PUT", "/drives/d12", body)
    assert status == 400 and "at most 12 disks" in answer["fault_message"], answer
    for _ in range(2):
        body = {"iface_id": "eth0", "host_dev_name": "tapx", "guest_mac": "02:00:00:00:00:01"}
        assert call(schema, vmm, "PUT", "/network-interfaces/eth0", body)[0] == 204
    assert vmm.netns_links().count("tapx") == 1


def test_sigterm_exits(schema, tmp_path):
    v = Vmm(tmp_path)
    assert v.stop() == 0
    assert not os.path.exists(v.sock)


@pytest.mark.parametrize("args,what", [
    (["--api-sock", "S", "--id", "bad/id"], "--id `bad/id`"),
    (["--api-sock", "S", "--config-file", "x"], "--config-file"),
    (["--api-sock", "S", "--level", "Loud"], "--level `Loud`"),
    (["--api-sock", "S", "--api-socket", "path=T"], "one of them"),
    (["--id", "x"], "--id goes with --api-sock"),
])
def test_options_refused(tmp_path, args, what):
    args = [a.replace("S", str(tmp_path / "s")).replace("T", str(tmp_path / "t")) for a in args]
    r = subprocess.run([str(VMM), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r
    assert what in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "s")
