"""The attempt loop through the engine's own API, with real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from enginekit import Recorder, Runner, processes_with, write_score
from mozart_daemon.engine import (
    BackendResult,
    ErrorClass,
    ExecutionContext,
    InMemoryCheckpoint,
    SheetEvent,
    SheetRequest,
    SheetState,
    log_paths,
    run_sheet,
)
from mozart_protocol.score import build_plan

COUNT = (
    'n=$(cat "$MOZART_WORKSPACE/count" 2>/dev/null || echo 0); n=$((n+1)); '
    'echo $n > "$MOZART_WORKSPACE/count"; '
)


async def test_three_sheet_command_score_runs_and_validates(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "sheet": {"size": 1, "total_items": 3},
            "backend": {
                "type": "command",
                "command": 'echo "sheet $MOZART_SHEET_NUM of $MOZART_TOTAL_SHEETS done" '
                '> "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"; echo hello',
                "timeout_seconds": 10,
            },
            "validations": [
                {"type": "file_exists", "path": "{workspace}/sheet-{sheet_num}.txt"},
                {"type": "content_contains", "path": "sheet-{sheet_num}.txt", "pattern": "done"},
                {"type": "content_regex", "path": "sheet-{sheet_num}.txt", "pattern": r"of 3\b"},
                {"type": "command_succeeds", "command": "test -s sheet-{sheet_num}.txt"},
            ],
        },
    )
    for n in (1, 2, 3):
        result = await run(loaded, n)
        assert result.status == SheetState.COMPLETED
        assert result.attempts == 1
        sheet = checkpoint.sheet("test-job", n)
        assert sheet.state == SheetState.COMPLETED
        assert [v.passed for v in sheet.attempts[0].validations] == [True] * 4
    workspace = tmp_path / "ws"
    assert (workspace / "sheet-2.txt").read_text() == "sheet 2 of 3 done\n"
    stdout_log, stderr_log = log_paths(workspace, 3)
    assert stdout_log.name == "sheet-03.stdout.log"
    assert stdout_log.read_text().startswith("===== sheet 3 attempt 1 ")
    assert "hello" in stdout_log.read_text()
    assert not stderr_log.exists()  # the sheet printed nothing to stderr: no file
    assert (3, "stdout", "hello") in recorder.lines
    assert recorder.types().count("sheet.completed") == 3


async def test_fails_twice_then_passes_with_the_backoff_delays(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": COUNT
                + '[ "$n" -ge 3 ] && echo ok > "$MOZART_WORKSPACE/out.txt"; exit 0',
            },
            "retry": {"max_retries": 3, "base_delay_seconds": 0.01, "exponential_base": 2},
            "validations": [{"type": "content_contains", "path": "out.txt", "pattern": "ok"}],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    assert result.attempts == 3
    attempts = checkpoint.sheet("test-job", 1).attempts
    assert [a.outcome for a in attempts] == ["failed", "failed", "passed"]
    assert [a.kind for a in attempts] == ["normal"] * 3
    assert [a.delay_before_seconds for a in attempts] == [0.0, 0.01, 0.02]
    assert recorder.sleeps == [0.01, 0.02]
    assert attempts[0].error_class == ErrorClass.VALIDATION
    assert "does not exist" in (attempts[0].error or "")
    assert recorder.types().count("sheet.retrying") == 2


async def test_jitter_multiplies_the_delay(tmp_path: Path, run: Runner, recorder: Recorder) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "exit 1"},
            "retry": {
                "max_retries": 3,
                "base_delay_seconds": 1,
                "max_delay_seconds": 3,
                "jitter": True,
            },
        },
    )
    result = await run(loaded, hooks=recorder.hooks(random=lambda: 0.25))
    assert result.status == SheetState.FAILED
    assert result.attempts == 4
    assert recorder.sleeps == [0.75, 1.5, 2.25]  # min(1*2^(k-1), 3) * 0.75


async def test_rate_limit_once_is_waited_out_without_using_a_retry(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": COUNT + 'if [ "$n" -eq 1 ]; then echo "Error: rate limit exceeded" >&2; '
                'exit 1; fi; echo ok > "$MOZART_WORKSPACE/out.txt"',
            },
            "retry": {"max_retries": 0},
            "rate_limit": {"wait_minutes": 0.5},
            "validations": [{"type": "file_exists", "path": "out.txt"}],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    assert result.attempts == 2
    attempts = checkpoint.sheet("test-job", 1).attempts
    assert [a.outcome for a in attempts] == ["rate_limited", "passed"]
    assert attempts[0].rate_limited and attempts[0].rate_limit_wait_seconds == 30.0
    assert recorder.sleeps == [30.0]
    assert recorder.rate_limits == [("command", 30.0)]
    assert recorder.waited_for == ["command", "command"]
    assert "sheet.rate_limited" in recorder.types()


async def test_reset_hint_wins_over_wait_minutes(
    tmp_path: Path, run: Runner, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": COUNT + '[ "$n" -eq 1 ] && { echo "Too many requests, try again in '
                '20 seconds"; exit 1; }; exit 0',
            },
            "retry": {"max_retries": 0},
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    assert recorder.rate_limits == [("command", 20.0)]


async def test_past_max_waits_the_sheet_fails(
    tmp_path: Path, run: Runner, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "echo 'usage limit reached'; exit 1"},
            "rate_limit": {"max_waits": 2, "wait_minutes": 1},
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.RATE_LIMIT
    assert result.attempts == 3
    assert recorder.sleeps == [60.0, 60.0]


async def test_timeout_stops_the_whole_tree_and_leaves_no_process(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    marker = f"31{time.monotonic_ns() % 100000}.5"
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                # A background sleep in the group, one escaped into its own session, one
                # orphaned at once by a double fork, and the shell waiting in the foreground.
                "command": f"(setsid sleep {marker} &); sleep {marker} & "
                f"setsid sleep {marker} & sleep {marker}",
                "timeout_seconds": 0.5,
            },
            "retry": {"max_retries": 0},
        },
    )
    started = time.monotonic()
    result = await run(loaded)
    assert time.monotonic() - started < 5
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.TIMEOUT
    record = checkpoint.sheet("test-job", 1).attempts[0]
    assert record.outcome == "timeout" and record.signal is not None
    assert processes_with(f"sleep {marker}") == []


async def test_background_leftovers_are_stopped_after_a_normal_exit(
    tmp_path: Path, run: Runner
) -> None:
    marker = f"32{time.monotonic_ns() % 100000}.5"
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": f"(setsid sleep {marker} &) ; echo started"}},
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    assert processes_with(f"sleep {marker}") == []


async def test_cancellation_leaves_the_checkpoint_consistent_and_no_process(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    marker = f"33{time.monotonic_ns() % 100000}.5"
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": f"sleep {marker} & sleep {marker}"}},
    )
    task = asyncio.create_task(run(loaded))
    for _ in range(200):
        if len([p for p in processes_with(f"sleep {marker}") if p.name() == "sleep"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(processes_with(f"sleep {marker}")) == 3  # the shell and its two sleeps
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("run_sheet swallowed the cancellation")
    sheet = checkpoint.sheet("test-job", 1)
    assert sheet.state == SheetState.PENDING
    assert [a.outcome for a in sheet.attempts] == ["cancelled"]
    assert [j[0] for j in checkpoint.journal][-2:] == ["attempt_finished", "sheet_interrupted"]
    assert recorder.types()[-1] == "sheet.interrupted"
    assert processes_with(f"sleep {marker}") == []


@pytest.mark.parametrize(
    ("command", "waiting_event"),
    [("exit 1", "sheet.retrying"), ("echo 'rate limit'; exit 1", "sheet.rate_limited")],
)
async def test_cancellation_during_a_retry_delay_or_a_rate_limit_wait(
    tmp_path: Path,
    run: Runner,
    checkpoint: InMemoryCheckpoint,
    recorder: Recorder,
    command: str,
    waiting_event: str,
) -> None:
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": command}, "retry": {"base_delay_seconds": 60}},
    )
    task = asyncio.create_task(run(loaded, hooks=recorder.hooks(sleep=asyncio.sleep)))
    for _ in range(200):
        if waiting_event in recorder.types():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    sheet = checkpoint.sheet("test-job", 1)
    assert sheet.state == SheetState.PENDING
    assert len(sheet.attempts) == 1 and sheet.attempts[0].outcome in ("failed", "rate_limited")
    assert recorder.types()[-2:] == [waiting_event, "sheet.interrupted"]


async def test_every_transition_is_persisted_before_it_is_reported(
    tmp_path: Path, checkpoint: InMemoryCheckpoint, run: Runner, recorder: Recorder
) -> None:
    seen: list[tuple[str, int]] = []

    async def on_event(event: SheetEvent) -> None:
        seen.append((event.type, len(checkpoint.journal)))

    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": COUNT + '[ "$n" -ge 2 ]'},
            "retry": {"max_retries": 1},
        },
    )
    result = await run(loaded, hooks=recorder.hooks(on_event=on_event))
    assert result.status == SheetState.COMPLETED
    journal = [entry[0] for entry in checkpoint.journal]
    expected_after = {
        "sheet.started": "sheet_started",
        "sheet.attempt_started": "attempt_started",
        "sheet.attempt_finished": "attempt_finished",
        "sheet.completed": "sheet_finished",
    }
    for type_, journal_len in seen:
        if type_ in expected_after:
            assert journal[journal_len - 1] == expected_after[type_], (type_, journal)


async def test_no_validations_exit_code_decides(tmp_path: Path, run: Runner) -> None:
    ok = write_score(tmp_path, {"backend": {"type": "command", "command": "true"}})
    assert (await run(ok)).status == SheetState.COMPLETED
    bad = write_score(
        tmp_path, {"backend": {"type": "command", "command": "exit 3"}, "retry": {"max_retries": 1}}
    )
    result = await run(bad)
    assert result.status == SheetState.FAILED
    assert result.attempts == 2 and result.exit_code == 3


async def test_validations_decide_over_the_exit_code(tmp_path: Path, run: Runner) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "touch done.txt; exit 7"},
            "validations": [{"type": "file_exists", "path": "done.txt"}],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED and result.exit_code == 7


async def test_missing_executable_is_fatal_without_retries(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": ["/nonexistent/agent-cli", "--go"]}},
    )
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL
    assert result.attempts == 1
    assert "/nonexistent/agent-cli" in (result.error or "")
    assert "executable not found" in (result.error or "")
    shell = write_score(tmp_path, {"backend": {"type": "command", "command": "no-such-agent-xyz"}})
    result = await run(shell)
    assert result.error_class == ErrorClass.FATAL and result.attempts == 1


async def test_template_error_is_fatal(tmp_path: Path, run: Runner) -> None:
    template = tmp_path / "prompt.j2"
    template.write_text("fine")
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "true"},
            "prompt": {"template_file": "prompt.j2"},
        },
    )
    template.write_text("{{ no_such_name }}")  # broken after loading
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    assert result.error_class == ErrorClass.FATAL
    assert result.attempts == 0
    assert "no_such_name" in (result.error or "")


async def test_completion_attempt_lists_passed_and_failed_and_keeps_retries(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": COUNT + 'cp "$MOZART_PROMPT_FILE" "$MOZART_WORKSPACE/prompt-$n.md"; '
                'touch a.txt; [ "$n" -ge 2 ] && touch b.txt; exit 0',
            },
            "retry": {"max_retries": 0, "completion_delay_seconds": 0.5},
            "validations": [
                {"type": "file_exists", "path": "a.txt", "description": "part A"},
                {"type": "file_exists", "path": "b.txt", "description": "part B"},
            ],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.COMPLETED
    attempts = checkpoint.sheet("test-job", 1).attempts
    assert [a.kind for a in attempts] == ["normal", "completion"]
    assert recorder.sleeps == [0.5]
    prompt = (tmp_path / "ws" / "prompt-2.md").read_text()
    assert "## Completion attempt" in prompt
    keep, fix = prompt.split("Failed (fix these):")
    assert "a.txt" in keep.split("Passed")[1] and "b.txt" in fix
    assert "Completion attempt" not in (tmp_path / "ws" / "prompt-1.md").read_text()


async def test_completion_attempts_are_bounded(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": "touch a.txt"},
            "retry": {"max_retries": 1, "max_completion_attempts": 2},
            "validations": [
                {"type": "file_exists", "path": "a.txt"},
                {"type": "file_exists", "path": "b.txt"},
            ],
        },
    )
    result = await run(loaded)
    assert result.status == SheetState.FAILED
    kinds = [a.kind for a in checkpoint.sheet("test-job", 1).attempts]
    assert kinds == ["normal", "completion", "completion", "normal"]


async def test_prompt_reaches_the_command_by_stdin_file_and_arg(
    tmp_path: Path, run: Runner
) -> None:
    for via, command in (
        ("stdin", 'cat > "$MOZART_WORKSPACE/got.txt"'),
        ("file", 'cat "$MOZART_PROMPT_FILE" > "$MOZART_WORKSPACE/got.txt"'),
        ("arg", 'printf %s "$1" > "$MOZART_WORKSPACE/got.txt"'),
    ):
        loaded = write_score(
            tmp_path,
            {
                "backend": {"type": "command", "command": command, "prompt_via": via},
                "prompt": {"template": "Prompt via " + via + " for {{ job_id }}"},
                "validations": [
                    {"type": "content_contains", "path": "got.txt", "pattern": f"Prompt via {via}"}
                ],
            },
        )
        assert (await run(loaded)).status == SheetState.COMPLETED, via
    argv = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": ["/bin/sh", "-c", 'printf %s "$0" > got.txt'],
                "prompt_via": "arg",
                "env": {"EXTRA": "1"},
            },
            "validations": [{"type": "content_regex", "path": "got.txt", "pattern": "^Do sheet 1"}],
        },
    )
    assert (await run(argv)).status == SheetState.COMPLETED


async def test_a_program_is_found_on_the_scores_path_and_found_again_when_it_moves(
    tmp_path: Path, run: Runner
) -> None:
    first, second = tmp_path / "bin1", tmp_path / "bin2"
    for directory in (first, second):
        directory.mkdir()
        agent = directory / "agent"
        agent.write_text(f'#!/bin/sh\necho "{directory.name} $0" > "$MOZART_WORKSPACE/got.txt"\n')
        agent.chmod(0o755)
    path = f"{first}:{second}:/usr/bin:/bin"
    loaded = write_score(
        tmp_path, {"backend": {"type": "command", "command": ["agent"], "env": {"PATH": path}}}
    )
    got = tmp_path / "ws" / "got.txt"
    assert (await run(loaded, 1)).status == SheetState.COMPLETED
    assert got.read_text() == f"bin1 {first / 'agent'}\n"
    (first / "agent").unlink()  # the program found a moment ago is gone: PATH is searched again
    assert (await run(loaded, 1)).status == SheetState.COMPLETED
    assert got.read_text() == f"bin2 {second / 'agent'}\n"


async def test_output_written_just_before_the_exit_is_kept_whole(
    tmp_path: Path, run: Runner
) -> None:
    # 200,000 bytes, more than a pipe holds: most is read while the child runs, the rest
    # at its end; a second stream written last of all.
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": "yes x | head -n 100000; echo done >&2"}},
    )
    assert (await run(loaded, 1)).status == SheetState.COMPLETED
    stdout_log, stderr_log = log_paths(tmp_path / "ws", 1)
    assert stdout_log.read_text().splitlines()[1:] == ["x"] * 100000
    assert stderr_log.read_text().splitlines()[1:] == ["done"]


async def test_mozart_environment(tmp_path: Path, run: Runner) -> None:
    loaded = write_score(
        tmp_path,
        {
            "sheet": {"size": 2, "total_items": 5, "start_item": 1},
            "backend": {
                "type": "command",
                "command": "env | grep -E '^(MOZART_|EXTRA=)' | grep -v RUN_TOKEN | sort > env.txt",
                "env": {"EXTRA": "yes"},
            },
        },
    )
    assert (await run(loaded, 2)).status == SheetState.COMPLETED
    env = dict(
        line.split("=", 1) for line in (tmp_path / "ws" / "env.txt").read_text().splitlines()
    )
    workspace = str(tmp_path / "ws")
    assert env == {
        "EXTRA": "yes",
        "MOZART_ATTEMPT": "1",
        "MOZART_END_ITEM": "4",
        "MOZART_JOB_ID": "test-job",
        "MOZART_PROMPT_FILE": f"{workspace}/logs/sheet-02.prompt.md",
        "MOZART_SHEET_NUM": "2",
        "MOZART_START_ITEM": "3",
        "MOZART_TOTAL_SHEETS": "3",
        "MOZART_WORKSPACE": workspace,
    }


async def test_cancellation_at_any_point_is_consistent(tmp_path: Path) -> None:
    """Cancel after a growing number of loop turns: spawn, run, validation, retry delay."""
    from enginekit import make_runner

    marker = f"35{time.monotonic_ns() % 100000}.5"
    loaded = write_score(
        tmp_path,
        {
            "backend": {
                "type": "command",
                "command": f"sleep {marker} & touch a; sleep 0.05; exit 1",
            },
            "retry": {"max_retries": 1, "base_delay_seconds": 0.05},
            "validations": [
                {"type": "command_succeeds", "command": f"sleep {marker} & sleep 0.05"}
            ],
        },
    )
    for turns in (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144):
        checkpoint, recorder = InMemoryCheckpoint(), Recorder()
        run = make_runner(checkpoint, recorder)
        task = asyncio.create_task(run(loaded, hooks=recorder.hooks(sleep=asyncio.sleep)))
        for _ in range(turns):
            await asyncio.sleep(0.002)
        task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            sheet = checkpoint.sheet("test-job", 1)
            assert sheet.state == SheetState.PENDING, turns
            assert all(a.outcome is not None for a in sheet.attempts), turns
            if sheet.attempts:
                assert sheet.attempts[-1].outcome in ("cancelled", "failed"), turns
        else:
            assert result.status == SheetState.COMPLETED  # the validation passes
        assert processes_with(f"sleep {marker}") == [], turns


async def test_timeout_overrides_and_working_directory(
    tmp_path: Path, run: Runner, checkpoint: InMemoryCheckpoint
) -> None:
    (tmp_path / "tools").mkdir()
    loaded = write_score(
        tmp_path,
        {
            "sheet": {"size": 1, "total_items": 2},
            "backend": {
                "type": "command",
                "command": 'pwd > "$MOZART_WORKSPACE/cwd-$MOZART_SHEET_NUM"; '
                '[ "$MOZART_SHEET_NUM" = 2 ] && sleep 5; exit 0',
                "working_directory": "tools",
                "timeout_seconds": 20,
                "timeout_overrides": {2: 0.3},
            },
            "retry": {"max_retries": 0},
        },
    )
    assert (await run(loaded, 1)).status == SheetState.COMPLETED
    assert (tmp_path / "ws" / "cwd-1").read_text().strip() == str(tmp_path / "tools")
    started = time.monotonic()
    result = await run(loaded, 2)
    assert result.error_class == ErrorClass.TIMEOUT
    assert time.monotonic() - started < 3
    assert "0.3 s" in (result.error or "")


async def test_missing_working_directory_is_fatal(tmp_path: Path, run: Runner) -> None:
    loaded = write_score(
        tmp_path,
        {"backend": {"type": "command", "command": "true", "working_directory": "nowhere"}},
    )
    result = await run(loaded)
    assert result.error_class == ErrorClass.FATAL and result.attempts == 1
    assert "nowhere" in (result.error or "")


async def test_attempt_numbers_continue_after_earlier_attempts(
    tmp_path: Path, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    from mozart_daemon.engine import SheetRequest, run_sheet
    from mozart_protocol.score import build_plan, resolve_workspace

    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": 'echo "$MOZART_ATTEMPT" > attempt.txt'},
            "validations": [{"type": "content_contains", "path": "attempt.txt", "pattern": "4"}],
        },
    )
    plan = build_plan(loaded.score)
    request = SheetRequest(
        job_id="test-job",
        loaded=loaded,
        plan=plan,
        sheet=plan.sheet(1),
        workspace=resolve_workspace(loaded),
        start_attempt=4,
    )
    result = await run_sheet(request, checkpoint=checkpoint, hooks=recorder.hooks())
    assert result.status == SheetState.COMPLETED and result.attempts == 4
    assert [a.attempt for a in checkpoint.sheet("test-job", 1).attempts] == [4]


class _Silent:
    """A backend that starts no process: the attempt writes the prompt file before it."""

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult:
        return BackendResult(exit_code=0)


async def test_a_prompt_file_that_cannot_be_written_fails_the_sheet_at_once(
    tmp_path: Path, checkpoint: InMemoryCheckpoint, recorder: Recorder
) -> None:
    """Whoever writes it (the command's run_process, or the attempt before a backend that
    starts no process): a fatal attempt naming the file, no retry, nothing run."""
    marker = tmp_path / "ran"
    loaded = write_score(
        tmp_path,
        {
            "backend": {"type": "command", "command": f"touch {marker}"},
            "retry": {"max_retries": 3, "base_delay_seconds": 0.01},
        },
    )
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "logs").write_text("a file where logs/ should be")
    expected = f"cannot write `{tmp_path / 'ws' / 'logs' / 'sheet-01.prompt.md'}`: Not a directory"
    plan = build_plan(loaded.score)
    for job_id, backend in (("by-command", None), ("by-attempt", _Silent())):
        request = SheetRequest(
            job_id=job_id,
            loaded=loaded,
            plan=plan,
            sheet=plan.sheet(1),
            workspace=tmp_path / "ws",
        )
        result = await run_sheet(
            request, checkpoint=checkpoint, hooks=recorder.hooks(), backend=backend
        )
        assert (result.status, result.attempts, result.error) == (
            SheetState.FAILED,
            1,
            expected,
        ), job_id
        (attempt,) = checkpoint.sheet(job_id, 1).attempts
        assert (attempt.outcome, attempt.error_class) == ("fatal", ErrorClass.FATAL)
    assert not marker.exists()


async def test_hooks_events_picks_the_event_types_on_event_is_given(
    tmp_path: Path, run: Runner, recorder: Recorder
) -> None:
    loaded = write_score(tmp_path, {"backend": {"type": "command", "command": "true"}})
    wanted = frozenset({"sheet.started", "sheet.completed"})
    result = await run(loaded, 1, recorder.hooks(events=wanted))
    assert result.status == SheetState.COMPLETED
    assert recorder.types() == ["sheet.started", "sheet.completed"]
    recorder.events.clear()
    await run(loaded, 1)  # events=None: every type
    assert recorder.types() == [
        "sheet.started",
        "sheet.attempt_started",
        "sheet.attempt_finished",
        "sheet.completed",
    ]


async def test_on_event_may_be_a_plain_function(
    tmp_path: Path, run: Runner, recorder: Recorder
) -> None:
    """The daemon's on_event queues the event and returns None: nothing is awaited."""
    loaded = write_score(tmp_path, {"backend": {"type": "command", "command": "true"}})
    seen: list[tuple[str, int | None, str | None]] = []
    result = await run(
        loaded, 1, recorder.hooks(on_event=lambda e: seen.append((e.type, e.attempt, e.message)))
    )
    assert result.status == SheetState.COMPLETED
    assert seen == [
        ("sheet.started", None, None),
        ("sheet.attempt_started", 1, "normal attempt 1"),
        ("sheet.attempt_finished", 1, "passed"),
        ("sheet.completed", 1, "completed after 1 attempt(s)"),
    ]
