"""Loading: YAML with positions, defaults of SCORE.md, warnings, paths relative to the score."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from mozart_protocol.score import (
    ClaudeCliBackend,
    CommandBackend,
    CommandSucceedsRule,
    Finding,
    PlanError,
    ScoreError,
    ScoreNotReadableError,
    build_plan,
    load_score,
    resolve_path,
    resolve_workspace,
    validate_score_file,
)
from mozart_protocol.score.loaded import absolute_path_text, normal_path, parent_text
from mozart_protocol.score.model import DEFAULT_RATE_LIMIT_PATTERNS
from mozart_protocol.score.yamlsource import SafeLoader

WriteScore = Callable[..., Path]

MINIMAL = """
    name: minimal
    sheet: {size: 1, total_items: 2}
    prompt: {template: "Do {{ sheet_num }}"}
"""


def test_uses_the_c_loader_when_available() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert SafeLoader.__name__ == "CSafeLoader"
    else:  # pragma: no cover - PyYAML built without libyaml
        assert SafeLoader is yaml.SafeLoader


def test_a_prompts_findings_are_the_same_when_checked_again(write_score: WriteScore) -> None:
    """An inline prompt's problems are cached by its template and variables' names: the
    same findings each time, whatever a caller did with the last ones."""
    texts = [
        MINIMAL.replace("Do {{ sheet_num }}", "Do {{ shet_num }} {{ x }}"),  # W204 twice
        MINIMAL.replace('{template: "Do {{ sheet_num }}"}', "{variables: {sheet_num: 1, y: 2}}"),
        MINIMAL.replace('"Do {{ sheet_num }}"', '"{% if %}", variables: {workspace: 1}'),
    ]
    for text in texts:
        path = write_score(text)
        first = validate_score_file(path).findings
        assert first
        first.clear()
        again = validate_score_file(path).findings
        assert again == validate_score_file(path).findings != []


def test_defaults_follow_score_md(write_score: WriteScore) -> None:
    loaded = load_score(write_score(MINIMAL))
    score = loaded.score
    assert score.workspace == "./workspace"
    assert score.description is None
    assert isinstance(score.backend, ClaudeCliBackend)
    backend = score.backend
    assert backend.timeout_seconds == 1800
    assert backend.skip_permissions is True
    assert backend.output_format == "json"
    assert backend.disable_mcp is True
    assert backend.executable == "claude"
    assert score.validations == []
    assert (score.retry.max_retries, score.retry.base_delay_seconds) == (3, 10)
    assert (score.retry.max_delay_seconds, score.retry.exponential_base) == (3600, 2)
    assert score.retry.jitter is True
    assert score.retry.completion_threshold_percent == 50
    assert score.retry.completion_delay_seconds == 5
    assert score.retry.max_completion_attempts == 3
    assert score.rate_limit.detection_patterns == list(DEFAULT_RATE_LIMIT_PATTERNS)
    assert (score.rate_limit.wait_minutes, score.rate_limit.max_waits) == (60, 24)
    assert (score.parallel.enabled, score.parallel.max_concurrent) == (False, 3)
    assert score.parallel.fail_fast is True
    assert score.pause_between_sheets_seconds == 0
    assert score.priority == 5
    assert score.sheet.start_item == 1


def test_default_rate_limit_patterns_cover_score_md() -> None:
    import re

    for text in [
        "Rate limit reached",
        "usage limit",
        "QUOTA exceeded",
        "Too Many Requests",
        "HTTP 429",
        "server overloaded",
        "please try again later",
    ]:
        assert any(re.search(p, text, re.IGNORECASE) for p in DEFAULT_RATE_LIMIT_PATTERNS), text


def test_backend_and_rule_types(write_score: WriteScore) -> None:
    loaded = load_score(
        write_score(
            MINIMAL
            + """
    backend: {command: [echo, hi], type: command, prompt_via: arg}
    validations:
      - {type: command_succeeds, command: "true"}
    """
        )
    )
    assert isinstance(loaded.score.backend, CommandBackend)
    assert loaded.score.backend.command == ["echo", "hi"]
    rule = loaded.score.validations[0]
    assert isinstance(rule, CommandSucceedsRule)
    assert (rule.timeout_seconds, rule.stage, rule.working_directory) == (300, 1, None)


def test_backend_without_type_is_claude_cli(write_score: WriteScore) -> None:
    loaded = load_score(write_score(MINIMAL + "    backend: {timeout_seconds: 5}\n"))
    assert isinstance(loaded.score.backend, ClaudeCliBackend)
    assert loaded.score.backend.timeout_seconds == 5


def test_loaded_paths_are_absolute(write_score: WriteScore, tmp_path: Path) -> None:
    loaded = load_score(write_score(MINIMAL, name="sub/score.yaml"))
    assert loaded.path == tmp_path / "sub" / "score.yaml"
    assert loaded.base_dir == tmp_path / "sub"


def test_relative_paths_resolve_against_the_score_not_the_cwd(
    write_score: WriteScore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_score(MINIMAL + "    workspace: ../out/ws\n", name="scores/s.yaml")
    (tmp_path / "out").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_score(os.path.relpath(path, elsewhere))
    assert resolve_workspace(loaded) == tmp_path / "out" / "ws"
    assert resolve_workspace(loaded, "/abs/ws") == Path("/abs/ws")
    assert resolve_workspace(loaded, "other") == tmp_path / "scores" / "other"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_workspace(loaded, "~/w") == tmp_path / "w"


def test_workspace_override_replaces_the_parent_check(
    write_score: WriteScore, tmp_path: Path
) -> None:
    path = write_score(MINIMAL + "    workspace: ./missing/ws\n")
    with pytest.raises(ScoreError) as caught:
        load_score(path)
    assert [f.code for f in caught.value.errors] == ["E501"]
    loaded = load_score(path, workspace_override=tmp_path / "ws")
    assert resolve_workspace(loaded, tmp_path / "ws") == tmp_path / "ws"
    report = validate_score_file(path, workspace_override="/no/such/parent/ws")
    assert [f.code for f in report.findings] == ["E501"]


def test_not_implemented_keys_are_warnings(write_score: WriteScore) -> None:
    loaded = load_score(
        write_score(
            MINIMAL
            + """
    learning: {enabled: true, use_global_patterns: true}
    circuit_breaker: {}
    validations:
      - {type: file_exists, path: x, retry_delay_ms: 5}
    """
        )
    )
    assert sorted((w.code, w.path) for w in loaded.warnings) == [
        ("W101", "circuit_breaker"),
        ("W101", "learning.use_global_patterns"),
        ("W101", "validations[0].retry_delay_ms"),
    ]
    assert all("not implemented" in w.message for w in loaded.warnings)


def test_not_implemented_keys_elsewhere_are_unknown(write_score: WriteScore) -> None:
    report = validate_score_file(write_score(MINIMAL + "    retry: {learning: 1}\n"))
    assert [(f.code, f.path) for f in report.findings] == [("E101", "retry.learning")]


def test_score_error_lists_located_findings(write_score: WriteScore) -> None:
    path = write_score(MINIMAL.replace("size: 1", "size: 0"))
    with pytest.raises(ScoreError) as caught:
        load_score(path)
    assert f"{path}:2:15: error E104 sheet.size: must be >= 1, got 0" in str(caught.value)
    assert caught.value.errors == caught.value.findings


def test_unreadable_score_raises_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(ScoreNotReadableError) as caught:
        load_score(tmp_path / "nope.yaml")
    assert caught.value.findings[0].code == "E001"
    assert "No such file" in caught.value.findings[0].message


def test_yaml_anchors_and_merge_keys(write_score: WriteScore) -> None:
    path = write_score(
        MINIMAL
        + """
    validations:
      - &check {type: file_exists, path: a, condition: "sheet_num > 1"}
      - {<<: *check, path: b}
    """
    )
    rules = load_score(path).score.validations
    assert [(r.path, r.condition) for r in rules] == [  # type: ignore[union-attr]
        ("a", "sheet_num > 1"),
        ("b", "sheet_num > 1"),
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("extra", ["    x: &a [*a]\n", "    y: &v {self: {again: *v}}\n"])
def test_a_recursive_alias_is_refused_where_it_is(write_score: WriteScore, extra: str) -> None:
    """A node containing its own alias: the data would contain itself, and walking it
    (positions, checks) never ended; the daemon loads scores on its event loop."""
    path = write_score(MINIMAL + extra)
    report = validate_score_file(path)
    anchor_line = 1 + next(i for i, t in enumerate(path.read_text().splitlines()) if "&" in t)
    assert [(f.code, f.line) for f in report.findings] == [("E002", anchor_line)]
    assert "contains it" in report.findings[0].message


def test_an_alias_used_twice_is_not_recursive(write_score: WriteScore) -> None:
    path = write_score(MINIMAL + "    x-note: &n [1, 2]\n    y-note: [*n, *n]\n")
    assert [f.code for f in validate_score_file(path).findings if f.code == "E002"] == []


def test_findings_serialise_for_the_wire(write_score: WriteScore) -> None:
    report = validate_score_file(write_score(MINIMAL + "    priority: 11\n"))
    data = msgspec.to_builtins(report.findings)
    assert data == [
        {
            "code": "E104",
            "severity": "error",
            "message": "must be <= 9, got 11",
            "file": str(report.path),
            "line": 4,
            "column": 11,
            "path": "priority",
        }
    ]
    assert msgspec.convert(data, list[Finding]) == report.findings


def test_finding_format_without_position() -> None:
    finding = Finding(code="E001", severity="error", message="cannot read", file="s.yaml")
    assert finding.format() == "s.yaml: error E001 cannot read"


def test_valid_report(write_score: WriteScore) -> None:
    report = validate_score_file(write_score(MINIMAL))
    assert report.ok and report.readable
    assert report.findings == [] and report.errors == [] and report.warnings == []
    assert report.score is not None and report.loaded is not None


def test_pure_python_loader_gives_the_same_findings(
    write_score: WriteScore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mozart_protocol.score import yamlsource

    path = write_score(
        MINIMAL.replace("size: 1", "size: 0")
        + """
    validation: []
    prompt: {template: "{% if %}"}
    """
    )
    fast = validate_score_file(path).findings
    monkeypatch.setattr(yamlsource, "SafeLoader", yaml.SafeLoader)
    slow = validate_score_file(path).findings
    assert fast == slow
    assert len(fast) >= 3


@pytest.mark.parametrize("base", ["/s/d", "/", "rel/d", ".", "", "//two"])
@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "w", "./w/", "a//b/./c/..", "/abs/x", "//abs", "~/w", "w\x00", ".h/w/",
     "/a/.h", "/a/b/", "x/..h"],
)  # fmt: skip
def test_workspace_text_and_parent_are_the_path_objects(base: str, value: str) -> None:
    """The static checks take the workspace as text and its parent as its dirname."""
    path = resolve_path(Path(base), value)
    text = absolute_path_text(base, value)
    assert text == str(path)
    assert (parent_text(text) or ".") == str(path.parent)


@given(st.text(alphabet="/.a~", max_size=14))
def test_normal_path_and_parent_text_are_os_paths(path: str) -> None:
    """What the loader uses instead of os.path's normpath and dirname gives what they do."""
    assert normal_path(path) == os.path.normpath(path)
    normal = os.path.normpath(path)
    assert parent_text(normal) == os.path.dirname(normal)
    assert absolute_path_text("/b/c", path) == os.path.normpath(
        os.path.join("/b/c", os.path.expanduser(path))
    )


def test_the_loaded_score_and_the_report_share_its_warnings(write_score: WriteScore) -> None:
    report = validate_score_file(write_score(MINIMAL.replace("sheet_num", "nope")))
    assert report.ok and report.loaded is not None
    assert [f.code for f in report.loaded.warnings] == ["W204"]
    assert report.loaded.warnings == report.warnings


def test_the_loaded_score_carries_the_plan_the_checks_made(write_score: WriteScore) -> None:
    """Whoever runs the score takes ``loaded.plan`` instead of planning it again."""
    loaded = load_score(write_score(MINIMAL))
    assert "plan" in vars(loaded)  # made by the checks
    assert loaded.plan == build_plan(loaded.score)
    assert loaded.plan.total_sheets == 2


def test_a_score_that_cannot_be_planned_has_no_plan(write_score: WriteScore) -> None:
    text = MINIMAL.replace("size: 1,", "size: 1, start_item: 3,")
    report = validate_score_file(write_score(text))
    assert [f.code for f in report.errors] == ["E104"]
    assert report.loaded is not None
    with pytest.raises(PlanError):
        report.loaded.plan  # noqa: B018
