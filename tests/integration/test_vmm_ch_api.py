"""kata-vmm speaks Cloud Hypervisor's API (docs/vmm.md, "The control socket").

A real kata-vmm is started with `--api-socket path=...` in a private temporary
directory and talked to over its unix socket, the way the clh driver does.
Every request body is checked against tests/ch_api/schema.json (written from
Cloud Hypervisor's OpenAPI document) before it is sent: bodies kata-vmm
should take are valid there, and each refusal says whether the document
allows the body (kata-vmm does not support it) or not (the document does not
either).  Every answer is checked against the schema too: VmmPingResponse,
VmInfo, the status codes the document lists for the route (or one of
kata-vmm's listed below, with the reason), and errors as {"error": "..."}
naming the endpoint and the field.

No guest boots here (these machines have no usable KVM): vm.boot of a VM whose
kernel does not exist answers 500.  Booted VMs are the KVM test bed's
(tests/kvm-testbed/clh-vmm.sh).

KATA_VMM_PATH names the VMM binary (default: build/src/vmm/kata-vmm)."""
import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

TOP = Path(__file__).resolve().parents[2]
SCHEMA_PATH = TOP / "tests/ch_api/schema.json"
VMM = Path(os.environ.get("KATA_VMM_PATH", TOP / "build/src/vmm/kata-vmm"))

# Answers kata-vmm gives that the document does not list for the route, and why.
KATA_VMM_CODES = {
    ("PUT /api/v1/vm.create", 400): "a VmConfig the document or kata-vmm does not allow",
    ("PUT /api/v1/vm.create", 409): "a VM exists already",
    ("PUT /api/v1/vm.boot", 405): "the VM is booted already",
    ("PUT /api/v1/vm.boot", 500): "the VM cannot be built",
    ("PUT /api/v1/vm.resize", 400): "a size kata-vmm cannot give (no hotplug)",
    ("PUT /api/v1/vm.remove-device", 400): "a body the document does not allow",
    ("PUT /api/v1/vm.remove-device", 500): "after boot: virtio-mmio does not unplug",
    ("GET /api/v1/vmm.ping", 400): "file descriptors sent with a request that takes none",
}


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def check(schema, definition, value):
    sub = {"$ref": "#/definitions/" + definition, "definitions": schema["definitions"]}
    return [e.message for e in jsonschema.Draft7Validator(sub).iter_errors(value)]


