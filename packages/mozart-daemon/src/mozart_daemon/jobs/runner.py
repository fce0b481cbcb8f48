"""EngineSheetRunner: runs one sheet through the engine, wired to the daemon.

- checkpoint: ``StoreCheckpoint`` (the state database, plus the LearningHub);
- lessons: unless the score turns learning off, each attempt's prompt gets the LearningHub's
  "Lessons from previous runs" for the sheet's rules and backend; when the sheet ends the
  hub scores the lessons it was given;
- events: each engine event is emitted as a job event (persisted, logged, streamed);
- rate limits: a limit the engine detects is reported to the RateLimitCoordinator under the
  job's backend key, so every job on that backend waits; before each attempt the engine
  waits until the backend is clear and takes a token of ``max_api_calls_per_minute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mozart_protocol.score import PlannedSheet, ValidationRule

from mozart_daemon.engine import EngineHooks, SheetEvent, SheetRequest, SheetResult, run_sheet
from mozart_daemon.jobs.runtime import JobEvents, JobRun, SheetOutcome
from mozart_daemon.learning import LearningHub
from mozart_daemon.logging import debug_enabled, get_logger
from mozart_daemon.rate_coordinator import RateLimitCoordinator
from mozart_daemon.store import Store
from mozart_daemon.store.engine_checkpoint import StoreCheckpoint

log = get_logger(__name__)

# Engine events that are job events on the wire (JobEventType); the others (attempt
# boundaries, completion and interruption notes) are logged only, at debug level, and the
# engine does not build them unless that level is on. None of the forwarded ones need be
# waited for: each is queued, then persisted and delivered in order with every other write.
# A sheet's end too: the next sheet starts while it is committed (within
# QUEUED_WRITE_DELAY, or with any write awaited sooner, such as the job's end), so the
# fsync overlaps the next spawn instead of holding it up. Nothing reports the end before it
# is committed: events are delivered once persisted, and a read (job.status) runs after the
# writes queued before it. Should the daemon die in between, the sheet is not marked
# completed and runs again on resume, like a sheet that was running.
FORWARDED = frozenset(
    {"sheet.started", "sheet.completed", "sheet.failed", "sheet.retrying", "sheet.rate_limited"}
)


class EngineSheetRunner:
    def __init__(
        self,
        *,
        store: Store,
        events: JobEvents,
        coordinator: RateLimitCoordinator,
        learning: LearningHub,
    ) -> None:
        self._store = store
        self._events = events
        self._coordinator = coordinator
        self._learning = learning

    async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
        backend = job.backend
        start_attempt = await self._recorded_attempts(job, sheet.sheet_num) + 1

        def on_event(event: SheetEvent) -> None:  # no coroutine: nothing to wait for
            if event.type in FORWARDED:
                # Persisted, then delivered, in order with the rest.
                self._events.emit_soon(
                    job.job_id,
                    event.type,
                    sheet_num=event.sheet_num,
                    attempt=event.attempt,
                    message=event.message,
                )
            elif debug_enabled():
                log.debug(
                    event.type, job_id=job.job_id, sheet_num=event.sheet_num,
                    attempt=event.attempt, detail=event.message,
                )  # fmt: skip

        learn = job.score.learning.enabled
        lessons = None
        if learn:

            def lessons(rules: Sequence[ValidationRule], _attempt: int) -> str | None:
                return self._learning.lessons(job.job_id, sheet.sheet_num, rules, backend)

        completed: bool | None = None
        job.attempts.pop(sheet.sheet_num, None)
        try:
            result = await self._run_sheet(job, sheet, start_attempt, lessons, on_event)
            completed = str(result.status) == "completed"
            job.attempts[sheet.sheet_num] = result.attempts
        finally:
            await self._learning.sheet_finished(job.job_id, sheet.sheet_num, completed=completed)
        return SheetOutcome(
            status="completed" if completed else "failed",
            attempts=result.attempts,
            exit_code=result.exit_code,
            error=result.error,
        )

    async def _recorded_attempts(self, job: JobRun, sheet_num: int) -> int:
        """Attempts the checkpoint holds for the sheet (the next one is numbered after)."""
        known = job.attempts.get(sheet_num)
        if known is not None:
            return known
        if job.new_checkpoint:
            return 0
        previous = await self._store.sheets.sheet(job.job_id, sheet_num)
        return previous.attempts if previous is not None else 0

    async def _run_sheet(
        self,
        job: JobRun,
        sheet: PlannedSheet,
        start_attempt: int,
        lessons: Callable[[Sequence[ValidationRule], int], str | None] | None,
        on_event: Callable[[SheetEvent], None],
    ) -> SheetResult:
        backend = job.backend

        def on_rate_limit(_engine_key: str, wait_seconds: float) -> None:
            self._coordinator.report(backend, wait_seconds, job_id=job.job_id)

        async def before_attempt(_engine_key: str) -> None:
            await self._coordinator.acquire(backend)

        return await run_sheet(
            SheetRequest(
                job_id=job.job_id,
                loaded=job.loaded,
                plan=job.plan,
                sheet=sheet,
                workspace=job.workspace,
                start_attempt=start_attempt,
                backend_key=backend,
            ),
            checkpoint=StoreCheckpoint(
                self._store.sheets,
                self._learning,
                backend=backend,
                rules=job.score.validations,
                learn=job.score.learning.enabled,
            ),
            hooks=EngineHooks(
                on_event=on_event,
                events=None if debug_enabled() else FORWARDED,
                on_rate_limit=on_rate_limit,
                wait_if_rate_limited=before_attempt,
                lessons=lessons,
            ),
        )
