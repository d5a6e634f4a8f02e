"""Firecracker's API, the subset we use (tests/fc_api/schema.json, written from
Firecracker's swagger document src/firecracker/swagger/firecracker.yaml): the
schema itself is sound, and every request body the firecracker driver builds
is valid against it.

The driver's bodies come from build/tests/tools/fc-bodies (built from the same
pure body builders the driver calls): one line per request, "METHOD PATH" then
a tab then the JSON body. Needs no VM and no VMM."""
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

TOP = Path(__file__).resolve().parents[2]
SCHEMA_PATH = TOP / "tests/fc_api/schema.json"
BODIES = Path(os.environ.get("KATA_FC_BODIES", TOP / "build/tests/tools/fc-bodies"))

FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("int64")(lambda v: not isinstance(v, int) or -(2**63) <= v <= 2**63 - 1)


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
        assert method in ("GET", "PUT", "PATCH") and path.startswith("/"), route
        if "request" in spec:
            assert spec["request"] in defs, route
        param = spec.get("x-path-param")
        if param:
            assert "{" + param + "}" in path, route
            assert param in defs[spec["request"]]["properties"], route
        for status, answer in spec["responses"].items():
            assert answer is None or answer in defs, (route, status)


def test_objects_are_closed(schema):
    for name, d in schema["definitions"].items():
        if d.get("type") == "object":
            assert d.get("additionalProperties") is False, name


def test_document_definitions_present(schema):
    for name in ("MachineConfiguration", "BootSource", "Drive", "PartialDrive", "NetworkInterface",
                 "Vsock", "Logger", "Metrics", "InstanceActionInfo", "InstanceInfo", "Vm", "Error",
                 "RateLimiter", "TokenBucket", "CpuTemplate"):
        assert name in schema["definitions"], name


@pytest.mark.parametrize("definition,body,what", [
    ("MachineConfiguration", {"vcpu_count": 1}, "'mem_size_mib' is a required property"),
    ("MachineConfiguration", {"vcpu_count": 0, "mem_size_mib": 128}, "less than the minimum"),
    ("MachineConfiguration", {"vcpu_count": 33, "mem_size_mib": 128}, "greater than the maximum"),
    ("MachineConfiguration", {"vcpu_count": 1, "mem_size_mib": "128"}, "is not of type 'integer'"),
    ("MachineConfiguration", {"vcpu_count": 1, "mem_size_mib": 128, "max_vcpus": 2},
     "Additional properties"),
    ("BootSource", {"boot_args": "quiet"}, "'kernel_image_path' is a required property"),
    ("Drive", {"drive_id": "d", "path_on_host": "/p"}, "'is_root_device' is a required property"),
    ("Drive", {"drive_id": "d", "is_root_device": False, "readonly": True}, "Additional properties"),
    ("Drive", {"drive_id": "d", "is_root_device": False, "io_engine": "Uring"}, "is not one of"),
    ("PartialDrive", {"path_on_host": "/p"}, "'drive_id' is a required property"),
    ("PartialDrive", {"drive_id": "d", "is_read_only": True}, "Additional properties"),
    ("NetworkInterface", {"iface_id": "eth0"}, "'host_dev_name' is a required property"),
    ("NetworkInterface", {"iface_id": "eth0", "host_dev_name": "t", "mtu": 67},
     "less than the minimum"),
    ("Vsock", {"guest_cid": 2, "uds_path": "/s"}, "less than the minimum"),
    ("Vsock", {"guest_cid": 3}, "'uds_path' is a required property"),
    ("Logger", {"level": "Verbose"}, "is not one of"),
    ("Metrics", {}, "'metrics_path' is a required property"),
    ("InstanceActionInfo", {"action_type": "Shutdown"}, "is not one of"),
    ("Vm", {"state": "Running"}, "is not one of"),
    ("InstanceInfo", {"app_name": "Firecracker", "id": "x", "state": "Started",
                      "vmm_version": "1"}, "is not one of"),
    ("TokenBucket", {"size": -1, "refill_time": 1}, "less than the minimum"),
])
def test_refuses(schema, definition, body, what):
    errs = errors(schema, definition, body)
    assert any(what in e for e in errs), errs


def test_instance_info_answer(schema):
    info = {"app_name": "Firecracker", "id": "sb1", "state": "Not started", "vmm_version": "1.7.0"}
    assert errors(schema, "InstanceInfo", info) == []
    assert errors(schema, "Error", {"fault_message": "x"}) == []


def route_of(schema, method, path):
    """The schema's route for a concrete path, and its path parameter's value."""
    for route, spec in schema["x-endpoints"].items():
        m, pattern = route.split(" ")
        if m != method:
            continue
        regex = "^" + re.sub(r"\\\{[a-z_]+\\\}", "([^/]+)", re.escape(pattern)) + "$"
        match = re.match(regex, path)
        if match:
            return route, spec, match.group(1) if match.groups() else None
    return None, None, None


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
    assert rows, "fc-bodies printed nothing"
    seen = set()
    for request, body in rows:
        method, path = request.split(" ")
        route, spec, param_value = route_of(schema, method, path)
        assert spec is not None, f"{request}: not an endpoint of the schema"
        assert "request" in spec, f"{request}: the document gives it no body"
        errs = errors(schema, spec["request"], body)
        assert errs == [], f"{request}: {errs}\n{json.dumps(body)}"
        param = spec.get("x-path-param")
        if param:
            assert body[param] == param_value, f"{request}: {param} differs from the path"
        seen.add(route)
    for route in schema["x-endpoints"]:
        if "request" in schema["x-endpoints"][route]:
            assert route in seen, f"fc-bodies printed no body for {route}"