class Vmm:
    """One kata-vmm --api-socket process in a directory of its own."""

    def __init__(self, tmp_path, *extra):
        if not VMM.exists():
            pytest.fail(f"{VMM} is missing: build it (make -s all)")
        self.dir = tmp_path
        self.sock = str(tmp_path / "api.sock")
        self.err = open(tmp_path / "vmm.err", "w+")
        self.proc = subprocess.Popen([str(VMM), "--api-socket", "path=" + self.sock, *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
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
        self.err.seek(0)
        return self.err.read()

    def raw(self, method, route, data=b"", fds=()):
        """One request on a connection of its own: (status, body bytes)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(self.sock)
            head = (f"{method} /api/v1/{route} HTTP/1.1\r\nHost: localhost\r\n"
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

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.raw("PUT", "vmm.shutdown")
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@pytest.fixture
def vmm(tmp_path):
    v = Vmm(tmp_path)
    yield v
    v.stop()


class Api:
    """Requests whose bodies and answers are checked against the schema."""

    def __init__(self, vmm, schema):
        self.vmm, self.schema = vmm, schema

    def call(self, method, route, body=None, fds=(), valid=True):
        key = f"{method} /api/v1/{route}"
        spec = self.schema["x-endpoints"].get(key)
        if body is not None and spec is not None and "request" in spec:
            errs = check(self.schema, spec["request"], body)
            if valid:
                assert errs == [], f"{key}: the body the test sends is not valid: {errs}"
            else:
                assert errs, f"{key}: the schema allows {body}, the test expected it not to"
        data = b"" if body is None else json.dumps(body).encode()
        status, raw = self.vmm.raw(method, route, data, fds)
        answer = json.loads(raw) if raw else None
        if spec is not None:
            documented = str(status) in spec["responses"]
            assert documented or (key, status) in KATA_VMM_CODES, \
                f"{key}: {status} is neither the document's nor listed as kata-vmm's: {answer}"
            definition = spec["responses"].get(str(status))
            if definition:
                errs = check(self.schema, definition, answer)
                assert errs == [], f"{key}: the {status} answer is not a {definition}: {errs}"
        if status >= 400:
            assert isinstance(answer, dict) and list(answer) == ["error"] and \
                isinstance(answer["error"], str), f"{key}: error body {raw!r}"
        elif status == 204:
            assert raw == b"", f"{key}: 204 with a body {raw!r}"
        return status, answer


def vm_config(tmp):
    """A VmConfig as the clh driver builds one (tests/tools/ch-bodies)."""
    return {
        "payload": {"kernel": "/nonexistent/vmlinux", "cmdline": "console=ttyS0 rdinit=/init",
                    "initramfs": "/nonexistent/initrd"},
        "cpus": {"boot_vcpus": 1, "max_vcpus": 4},
        "memory": {"size": 268435456, "shared": True},
        "rng": {"src": "/dev/urandom"},
        "serial": {"mode": "Tty"},
        "console": {"mode": "Off"},
        "vsock": {"cid": 3, "socket": str(tmp / "clh.sock")},
        "fs": [{"tag": "kataShared", "socket": str(tmp / "virtiofsd.sock"), "num_queues": 1,
                "queue_size": 1024}],
        "disks": [{"path": str(tmp / "image"), "readonly": True, "id": "image"}],
    }


# What Kata's Go client sends: its constructors fill the document's defaults.
GO_CLIENT_DISK = {"path": "/dev/loop7", "readonly": False, "direct": False, "iommu": False,
                  "num_queues": 1, "queue_size": 1024, "vhost_user": False, "id": "vol1",
                  "backing_files": False, "sparse": True, "pci_segment": 0}


def test_command_line_as_cloud_hypervisors(tmp_path, schema):
    log = tmp_path / "vmm.log"
    v = Vmm(tmp_path, "-v", "--seccomp", "false", "--log-file", str(log))
    try:
        status, ping = Api(v, schema).call("GET", "vmm.ping")
        assert status == 200 and ping["pid"] == v.proc.pid, ping
        assert v.raw("PUT", "vmm.shutdown")[0] == 204
        assert v.proc.wait(timeout=30) == 0, v.stderr()
    finally:
        v.stop()
    assert log.exists() and not os.path.exists(v.sock)
    for args, expect in [
        (["--api-socket", "fd=3"], "--api-socket `fd=3`: fd= is not supported by kata-vmm"),
        (["--api-socket", "path=/x,fd=3"], "expected PATH or path=PATH"),
        (["--api-socket", str(tmp_path / "s"), "--seccomp", "log"],
         "--seccomp `log`: not supported by kata-vmm"),
        (["--api-socket", str(tmp_path / "s"), "--event-monitor", "path=/x"],
         "option `--event-monitor` is not supported"),
        (["--api-socket"], "option `--api-socket` needs a value"),
    ]:
        r = subprocess.run([str(VMM), *args], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2 and expect in r.stderr, (args, r.returncode, r.stderr)
    assert not (tmp_path / "s").exists()


def test_states_and_answers_before_boot(vmm, schema, tmp_path):
    api = Api(vmm, schema)
    assert api.call("GET", "vmm.ping")[0] == 200
    for method, route in [("GET", "vm.info"), ("PUT", "vm.boot"), ("PUT", "vm.pause"),
                          ("PUT", "vm.resume"), ("PUT", "vm.shutdown")]:
        status, answer = api.call(method, route)
        assert status == 404 and "the VM is not created" in answer["error"], (route, answer)
    assert api.call("PUT", "vm.add-disk", GO_CLIENT_DISK)[0] == 404
    assert api.call("PUT", "vm.resize", {"desired_vcpus": 2})[0] == 404

    assert api.call("PUT", "vm.create", vm_config(tmp_path))[0] == 204
    assert api.call("PUT", "vm.create", vm_config(tmp_path))[0] == 409
    status, info = api.call("GET", "vm.info")
    assert status == 200 and info["state"] == "Created"
    assert info["memory_actual_size"] == 268435456
    assert info["config"]["cpus"] == {"boot_vcpus": 1, "max_vcpus": 4}
    assert info["device_tree"]["image"]["id"] == "image"

    assert api.call("PUT", "vm.add-disk", GO_CLIENT_DISK)[0] == 204
    status, answer = api.call("PUT", "vm.add-disk", GO_CLIENT_DISK)
    assert status == 409 and "a device with id `vol1` exists" in answer["error"]
    assert api.call("PUT", "vm.add-disk", {"path": "/dev/loop8"})[0] == 204
    # The tap comes as Cloud Hypervisor takes it: its fd sent with vm.add-net.
    r, w = os.pipe()
    try:
        net = {"id": "net0", "mac": "02:42:ac:11:00:02", "mtu": 1500}
        assert api.call("PUT", "vm.add-net", net, fds=[r])[0] == 204
        status, answer = api.call("PUT", "vm.add-net", {"id": "net1"})
        assert status == 400 and "vm.add-net: no tap" in answer["error"]
        status, answer = api.call("PUT", "vm.add-net", {"id": "net1"}, fds=[r, w])
        assert status == 400 and "2 file descriptors" in answer["error"]
        status, answer = api.call("GET", "vmm.ping", fds=[w])
        assert status == 400 and "taken by vm.add-net only" in answer["error"]
    finally:
        os.close(r)
        os.close(w)
    status, info = api.call("GET", "vm.info")
    ids = [d["id"] for d in info["config"]["disks"]]
    assert ids[:2] == ["image", "vol1"] and ids[2].startswith("_disk"), ids  # as CH names them
    assert [n["id"] for n in info["config"]["net"]] == ["net0"]
    assert set(info["device_tree"]) == {*ids, "net0", info["config"]["vsock"]["id"],
                                        info["config"]["fs"][0]["id"]}

    assert api.call("PUT", "vm.remove-device", {"id": ids[2]})[0] == 204
    status, answer = api.call("PUT", "vm.remove-device", {"id": ids[2]})
    assert status == 404 and f"no device with id `{ids[2]}`" in answer["error"]
    assert api.call("PUT", "vm.resize", {"desired_vcpus": 2, "desired_ram": 536870912})[0] == 204
    status, info = api.call("GET", "vm.info")
    assert info["config"]["cpus"]["boot_vcpus"] == 2 and info["memory_actual_size"] == 536870912
    status, answer = api.call("PUT", "vm.pause")
    assert status == 405 and "vm.pause: the VM is Created" in answer["error"]
    status, answer = api.call("PUT", "vm.snapshot")
    assert status == 501 and answer["error"] == "vm.snapshot: not supported by kata-vmm"
    status, answer = api.call("GET", "vm.boot")
    assert status == 405 and "method not allowed" in answer["error"]
    assert vmm.raw("PUT", "vm.nonsense")[0] == 404
    # No KVM here, and no such kernel anyway: 500 naming vm.boot, still Created.
    status, answer = api.call("PUT", "vm.boot")
    assert status == 500 and answer["error"].startswith("vm.boot: "), answer
    assert api.call("GET", "vm.info")[1]["state"] == "Created"
    assert api.call("PUT", "vm.delete")[0] == 204
    assert api.call("GET", "vm.info")[0] == 404
    assert api.call("PUT", "vmm.shutdown")[0] == 204
    assert vmm.proc.wait(timeout=30) == 0


def with_(base, **changes):
    out = json.loads(json.dumps(base))
    for path, value in changes.items():
        node = out
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value
    return out


def refusals(tmp):
    """(route, body, valid per the document, what the 400 must say)."""
    cfg = vm_config(tmp)
    disks0 = "disks__0__"
    return [
        # The document allows these; kata-vmm does not do them.
        ("vm.create", with_(cfg, **{disks0 + "vhost_user": True}), True,
         "vm.create: disks[0].vhost_user: `true` is not supported by kata-vmm (only `false`)"),
        ("vm.create", with_(cfg, **{disks0 + "rate_limiter_config": {}}), True,
         "vm.create: disks[0].rate_limiter_config: not supported by kata-vmm"),
        ("vm.create", with_(cfg, **{disks0 + "image_type": "Qcow2"}), True,
         "vm.create: disks[0].image_type: `Qcow2` is not supported by kata-vmm (only `Raw`)"),
        ("vm.create", with_(cfg, console={"mode": "File", "file": "/x"}), True,
         "vm.create: console.file: not supported by kata-vmm"),
        ("vm.create", with_(cfg, serial={"mode": "Pty"}), True,
         "vm.create: serial.mode: `Pty` is not supported by kata-vmm"),
        ("vm.create", with_(cfg, net=[{"tap": "tap0"}]), True,
         "vm.create: net[0].tap: not supported by kata-vmm"),
        ("vm.create", with_(cfg, memory={"size": 268435456, "hugepages": True}), True,
         "vm.create: memory.hugepages: `true` is not supported by kata-vmm (only `false`)"),
        ("vm.create", with_(cfg, platform={"num_pci_segments": 1}), True,
         "vm.create: platform: not supported by kata-vmm"),
        ("vm.create", with_(cfg, balloon={"size": 0}), True,
         "vm.create: balloon: not supported by kata-vmm"),
        ("vm.create", with_(cfg, payload={"firmware": "/fw", "kernel": "/k"}), True,
         "vm.create: payload.firmware: not supported by kata-vmm"),
        ("vm.create", with_(cfg, rng={"src": "/dev/hwrng"}), True,
         "vm.create: rng.src: `/dev/hwrng` is not supported by kata-vmm"),
        ("vm.create", with_(cfg, cpus={"boot_vcpus": 17, "max_vcpus": 17}), True,
         "vm.create: cpus.boot_vcpus: expected an integer from 1 to 16"),
        ("vm.create", with_(cfg, **{"fs__0__num_queues": 2}), True,
         "vm.create: fs[0].num_queues: `2` is not supported by kata-vmm (only `1`)"),
        ("vm.create", with_(cfg, watchdog=True), True,
         "vm.create: watchdog: `true` is not supported by kata-vmm (only `false`)"),
        # The document does not allow these either.
        ("vm.create", with_(cfg, bogus=1), False, "vm.create: bogus: unknown field"),
        ("vm.create", with_(cfg, **{disks0 + "ro": True}), False,
         "vm.create: disks[0].ro: unknown field"),
        ("vm.create", with_(cfg, cpus={"boot_vcpus": 1}), False,
         "vm.create: cpus.max_vcpus is required"),
        ("vm.create", with_(cfg, memory={"size": "1G"}), False,
         "vm.create: memory.size: expected an integer"),
        ("vm.create", with_(cfg, vsock={"cid": 2, "socket": "/s"}), False,
         "vm.create: vsock.cid: expected an integer from 3"),
        ("vm.create", with_(cfg, fs=[{"tag": "t", "socket": "/s"}]), False,
         "vm.create: fs[0].num_queues is required"),
        ("vm.create", with_(cfg, console={"mode": "tty"}), False,
         "vm.create: console.mode: `tty` (expected Off"),
        ("vm.create", {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}}, False,
         "vm.create: payload (kernel, initramfs, cmdline) is required"),
        ("vm.create", with_(cfg, payload={"kernel": "/k", "initrd": "/i"}), False,
         "vm.create: payload.initrd: unknown field"),
    ]


def refusals_after_create():
    return [
        ("vm.add-disk", with_(GO_CLIENT_DISK, direct=True), True,
         "vm.add-disk: disk.direct: `true` is not supported by kata-vmm (only `false`)"),
        ("vm.add-disk", {"path": "/d", "pci_device_id": 3}, True,
         "vm.add-disk: disk.pci_device_id: not supported by kata-vmm"),
        ("vm.add-disk", {"path": "/d", "readonly": "yes"}, False,
         "vm.add-disk: disk.readonly: expected true or false"),
        ("vm.add-fs", {"tag": "t", "socket": "/s", "num_queues": 1, "queue_size": 1024,
                       "pci_device_id": 1}, True,
         "vm.add-fs: fs.pci_device_id: not supported by kata-vmm"),
        ("vm.add-net", {"vhost_user": True, "vhost_socket": "/s"}, True,
         "vm.add-net: net.vhost_user: `true` is not supported by kata-vmm (only `false`)"),
        ("vm.add-net", {"id": "n", "rate_limiter_config": {}}, True,
         "vm.add-net: net.rate_limiter_config: not supported by kata-vmm"),
        ("vm.add-vsock", {"cid": 3, "socket": "/s", "iommu": True}, True,
         "vm.add-vsock: vsock.iommu: `true` is not supported by kata-vmm (only `false`)"),
        ("vm.resize", {"desired_balloon": 0}, True,
         "vm.resize: desired_balloon: not supported by kata-vmm"),
        ("vm.resize", {"desired_vcpus": 5}, True, "vm.resize: desired_vcpus: 5 is above max_vcpus 4"),
        ("vm.remove-device", {"id": "x", "force": True}, False,
         "vm.remove-device: force: unknown field"),
    ]


def test_refusals_name_the_field(vmm, schema, tmp_path):
    api = Api(vmm, schema)
    for route, body, valid, expect in refusals(tmp_path):
        status, answer = api.call("PUT", route, body, valid=valid)
        assert status == 400 and expect in answer["error"], (route, body, answer)
    assert api.call("GET", "vm.info")[0] == 404  # nothing was created
    assert api.call("PUT", "vm.create", vm_config(tmp_path))[0] == 204
    for route, body, valid, expect in refusals_after_create():
        status, answer = api.call("PUT", route, body, valid=valid)
        assert status == 400 and expect in answer["error"], (route, body, answer)
    info = api.call("GET", "vm.info")[1]
    assert info["config"] == with_(vm_config(tmp_path), **{"fs__0__id": "_fs0",
                                                           "vsock__id": "_vsock1"}), info


def test_bodies_are_bounded(vmm, schema):
    api = Api(vmm, schema)
    # A body over 64 KiB is refused from its Content-Length, before it is read.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(vmm.sock)
    s.sendall(b"PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 70000\r\n\r\n{")
    resp = http.client.HTTPResponse(s)
    resp.begin()
    assert resp.status == 413, resp.read()
    s.close()
    assert vmm.proc.poll() is None
    nested = {"payload": {"kernel": "/k"}, "cpus": [[[[[[[[[[1]]]]]]]]]]}
    status, answer = api.call("PUT", "vm.create", nested, valid=False)
    assert status == 400 and "vm.create: the body is not JSON" in answer["error"], answer
    big = {"payload": {"kernel": "/" + "k" * 5000}}
    status, answer = api.call("PUT", "vm.create", big)
    assert status == 400 and "payload.kernel: longer than 4096 bytes" in answer["error"], answer
    status, answer = api.call("PUT", "vm.create", None)
    assert status == 400 and "vm.create needs a JSON VmConfig" in answer["error"], answer
