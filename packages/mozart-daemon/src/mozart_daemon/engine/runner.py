"""The sheet attempt loop: ``run_sheet`` (see the package docstring for the contract).

One attempt: render the prompt (a completion attempt adds what passed and what failed),
snapshot ``file_modified`` targets, run the backend, check the validations. Then:

    passed         -> completed
    fatal          -> failed at once
    rate limited   -> report, wait (a reset hint wins over wait_minutes), same attempt kind
                      again; no retry used; past max_waits -> failed
    otherwise      -> a completion attempt when enough validations passed and completions
                      remain (after completion_delay_seconds), else a retry after the
                      backoff delay while retries remain, else failed
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from datetime import datetime

import msgspec
from mozart_protocol.score import (
    ConditionError,
    LoadedScore,
    Plan,
    PlannedSheet,
    RenderError,
    ValidationRule,
    evaluate_condition,
    render_prompt,
    sheet_context,
)

from mozart_daemon.engine.attempt import run_attempt
from mozart_daemon.engine.backends import SheetBackend, backend_key, make_backend
from mozart_daemon.engine.checkpoint import (
    AttemptKind,
    AttemptRecord,
    Checkpoint,
    SheetResult,
    SheetState,
)
from mozart_daemon.engine.errors import ErrorClass
from mozart_daemon.engine.logs import LogLineCallback
from mozart_daemon.engine.policy import completion_section, qualifies_for_completion, retry_delay
from mozart_daemon.engine.process import (
    DEFAULT_GRACE_SECONDS,
    finish_even_if_cancelled,
    work_in_progress,
)
from mozart_daemon.engine.validations import IndexedRule, ValidationRun


class SheetRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One sheet to run (a Struct: built in C; a frozen dataclass's ``__init__`` was ten
    times its cost, one a sheet)."""

    job_id: str
    loaded: LoadedScore
    plan: Plan
    sheet: PlannedSheet
    workspace: str  # absolute (resolve_workspace), as text
    start_attempt: int = 1  # > 1 when earlier attempts of this sheet are already recorded
    backend_key: str | None = None  # default: backends.backend_key(score.backend)


class SheetEvent(msgspec.Struct, frozen=True):
    """A step of a sheet's run, for ``EngineHooks.on_event`` (a Struct: built in C, a few
    a sheet)."""

    type: str  # sheet.started, sheet.retrying, ... (package docstring)
    job_id: str
    sheet_num: int
    attempt: int | None = None
    message: str | None = None
    data: Mapping[str, object] = msgspec.field(default_factory=dict)


def _real_sleep() -> Callable[[float], Awaitable[None]]:
    return asyncio.sleep


class EngineHooks(msgspec.Struct):
    """How the daemon observes and steers a sheet; every field is optional.

    ``sleep``, ``random`` and ``now`` are injectable so tests assert delays without waiting.
    A Struct, built in C (one a sheet).
    """

    # Called with each event; may return an awaitable, awaited before the sheet goes on
    # (the daemon's returns None: it queues the event and has nothing to wait for).
    on_event: Callable[[SheetEvent], Awaitable[None] | None] | None = None
    # The event types ``on_event`` is given (None: all). The daemon leaves out the attempt
    # boundaries unless it logs at debug level: two events a sheet it would only drop.
    events: Container[str] | None = None
    on_rate_limit: Callable[[str, float], object] | None = None  # may return an awaitable
    # Called before each attempt with the backend key; what it returns, if not None, is
    # awaited first (the daemon's returns None when nothing is to be waited for).
    wait_if_rate_limited: Callable[[str], Awaitable[None] | None] | None = None
    on_log_line: LogLineCallback | None = None
    # Text to append to an attempt's prompt (the daemon's lessons from earlier runs), given
    # the applicable rules and the attempt number; called with no I/O before each attempt.
    lessons: Callable[[Sequence[ValidationRule], int], str | None] | None = None
    sleep: Callable[[float], Awaitable[None]] = msgspec.field(default_factory=_real_sleep)
    random: Callable[[], float] = random.random
    now: Callable[[], datetime] = lambda: datetime.now().astimezone()
    grace_seconds: float = DEFAULT_GRACE_SECONDS


