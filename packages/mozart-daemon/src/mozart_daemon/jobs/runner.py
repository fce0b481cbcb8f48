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

from collections.abc import Sequence

from mozart_protocol.score import PlannedSheet, ValidationRule

from mozart_daemon.engine import EngineHooks, SheetEvent, SheetRequest, run_sheet
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
        # One coroutine for the whole sheet on the daemon's side (each layer is made once
        # and resumed at every step of the sheet): the hooks are this runner's methods or
        # the coordinator's where they need nothing of the job.
        backend = job.backend
        sheet_num = sheet.sheet_num
        known = job.attempts.pop(sheet_num, None)  # recorded by this run: spares a read
        if known is None and not job.new_checkpoint:  # else no attempts yet
            previous = await self._store.sheets.sheet(job.job_id, sheet_num)
            known = previous.attempts if previous is not None else 0
        learn = job.score.learning.enabled
        lessons = None
        if learn:

            def lessons(rules: Sequence[ValidationRule], _attempt: int) -> str | None:
                return self._learning.lessons(job.job_id, sheet_num, rules, backend)

        def on_rate_limit(_engine_key: str, wait_seconds: float) -> None:
            self._coordinator.report(backend, wait_seconds, job_id=job.job_id)

        completed: bool | None = None
        try:
            result = await run_sheet(
                SheetRequest(
                    job_id=job.job_id,
                    loaded=job.loaded,
                    plan=job.plan,
                    sheet=sheet,
                    workspace=job.workspace,
                    start_attempt=(known or 0) + 1,
                    backend_key=backend,
                ),
                checkpoint=StoreCheckpoint(
                    self._store.sheets,
                    self._learning,
                    backend=backend,
                    rules=job.score.validations,
                    learn=learn,
                ),
                hooks=EngineHooks(
                    on_event=self._on_event,
                    events=None if debug_enabled() else FORWARDED,
                    on_rate_limit=on_rate_limit,
                    # The engine asks with the request's backend_key: the job's backend.
                    wait_if_rate_limited=self._coordinator.acquire_soon,
                    lessons=lessons,
                ),
            )
            completed = str(result.status) == "completed"
            job.attempts[sheet_num] = result.attempts
        finally:
            await self._learning.sheet_finished(job.job_id, sheet_num, completed=completed)
        return SheetOutcome(
            status="completed" if completed else "failed",
            attempts=result.attempts,
            exit_code=result.exit_code,
            error=result.error,
        )

    def _on_event(self, event: SheetEvent) -> None:
        """The engine's events: forwarded ones queued as job events (no coroutine: nothing
        to wait for; persisted, then delivered, in order with the rest), the others logged
        at debug."""
        if event.type in FORWARDED:
            self._events.emit_soon(
                event.job_id,
                event.type,
                sheet_num=event.sheet_num,
                attempt=event.attempt,
                message=event.message,
            )
        elif debug_enabled():
            log.debug(
                event.type, job_id=event.job_id, sheet_num=event.sheet_num,
                attempt=event.attempt, detail=event.message,
            )  # fmt: skip
