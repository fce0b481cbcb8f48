"""The sheet engine: run one sheet of a score to its end (SCORE.md), checkpointing each step.

The daemon calls one coroutine per sheet::

    from mozart_daemon.engine import EngineHooks, SheetRequest, run_sheet

    result = await run_sheet(
        SheetRequest(job_id=job_id, loaded=loaded, plan=plan, sheet=plan.sheet(n),
                     workspace=workspace, start_attempt=previous_attempts + 1),
        checkpoint=store_checkpoint,          # implements engine.Checkpoint
        hooks=EngineHooks(
            on_event=emit,                    # async (SheetEvent) -> None, after persisting
            on_rate_limit=report,             # (backend_key, wait_seconds) -> None | awaitable
            wait_if_rate_limited=wait_clear,  # async (backend_key) -> None, before each attempt
            on_log_line=log_line,             # (LogLine) -> None, each stdout/stderr line live
        ),
    )
    # result: SheetResult{sheet_num, status completed|failed, attempts, exit_code,
    #                     error_class, error, duration_seconds}

``run_sheet`` renders the prompt, runs the backend (``make_backend(score.backend)``), checks
the applicable validations stage by stage, and retries, runs completion attempts, or waits
out rate limits as the score says. Every transition goes through the ``Checkpoint`` and is
awaited before the matching event is reported. Cancelling the task that runs it at any point
stops the sheet's processes (the whole process group and any escaped descendants), closes the
open attempt as ``cancelled``, marks the sheet pending again (``sheet_interrupted``) and
re-raises ``CancelledError``.

Events (``SheetEvent.type``): ``sheet.started``, ``sheet.attempt_started``,
``sheet.attempt_finished``, ``sheet.retrying``, ``sheet.completing`` (a completion attempt
follows), ``sheet.rate_limited``, ``sheet.completed``, ``sheet.failed``, ``sheet.interrupted``.

Logs: each attempt appends to ``<workspace>/logs/sheet-NN.stdout.log`` and
``.stderr.log`` (``log_paths(workspace, sheet_num)``); a header line marks each attempt.

Fatal errors (``ErrorClass.FATAL``: missing executable or API key, authentication failure,
template or placeholder errors) fail the sheet at once, without retries.
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
