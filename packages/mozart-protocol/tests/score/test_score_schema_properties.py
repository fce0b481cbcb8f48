"""The loader decodes a score with msgspec first and runs the schema checker only when that
fails: sound only if whatever msgspec accepts, the checker accepts without a word and cleans
into the same score. Checked here over many generated near-valid scores (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from mozart_protocol.score.model import NOT_IMPLEMENTED_TOP_LEVEL, Score, decode_score
from mozart_protocol.score.schema_check import check_schema

BASE: dict[str, Any] = {
    "name": "p",
    "workspace": "./ws",
    "description": "d",
    "backend": {
        "type": "claude_cli",
        "timeout_seconds": 5,
        "timeout_overrides": {1: 2.5},
        "env": {"A": "b"},
        "allowed_tools": ["x"],
    },
    "sheet": {"size": 1, "total_items": 3, "dependencies": {2: [1]}},
    "prompt": {"template": "x", "variables": {"a": 1}},
    "validations": [
        {"type": "file_exists", "path": "p", "stage": 2},
        {"type": "content_regex", "path": "p", "pattern": "x", "condition": "sheet_num > 1"},
        {"type": "command_succeeds", "command": "true", "timeout_seconds": 3},
    ],
    "retry": {"max_retries": 2, "jitter": False, "exponential_base": 1.5},
    "rate_limit": {"detection_patterns": ["a"], "wait_minutes": 1},
    "parallel": {"enabled": True, "max_concurrent": 2},
    "priority": 3,
    "notifications": [
        {"type": "webhook", "on_events": ["job_complete"], "config": {"url": "http://h/"}},
        {"type": "desktop", "config": {"timeout": 3}},
    ],
    "on_success": [
        {"type": "run_command", "command": "echo", "on_failure": "abort"},
        {"type": "run_job", "job_path": "next.yaml", "fresh": True},
    ],
    "learning": {"enabled": False},
}

# Where a generated value goes: a key path into BASE (new keys included).
PATHS: list[tuple[Any, ...]] = [
    ("name",),
    ("workspace",),
    ("description",),
    ("priority",),
    ("pause_between_sheets_seconds",),
    ("backend",),
    ("backend", "type"),
    ("backend", "timeout_seconds"),
    ("backend", "timeout_overrides"),
    ("backend", "timeout_overrides", 1),
    ("backend", "env"),
    ("backend", "env", "A"),
    ("backend", "allowed_tools"),
    ("backend", "output_format"),
    ("backend", "command"),
    ("backend", "max_tokens"),
    ("sheet",),
    ("sheet", "size"),
    ("sheet", "total_items"),
    ("sheet", "start_item"),
    ("sheet", "dependencies"),
    ("sheet", "dependencies", 2),
    ("sheet", "fan_out"),
    ("sheet", "skip_when"),
    ("prompt", "template"),
    ("prompt", "template_file"),
    ("prompt", "variables"),
    ("prompt", "variables", "a"),
    ("validations",),
    ("validations", 0),
    ("validations", 0, "type"),
    ("validations", 0, "path"),
    ("validations", 0, "stage"),
    ("validations", 0, "retry_count"),
    ("validations", 1, "pattern"),
    ("validations", 2, "timeout_seconds"),
    ("retry",),
    ("retry", "max_retries"),
    ("retry", "jitter"),
    ("retry", "completion_threshold_percent"),
    ("rate_limit", "detection_patterns"),
    ("rate_limit", "wait_minutes"),
    ("parallel", "enabled"),
    ("notifications", 0, "on_events"),
    ("notifications", 0, "config", "url"),
    ("notifications", 0, "config", "headers"),
    ("notifications", 1, "type"),
    ("notifications", 1, "config"),
    ("on_success", 0, "type"),
    ("on_success", 0, "detached"),
    ("on_success", 1, "fresh"),
    ("learning",),
    ("learning", "enabled"),
    ("learning", "auto_apply"),
    *((key,) for key in sorted(NOT_IMPLEMENTED_TOP_LEVEL)[:3]),
    ("no_such_key",),
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "true", "1", "claude_cli", "command", "job_complete", "stdin",
                     "a-b", "-a", "A" * 130, "http://h/", "run_job", "(("]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 4)), inner, max_size=3),
    ),
    max_leaves=6,
)


def _put(data: dict[str, Any], path: tuple[Any, ...], value: object) -> None:
    target: Any = data
    for step in path[:-1]:
        target = _child(target, step)
    last = path[-1]
    if isinstance(target, dict) or (isinstance(target, list) and _child(target, last) is not None):
        target[last] = value


def _child(parent: object, step: object) -> object:
    if isinstance(parent, dict):
        return parent.get(step)
    if isinstance(parent, list) and isinstance(step, int) and step < len(parent):
        return parent[step]
    return None


@settings(max_examples=1500, deadline=None)
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), VALUES), max_size=3),
    drops=st.lists(st.sampled_from(PATHS), max_size=2),
)
def test_what_msgspec_accepts_the_checker_accepts_silently(
    changes: list[tuple[tuple[Any, ...], object]], drops: list[tuple[Any, ...]]
) -> None:
    data = copy.deepcopy(BASE)
    for path, value in changes:
        _put(data, path, value)
    for path in drops:
        parent: Any = data
        for step in path[:-1]:
            parent = _child(parent, step)
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    try:
        fast = msgspec.convert(copy.deepcopy(data), Score, strict=True)
    except msgspec.ValidationError:
        return
    cleaned, problems = check_schema(data)
    assert problems == []
    assert decode_score(cleaned) == fast
