"""JobManager: admits jobs, runs their sheets through the global scheduler, and owns their
lifecycle (pause, resume, cancel, timeout, shutdown).

A job is ``queued`` until one of ``max_concurrent_jobs`` slots is free, then ``running``:
its sheets go to the GlobalSheetScheduler, and one dispatch loop starts whichever ready
sheet of any job comes next, applying the backpressure dispatch delay. A ``paused`` job
frees its slot and gets no new sheets (running ones finish). Every state change is written
to the registry before it is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter, OrderedDict, deque
from collections.abc import Coroutine
from typing import Any

from mozart_protocol.score.loaded import workspace_text

from mozart_daemon import errors
from mozart_daemon.backpressure import BackpressureController, Pressure
from mozart_daemon.config import DaemonConfig
from mozart_daemon.engine.attempt import discard_unused_prompt_files
from mozart_daemon.engine.logs import rotate_logs
from mozart_daemon.engine.process import work_in_progress
from mozart_daemon.jobs.runtime import (
    ChainLink,
    CompletionHooks,
    JobEvents,
    JobRun,
    SheetOutcome,
    SheetRunner,
)
from mozart_daemon.jobs.scores import read_score
from mozart_daemon.logging import bind_job, get_logger
from mozart_daemon.rate_coordinator import RateLimitCoordinator
from mozart_daemon.scheduler import GlobalSheetScheduler
from mozart_daemon.store import ORPHAN_MESSAGE, EventRecord, StateError, Store
from mozart_daemon.store.registry import ACTIVE_STATES, JobRecord

log = get_logger(__name__)

SHUTDOWN_MESSAGE = "Daemon shut down while job was active"
ENDED_STATES = ("completed", "failed", "cancelled")


class _ActiveJobs(dict[str, JobRun]):
    """The jobs in memory by id, with how many are in each state: admission and
    ``daemon.status`` ask on every call, and walking 1,000 queued jobs each time was a tenth
    of the daemon's CPU under a burst of submits. Change a job's state through
    ``set_state``; only ``[]=`` and ``pop`` add and remove jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __setitem__(self, job_id: str, job: JobRun) -> None:
        self.pop(job_id, None)
        super().__setitem__(job_id, job)
        self.counts[job.state] += 1

    def pop(self, job_id: str, default: Any = None) -> Any:
        job = super().pop(job_id, None)
        if job is None:
            return default
        self.counts[job.state] -= 1
        return job

    def set_state(self, job: JobRun, state: str) -> None:
        if self.get(job.job_id) is job:
            self.counts[job.state] -= 1
            self.counts[state] += 1
        job.state = state


