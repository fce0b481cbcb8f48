"""The schema's tables, the generated code, the error classes and the client match one-to-one."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import mozart_protocol
import msgspec
import pytest
import schema_check
from mozart_protocol import METHODS, NOTIFICATIONS, Method, errors
from mozart_protocol._generated import error_codes, models
from mozart_protocol.client import AsyncDaemonClient, DaemonClient

SCHEMA = schema_check.load_schema()
ROOT = schema_check.ROOT
GENERIC = {"call", "stream", "close", "connect"}


def ref_name(ref: dict[str, str]) -> str:
    return ref["$ref"].removeprefix("#/$defs/")


def test_method_enum_and_table_match_the_schema() -> None:
    table = SCHEMA["x-mozart-methods"]
    assert [m.value for m in Method] == list(table)
    assert set(METHODS) == set(Method)
    for method, spec in METHODS.items():
        row = table[method.value]
        assert spec.name is method
        assert spec.kind == row["kind"]
        assert spec.errors == tuple(row["errors"])
        assert spec.notifications == tuple(row["notifications"])
        assert spec.params is getattr(models, ref_name(row["params"]))
        result = ref_name(row["result"])
        assert spec.result is getattr(models, result) or result == "SchemaDocument"
    assert set(NOTIFICATIONS) == set(SCHEMA["x-mozart-notifications"])


def test_every_model_of_the_schema_is_generated_and_exported() -> None:
    for name in SCHEMA["$defs"]:
        assert hasattr(models, name), name
        assert getattr(mozart_protocol, name) is getattr(models, name), name


def test_error_table_matches_classes_both_ways() -> None:
    table = SCHEMA["x-mozart-errors"]
    assert {e["code"] for e in table.values()} == set(error_codes.ERRORS)
    for name, row in table.items():
        spec = error_codes.ERRORS[row["code"]]
        assert (spec.name, spec.message, spec.meaning) == (name, row["message"], row["meaning"])
        cls = getattr(errors, name)
        assert errors.error_class(row["code"]) is cls
        exc = errors.RpcError.from_wire(row["code"], row["message"], None)
        assert type(exc) is cls and exc.code == row["code"]
        assert "data" not in row or spec.data is getattr(models, ref_name(row["data"]))
    assert len(set(errors.ERROR_CLASSES.values())) == len(table)


def _client_calls() -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(AsyncDaemonClient, inspect.isfunction)
        if not name.startswith("_") and name not in GENERIC
    }


def _dummy_args(func: Any) -> list[Any]:
    params = list(inspect.signature(func).parameters.values())[1:]
    return [
        "/abs/x"
        for p in params
        if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD
    ]


async def test_client_has_one_call_per_method(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    async def record(self: Any, method: str, params: Any, result: Any, limit: Any) -> None:
        sent.append(str(method))
        expected = METHODS[Method(method)]
        assert isinstance(params, expected.params), method
        assert result is expected.result, method

    monkeypatch.setattr(AsyncDaemonClient, "_request", record)
    client = AsyncDaemonClient("/tmp/unused.sock")
    by_call: dict[str, str] = {}
    for name, func in _client_calls().items():
        outcome = func(client, *_dummy_args(func))
        if inspect.isawaitable(outcome):
            await outcome
            by_call[name] = sent[-1]
        else:  # a stream: nothing is sent until it is iterated
            by_call[name] = outcome.method
            assert isinstance(outcome._params, METHODS[Method(outcome.method)].params)
            assert METHODS[Method(outcome.method)].kind == "stream"
    assert sorted(by_call.values()) == sorted(m.value for m in Method), by_call
    assert set(by_call) == {
        "submit_job", "job_status", "pause_job", "resume_job", "cancel_job", "list_jobs",
        "follow_job", "job_logs", "job_history", "daemon_status", "shutdown", "health", "ready",
        "learning_patterns", "discover",
    }  # fmt: skip


def test_sync_client_mirrors_the_async_one() -> None:
    sync = {
        n for n, _ in inspect.getmembers(DaemonClient, inspect.isfunction) if not n.startswith("_")
    }
    assert set(_client_calls()) | {"call"} == sync
    for name, func in _client_calls().items():
        async_params = list(inspect.signature(func).parameters)
        assert list(inspect.signature(getattr(DaemonClient, name)).parameters) == async_params


def test_packaged_schema_is_the_schema() -> None:
    packaged = Path(mozart_protocol.__file__).parent / "_generated" / "rpc.schema.json"
    assert json.loads(packaged.read_text()) == SCHEMA


def test_protocol_docs_cover_every_method_and_error() -> None:
    docs = (ROOT / "docs" / "protocol.md").read_text()
    for method in SCHEMA["x-mozart-methods"]:
        assert f"### `{method}`" in docs, method
    for name, row in SCHEMA["x-mozart-errors"].items():
        assert f"| {row['code']} | `{name}` |" in docs, name


def test_public_surface() -> None:
    for name in ("METHODS", "Method", "MethodSpec", "RpcError", "DaemonNotRunning", "__version__"):
        assert hasattr(mozart_protocol, name), name
    from mozart_protocol import framing

    assert framing.DEFAULT_MAX_MESSAGE_SIZE == 16 * 1024 * 1024
    assert msgspec.json.decode(framing.encode_message({"a": 1})) == {"a": 1}
