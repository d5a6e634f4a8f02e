"""What the VMM API schema tests share (test_ch_api_schema.py,
test_fc_api_schema.py): a schema file written from the VMM's API document (JSON
Schema draft 7, with its request and answer bodies under "definitions" and its
routes under "x-endpoints"), validation of one body against a definition, the
document's integer formats as ranges, and the request bodies a driver builds,
as printed by its tests/tools/*-bodies program."""
import json
import subprocess

import jsonschema
import pytest

# The document's integer formats, checked as ranges (JSON Schema ignores unknown
# formats; OpenAPI's int16 etc. are not JSON Schema formats).
RANGES = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
}


def format_checker(*names):
    """A FormatChecker for the named integer formats of RANGES only."""
    formats = jsonschema.FormatChecker(formats=())
    for name in names:
        lo, hi = RANGES[name]
        formats.checks(name)(lambda v, lo=lo, hi=hi: not isinstance(v, int) or lo <= v <= hi)
    return formats


class Schema:
    """One schema file and the integer formats it checks."""

    def __init__(self, path, formats):
        self.path = path
        self.formats = formats

    def fixture(self):
        """The loaded schema, as a module-scoped pytest fixture."""
        @pytest.fixture(scope="module")
        def schema():
            with open(self.path) as f:
                return json.load(f)
        return schema

    def errors(self, schema, definition, body):
        """The messages of what in body does not match schema's definition."""
        sub = {"$ref": "#/definitions/" + definition, "definitions": schema["definitions"]}
        validator = jsonschema.Draft7Validator(sub, format_checker=self.formats)
        return [e.message for e in validator.iter_errors(body)]


def check_sound(schema):
    """schema is valid draft 7 and every "$ref" in it names a definition."""
    jsonschema.Draft7Validator.check_schema(schema)
    assert not missing_refs(schema)


def missing_refs(schema):
    """The "$ref"s anywhere in schema that name no definition."""
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
    return missing


def driver_bodies(program):
    """(request, body) of each line "METHOD PATH<tab>JSON" the program prints."""
    if not program.exists():
        pytest.fail(f"{program} is missing: build it (make -s all)")
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    rows = []
    for line in out.splitlines():
        request, body = line.split("\t", 1)
        rows.append((request, json.loads(body)))
    return rows
