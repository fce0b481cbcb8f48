"""Check wire messages against schema/rpc.schema.json with jsonschema (independent of msgspec).

Used by the contract tests and by the daemon's e2e tests, which load it by path::

    import importlib.util, pathlib
    _path = pathlib.Path(__file__).parents[N] / "tests" / "contract" / "schema_check.py"
    _spec = importlib.util.spec_from_file_location("schema_check", _path)
    schema_check = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(schema_check)
    schema_check.assert_valid_reply("job.status", reply)

Timestamps are checked as RFC 3339 with an offset (jsonschema's own date-time check needs an
optional package, and would accept what the models refuse).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schema" / "rpc.schema.json"


_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        raise ValueError(f"{value!r} has no 'T' between date and time")
    parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return True


@cache
def load_schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@cache
def _registry() -> Registry[Any]:
    schema = load_schema()
    return Registry().with_resource(schema["$id"], Resource.from_contents(schema))


@cache
def validator(ref: str) -> Draft202012Validator:
    """A validator for ``#/$defs/Name`` (or a bare ``Name``), resolving refs in the schema."""
    if not ref.startswith("#"):
        ref = f"#/$defs/{ref}"
    schema = load_schema()
    return Draft202012Validator(
        {"$ref": schema["$id"] + ref}, registry=_registry(), format_checker=_formats
    )


def problems(ref: str, instance: Any) -> list[str]:
    """Every schema violation of ``instance`` as ``path: message``, sorted."""
    found = []
    for error in validator(ref).iter_errors(instance):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        found.append(f"{where}: {error.message}")
    return sorted(found)


def assert_valid(ref: str, instance: Any) -> None:
    found = problems(ref, instance)
    assert not found, f"{ref} does not match the schema:\n  " + "\n  ".join(found)


def connection_errors() -> frozenset[int]:
    """Codes no method lists: errors any request may get before its method runs."""
    schema = load_schema()
    listed = {c for spec in schema["x-mozart-methods"].values() for c in spec["errors"]}
    return frozenset(e["code"] for e in schema["x-mozart-errors"].values()) - listed


def method_spec(method: str) -> dict[str, Any]:
    methods = load_schema()["x-mozart-methods"]
    assert method in methods, f"{method!r} is not a method of the schema"
    return dict(methods[method])


def assert_valid_reply(method: str, reply: dict[str, Any]) -> None:
    """A JSON-RPC reply to ``method``: the envelope, then its result or error by the schema.

    An error must carry a code of the schema's table that this method may raise (or one
    that any request may get), and its ``data`` must match that code's data model.
    """
    spec = method_spec(method)
    assert isinstance(reply, dict), f"reply is not an object: {reply!r}"
    assert reply.get("jsonrpc") == "2.0", f"reply to {method} lacks jsonrpc 2.0: {reply!r}"
    assert "id" in reply, f"reply to {method} has no id: {reply!r}"
    extra = set(reply) - {"jsonrpc", "id", "result", "error"}
    assert not extra, f"reply to {method} has unknown members {sorted(extra)}"
    assert ("result" in reply) != ("error" in reply), (
        f"reply to {method} must have exactly one of result and error: {reply!r}"
    )
    if "result" in reply:
        assert_valid(spec["result"]["$ref"], reply["result"])
        return
    assert_valid("RpcErrorObject", reply["error"])
    error = reply["error"]
    table = {e["code"]: (name, e) for name, e in load_schema()["x-mozart-errors"].items()}
    code = error["code"]
    assert code in table, f"error code {code} of {method} is not in x-mozart-errors"
    assert code in spec["errors"] or code in connection_errors(), (
        f"{method} answered {code} ({table[code][0]}), which its errors list does not allow"
    )
    data_schema = table[code][1].get("data")
    if data_schema is not None and error.get("data") is not None:
        assert_valid(data_schema["$ref"], error["data"])


def assert_valid_notification(message: dict[str, Any]) -> None:
    """A notification (``job.event``, ``job.log``): no id, known method, params by schema."""
    notes = load_schema()["x-mozart-notifications"]
    assert message.get("jsonrpc") == "2.0" and "id" not in message, message
    assert message.get("method") in notes, f"unknown notification {message.get('method')!r}"
    assert_valid(notes[message["method"]]["params"]["$ref"], message.get("params"))


def example(schema: dict[str, Any], *, minimal: bool = False) -> Any:
    """A valid instance of ``schema`` built from its keywords (all fields, or only required)."""
    defs = load_schema()["$defs"]
    if "$ref" in schema:
        return example(defs[schema["$ref"].removeprefix("#/$defs/")], minimal=minimal)
    if "anyOf" in schema:
        first = next(s for s in schema["anyOf"] if s.get("type") != "null")
        return example(first, minimal=minimal)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        keep = schema.get("required", []) if minimal else list(props)
        return {name: example(props[name], minimal=minimal) for name in keep}
    if kind == "array":
        return [example(schema["items"], minimal=minimal)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-11-26T21:00:00.123456+00:00"
        if schema.get("pattern") == "^/":
            return "/abs/score.yaml"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return int(schema.get("maximum", schema.get("minimum", 0) + 1))
    if kind == "number":
        return float(schema.get("minimum", 0)) + 0.5
    if kind == "boolean":
        return True
    return None  # free-form ("any")
