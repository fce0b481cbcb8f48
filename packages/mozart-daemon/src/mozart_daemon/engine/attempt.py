"""One attempt of a sheet: logs, prompt file, snapshot, backend run, validations, verdict."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import msgspec
from mozart_protocol.score import Score

from mozart_daemon.engine.backends import BackendResult, ExecutionContext, SheetBackend
from mozart_daemon.engine.backends.base import daemon_environ
from mozart_daemon.engine.checkpoint import AttemptOutcome, AttemptRecord
from mozart_daemon.engine.errors import ErrorClass, FatalSheetError
from mozart_daemon.engine.logs import LogLineCallback, Marker, OutputSink, log_files
from mozart_daemon.engine.process import write_files_or_fail
from mozart_daemon.engine.ratelimit import compile_patterns, is_rate_limited, reset_hint_seconds
from mozart_daemon.engine.validations import (
    IndexedRule,
    ValidationRun,
    run_validations,
    take_snapshot,
)


class AttemptOutput(msgspec.Struct, frozen=True):
    """What an attempt gave (a Struct: built in C, a frozen dataclass's ``__init__`` is not)."""

    record: AttemptRecord  # closed: outcome and everything known
    validations: ValidationRun | None  # None when the validations were not run


def prompt_path(workspace: str | os.PathLike[str], sheet_num: int) -> str:
    return f"{os.fspath(workspace)}/logs/sheet-{sheet_num:02d}.prompt.md"


# Prompt files created ahead of their sheet: the next sheet's is created while this
# attempt's backend runs (creating a file costs 0.1-0.4 ms on some disks; writing an
# existing one much less), so the next sheet starts sooner. Those left unused when a job
# ends are removed (``discard_unused_prompt_files``).
_AHEAD: set[str] = set()


def _create_ahead(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError:
        return  # there already (a resumed job), or not possible: the sheet's write says
    os.close(fd)
    _AHEAD.add(path)


def discard_unused_prompt_files(workspace: str | os.PathLike[str]) -> None:
    """Remove the prompt files created ahead for sheets of ``workspace`` that have not run
    (the job ended before them)."""
    if not _AHEAD:
        return
    logs = f"{os.fspath(workspace)}/logs"  # as prompt_path spells it
    for path in [p for p in _AHEAD if p.rpartition("/")[0] == logs]:
        _AHEAD.discard(path)
        with contextlib.suppress(OSError):
            if os.stat(path).st_size == 0:
                os.unlink(path)


def _sinks(
    workspace: str | os.PathLike[str],
    sheet_num: int,
    attempt: int,
    kind: str,
    on_line: LogLineCallback | None,
) -> tuple[OutputSink, OutputSink]:
    out_path, err_path = log_files(workspace, sheet_num)
    header = Marker(f"sheet {sheet_num} attempt {attempt} ({kind})", time.time())
    stdout = OutputSink(
        "stdout", path=out_path, sheet_num=sheet_num, on_line=on_line, keep_all=True, header=header
    )
    stderr = OutputSink(
        "stderr", path=err_path, sheet_num=sheet_num, on_line=on_line, header=header
    )
    return stdout, stderr


# What run_validations gives for a sheet without rules (most sheets), without its call.
_NO_RULES = ValidationRun((), 0)


def _failed_checks(run: ValidationRun) -> str:
    failed = [r for r in run.results if not r.passed]
    first = failed[0] if failed else None
    if first is None:
        return "validations failed"
    detail = f": {first.message}" if first.message else ""
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"validation failed: {first.description}{detail}{more}"


async def run_attempt(
    record: AttemptRecord,
    *,
    prompt: str,
    context: Mapping[str, object],
    rules: list[IndexedRule],
    backend: SheetBackend,
    score: Score,
    job_id: str,
    workspace: str,
    base_dir: Path,
    on_log_line: LogLineCallback | None,
    grace_seconds: float,
    now: Callable[[], datetime],
) -> AttemptOutput:
    sheet_num, attempt = record.sheet_num, record.attempt

    # The prompt file (and the workspace and logs/ of a job's first sheet) is written by
    # whoever starts the backend's process: the spawn helper, off the loop, when the loop
    # is busy (backend.writes_files); for a backend that starts none, here, before it runs
    # (a worker thread's wake-ups and GIL hand-overs cost more than the write). Log files
    # are opened with their first output.
    where = os.fspath(workspace)
    prompt_file = f"{where}/logs/sheet-{sheet_num:02d}.prompt.md"  # prompt_path's
    _AHEAD.discard(prompt_file)
    files: tuple[tuple[str, bytes | None], ...]
    if sheet_num == 1 and attempt == 1:
        # Most likely a new job's: its workspace and logs/ made first (``write_files``).
        files = ((where, None), (f"{where}/logs", None), (prompt_file, prompt.encode("utf-8")))
    else:
        files = ((prompt_file, prompt.encode("utf-8")),)
    deferred = getattr(backend, "writes_files", False) is True
    snapshot = take_snapshot(rules, context, Path(workspace)) if rules else {}
    stdout, stderr = _sinks(workspace, sheet_num, attempt, record.kind, on_log_line)
    exec_context = ExecutionContext(
        job_id=job_id,
        sheet_num=sheet_num,
        attempt=attempt,
        workspace=workspace,
        base_dir=base_dir,
        context=context,
        stdout=stdout,
        stderr=stderr,
        prompt_file=prompt_file,
        grace_seconds=grace_seconds,
        files=files if deferred else (),
    )
    backend_timeout = score.backend.timeout_overrides.get(sheet_num, score.backend.timeout_seconds)
    total = context.get("total_sheets")
    if isinstance(total, int) and sheet_num < total:
        # Runs once the backend awaits (its process started): off this sheet's path.
        asyncio.get_running_loop().call_soon(_create_ahead, prompt_path(workspace, sheet_num + 1))
    try:
        try:
            if not deferred:
                write_files_or_fail(files)
            result = await backend.execute(prompt, exec_context, backend_timeout)
        except FatalSheetError as exc:
            stderr.write_text(f"mozart: {exc}\n")
            result = BackendResult(
                exit_code=None,
                stdout_tail=stdout.tail,
                stderr_tail=stderr.tail,
                error_class=ErrorClass.FATAL,
                error=str(exc),
            )
    finally:
        stdout.close()
        stderr.close()
    # What the run left, and its outcome: the record is closed with one copy (``close``).
    ran: dict[str, object] = {
        "exit_code": result.exit_code,
        "signal": result.signal,
        "duration_seconds": result.duration_seconds,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd,
        "stdout_tail": result.stdout_tail[-4096:],
        "stderr_tail": result.stderr_tail[-4096:],
    }

    def close(outcome: AttemptOutcome, **more: object) -> AttemptRecord:
        return msgspec.structs.replace(
            record, **ran, **more, finished_at=time.time(), outcome=outcome
        )

    if result.error_class == ErrorClass.FATAL or result.timed_out:
        outcome: AttemptOutcome = "fatal" if result.error_class == ErrorClass.FATAL else "timeout"
        error_class = ErrorClass.FATAL if outcome == "fatal" else ErrorClass.TIMEOUT
        error = result.error
        if outcome == "timeout":
            error = f"timed out after {backend_timeout:g} s; the run was stopped"
        return AttemptOutput(close(outcome, error_class=error_class, error=error), None)

    if rules:
        env = daemon_environ() | exec_context.mozart_env()
        run = await run_validations(
            rules, context, Path(workspace), snapshot, env=env, grace_seconds=grace_seconds
        )
    else:
        run = _NO_RULES
    ran["validations"] = run.results
    if run.fatal_error is not None:
        closed = close("fatal", error_class=ErrorClass.FATAL, error=run.fatal_error)
        return AttemptOutput(closed, run)
    passed = run.all_passed if rules else (result.exit_code == 0 and result.error_class is None)
    if passed:
        return AttemptOutput(close("passed"), run)

    # The reply (stdout for a command) and stderr: not a JSON envelope, whose numbers
    # (a duration of 429 ms) would match a pattern like `429`.
    text = "\n".join((result.error or "", result.output_text, result.stderr_tail))
    patterns = compile_patterns(score.rate_limit.detection_patterns)
    if result.rate_limited or is_rate_limited(text, patterns):
        hint = reset_hint_seconds(text, now())
        wait = hint if hint is not None else score.rate_limit.wait_minutes * 60.0
        closed = close(
            "rate_limited",
            rate_limited=True,
            rate_limit_wait_seconds=wait,
            error_class=ErrorClass.RATE_LIMIT,
            error=result.error or "rate limited",
        )
        return AttemptOutput(closed, run)
    if result.error_class is not None:
        error_class, error = result.error_class, result.error
        if rules:
            error = f"{error}; {_failed_checks(run)}"
    else:
        error_class, error = ErrorClass.VALIDATION, _failed_checks(run)
    return AttemptOutput(close("failed", error_class=error_class, error=error), run)
