"""The one interface every backend implements, and what a run of it returns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import msgspec

from mozart_daemon.engine.errors import ErrorClass
from mozart_daemon.engine.logs import OutputSink
from mozart_daemon.engine.process import DEFAULT_GRACE_SECONDS, ProcessResult


class ExecutionContext(msgspec.Struct, frozen=True):
    """Where and for whom a backend runs one attempt.

    ``context`` is the sheet's prompt context (SCORE.md); ``stdout``/``stderr`` are the
    attempt's sinks (the sheet's log files plus in-memory tails). A Struct, as
    ``BackendResult``: built in C (a frozen dataclass's ``__init__`` was 90 bytecodes an
    attempt, BackendResult's 106).
    """

    job_id: str
    sheet_num: int
    attempt: int
    workspace: str  # absolute, as text
    base_dir: Path  # the score's directory: relative backend paths resolve against it
    context: Mapping[str, object]
    stdout: OutputSink
    stderr: OutputSink
    prompt_file: str | os.PathLike[str] | None = None  # the rendered prompt (MOZART_PROMPT_FILE)
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    # Files not written yet, as ``(path, data)``: the prompt file, for a backend that says
    # it ``writes_files`` (it passes them to ``run_process``, which writes them just before
    # the process starts, off the event loop when the spawn helper starts it); ``(path,
    # None)``: a directory most likely missing, made first (``spawn_helper.write_files``).
    files: tuple[tuple[str, bytes | None], ...] = ()

    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.base_dir / path

    def mozart_env(self) -> dict[str, str]:
        """The ``MOZART_*`` variables every child process gets (``f"{x!s}"`` is ``str(x)``
        in one opcode instead of a call)."""
        ctx = self.context
        env = {
            "MOZART_JOB_ID": self.job_id,
            "MOZART_SHEET_NUM": f"{self.sheet_num!s}",
            "MOZART_TOTAL_SHEETS": f"{ctx.get('total_sheets', '')!s}",
            "MOZART_START_ITEM": f"{ctx.get('start_item', '')!s}",
            "MOZART_END_ITEM": f"{ctx.get('end_item', '')!s}",
            "MOZART_WORKSPACE": f"{self.workspace!s}",
            "MOZART_ATTEMPT": f"{self.attempt!s}",
        }
        if self.prompt_file is not None:
            env["MOZART_PROMPT_FILE"] = os.fspath(self.prompt_file)
        return env


class BackendResult(msgspec.Struct, frozen=True):
    """What one run of a backend gave; changed copies with ``msgspec.structs.replace``."""

    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    duration_seconds: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    output_text: str = ""  # the model's reply (JSON result text, HTTP reply) or stdout
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error_class: ErrorClass | None = None  # FATAL or BACKEND when the backend itself failed
    error: str | None = None
    # Set by the attempt loop (it knows the score's patterns); a backend may set it when
    # the service says so unambiguously (HTTP 429).
    rate_limited: bool = False


def process_result(
    run: ProcessResult,
    context: ExecutionContext,
    *,
    output_text: str | None = None,
    error_class: ErrorClass | None = None,
    error: str | None = None,
) -> BackendResult:
    """A BackendResult from a finished child process."""
    if error is None and run.timed_out:
        error_class, error = ErrorClass.TIMEOUT, "timed out"
    elif error is None and run.signal is not None:
        error_class, error = ErrorClass.BACKEND, f"killed by signal {run.signal}"
    elif error is None and run.exit_code not in (0, None):
        error_class, error = ErrorClass.BACKEND, f"exited with status {run.exit_code}"
    stdout_tail = context.stdout.tail
    return BackendResult(
        exit_code=run.exit_code,
        signal=run.signal,
        timed_out=run.timed_out,
        duration_seconds=run.duration_seconds,
        stdout_tail=stdout_tail,
        stderr_tail=context.stderr.tail,
        output_text=stdout_tail if output_text is None else output_text,
        error_class=error_class,
        error=error,
    )


class SheetBackend(Protocol):
    """Runs one attempt: ``execute(prompt, context, timeout_seconds) -> BackendResult``.

    Raises BackendStartError (fatal) when it cannot start; cancelling the call stops
    whatever it started. A backend whose class sets ``writes_files = True`` writes
    ``context.files`` (through ``run_process(files=...)``) before anything it runs can
    read them, and raises FatalSheetError when it cannot; for any other the attempt has
    written them before ``execute``.
    """

    async def execute(
        self, prompt: str, context: ExecutionContext, timeout_seconds: float
    ) -> BackendResult: ...


_ENVIRON: tuple[dict[Any, Any], dict[str, str]] = ({}, {})


def environ_snapshot() -> dict[str, str]:
    """The daemon's environment (``os.environ``) decoded, shared: never modify it.

    ``dict(os.environ)`` decodes every name and value on each call (about 150 calls for 35
    variables); this is a snapshot taken again whenever the raw environment differs from
    the one it was taken from (one C-level comparison), so that it is one dict until the
    environment changes: a child's base (``run_process(env_base=...)``), encoded once."""
    global _ENVIRON
    raw: dict[Any, Any] | None = getattr(os.environ, "_data", None)
    if raw is None:  # not CPython's os._Environ
        return dict(os.environ)
    if raw != _ENVIRON[0]:
        _ENVIRON = (dict(raw), dict(os.environ))
    return _ENVIRON[1]


def daemon_environ() -> dict[str, str]:
    """A copy of the daemon's environment (``os.environ``), for a child."""
    return dict(environ_snapshot())


def child_env(extra: Mapping[str, str], context: ExecutionContext) -> dict[str, str]:
    """The daemon's environment, the ``MOZART_*`` variables, then the score's ``env``."""
    env = daemon_environ()
    env.update(context.mozart_env())
    env.update(extra)
    return env


def child_env_over_base(extra: Mapping[str, str], context: ExecutionContext) -> dict[str, str]:
    """``child_env`` less the daemon's environment, for ``run_process(env_base=
    environ_snapshot())``: the ``MOZART_*`` variables, then the score's ``env``."""
    env = context.mozart_env()
    if extra:
        env.update(extra)
    return env
