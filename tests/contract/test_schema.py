"""schema/rpc.schema.json itself: valid 2020-12, every $ref resolves, closed objects, tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schema_check
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

SCHEMA = schema_check.load_schema()
DEFS = SCHEMA["$defs"]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def test_schema_is_valid_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_every_ref_resolves() -> None:
    refs = [
        (path, node["$ref"])
        for path, node in walk(SCHEMA)
        if isinstance(node, dict) and "$ref" in node
    ]
    assert len(refs) > 40
    resolver = schema_check._registry().resolver(base_uri=SCHEMA["$id"])
    for path, ref in refs:
        try:
            resolved = resolver.lookup(ref).contents
        except Unresolvable as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path}: $ref {ref} does not resolve: {exc}")
        assert isinstance(resolved, dict), path


def test_a_dangling_ref_would_be_caught() -> None:
    resolver = schema_check._registry().resolver(base_uri=SCHEMA["$id"])
    with pytest.raises(Unresolvable):
        resolver.lookup("#/$defs/NoSuchModel")


def test_every_object_is_closed_except_the_discover_result() -> None:
    open_objects = [
        path
        for path, node in walk(DEFS)
        if isinstance(node, dict)
        and node.get("type") == "object"
        and node.get("additionalProperties") is not False
    ]
    assert open_objects == ["/SchemaDocument"]


def test_states_and_levels() -> None:
    assert DEFS["JobState"]["enum"] == [
        "queued",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]
    assert DEFS["SheetState"]["enum"] == ["pending", "running", "completed", "failed", "skipped"]
    assert DEFS["PressureLevel"]["enum"] == ["none", "low", "medium", "high", "critical"]


def test_timestamps_are_rfc3339() -> None:
    stamps = [p for p, n in walk(DEFS) if isinstance(n, dict) and n.get("format") == "date-time"]
    for name in ("created_at", "started_at", "finished_at", "updated_at", "time"):
        assert any(p.endswith(f"/{name}") for p in stamps), name
    assert schema_check.problems(
        "JobEvent", {**schema_check.example(DEFS["JobEvent"]), "time": "yesterday"}
    )


def test_method_table() -> None:
    methods = SCHEMA["x-mozart-methods"]
    assert set(methods) == {
        "job.submit", "job.status", "job.pause", "job.resume", "job.cancel", "job.list",
        "job.follow", "job.logs", "job.history", "daemon.status", "daemon.shutdown",
        "daemon.health", "daemon.ready", "learning.patterns", "rpc.discover",
    }  # fmt: skip
    codes = {e["code"] for e in SCHEMA["x-mozart-errors"].values()}
    for name, spec in methods.items():
        assert spec["kind"] in ("request", "stream"), name
        assert set(spec) == {"description", "kind", "params", "result", "errors", "notifications"}
        assert set(spec["errors"]) <= codes, name
        assert {-32602, -32603} <= set(spec["errors"]), name
        assert all(n in SCHEMA["x-mozart-notifications"] for n in spec["notifications"]), name
    assert methods["job.follow"]["notifications"] == ["job.event"]
    assert methods["job.logs"]["notifications"] == ["job.log"]


def test_error_table() -> None:
    errors = SCHEMA["x-mozart-errors"]
    codes = [e["code"] for e in errors.values()]
    assert len(codes) == len(set(codes)), "a code is used twice"
    assert {-32700, -32600, -32601, -32602, -32603} <= set(codes)
    domain = [c for c in codes if c not in (-32700, -32600, -32601, -32602, -32603)]
    assert all(-32099 <= c <= -32000 for c in domain)
    for name, e in errors.items():
        assert e["meaning"] and e["message"], name
    assert errors["SystemUnderPressureError"]["message"] == (
        "System under high pressure — try again later."
    )


def test_params_names_fixed_by_the_issue() -> None:
    def props(name: str) -> set[str]:
        return set(DEFS[name]["properties"])

    assert props("JobSubmitParams") == {
        "config_path",
        "fresh",
        "start_sheet",
        "priority",
        "workspace",
    }
    assert DEFS["JobSubmitParams"]["required"] == ["config_path"]
    assert props("JobIdParams") == {"job_id"}
    assert {"status", "all", "limit"} <= props("JobListParams")
    assert props("DaemonHealth") == {"status", "pid", "uptime_seconds"}
    assert props("DaemonReady") == {"status", "reasons"}
    assert {"sheet_num", "status", "attempts", "exit_code", "error"} <= props("SheetStatus")
    assert {"pid", "uptime_seconds", "readiness", "running_jobs", "memory_mb", "child_processes",
            "accepting_work", "version", "pressure_level"} <= props("DaemonStatus")  # fmt: skip


def test_connection_level_errors() -> None:
    assert schema_check.connection_errors() == {-32700, -32600, -32601, -32007, -32008, -32009}
