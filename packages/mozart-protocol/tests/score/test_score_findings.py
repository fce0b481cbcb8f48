"""Every finding code of static validation: code, path and line (docs/scores.md table)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from mozart_protocol.score import FINDING_CODES, validate_score_file

WriteScore = Callable[..., Path]

HEAD = """\
name: t
backend: {type: command, command: "true"}
"""
SHEET = "sheet: {size: 1, total_items: 3}\n"
PROMPT = 'prompt: {template: "x"}\n'


def score(*parts: str) -> str:
    return "".join(textwrap.dedent(part) for part in parts)


# (code, path, line or None, yaml text)
CASES: list[tuple[str, str, int | None, str]] = [
    ("E002", "", 4, score(HEAD, "sheet: {size: 1\nprompt: x\n")),
    ("E003", "", 1, "- a\n- b\n"),
    ("E003", "", None, ""),
    ("E101", "validation", 5, score(HEAD, SHEET, PROMPT, "validation: []\n")),
    (
        "E101",
        "sheet.sise",
        5,
        score(HEAD, PROMPT, "sheet:\n  sise: 1\n  size: 1\n  total_items: 2\n"),
    ),
    ("E102", "sheet", 1, score(HEAD, PROMPT)),
    ("E102", "sheet.total_items", 4, score(HEAD, PROMPT, "sheet: {size: 1}\n")),
    ("E102", "validations[0].type", 6, score(HEAD, SHEET, PROMPT, "validations:\n  - path: x\n")),
    ("E103", "sheet.size", 4, score(HEAD, PROMPT, "sheet: {size: three, total_items: 3}\n")),
    ("E103", "parallel.enabled", 5, score(HEAD, SHEET, PROMPT, "parallel: {enabled: 'yes'}\n")),
    (
        "E103",
        "sheet.dependencies.a",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, total_items: 2, dependencies: {a: [1]}}\n"),
    ),
    ("E104", "sheet.size", 4, score(HEAD, PROMPT, "sheet: {size: 0, total_items: 3}\n")),
    ("E104", "priority", 5, score(HEAD, SHEET, PROMPT, "priority: 10\n")),
    ("E104", "retry.max_retries", 5, score(HEAD, SHEET, PROMPT, "retry: {max_retries: -1}\n")),
    (
        "E104",
        "sheet.total_items",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, start_item: 5, total_items: 3}\n"),
    ),
    (
        "E104",
        "backend.timeout_overrides.4",
        2,
        score(
            "name: t\nbackend: {type: command, command: x, timeout_overrides: {4: 10}}\n",
            SHEET,
            PROMPT,
        ),
    ),
    (
        "E104",
        "name",
        1,
        score(f"name: {'a' * 129}\nbackend: {{type: command, command: x}}\n", SHEET, PROMPT),
    ),
    ("E105", "name", 1, score("name: -bad\nbackend: {type: command, command: x}\n", SHEET, PROMPT)),
    ("E105", "backend.type", 2, score("name: t\nbackend: {type: shell}\n", SHEET, PROMPT)),
    (
        "E105",
        "backend.prompt_via",
        2,
        score("name: t\nbackend: {type: command, command: x, prompt_via: pipe}\n", SHEET, PROMPT),
    ),
    ("E106", "priority", 6, score(HEAD, SHEET, PROMPT, "priority: 1\npriority: 2\n")),
    ("W101", "concert", 5, score(HEAD, SHEET, PROMPT, "concert: {enabled: true}\n")),
    (
        "W101",
        "on_success[0].detached",
        5,
        score(
            HEAD, SHEET, PROMPT, "on_success: [{type: run_command, command: x, detached: true}]\n"
        ),
    ),
    (
        "W101",
        "sheet.skip_when",
        7,
        score(HEAD, PROMPT, "sheet:\n  size: 1\n  total_items: 2\n  skip_when: {}\n"),
    ),
    (
        "W101",
        "validations[0].retry_count",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: file_exists, path: x, retry_count: 2}]\n"),
    ),
    (
        "E201",
        "prompt.template_file",
        4,
        score(HEAD, SHEET, "prompt: {template: x, template_file: p.j2}\n"),
    ),
    ("E201", "prompt", 4, score(HEAD, SHEET, "prompt: {variables: {a: 1}}\n")),
    (
        "E202",
        "prompt.template_file",
        4,
        score(HEAD, SHEET, "prompt: {template_file: missing.j2}\n"),
    ),
    (
        "E203",
        "prompt.template",
        7,
        score(HEAD, SHEET, "prompt:\n  template: |\n    line one\n    {% if %}\n"),
    ),
    ("E203", "prompt.template", 4, score(HEAD, SHEET, 'prompt: {template: "{{ x "}\n')),
    ("W204", "prompt.template", 4, score(HEAD, SHEET, 'prompt: {template: "{{ sheet_nun }}"}\n')),
    (
        "W205",
        "prompt.variables.workspace",
        4,
        score(HEAD, SHEET, "prompt: {template: x, variables: {workspace: w}}\n"),
    ),
    (
        "E301",
        "validations[0].pattern",
        5,
        score(
            HEAD, SHEET, PROMPT, "validations: [{type: content_regex, path: x, pattern: '(('}]\n"
        ),
    ),
    (
        "E301",
        "rate_limit.detection_patterns[1]",
        5,
        score(HEAD, SHEET, PROMPT, "rate_limit: {detection_patterns: [ok, '[a']}\n"),
    ),
    (
        "E302",
        "validations[0].pattern",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: content_regex, path: x}]\n"),
    ),
    (
        "E302",
        "validations[0].command",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: command_succeeds}]\n"),
    ),
    (
        "E303",
        "validations[0].condition",
        5,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "validations: [{type: file_exists, path: x, condition: 'sheet_num => 2'}]\n",
        ),
    ),
    (
        "E303",
        "validations[0].condition",
        5,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "validations: [{type: file_exists, path: x, condition: 'sheet == 2'}]\n",
        ),
    ),
    (
        "E303",
        "validations[0].condition",
        5,
        score(
            HEAD,
            SHEET,
            "prompt: {template: x, variables: {topic: owls}}\n",
            "validations: [{type: file_exists, path: x, condition: 'topic == 2'}]\n",
        ),
    ),
    (
        "E304",
        "validations[0].path",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: file_exists, path: '{workspac}/x'}]\n"),
    ),
    (
        "E304",
        "validations[0].path",
        5,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "validations: [{type: file_exists, path: '{workspace.parent}/x'}]\n",
        ),
    ),
    (
        "E304",
        "validations[0].path",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: file_exists, path: '{workspace:02d}'}]\n"),
    ),
    (
        "E304",
        "validations[0].command",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: command_succeeds, command: 'test {x'}]\n"),
    ),
    (
        "E304",
        "validations[0].working_directory",
        5,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "validations: [{type: command_succeeds, command: x, working_directory: '{nope}'}]\n",
        ),
    ),
    (
        "E305",
        "validations[0].path",
        5,
        score(
            HEAD, SHEET, PROMPT, "validations: [{type: file_exists, path: '{workspace}/../x'}]\n"
        ),
    ),
    (
        "E305",
        "validations[0].path",
        5,
        score(HEAD, SHEET, PROMPT, "validations: [{type: file_exists, path: /etc/passwd}]\n"),
    ),
    (
        "E305",
        "validations[0].working_directory",
        5,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "validations: [{type: command_succeeds, command: x, working_directory: ..}]\n",
        ),
    ),
    (
        "E401",
        "sheet.dependencies.2[0]",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, total_items: 3, dependencies: {2: [4]}}\n"),
    ),
    (
        "E401",
        "sheet.dependencies.9",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, total_items: 3, dependencies: {9: [1]}}\n"),
    ),
    (
        "E402",
        "sheet.dependencies.2[0]",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, total_items: 3, dependencies: {2: [2]}}\n"),
    ),
    (
        "E403",
        "sheet.dependencies.1",
        8,
        score(
            HEAD,
            PROMPT,
            "sheet:\n  size: 1\n  total_items: 3\n  dependencies:\n    1: [2]\n    2: [1]\n",
        ),
    ),
    (
        "E404",
        "sheet.size",
        4,
        score(HEAD, PROMPT, "sheet: {size: 2, total_items: 3, fan_out: {1: 2}}\n"),
    ),
    (
        "E404",
        "sheet.start_item",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, start_item: 2, total_items: 3, fan_out: {2: 2}}\n"),
    ),
    (
        "E405",
        "sheet.fan_out.5",
        4,
        score(HEAD, PROMPT, "sheet: {size: 1, total_items: 3, fan_out: {5: 2}}\n"),
    ),
    ("E501", "workspace", 5, score(HEAD, SHEET, PROMPT, "workspace: ./no/such/dir/ws\n")),
    (
        "E502",
        "backend.system_prompt_file",
        2,
        score("name: t\nbackend: {type: claude_cli, system_prompt_file: sys.md}\n", SHEET, PROMPT),
    ),
    (
        "E601",
        "notifications[0].config.url",
        7,
        score(
            HEAD,
            SHEET,
            PROMPT,
            "notifications:\n  - type: webhook\n    config: {url: 'ftp://x/y'}\n",
        ),
    ),
    (
        "E102",
        "notifications[0].config.url",
        6,
        score(
            HEAD, SHEET, PROMPT, "notifications:\n  - type: webhook\n    on_events: [job_failed]\n"
        ),
    ),
    (
        "E105",
        "notifications[0].on_events[0]",
        5,
        score(HEAD, SHEET, PROMPT, "notifications: [{type: desktop, on_events: [job_finish]}]\n"),
    ),
    (
        "W602",
        "notifications[0].type",
        5,
        score(HEAD, SHEET, PROMPT, "notifications: [{type: slack}]\n"),
    ),
    (
        "W603",
        "on_success[0].job_path",
        5,
        score(HEAD, SHEET, PROMPT, "on_success: [{type: run_job, job_path: next.yaml}]\n"),
    ),
    (
        "E304",
        "on_success[0].command",
        5,
        score(HEAD, SHEET, PROMPT, "on_success: [{type: run_command, command: 'ls {workspce}'}]\n"),
    ),
    (
        "E604",
        "on_success[0].job_path",
        5,
        score(HEAD, SHEET, PROMPT, "on_success: [{type: run_job, job_path: ./score.yaml}]\n"),
    ),
]


@pytest.mark.parametrize(
    ("code", "path", "line", "text"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_finding(
    write_score: WriteScore, code: str, path: str, line: int | None, text: str
) -> None:
    report = validate_score_file(write_score(text))
    assert report.readable
    matching = [f for f in report.findings if f.code == code and f.path == path]
    assert matching, [f.format() for f in report.findings]
    finding = matching[0]
    assert finding.line == line
    assert finding.severity == ("warning" if code.startswith("W") else "error")
    # Only the expected kind of problem: each case breaks one thing.
    others = {f.code for f in report.findings if f.severity == "error"} - {code}
    assert not others, [f.format() for f in report.findings]
    if finding.severity == "warning":
        assert report.ok
    else:
        assert not report.ok


def test_every_code_has_a_case() -> None:
    covered = {case[0] for case in CASES} | {"E001"}  # E001: see test_unreadable_files
    assert covered == set(FINDING_CODES)


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_unreadable_files(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "score.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"name: \xff\xfe\n")
    report = validate_score_file(path)
    assert not report.readable
    assert [f.code for f in report.findings] == ["E001"]
    assert report.findings[0].file == str(path)


def test_messages_name_the_problem(write_score: WriteScore) -> None:
    text = score(
        HEAD,
        PROMPT,
        "sheet: {size: 0, total_items: 3}\n",
        "validation: []\n",
        "validations: [{type: file_exist, path: x}]\n",
        "frobnicate: 1\n",
    )
    path = write_score(text)
    messages = {f.path: f.format() for f in validate_score_file(path).findings}
    assert messages["sheet.size"] == f"{path}:4:15: error E104 sheet.size: must be >= 1, got 0"
    assert messages["validation"].endswith(
        "unknown key `validation` at the top level; did you mean `validations`?"
    )
    assert ":5:1:" in messages["validation"]
    assert messages["validations[0].type"].endswith(
        "unknown type `file_exist` (one of `file_exists`, `file_modified`, `content_contains`, "
        "`content_regex`, `command_succeeds`); did you mean `file_exists`?"
    )
    assert "(known keys: " in messages["frobnicate"]


def test_unknown_key_in_a_backend_names_its_type(write_score: WriteScore) -> None:
    text = score("name: t\nbackend: {type: command, command: x, cli_model: y}\n", SHEET, PROMPT)
    [finding] = validate_score_file(write_score(text)).findings
    assert (finding.code, finding.path) == ("E101", "backend.cli_model")
    assert finding.message.startswith("unknown key `cli_model` in `backend` (type `command`)")
    assert "prompt_via" in finding.message and "type" in finding.message


def test_all_schema_errors_are_reported_at_once(write_score: WriteScore) -> None:
    text = score(
        "name: t\n",
        "sheet: {size: 0, total_items: -1, start_item: x}\n",
        "prompt: {template: x, stakes: 3}\n",
        "retry: {max_retries: -1, jitter: maybe}\n",
    )
    paths = {f.path for f in validate_score_file(write_score(text)).findings}
    assert {
        "sheet.size",
        "sheet.total_items",
        "sheet.start_item",
        "prompt.stakes",
        "retry.max_retries",
        "retry.jitter",
    } <= paths


def test_semantic_checks_run_beside_schema_errors(write_score: WriteScore) -> None:
    text = score(
        HEAD,
        "sheet: {size: 0, total_items: 3}\n",
        'prompt: {template: "{% if %}"}\n',
        "validations:\n",
        "  - {type: content_regex, path: x, pattern: '(('}\n",
        "  - {type: nope}\n",
    )
    codes = {(f.code, f.path) for f in validate_score_file(write_score(text)).findings}
    assert codes == {
        ("E104", "sheet.size"),
        ("E203", "prompt.template"),
        ("E301", "validations[0].pattern"),
        ("E105", "validations[1].type"),
    }