class _SheetRun:
    def __init__(
        self,
        request: SheetRequest,
        checkpoint: Checkpoint,
        hooks: EngineHooks,
        backend: SheetBackend,
    ) -> None:
        self.request = request
        self.score = request.loaded.score
        self.checkpoint = checkpoint
        self.hooks = hooks
        self.backend = backend
        self.key = request.backend_key or backend_key(self.score.backend)
        self.sheet_num = request.sheet.sheet_num
        self.job_id = request.job_id
        self.started = time.monotonic()
        self.open_attempt: AttemptRecord | None = None
        self.finished = False
        self.attempt = request.start_attempt - 1
        self.last: AttemptRecord | None = None
        self.queues_writes: bool = getattr(checkpoint, "queues_writes", False)

    def persist(self, aw: Awaitable[None]) -> Awaitable[None]:
        """What to await for a checkpoint transition: the transition itself when its writes
        are queued (it never suspends, so a cancellation cannot cut it in half; no coroutine
        of our own around it, four a sheet), else the transition shielded from one."""
        return aw if self.queues_writes else finish_even_if_cancelled(aw)

    def wants(self, type: str) -> bool:
        """Whether ``on_event`` is given events of this type: an event it is not given is
        not built (nor its message)."""
        hooks = self.hooks
        return hooks.on_event is not None and (hooks.events is None or type in hooks.events)

    def event(
        self, type: str, message: str | None = None, **data: object
    ) -> Awaitable[None] | None:
        """Give ``on_event`` an event of this type, if it takes them; what it returned
        (await it when not None). The sheet's start and end, once a sheet each, call this
        directly: ``emit`` is a coroutine more, made and resumed, for an event the daemon
        only queues."""
        hooks = self.hooks
        on_event = hooks.on_event
        if on_event is not None and (hooks.events is None or type in hooks.events):
            attempt = self.attempt if self.attempt >= 1 else None
            return on_event(SheetEvent(type, self.job_id, self.sheet_num, attempt, message, data))
        return None

    async def emit(self, type: str, message: str | None = None, **data: object) -> None:
        pending = self.event(type, message, **data)
        if pending is not None:
            await pending

    async def interrupt(self) -> None:
        if self.open_attempt is not None:
            record = msgspec.structs.replace(
                self.open_attempt,
                finished_at=time.time(),
                outcome="cancelled",
                error_class=ErrorClass.CANCELLED,
                error="cancelled",
            )
            self.open_attempt = None
            await self.checkpoint.attempt_finished(self.job_id, record)
        if not self.finished:
            self.finished = True
            await self.checkpoint.sheet_interrupted(self.job_id, self.sheet_num)
            await self.emit("sheet.interrupted", "sheet interrupted; it is pending again")

    async def _finish(
        self, status: SheetState, error_class: str | None, error: str | None
    ) -> SheetResult:
        last = self.last
        result = SheetResult(
            sheet_num=self.sheet_num,
            status=SheetState.COMPLETED if status == SheetState.COMPLETED else SheetState.FAILED,
            attempts=max(self.attempt, 0),
            exit_code=last.exit_code if last else None,
            error_class=error_class,
            error=error,
            duration_seconds=time.monotonic() - self.started,
        )
        self.finished = True
        await self.persist(self.checkpoint.sheet_finished(self.job_id, result))
        if status == SheetState.COMPLETED:
            pending = self.event("sheet.completed", f"completed after {result.attempts} attempt(s)")
        else:
            pending = self.event("sheet.failed", error)
        if pending is not None:
            await pending
        return result

    def _rules(self, context: Mapping[str, object]) -> list[IndexedRule]:
        return [
            (index, rule)
            for index, rule in enumerate(self.score.validations)
            if evaluate_condition(rule.condition, context)
        ]

    async def loop(self) -> SheetResult:
        request, retry = self.request, self.score.retry
        await self.persist(self.checkpoint.sheet_started(self.job_id, self.sheet_num))
        pending = self.event("sheet.started")
        if pending is not None:
            await pending
        kind: AttemptKind = "normal"
        retries = completions = waits = 0
        delay = 0.0
        validation_run: ValidationRun | None = None
        while True:
            wait = self.hooks.wait_if_rate_limited
            if wait is not None:
                pending = wait(self.key)
                if pending is not None:
                    await pending
            number = self.attempt + 1
            try:
                context = sheet_context(
                    self.score,
                    request.plan,
                    request.sheet,
                    workspace=request.workspace,
                    job_id=self.job_id,
                    attempt=number,
                )
                # Without validations (most scores), no comprehensions to make two empty lists.
                rules = self._rules(context) if self.score.validations else []
                applicable = [rule for _, rule in rules] if rules else []
                prompt = render_prompt(request.loaded, context, applicable)
            except (RenderError, ConditionError, ValueError) as exc:
                return await self._finish(SheetState.FAILED, ErrorClass.FATAL, str(exc))
            if kind == "completion" and validation_run is not None:
                prompt = f"{prompt.rstrip()}\n\n{completion_section(validation_run)}"
            if self.hooks.lessons is not None:
                section = self.hooks.lessons(applicable, number)
                if section:
                    prompt = f"{prompt.rstrip()}\n\n{section}"
            self.attempt = number
            record = AttemptRecord(
                sheet_num=self.sheet_num,
                attempt=number,
                kind=kind,
                started_at=time.time(),
                delay_before_seconds=delay,
            )
            self.open_attempt = record
            await self.persist(
                self.checkpoint.attempt_started(self.job_id, self.sheet_num, number, kind)
            )
            if self.wants("sheet.attempt_started"):  # an attempt's boundaries: debug only
                await self.emit("sheet.attempt_started", f"{kind} attempt {number}", kind=kind)
            output = await run_attempt(
                record,
                prompt=prompt,
                context=context,
                rules=rules,
                backend=self.backend,
                score=self.score,
                job_id=self.job_id,
                workspace=request.workspace,
                base_dir=request.loaded.base_dir,
                on_log_line=self.hooks.on_log_line,
                grace_seconds=self.hooks.grace_seconds,
                now=self.hooks.now,
            )
            record = output.record
            validation_run = output.validations or validation_run
            if record.outcome == "rate_limited":
                waits += 1
                if waits > self.score.rate_limit.max_waits:
                    record = msgspec.structs.replace(record, rate_limit_wait_seconds=None)
            self.open_attempt = None
            self.last = record
            await self.persist(self.checkpoint.attempt_finished(self.job_id, record))
            if self.wants("sheet.attempt_finished"):
                await self.emit(
                    "sheet.attempt_finished",
                    record.error or record.outcome,
                    outcome=record.outcome,
                    exit_code=record.exit_code,
                )
            if record.outcome == "passed":
                return await self._finish(SheetState.COMPLETED, None, None)
            if record.outcome == "fatal":
                return await self._finish(SheetState.FAILED, ErrorClass.FATAL, record.error)
            if record.outcome == "rate_limited":
                if record.rate_limit_wait_seconds is None:
                    max_waits = self.score.rate_limit.max_waits
                    error = f"still rate limited after {max_waits} wait(s) (rate_limit.max_waits)"
                    return await self._finish(SheetState.FAILED, ErrorClass.RATE_LIMIT, error)
                delay = record.rate_limit_wait_seconds
                await self._report_rate_limit(delay)
                await self.emit(
                    "sheet.rate_limited",
                    f"rate limited; waiting {delay:g} s",
                    wait_seconds=delay,
                    backend=self.key,
                )
                await self.hooks.sleep(delay)
                continue
            if (
                qualifies_for_completion(retry, output.validations)
                and completions < retry.max_completion_attempts
            ):
                completions += 1
                kind, delay = "completion", retry.completion_delay_seconds
                await self.emit(
                    "sheet.completing",
                    f"completion attempt {completions} of {retry.max_completion_attempts} "
                    f"in {delay:g} s",
                    delay_seconds=delay,
                )
            elif retries < retry.max_retries:
                retries += 1
                kind, delay = "normal", retry_delay(retry, retries, self.hooks.random)
                await self.emit(
                    "sheet.retrying",
                    f"retry {retries} of {retry.max_retries} in {delay:.3g} s: {record.error}",
                    delay_seconds=delay,
                )
            else:
                return await self._finish(SheetState.FAILED, record.error_class, record.error)
            await self.hooks.sleep(delay)

    async def _report_rate_limit(self, wait_seconds: float) -> None:
        if self.hooks.on_rate_limit is None:
            return
        outcome = self.hooks.on_rate_limit(self.key, wait_seconds)
        if inspect.isawaitable(outcome):
            await outcome


async def run_sheet(
    request: SheetRequest,
    *,
    checkpoint: Checkpoint,
    hooks: EngineHooks | None = None,
    backend: SheetBackend | None = None,
) -> SheetResult:
    """Run one sheet to completed or failed; see the package docstring."""
    chosen = backend if backend is not None else make_backend(request.loaded.score.backend)
    run = _SheetRun(request, checkpoint, hooks or EngineHooks(), chosen)
    # The sheet's loop is awaited here, not through a method of its own: each coroutine
    # layer is made once and resumed at every step of the sheet.
    with work_in_progress():
        try:
            return await run.loop()
        except BaseException:
            await finish_even_if_cancelled(run.interrupt())
            raise
