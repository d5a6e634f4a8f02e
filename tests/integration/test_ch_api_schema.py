"""Cloud Hypervisor's REST API v1, the subset we use (tests/ch_api/schema.json,
written from Cloud Hypervisor's OpenAPI document): the schema itself is sound,
and every request body the clh driver builds is valid against it.

The driver's bodies come from build/tests/tools/ch-bodies (built from the same
pure body builders the driver calls): one line per request, "METHOD ENDPOINT"
then a tab then the JSON body. Needs no VM and no VMM."""
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

TOP = Path(__file__).resolve().parents[2]
SCHEMA_PATH = TOP / "tests/ch_api/schema.json"
BODIES = Path(os.environ.get("KATA_CH_BODIES", TOP / "build/tests/tools/ch-bodies"))

# The document's integer formats, checked as ranges (JSON Schema ignores unknown
# formats; OpenAPI's int16 etc. are not JSON Schema formats).
RANGES = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
}
FORMATS = jsonschema.FormatChecker(formats=())
for _name, (_lo, _hi) in RANGES.items():
    FORMATS.checks(_name)(lambda v, lo=_lo, hi=_hi: not isinstance(v, int) or lo <= v <= hi)


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def validator(schema, definition):
    sub = {"$ref": "#/definitions/" + definition, "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(sub, format_checker=FORMATS)


def errors(schema, definition, body):
    return [e.message for e in validator(schema, definition).iter_errors(body)]


def test_schema_is_valid_draft7(schema):
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_ref_resolves(schema):
    defs = schema["definitions"]
    missing = set()

    def walk(node):
        if isinstance(node, dict):
            r = node.get("$ref")
            if r is not None and r.removeprefix("#/definitions/") not in defs:
                missing.add(r)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert not missing


def test_endpoints_name_known_definitions(schema):
    defs = schema["definitions"]
    for route, spec in schema["x-endpoints"].items():
        method, path = route.split(" ")
        assert method in ("GET", "PUT") and path.startswith("/api/v1/"), route
        if "request" in spec:
            assert spec["request"] in defs, route
        for status, answer in spec["responses"].items():
            assert answer is None or answer in defs, (route, status)


def test_listed_objects_are_closed(schema):
    for name, d in schema["definitions"].items():
        if d.get("type") == "object" and "properties" in d:
            assert d.get("additionalProperties") is False, name


def test_document_components_present(schema):
    for name in ("VmConfig", "PayloadConfig", "CpusConfig", "MemoryConfig", "DiskConfig",
                 "NetConfig", "FsConfig", "VsockConfig", "RngConfig", "ConsoleConfig",
                 "SerialConfig", "VmInfo", "VmState", "DeviceConfig", "VmRemoveDevice",
                 "PciDeviceInfo", "VmResize", "VmmPingResponse"):
        assert name in schema["definitions"], name


MINIMAL_VM = {
    "payload": {"kernel": "/k", "cmdline": "console=hvc0", "initramfs": "/i"},
    "cpus": {"boot_vcpus": 1, "max_vcpus": 4},
    "memory": {"size": 2147483648, "shared": True},
    "rng": {"src": "/dev/urandom"},
    "serial": {"mode": "Off"},
    "console": {"mode": "File", "file": "/run/x/console.log"},
    "vsock": {"cid": 3, "socket": "/run/x/vsock.sock"},
    "fs": [{"tag": "kataShared", "socket": "/run/x/vfsd.sock", "num_queues": 1, "queue_size": 1024}],
    "disks": [{"path": "/img", "readonly": True, "id": "disk0"}],
    "net": [{"tap": "tap0", "mac": "02:00:00:00:00:01", "id": "net0"}],
}


def test_accepts_a_full_vm_config(schema):
    assert errors(schema, "VmConfig", MINIMAL_VM) == []


@pytest.mark.parametrize("definition,body,what", [
    ("VmConfig", {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}}, "'payload' is a required property"),
    ("VmConfig", dict(MINIMAL_VM, bogus=1), "Additional properties"),
    ("CpusConfig", {"boot_vcpus": 0, "max_vcpus": 1}, "less than the minimum"),
    ("CpusConfig", {"boot_vcpus": 1}, "'max_vcpus' is a required property"),
    ("MemoryConfig", {"size": "1G"}, "is not of type 'integer'"),
    ("MemoryConfig", {"size": 2**63}, "is not a 'int64'"),
    ("VsockConfig", {"cid": 2, "socket": "/s"}, "less than the minimum"),
    ("ConsoleConfig", {"mode": "tty"}, "is not one of"),
    ("FsConfig", {"tag": "t", "socket": "/s"}, "'num_queues' is a required property"),
    ("DiskConfig", {"path": "/p", "pci_device_id": 256}, "is not a 'uint8'"),
    ("DiskConfig", {"path": "/p", "readonly": "yes"}, "is not of type 'boolean'"),
    ("VmRemoveDevice", {"id": "d", "force": True}, "Additional properties"),
    ("VmInfo", {"config": MINIMAL_VM, "state": "Booted"}, "is not one of"),
    ("VmmPingResponse", {"pid": 1}, "'version' is a required property"),
])
def test_refuses(schema, definition, body, what):
    errs = errors(schema, definition, body)
    assert any(what in e for e in errs), errs


def test_vm_info_answer(schema):
    info = {"config": MINIMAL_VM, "state": "Running", "memory_actual_size": 2147483648,
            "device_tree": {"_disk0": {"id": "_disk0", "resources": [{"PciBar": {}}], "children": [],
                                       "pci_bdf": "0000:00:04.0"}}}
    assert errors(schema, "VmInfo", info) == []


def driver_bodies():
    if not BODIES.exists():
        pytest.fail(f"{BODIES} is missing: build it (make -s all)")
    out = subprocess.run([str(BODIES)], check=True, capture_output=True, text=True, timeout=60).stdout
    rows = []
    for line in out.splitlines():
        route, body = line.split("\t", 1)
        rows.append((route, json.loads(body)))
    return rows


def test_driver_bodies_match_the_schema(schema):
    rows = driver_bodies()
    assert rows, "ch-bodies printed nothing"
    seen = set()
    for route, body in rows:
        spec = schema["x-endpoints"].get(route)
        assert spec is not None, f"{route}: not an endpoint of the schema"
        assert "request" in spec, f"{route}: the document gives it no body"
        errs = errors(schema, spec["request"], body)
        assert errs == [], f"{route}: {errs}\n{json.dumps(body)}"
        seen.add(route)
    for route in ("PUT /api/v1/vm.create", "PUT /api/v1/vm.add-disk", "PUT /api/v1/vm.remove-device",
                  "PUT /api/v1/vm.add-net"):
        assert route in seen, f"ch-bodies printed no body for {route}"
