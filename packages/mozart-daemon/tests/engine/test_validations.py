"""Validations: the five types, placeholders and quoting, containment, conditions, stages."""

from __future__ import annotations

import os
import time
from pathlib import Path

from enginekit import Runner, processes_with, write_score
from mozart_daemon.engine import InMemoryCheckpoint, SheetState, ValidationResult
from mozart_daemon.engine.validations import run_validations, take_snapshot
from mozart_protocol.score import FileModifiedRule


def results(checkpoint: InMemoryCheckpoint, sheet: int = 1) -> list[ValidationResult]:
    return list(checkpoint.sheet("test-job", sheet).attempts[-1].validations)


async def test_paths_outside_the_workspace_fail_with_an_error(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret done")
    (tmp_path / "ws").mkdir()
    os.symlink(outside, tmp_path / "ws" / "link.txt")
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "retry": {"max_retries": 0},
            "validations": [
                {"type": "file_exists", "path": "link.txt"},
                {"type": "content_contains", "path": "a", "pattern": "x"},
                {"type": "file_exists", "path": "b"},
                {"type": "command_succeeds", "command": "true", "working_directory": "c"},
            ],
        },
    )
    # Static validation refuses these already; the engine must refuse them at run time too
    # (a score may be changed between validation and run).
    rules = loaded.score.validations
    rules[1].path = "{workspace}/../outside.txt"  # type: ignore[union-attr]
    rules[2].path = str(outside)  # type: ignore[union-attr]
    rules[3].working_directory = ".."  # type: ignore[union-attr]
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    checked = results(checkpoint)
    assert [r.passed for r in checked] == [False] * 4
    assert all("outside the workspace" in (r.message or "") for r in checked), checked
    assert "symlink" in (checked[0].message or "")


async def test_symlinks_inside_the_workspace_are_fine(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "echo done > real.txt; ln -s real.txt l.txt"},
            "validations": [{"type": "content_contains", "path": "l.txt", "pattern": "done"}],
        },
    )
    assert (await run(loaded)).status == SheetState.COMPLETED


async def test_higher_stages_run_only_when_lower_ones_pass(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "retry": {"max_retries": 0, "max_completion_attempts": 0},
            "validations": [
                {"type": "command_succeeds", "command": "touch stage3-ran", "stage": 3},
                {"type": "file_exists", "path": "missing.txt", "stage": 2},
                {"type": "command_succeeds", "command": "touch stage1-ran"},
            ],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    assert [(r.index, r.stage, r.passed) for r in results(checkpoint)] == [
        (2, 1, True),
        (1, 2, False),
    ]
    assert (tmp_path / "ws" / "stage1-ran").exists()
    assert not (tmp_path / "ws" / "stage3-ran").exists()


async def test_condition_limits_a_rule_to_some_sheets(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "sheet": {"size": 1, "total_items": 3},
            "backend": {"type": "command", "command": "touch s$MOZART_SHEET_NUM"},
            "retry": {"max_retries": 0},
            "validations": [
                {"type": "file_exists", "path": "s{sheet_num}"},
                {
                    "type": "file_exists",
                    "path": "never",
                    "condition": "sheet_num >= 2 and stage < 3",
                },
            ],
        },
    )
    assert (await run(loaded, 1)).status == SheetState.COMPLETED
    assert len(results(checkpoint, 1)) == 1
    assert (await run(loaded, 2)).status == SheetState.FAILED
    assert (await run(loaded, 3)).status == SheetState.COMPLETED


async def test_placeholders_are_formatted_and_shell_quoted(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "sheet": {"size": 1, "total_items": 12},
            "prompt": {"template": "x", "variables": {"title": "it's; touch pwned"}},
            "backend": {
                "type": "command",
                "command": 'printf %s "$MOZART_SHEET_NUM" > "out-0$MOZART_SHEET_NUM.md"',
            },
            "validations": [
                {"type": "content_regex", "path": "out-{sheet_num:02d}.md", "pattern": r"^\d+$"},
                {"type": "command_succeeds", "command": 'test {title} = "it\'s; touch pwned"'},
                {
                    "type": "command_succeeds",
                    "command": "test $(cat out-{sheet_num:02d}.md) = {sheet_num}",
                    "working_directory": "{workspace}",
                },
            ],
        },
    )
    assert (await run(loaded, 9)).status == SheetState.COMPLETED
    assert not (tmp_path / "ws" / "pwned").exists()


async def test_file_modified_compares_with_the_snapshot(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.md").write_text("old")
    old = time.time() - 100
    os.utime(workspace / "notes.md", (old, old))
    rules = [{"type": "file_modified", "path": "notes.md"}]
    untouched = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "cat notes.md"},
            "retry": {"max_retries": 0},
            "validations": rules,
        },
    )
    assert (await run(untouched)).status == SheetState.FAILED
    assert "not modified" in (results(checkpoint)[0].message or "")
    touched = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": "echo new >> notes.md"}, "validations": rules},
    )
    assert (await run(touched)).status == SheetState.COMPLETED
    created = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "touch fresh.md"},
            "validations": [{"type": "file_modified", "path": "fresh.md"}],
        },
    )
    assert (await run(created)).status == SheetState.COMPLETED


async def test_snapshot_and_check_directly(tmp_path: Path) -> None:
    rule = FileModifiedRule(path="{workspace}/f.txt")
    context: dict[str, object] = {"workspace": str(tmp_path)}
    snapshot = take_snapshot([(0, rule)], context, tmp_path)
    assert snapshot == {0: None}
    run = await run_validations([(0, rule)], context, tmp_path, snapshot)
    assert not run.all_passed and run.passed_percent == 0.0
    (tmp_path / "f.txt").write_text("x")
    run = await run_validations([(0, rule)], context, tmp_path, snapshot)
    assert run.all_passed and run.results[0].type == "file_modified"


async def test_unknown_placeholder_is_fatal(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "prompt": {"template": "x", "variables": {"name": "v"}},
            "validations": [{"type": "file_exists", "path": "{name}.txt"}],
        },
    )
    loaded.score.validations[0].path = "{nope}.txt"  # type: ignore[union-attr]
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    assert result.error_class == "fatal" and result.attempts == 1
    assert "nope" in (result.error or "")


async def test_command_succeeds_timeout_kills_its_tree(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    marker = f"34{time.monotonic_ns() % 100000}.5"
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "retry": {"max_retries": 0},
            "validations": [
                {
                    "type": "command_succeeds",
                    "command": f"sleep {marker} & sleep {marker}",
                    "timeout_seconds": 0.3,
                }
            ],
        },
    )
    started = time.monotonic()
    assert (await run(loaded)).status == SheetState.FAILED
    assert time.monotonic() - started < 5
    assert "timed out" in (results(checkpoint)[0].message or "")
    assert processes_with(f"sleep {marker}") == []


async def test_failed_command_reports_its_output(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "retry": {"max_retries": 0},
            "validations": [
                {"type": "command_succeeds", "command": "echo 3 tests failed >&2; exit 2"}
            ],
        },
    )
    await run(loaded)
    message = results(checkpoint)[0].message or ""
    assert "status 2" in message and "3 tests failed" in message
