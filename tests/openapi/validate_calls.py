"""Checks the calls tabhub made to a backend against the request bodies of
docs/openapi.yaml's `webhooks` (tests/openapi.rs runs it).

Usage: validate_calls.py SPEC < calls.json, where calls.json is a list of
{"call": "event" | "join" | "initial_state" | "cancel", "body": ...}.
Prints each body that does not match, and exits 1 if any did.
"""

import json
import sys

import yaml
from jsonschema import Draft202012Validator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    calls = json.load(sys.stdin)
    failures = 0
    for call in calls:
        name = call["call"]
        if name not in spec.get("webhooks", {}):
            print(f"URL/{name}: not among the described webhooks")
            failures += 1
            continue
        # The whole document is the schema's root, so that its
        # `#/components/...` references resolve; its other members are not
        # keywords and are ignored.
        pointer = f"#/webhooks/{name}/post/requestBody/content/application~1json/schema"
        schema = dict(spec, **{"$ref": pointer})
        for error in Draft202012Validator(schema).iter_errors(call["body"]):
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"URL/{name} at /{where}: {error.message}\n  body: {json.dumps(call['body'])}")
            failures += 1
    print(f"{len(calls)} calls checked, {failures} not as described")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
