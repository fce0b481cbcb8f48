"""notifications and on_success: the model's defaults and the static checks' edge cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mozart_protocol.score import load_score, validate_score_file
from mozart_protocol.score.model import (
    DesktopNotification,
    RunCommandHook,
    RunJobHook,
    WebhookNotification,
)
from mozart_protocol.score.orchestration import check_url, hook_context, resolve_hook_path

WriteScore = Callable[..., Path]
BASE = """\
name: t
backend: {type: command, command: "true"}
sheet: {size: 1, total_items: 3}
prompt: {template: x}
"""


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8080/hook", True),
        ("https://hooks.example.com/a?b=c", True),
        ("ftp://example.com/x", False),
        ("example.com/hook", False),
        ("http:///path-only", False),
        ("http://host:99999/", False),
        ("file:///etc/passwd", False),
    ],
)
def test_check_url(url: str, ok: bool) -> None:
    assert (check_url(url) is None) is ok


def test_defaults_follow_the_wider_format(write_score: WriteScore) -> None:
    loaded = load_score(
        write_score(
            BASE + "notifications:\n  - {type: webhook, config: {url: 'http://h/x'}}\n"
            "  - {type: desktop}\n"
            "on_success:\n  - {type: run_command, command: make}\n"
            "  - {type: run_job, job_path: score.yaml, fresh: true}\n"
        )
    )
    webhook, desktop = loaded.score.notifications
    assert isinstance(webhook, WebhookNotification) and isinstance(desktop, DesktopNotification)
    assert webhook.on_events == ["job_complete", "job_failed"]
    assert (webhook.config.timeout, webhook.config.max_retries, webhook.config.retry_delay) == (
        30.0,
        2,
        1.0,
    )
    assert desktop.config.app_name == "Mozart"
    command, job = loaded.score.on_success
    assert isinstance(command, RunCommandHook) and command.timeout_seconds == 300
    assert command.on_failure == "continue"
    assert isinstance(job, RunJobHook) and job.fresh
    assert loaded.warnings == []


def test_hook_context_and_paths(write_score: WriteScore, tmp_path: Path) -> None:
    loaded = load_score(write_score(BASE))
    context = hook_context(loaded, workspace=tmp_path / "ws", job_id="t", total_sheets=3)
    assert context == {
        "workspace": str(tmp_path / "ws"),
        "job_id": "t",
        "total_sheets": 3,
        "sheet_count": 3,
        "score_dir": str(tmp_path),
    }
    assert resolve_hook_path(loaded, "next-{job_id}.yaml", context) == tmp_path / "next-t.yaml"
    assert resolve_hook_path(loaded, "{workspace}/n.yaml", context) == tmp_path / "ws" / "n.yaml"


def test_a_chained_score_that_a_sheet_writes_is_only_a_warning(write_score: WriteScore) -> None:
    report = validate_score_file(
        write_score(BASE + "on_success:\n  - {type: run_job, job_path: '{workspace}/next.yaml'}\n")
    )
    assert report.ok
    assert [(f.code, f.path) for f in report.warnings] == [("W603", "on_success[0].job_path")]


def test_hook_findings(write_score: WriteScore, tmp_path: Path) -> None:
    (tmp_path / "next.yaml").write_text(BASE.replace("name: t", "name: next"))
    text = BASE + (
        "notifications:\n"
        "  - {type: webhook, config: {url_env: 'not a name'}}\n"
        "  - {type: email, config: {to: me@example.com}}\n"
        "on_success:\n"
        "  - {type: run_job, job_path: next.yaml}\n"
        "  - {type: run_script, command: ./missing.sh}\n"
        "  - {type: run_command, command: 'echo {sheet_num}'}\n"
        "  - {type: run_job, job_path: 'x.yaml', job_workspace: '{workspace'}\n"
    )
    report = validate_score_file(write_score(text))
    found = sorted((f.code, f.path) for f in report.findings)
    assert found == [
        ("E105", "notifications[0].config.url_env"),
        ("E304", "on_success[2].command"),
        ("E304", "on_success[3].job_workspace"),
        ("W602", "notifications[1].type"),
        ("W603", "on_success[1].command"),
    ]
    [unknown] = [f for f in report.findings if f.path == "on_success[2].command"]
    assert "a hook knows {workspace}, {job_id}" in unknown.message
