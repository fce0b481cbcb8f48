"""Payloads derived from the schema: valid ones decode into the models and validate; invalid
ones (unknown field, wrong type, bad enum, naive time) fail both, naming the field."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import schema_check
from mozart_protocol import METHODS, Method, models

SCHEMA = schema_check.load_schema()
DEFS = SCHEMA["$defs"]
OBJECTS = [n for n, d in DEFS.items() if d.get("type") == "object" and n != "SchemaDocument"]
WRONG = {"string": 12345, "integer": "twelve", "number": "1.5x", "boolean": "yes", "array": 7}


def model(name: str) -> Any:
    return getattr(models, name)


@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("minimal", [False, True])
def test_valid_example_decodes_and_round_trips(name: str, minimal: bool) -> None:
    payload = schema_check.example(DEFS[name], minimal=minimal)
    schema_check.assert_valid(name, payload)
    decoded = msgspec.json.decode(msgspec.json.encode(payload), type=model(name))
    # What the models write is still valid, and reads back as the same value.
    written = msgspec.to_builtins(decoded)
    schema_check.assert_valid(name, written)
    assert msgspec.json.decode(msgspec.json.encode(written), type=model(name)) == decoded
    assert set(payload) <= set(written)


@pytest.mark.parametrize("name", OBJECTS)
def test_unknown_field_fails_naming_it(name: str) -> None:
    payload = {**schema_check.example(DEFS[name]), "surprise_field": 1}
    assert any("surprise_field" in p for p in schema_check.problems(name, payload))
    with pytest.raises(msgspec.ValidationError, match="surprise_field"):
        msgspec.json.decode(msgspec.json.encode(payload), type=model(name))


def _fields_with_type(name: str) -> list[tuple[str, str, str]]:
    out = []
    for model_name in [name]:
        for field, sub in DEFS[model_name]["properties"].items():
            kind = sub.get("type")
            if isinstance(kind, list):
                kind = next(k for k in kind if k != "null")
            if kind in WRONG:
                out.append((model_name, field, kind))
    return out


WRONG_TYPED = [case for name in OBJECTS for case in _fields_with_type(name)]


@pytest.mark.parametrize(("name", "field", "kind"), WRONG_TYPED)
def test_wrong_type_fails_naming_the_field(name: str, field: str, kind: str) -> None:
    payload = {**schema_check.example(DEFS[name]), field: WRONG[kind]}
    assert any(p.startswith(f"{field}:") for p in schema_check.problems(name, payload))
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}\b"):
        msgspec.json.decode(msgspec.json.encode(payload), type=model(name))


def test_missing_required_field_is_named() -> None:
    with pytest.raises(msgspec.ValidationError, match="job_id"):
        msgspec.json.decode(b"{}", type=models.JobIdParams)
    assert schema_check.problems("JobIdParams", {}) == ["(root): 'job_id' is a required property"]


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("JobSubmitResult", "status", "exploded"),
        ("SheetStatus", "status", "queued"),  # a job state, not a sheet state
        ("DaemonStatus", "pressure_level", "extreme"),
        ("JobEvent", "type", "job.exploded"),
        ("JobSubmitParams", "priority", 10),
        ("JobListParams", "limit", 0),
        ("JobSubmitParams", "config_path", "relative/score.yaml"),
        ("JobEvent", "time", "2026-11-26T21:00:00"),  # no offset: not RFC 3339
    ],
)
def test_out_of_contract_values_fail_both(name: str, field: str, value: Any) -> None:
    payload = {**schema_check.example(DEFS[name]), field: value}
    assert schema_check.problems(name, payload), payload
    with pytest.raises(msgspec.ValidationError, match=field):
        msgspec.json.decode(msgspec.json.encode(payload), type=model(name))


def test_params_may_be_omitted_when_all_optional() -> None:
    for method, spec in METHODS.items():
        required = DEFS[spec.params.__name__].get("required", [])
        if not required:
            assert msgspec.json.decode(b"{}", type=spec.params) is not None, method
    defaults = msgspec.json.decode(b"{}", type=models.JobListParams)
    assert (defaults.status, defaults.all, defaults.limit, defaults.after) == (
        None,
        False,
        50,
        None,
    )


@pytest.mark.parametrize("method", list(Method))
def test_assert_valid_reply_accepts_schema_results(method: Method) -> None:
    result_ref = SCHEMA["x-mozart-methods"][method.value]["result"]
    result = schema_check.example(result_ref)
    schema_check.assert_valid_reply(method.value, {"jsonrpc": "2.0", "id": 1, "result": result})


def test_assert_valid_reply_rejects_bad_replies() -> None:
    good = schema_check.example(DEFS["JobStatus"])
    ok = {"jsonrpc": "2.0", "id": 1, "result": good}
    schema_check.assert_valid_reply("job.status", ok)
    bad_cases = [
        {**ok, "result": {**good, "sheets": [{"sheet_num": 1}]}},  # missing sheet fields
        {"jsonrpc": "2.0", "id": 1},  # neither result nor error
        {**ok, "extra": True},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32099, "message": "?"}},  # unknown code
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32006, "message": "no"}},  # not for status
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "x", "data": {"jid": 1}}},
    ]
    for reply in bad_cases:
        with pytest.raises(AssertionError):
            schema_check.assert_valid_reply("job.status", reply)
    not_found = {"code": -32001, "message": "No job 'x'.", "data": {"job_id": "x"}}
    schema_check.assert_valid_reply("job.status", {"jsonrpc": "2.0", "id": 1, "error": not_found})
    parse = {"code": -32700, "message": "Parse error"}
    schema_check.assert_valid_reply("job.status", {"jsonrpc": "2.0", "id": None, "error": parse})


def test_assert_valid_notification() -> None:
    event = schema_check.example(DEFS["JobEvent"])
    schema_check.assert_valid_notification(
        {"jsonrpc": "2.0", "method": "job.event", "params": event}
    )
    with pytest.raises(AssertionError):
        schema_check.assert_valid_notification(
            {"jsonrpc": "2.0", "method": "job.event", "params": {**event, "type": "nope"}}
        )