class JobManager:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        store: Store,
        scheduler: GlobalSheetScheduler,
        coordinator: RateLimitCoordinator,
        backpressure: BackpressureController,
        events: JobEvents,
        runner: SheetRunner,
    ) -> None:
        self.config = config
        self._store = store
        self._scheduler = scheduler
        self._coordinator = coordinator
        self._backpressure = backpressure
        self.events = events
        self._runner = runner
        self._jobs = _ActiveJobs()
        self._queue: deque[str] = deque()
        self._history: OrderedDict[str, JobRun] = OrderedDict()
        # Jobs being failed at start-up, while their job.failed is delivered (notifications).
        self._recovered: dict[str, JobRun] = {}
        # The dispatch loop sleeps on a future that ``wake`` resolves (an Event's wait in
        # ``wait_for`` was a task, a timer and an Event's Python code per sleep, once a job),
        # and at least once a second (``_tick``: rate limits that lapse, budgets that refill).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._stop_dispatch = asyncio.Event()
        self._force = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.shutting_down = False
        self.hooks: CompletionHooks | None = None
        coordinator.add_listener(self.wake)

    # -- lifecycle ----------------------------------------------------------------------

    async def recover_orphans(self) -> int:
        """Fail the jobs a previous daemon left queued or running. Each one's ``job.failed``
        reaches its score's notifications, read again from its file as it is now (a score
        that cannot be read, or names another job now, is not notified: logged)."""
        orphans = await self._store.jobs.mark_orphans_failed()
        for job_id in orphans:
            recovered = await self._recovered_run(job_id)
            if recovered is not None:
                self._recovered[job_id] = recovered
            try:
                await self.events.emit(job_id, "job.failed", message=ORPHAN_MESSAGE)
            finally:
                self._recovered.pop(job_id, None)
        log.info("manager.orphans_recovered", count=len(orphans))
        return len(orphans)

    async def _recovered_run(self, job_id: str) -> JobRun | None:
        """An interrupted job as its score file describes it now, for its notifications;
        None when there are none to send or the score cannot be read."""
        record = await self._store.jobs.get(job_id)
        if record is None:
            return None
        try:
            loaded = await read_score(record.config_path)
        except Exception as exc:  # gone, unreadable or invalid: nothing to notify from
            reason = str(exc)
        else:
            if not loaded.score.notifications:
                return None
            if loaded.score.name == job_id:
                return JobRun(
                    job_id=job_id, loaded=loaded, plan=loaded.plan,
                    workspace=record.workspace, priority=record.priority, done=set(),
                    state="failed", finalized=True,
                )  # fmt: skip
            reason = f"the score now names the job {loaded.score.name}"
        with bind_job(job_id):
            log.warning("manager.orphan_not_notified", config_path=record.config_path,
                        reason=reason)  # fmt: skip
        return None

    def notifiable(self, job_id: str) -> JobRun | None:
        """The job a notification is about: an active one, or one being failed at start-up
        (``recover_orphans``)."""
        return self._jobs.get(job_id) or self._recovered.get(job_id)

    def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._dispatcher = loop.create_task(self._dispatch_loop(), name="sheet-dispatcher")

    def wake(self) -> None:
        """Let the dispatch loop look for a sheet to start (a slot or a sheet came free)."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # else cancelled: the dispatch loop is being stopped
                waiter.set_result(None)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop ``start`` ran in (asking asyncio costs a ``getpid`` each time)."""
        return self._loop or asyncio.get_running_loop()

    def apply_config(self, config: DaemonConfig) -> None:
        """Take new limits (SIGHUP): the scheduler and admission use them at once."""
        self.config = config
        self._scheduler.max_concurrent_sheets = config.max_concurrent_sheets
        self._admit()
        self.wake()

    @property
    def running_jobs(self) -> int:
        return self._jobs.counts["running"]

    @property
    def queued_jobs(self) -> int:
        return self._jobs.counts["queued"]

    def active(self, job_id: str) -> JobRun | None:
        return self._jobs.get(job_id)

    # -- requests -----------------------------------------------------------------------

    async def submit(
        self,
        *,
        config_path: str,
        fresh: bool = False,
        start_sheet: int | None = None,
        priority: int | None = None,
        workspace: str | None = None,
        chain: ChainLink | None = None,
    ) -> tuple[str, str]:
        """Load, check and admit a score; returns (job id = the score's name, state).

        ``chain``: the job is submitted by another job's ``run_job`` hook (``job.chained``)."""
        with work_in_progress():  # sheets started meanwhile go to the spawn helper
            return await self._submit(config_path, fresh, start_sheet, priority, workspace, chain)

    async def _submit(
        self,
        config_path: str,
        fresh: bool,
        start_sheet: int | None,
        priority: int | None,
        workspace: str | None,
        chain: ChainLink | None,
    ) -> tuple[str, str]:
        if self.shutting_down:
            raise errors.shutting_down()
        self._refuse_under_pressure()
        loaded = await read_score(config_path)
        job_id = loaded.score.name
        active = self._jobs.get(job_id)
        if active is not None:  # also catches a concurrent submit of the same score
            raise errors.job_already_exists(job_id, active.state, ended=False)
        plan = loaded.plan  # made by the checks
        if start_sheet is not None and not 1 <= start_sheet <= plan.total_sheets:
            raise errors.DaemonError(
                errors.INVALID_PARAMS,
                f"start_sheet must be between 1 and {plan.total_sheets} for this score",
                {"field": "start_sheet"},
            )
        ws_text = workspace_text(loaded, workspace)
        job_priority = priority if priority is not None else loaded.score.priority
        job = JobRun(
            job_id=job_id, loaded=loaded, plan=plan, workspace=ws_text, priority=job_priority,
            done=set(range(1, start_sheet)) if start_sheet else set(), new_checkpoint=True,
        )  # fmt: skip
        self._jobs[job_id] = job  # reserve the id before any await
        # ``job.queued`` is written with the job's rows (one write, durable with them),
        # unless events of the submit come before it (``job.chained``, ``sheet.skipped``).
        queued_with_rows = chain is None and not job.done

        async def create(replace: bool) -> EventRecord | None:
            return await self._store.jobs.create(
                job_id=job_id, name=loaded.score.name, description=loaded.score.description,
                config_path=loaded.path_text, workspace=ws_text, priority=job_priority,
                total_sheets=plan.total_sheets, backend=job.backend,
                sheets=[(s.sheet_num, s.stage, s.instance) for s in plan.sheets],
                replace=replace, event="job.queued" if queued_with_rows else None,
            )  # fmt: skip

        try:
            try:
                queued = await create(replace=False)  # a new job id: no read first
            except sqlite3.IntegrityError:
                existing = await self._store.jobs.get(job_id)
                if existing is None:
                    raise
                ended = existing.status in ENDED_STATES
                if not ended or not fresh:
                    raise errors.job_already_exists(job_id, existing.status, ended=ended) from None
                # --fresh over an ended job: its logs are not this run's.
                await asyncio.to_thread(rotate_logs, ws_text)
                queued = await create(replace=True)
            if chain is not None:
                await self.events.emit(job_id, "job.chained", message=chain.message)
            for num in sorted(job.done):
                await self._store.sheets.set_sheet_status(job_id, num, "skipped")
                await self.events.emit(job_id, "sheet.skipped", sheet_num=num,
                                       message=f"before start_sheet {start_sheet}")  # fmt: skip
        except BaseException:
            self._jobs.pop(job_id, None)
            raise
        with bind_job(job_id):
            log.info("job.submitted", config_path=loaded.path_text, fresh=fresh)
        await self._enqueue(job, persisted=True, queued=queued)
        return job_id, job.state

    def _live(self, job_id: str, action: str) -> JobRun | None:
        """The job in memory, unless it has just ended: its final state may not be written
        yet (the registry still says running or paused), and it must not be revived."""
        job = self._jobs.get(job_id)
        if job is not None and job.finalized:
            raise errors.invalid_state(job_id, job.state, action)
        return job

    async def pause(self, job_id: str) -> str:
        record = await self._require(job_id)
        job = self._live(job_id, "pause")
        if job is None or record.status not in ("queued", "running"):
            raise errors.invalid_state(job_id, record.status, "pause")
        await self._pause(job, reason=None)
        return job.state

    async def resume(self, job_id: str) -> str:
        record = await self._require(job_id)
        job = self._live(job_id, "resume")
        if job is not None and record.status == "paused":
            job.user_paused = False
            await self.events.emit(job_id, "job.resumed")
            await self._enqueue(job)  # not if its last sheet ended meanwhile: it has ended
            return job.state
        if record.status not in ("paused", "failed", "cancelled") or job is not None:
            raise errors.invalid_state(job_id, record.status, "resume")
        if self.shutting_down:
            raise errors.shutting_down()
        self._refuse_under_pressure()
        loaded = await read_score(record.config_path)
        plan = loaded.plan  # made by the checks
        if plan.total_sheets != record.total_sheets:
            raise errors.DaemonError(
                errors.SCORE_INVALID,
                f"The score at {record.config_path} now has {plan.total_sheets} sheets, not "
                f"{record.total_sheets}: its checkpoint no longer fits. Submit it with --fresh.",
                {"findings": []},
            )
        await self._store.sheets.reset_unfinished(job_id)
        done = await self._store.sheets.completed(job_id)
        job = JobRun(
            job_id=job_id, loaded=loaded, plan=plan, workspace=record.workspace,
            priority=record.priority, done=done, started_once=True,
        )  # fmt: skip
        self._jobs[job_id] = job
        self._history.pop(job_id, None)
        with bind_job(job_id):
            log.info("job.resume_requested", completed_sheets=len(done))
        await self.events.emit(job_id, "job.resumed", message=f"{len(done)} sheets already done")
        await self._enqueue(job)
        return job.state

    async def cancel(self, job_id: str) -> str:
        record = await self._require(job_id)
        job = self._live(job_id, "cancel")
        if job is None or record.status not in ACTIVE_STATES:
            raise errors.invalid_state(job_id, record.status, "cancel")
        await self._stop_job(job, "cancelled", "Cancelled by request")
        return "cancelled"

    # -- pressure and shutdown ----------------------------------------------------------

    async def on_pressure(self, level: Pressure) -> None:
        """At CRITICAL, pause the lowest-priority running job (it stays resumable); below
        HIGH, admit queued jobs that waited for the load to drop."""
        if self.shutting_down:
            return
        if level < Pressure.HIGH:
            if self._queue:
                self._admit()
            return
        if level < Pressure.CRITICAL:
            return
        running = [j for j in self._jobs.values() if j.state == "running"]
        if not running:
            return
        victim = min(running, key=lambda j: j.priority)
        with bind_job(victim.job_id):
            log.warning("backpressure.job_paused", priority=victim.priority, level=level.wire)
        await self._pause(victim, reason="Paused by the daemon: resource pressure critical")

    def force_stop(self) -> None:
        """Cut a running shutdown's grace period short: stop running sheets now."""
        self._force.set()

    async def shutdown(self, grace_seconds: float) -> None:
        """Dispatch no more sheets; let running ones finish for ``grace_seconds``, then stop
        them."""
        self.shutting_down = True
        self._stop_dispatch.set()
        self.wake()
        if self._dispatcher is not None:
            await self._dispatcher
        tasks = {t for j in self._jobs.values() for t in j.tasks.values()}
        if tasks:
            log.info(
                "manager.drain_started", running_sheets=len(tasks), grace_seconds=grace_seconds
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_seconds
            forced = asyncio.create_task(self._force.wait())
            pending = set(tasks)
            while pending and not self._force.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    [*pending, forced], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
            forced.cancel()
            for task in pending:
                task.cancel()
            if pending:
                log.warning("manager.sheets_stopped", count=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
        for job in list(self._jobs.values()):
            if job.state in ("queued", "running") and not job.finalized:
                await self._finalize(job, "failed", SHUTDOWN_MESSAGE)
            self._cancel_timers(job)
        for bg in list(self._background):
            bg.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- internals ----------------------------------------------------------------------

    def _refuse_under_pressure(self) -> None:
        if not self._backpressure.should_accept_job():
            level = self._backpressure.current_level().wire
            log.warning("job.refused", reason="pressure", level=level)
            raise errors.under_pressure()

    async def _require(self, job_id: str) -> JobRecord:
        record = await self._store.jobs.get(job_id)
        if record is None:
            raise errors.job_not_found(job_id)
        return record

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _enqueue(
        self, job: JobRun, *, persisted: bool = False, queued: EventRecord | None = None
    ) -> None:
        """``persisted``: the registry already holds the job as queued (a new submit), and
        ``queued`` its ``job.queued`` event when it was written with the job's rows (it is
        delivered here, once). A job that ended while its caller awaited (a paused job's
        last running sheet completing while its resume is written) stays ended."""
        if queued is not None:
            self.events.deliver(queued)  # persisted: logged and handed out, as emit does
        if job.finalized:
            return
        self._jobs.set_state(job, "queued")
        if not persisted:
            await self._store.jobs.set_status(job.job_id, "queued")
        if queued is None:
            self.events.emit_soon(job.job_id, "job.queued")
        self._queue.append(job.job_id)
        self._admit()

    def _dequeue(self, job_id: str) -> None:
        with contextlib.suppress(ValueError):
            self._queue.remove(job_id)

    def _admit(self) -> None:
        """Start queued jobs while slots are free. Synchronous, so that one pass never
        interleaves with another: its writes are queued, committed with job.started."""
        # Under HIGH or CRITICAL resource pressure queued jobs wait (on_pressure admits
        # them when the load drops); a running job's freed slot is not refilled.
        running = self.running_jobs
        admitted = False
        while (
            self._queue
            and running < self.config.max_concurrent_jobs
            and self._backpressure.resource_level() < Pressure.HIGH
        ):
            job = self._jobs.get(self._queue.popleft())
            if job is None or job.state != "queued" or job.finalized:
                continue
            running += 1
            admitted = True
            self._jobs.set_state(job, "running")
            first = not job.started_once
            job.started_once = True
            if job.job_id in self._scheduler:
                self._scheduler.set_paused(job.job_id, False)
            else:
                self._scheduler.register(
                    job.job_id, dependencies=job.graph(), done=job.done,
                    priority=job.priority, backend=job.backend, max_parallel=job.max_parallel,
                )  # fmt: skip
            if job.timeout_handle is None:
                limit = self.config.job_timeout_seconds
                job.timeout_handle = self._event_loop().call_later(
                    limit, self._timeout_fired, job, limit
                )
            # The running state and job.started in one queued write (neither need be
            # durable: a crash leaves the job running either way, and recovery fails it).
            running_state = self._store.jobs.status_statements(job.job_id, "running", started=first)
            self.events.emit_soon(job.job_id, "job.started", with_writes=running_state)
            if self._scheduler.is_finished(job.job_id):  # nothing left to run: it ends
                self._spawn(self._end_if_finished(job))
        if admitted:
            # Their sheets are ready now. Only then: a pass that admits nothing (a submit
            # while every slot is taken, a job's end) changed nothing the dispatch loop
            # looks at, and waking it was a turn of its task for nothing, twice a job.
            self.wake()

    async def _pause(self, job: JobRun, *, reason: str | None) -> None:
        job.user_paused = True
        self._scheduler.set_paused(job.job_id, True)
        if job.state == "queued":
            self._dequeue(job.job_id)
        self._jobs.set_state(job, "paused")
        await self._store.jobs.set_status(job.job_id, "paused", error=reason)
        await self.events.emit(job.job_id, "job.paused", message=reason)
        self._admit()

    def _timeout_fired(self, job: JobRun, limit: float) -> None:
        self._spawn(self._on_timeout(job, limit))

    async def _on_timeout(self, job: JobRun, limit: float) -> None:
        job.timeout_handle = None
        if job.finalized or job.stopping:
            return
        message = f"Job timed out: it ran longer than job_timeout_seconds ({limit:g} s)"
        await self._stop_job(job, "failed", message)

    async def _dispatch_loop(self) -> None:
        try:
            await self._dispatch(self._event_loop())
        finally:
            self._waiter = None
            if self._tick is not None:
                self._tick.cancel()
                self._tick = None

    async def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop_dispatch.is_set():
            nxt = self._scheduler.next_sheet()
            if nxt is None:
                # Nothing to start until ``wake`` (nothing runs between next_sheet and here,
                # so no wake is missed), or the next tick.
                if self._tick is None:
                    self._tick = loop.call_later(1.0, self._ticked)
                waiter = self._waiter = loop.create_future()
                await waiter
                continue
            job_id, sheet_num = nxt
            job = self._jobs.get(job_id)
            if job is None or job.stopping:
                self._scheduler.requeue(job_id, sheet_num)
                continue
            job.tasks[sheet_num] = loop.create_task(
                self._run_sheet(job, sheet_num), name=f"sheet:{job_id}:{sheet_num}"
            )
            delay = self._backpressure.dispatch_delay()
            if delay > 0:
                log.info("scheduler.dispatch_delayed", seconds=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_dispatch.wait(), timeout=delay)

    async def _run_sheet(self, job: JobRun, sheet_num: int) -> None:
        with bind_job(job.job_id):
            outcome: SheetOutcome | None = None
            try:
                outcome = await self._runner.run(job, job.sheet(sheet_num))
            except asyncio.CancelledError:
                outcome = None
            except Exception as exc:
                log.exception("sheet.crashed", sheet_num=sheet_num)
                outcome = SheetOutcome(status="failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                job.tasks.pop(sheet_num, None)
            if outcome is not None:
                job.ran_sheets += 1
            if outcome is None:
                # Stopped (cancel, timeout, shutdown): not done, so it runs again on resume.
                await self._store.sheets.set_sheet_status(
                    job.job_id, sheet_num, "pending", error="Interrupted before it finished"
                )
                self._scheduler.requeue(job.job_id, sheet_num)
                self.wake()  # its sheet slot is free
                return
            success = outcome.status == "completed"
            self._scheduler.mark_complete(job.job_id, sheet_num, success=success)
            self.wake()
            if not success:
                job.failed[sheet_num] = outcome.error or "failed"
                if job.fail_fast and not job.stopping:
                    message = f"Sheet {sheet_num} failed: {job.failed[sheet_num]}"
                    self._spawn(self._stop_job(job, "failed", message))
                    return
            if job.stopping:
                return
            ending = self._check_finished(job)
            if ending is not None:
                await ending
            pause = job.score.pause_between_sheets_seconds
            if pause > 0 and not job.finalized and not job.user_paused:
                self._scheduler.set_paused(job.job_id, True)
                job.hold_handle = self._event_loop().call_later(pause, self._release, job)

    def _ticked(self) -> None:
        self._tick = None
        self.wake()

    def _release(self, job: JobRun) -> None:
        job.hold_handle = None
        if not job.user_paused and job.state == "running":
            self._scheduler.set_paused(job.job_id, False)
            self.wake()

    def _check_finished(self, job: JobRun) -> Coroutine[Any, Any, None] | None:
        """The job's end to await when none of its sheets is left to run, else None (a
        plain method: once a sheet, and a coroutine around ``_finalize`` was a layer
        more)."""
        if job.finalized or job.stopping or not self._scheduler.is_finished(job.job_id):
            return None
        if job.failed:
            num = min(job.failed)
            return self._finalize(job, "failed", f"Sheet {num} failed: {job.failed[num]}")
        return self._finalize(job, "completed", None)

    async def _end_if_finished(self, job: JobRun) -> None:
        ending = self._check_finished(job)  # asked again: it may be stopping by now
        if ending is not None:
            await ending

    async def _stop_job(self, job: JobRun, state: str, message: str) -> None:
        if job.stopping or job.finalized:
            return
        job.stopping = True
        self._scheduler.set_paused(job.job_id, True)
        tasks = list(job.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._finalize(job, state, message)

    async def _finalize(self, job: JobRun, state: str, error: str | None) -> None:
        if job.finalized:
            return
        job.finalized = True
        was_queued = job.state == "queued"
        self._jobs.set_state(job, state)
        self._cancel_timers(job)
        discard_unused_prompt_files(job.workspace)
        self._scheduler.unregister(job.job_id)
        if was_queued:  # else not in the queue: no walk through every queued job
            self._dequeue(job.job_id)
        if not self.shutting_down:
            # Its slot is free now: the next queued job starts while this end is written.
            self._admit()
        hooks = self.hooks if state == "completed" and job.score.on_success else None
        if hooks is not None:
            hooks.expect(job)
        try:
            # The final state and its event in one transaction (one fsync).
            final = self._store.jobs.status_statements(job.job_id, state, error=error)
            await self.events.emit(job.job_id, f"job.{state}", message=error, with_writes=final)
        except (StateError, sqlite3.Error) as exc:
            log.error("store.write_failed", job_id=job.job_id, event=f"job.{state}", error=str(exc))
            await self._persist_final(job.job_id, state, error)
            try:
                await self.events.emit(job.job_id, f"job.{state}", message=error)
            except (StateError, sqlite3.Error) as again:
                log.error("store.write_failed", job_id=job.job_id, event=f"job.{state}",
                          error=str(again))  # fmt: skip
        self._jobs.pop(job.job_id, None)
        self._history[job.job_id] = job
        while len(self._history) > self.config.max_job_history:
            self._history.popitem(last=False)
        if hooks is not None:
            hooks.start(job)
        if not self.shutting_down:
            self._admit()

    async def _persist_final(self, job_id: str, state: str, error: str | None) -> None:
        """Write a job's final state. While the state database refuses writes (disk full,
        read-only), retry until it takes them: the registry must never keep an ended job as
        running, which would also make it impossible to resume."""
        delay = 0.5
        while True:
            try:
                await self._store.jobs.set_status(job_id, state, error=error)
                return
            except (StateError, sqlite3.Error) as exc:
                log.error("store.write_failed", job_id=job_id, state=state, error=str(exc),
                          retry_seconds=delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _cancel_timers(self, job: JobRun) -> None:
        for handle in (job.timeout_handle, job.hold_handle):
            if handle is not None:
                handle.cancel()
        job.timeout_handle = job.hold_handle = None
