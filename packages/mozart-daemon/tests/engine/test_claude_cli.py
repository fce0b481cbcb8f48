"""The claude_cli backend against a fake `claude` on PATH (tests/fakes/claude)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from enginekit import Recorder, Runner, write_score
from mozart_daemon.engine import ErrorClass, InMemoryCheckpoint, SheetState

FAKES = Path(__file__).resolve().parents[1] / "fakes"


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts the fake on PATH; returns the file where it logs each call."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CLAUDECODE", "1")  # as if the daemon ran inside Claude Code
    log = tmp_path / "claude-calls.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    monkeypatch.setenv("FAKE_CLAUDE_STATE", str(tmp_path / "claude-state"))
    return log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def claude_score(tmp_path: Path, **backend: Any) -> dict[str, Any]:
    return {
        "backend": {"type": "claude_cli", "timeout_seconds": 20, **backend},
        "prompt": {"template": "WRITE out-{{ sheet_num }}.md hello from claude\nBe brief."},
        "validations": [
            {"type": "content_contains", "path": "out-{sheet_num}.md", "pattern": "hello"}
        ],
    }


async def test_default_argv_environment_and_json_result(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, fake_claude: Path
) -> None:
    loaded = write_score(tmp_path, claude_score(tmp_path))
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    (call,) = calls(fake_claude)
    prompt = call["argv"][1]
    assert prompt.startswith("WRITE out-1.md hello from claude\nBe brief.")
    assert "Success requirements" in prompt
    assert call["argv"] == [
        "-p",
        prompt,
        "--dangerously-skip-permissions",
        "--output-format",
        "json",
        "--strict-mcp-config",
        "--mcp-config",
        '{"mcpServers":{}}',
    ]
    assert call["claudecode"] is False
    assert call["stdin_devnull"] is True
    assert call["cwd"] == str(tmp_path / "ws")
    record = checkpoint.sheet("test-job", 1).attempts[0]
    assert record.cost_usd == pytest.approx(0.0123)
    assert record.output_tokens == 7
    assert record.input_tokens is not None and record.input_tokens > 120  # + cache tokens
    assert '"type": "result"' in (tmp_path / "ws/logs/sheet-01.stdout.log").read_text()


@pytest.mark.parametrize(
    "template",
    [
        "WRITE out-{{ sheet_num }}.md hello from claude\n" + "x" * 200_000,  # > 128 KiB argv cap
        "- WRITE out-{{ sheet_num }}.md hello from claude\nWRITE out-{{ sheet_num }}.md hello",
    ],
    ids=["larger-than-an-argument", "starts-with-a-dash"],
)
async def test_prompts_the_argv_cannot_carry_go_on_stdin(
    tmp_path: Path, run: Runner, fake_claude: Path, template: str
) -> None:
    score = claude_score(tmp_path)
    score["prompt"] = {"template": template}
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.COMPLETED, result
    (call,) = calls(fake_claude)
    assert call["prompt_from_stdin"] is True and call["stdin_devnull"] is False
    assert call["argv"][:2] == ["-p", "--dangerously-skip-permissions"]
    assert call["prompt_length"] >= len(template.replace("{{ sheet_num }}", "1"))


async def test_options_become_flags(tmp_path: Path, run: Runner, fake_claude: Path) -> None:
    (tmp_path / "system.md").write_text("You are terse.")
    loaded = write_score(
        tmp_path,
        claude_score(
            tmp_path,
            skip_permissions=False,
            disable_mcp=False,
            output_format="stream-json",
            cli_model="claude-opus-4",
            allowed_tools=["Read", "Write"],
            system_prompt_file="system.md",
            cli_extra_args=["--max-turns", "3"],
        ),
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    argv = calls(fake_claude)[0]["argv"]
    assert argv[2:] == [
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "claude-opus-4",
        "--allowedTools",
        "Read,Write",
        "--append-system-prompt",
        "You are terse.",
        "--max-turns",
        "3",
    ]


async def test_text_output(tmp_path: Path, run: Runner, fake_claude: Path) -> None:
    loaded = write_score(tmp_path, claude_score(tmp_path, output_format="text"))
    assert (await run(loaded)).status == SheetState.COMPLETED


async def test_usage_limit_with_reset_time_is_waited_out(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    fake_claude: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "rate_limit_once")
    score = claude_score(tmp_path)
    score["retry"] = {"max_retries": 0}
    result = await run(write_score(tmp_path, score))
    assert result.status == SheetState.COMPLETED
    attempts = checkpoint.sheet("test-job", 1).attempts
    assert [a.outcome for a in attempts] == ["rate_limited", "passed"]
    assert recorder.rate_limits == [("claude_cli@claude", 7200.0)]
    assert recorder.sleeps == [7200.0]


async def test_authentication_error_is_fatal(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    fake_claude: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "auth")
    result = await run(write_score(tmp_path, claude_score(tmp_path)))
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL
    assert result.attempts == 1
    assert "authentication" in (result.error or "") and "Invalid API key" in (result.error or "")


async def test_missing_claude_is_fatal(tmp_path: Path, run: Runner, fake_claude: Path) -> None:
    result = await run(write_score(tmp_path, claude_score(tmp_path, executable="claude-missing")))
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL and result.attempts == 1
    assert "claude-missing" in (result.error or "") and "not found" in (result.error or "")


async def test_hanging_claude_is_stopped_by_the_timeout(
    tmp_path: Path, run: Runner, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    score = claude_score(tmp_path, timeout_seconds=0.5)
    score["retry"] = {"max_retries": 0}
    result = await run(write_score(tmp_path, score))
    assert result.error_class == ErrorClass.TIMEOUT
