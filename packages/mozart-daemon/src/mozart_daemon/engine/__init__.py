"""The sheet engine: run one sheet of a score to its end (SCORE.md), checkpointing each step.

The daemon calls one coroutine per sheet::

    from mozart_daemon.engine import EngineHooks, SheetRequest, run_sheet

    result = await run_sheet(
        SheetRequest(job_id=job_id, loaded=loaded, plan=plan, sheet=plan.sheet(n),
                     workspace=workspace,                 # absolute
                     start_attempt=previous_attempts + 1, # attempt numbers continue
                     backend_key=key),                    # default backend_key(score.backend)
        checkpoint=store_checkpoint,          # implements engine.Checkpoint
        hooks=EngineHooks(
            on_event=emit,                    # (SheetEvent) -> None | awaitable, after persisting
            events=types,                     # the event types on_event wants (None: all)
            on_rate_limit=report,             # (backend_key, wait_seconds) -> None | awaitable
            wait_if_rate_limited=wait_clear,  # (backend_key) -> None | awaitable, before an attempt
            on_log_line=log_line,             # (LogLine) -> None, each output line, live
            lessons=lessons,                  # (rules, attempt) -> str | None: appended
                                              # to each attempt's prompt (no I/O)
        ),                                    # also: sleep, random, now, grace_seconds (tests)
        backend=None,                         # default make_backend(score.backend)
    )
    # -> SheetResult{sheet_num, status: SheetState.COMPLETED | FAILED, attempts, exit_code,
    #                error_class, error, duration_seconds}

``run_sheet`` renders the prompt, runs the backend, checks the applicable validations stage
by stage, and retries, runs completion attempts, or waits out rate limits as the score
says. Every transition goes through the ``Checkpoint`` (``sheet_started``,
``attempt_started``, ``attempt_finished``, ``sheet_finished``, ``sheet_interrupted``) and is
awaited, never cut short by a cancellation, before the matching event is reported.
Cancelling the task that runs ``run_sheet`` at any point stops the sheet's processes, closes
the open attempt as ``cancelled``, marks the sheet pending again (``sheet_interrupted``),
emits ``sheet.interrupted`` and re-raises ``CancelledError``. An unexpected exception takes
the same path before it propagates.

Events (``SheetEvent{type, job_id, sheet_num, attempt, message, data}``): ``sheet.started``,
``sheet.attempt_started`` (data: kind), ``sheet.attempt_finished`` (data: outcome,
exit_code), ``sheet.retrying`` (data: delay_seconds), ``sheet.completing`` (a completion
attempt follows; data: delay_seconds), ``sheet.rate_limited`` (data: wait_seconds,
backend), ``sheet.completed``, ``sheet.failed``, ``sheet.interrupted``.

Processes: every child runs in its own session with a unique ``MOZART_RUN_TOKEN`` in its
environment; a timeout, a cancellation, or the end of a run stops the whole process group
and every descendant found by psutil or by the token (SIGTERM, ``grace_seconds``, SIGKILL).

Files: each attempt appends to ``<workspace>/logs/sheet-NN.stdout.log`` and
``.stderr.log`` (``log_paths(workspace, sheet_num)``; a ``===== sheet N attempt M =====``
line marks each attempt; a file is created with its stream's first output, so a silent
stream has none); the rendered prompt is ``logs/sheet-NN.prompt.md``
(``MOZART_PROMPT_FILE``).

Errors (``ErrorClass``): ``fatal`` (missing executable or API key, authentication failure,
template or placeholder errors: the sheet fails at once, no retries), ``timeout``,
``rate_limit``, ``backend``, ``validation``, ``cancelled``.
"""

from mozart_daemon.engine.backends import (
    BackendResult,
    ExecutionContext,
    SheetBackend,
    backend_key,
    make_backend,
)
from mozart_daemon.engine.checkpoint import (
    AttemptKind,
    AttemptOutcome,
    AttemptRecord,
    Checkpoint,
    InMemoryCheckpoint,
    SheetResult,
    SheetState,
    ValidationResult,
)
from mozart_daemon.engine.errors import BackendStartError, ErrorClass, FatalSheetError
from mozart_daemon.engine.logs import LogLine, LogLineCallback, log_paths
from mozart_daemon.engine.policy import retry_delay
from mozart_daemon.engine.ratelimit import reset_hint_seconds
from mozart_daemon.engine.runner import EngineHooks, SheetEvent, SheetRequest, run_sheet

__all__ = [
    "AttemptKind",
    "AttemptOutcome",
    "AttemptRecord",
    "BackendResult",
    "BackendStartError",
    "Checkpoint",
    "EngineHooks",
    "ErrorClass",
    "ExecutionContext",
    "FatalSheetError",
    "InMemoryCheckpoint",
    "LogLine",
    "LogLineCallback",
    "SheetBackend",
    "SheetEvent",
    "SheetRequest",
    "SheetResult",
    "SheetState",
    "ValidationResult",
    "backend_key",
    "log_paths",
    "make_backend",
    "reset_hint_seconds",
    "retry_delay",
    "run_sheet",
]
