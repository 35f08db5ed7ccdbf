#!/usr/bin/env python3
"""The protocol's JSON Schemas (docs/protocol/*.schema.json, 2020-12) agree
with consentd's validator on the sample bodies in tests/data/protocol/:
every valid sample validates, every invalid one does not. The C++ side of
the agreement is GenericProtocolEvents.SampleBodiesAreAcceptedOrRefused...
(tests/connectors/generic_protocol_test.cc). Needs python3-jsonschema
(scripts/install-deps installs it). Usage: generic_protocol_schemas.py SOURCE_DIR
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource


def main(source: pathlib.Path) -> int:
    docs = source / "docs" / "protocol"
    resources = {}
    for f in sorted(docs.glob("*.schema.json")):
        schema = json.loads(f.read_text())
        Draft202012Validator.check_schema(schema)
        resources[schema["$id"]] = Resource.from_contents(schema)
    registry = Registry().with_resources(resources.items())
    body = json.loads((docs / "body.schema.json").read_text())
    validator = Draft202012Validator(body, registry=registry)
    samples = json.loads((source / "tests/data/protocol/samples.json").read_text())
    failures = 0
    for case in samples["valid"]:
        errors = list(validator.iter_errors(case["body"]))
        if errors:
            failures += 1
            print(f"valid sample refused by the schema: {case['name']}: {errors[0].message}")
    for case in samples["invalid"]:
        if validator.is_valid(case["body"]):
            failures += 1
            print(f"invalid sample accepted by the schema: {case['name']}")
    print(f"{len(samples['valid'])} valid, {len(samples['invalid'])} invalid samples, "
          f"{failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
