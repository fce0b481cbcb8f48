"""JobManager with a fake sheet runner: admission, scheduling, lifecycle, recovery."""

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mozart_daemon import errors
from mozart_daemon.backpressure import BackpressureController, Pressure
from mozart_daemon.config import config_from_mapping
from mozart_daemon.engine import process
from mozart_daemon.jobs import JobEvents, JobManager, JobRun, SheetOutcome
from mozart_daemon.monitor import ResourceSnapshot
from mozart_daemon.rate_coordinator import RateLimitCoordinator
from mozart_daemon.scheduler import GlobalSheetScheduler
from mozart_daemon.store import ORPHAN_MESSAGE, Store
from mozart_protocol.score import PlannedSheet


class FakeRunner:
    """Sheets block until released (or run at once when auto); failures on request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.auto = True
        self.fail: set[tuple[str, int]] = set()
        self.started: list[tuple[str, int]] = []
        self.gates: dict[tuple[str, int], asyncio.Event] = {}
        self.changed = asyncio.Event()

    def gate(self, job_id: str, num: int) -> asyncio.Event:
        return self.gates.setdefault((job_id, num), asyncio.Event())

    async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
        key = (job.job_id, sheet.sheet_num)
        self.started.append(key)
        self.changed.set()
        await self.store.sheets.sheet_started(*key)
        if not self.auto:
            await self.gate(*key).wait()
        ok = key not in self.fail
        await self.store.sheets.sheet_finished(*key, status="completed" if ok else "failed")
        return SheetOutcome(
            status="completed" if ok else "failed", attempts=1, error=None if ok else "boom"
        )


class Env:
    def __init__(
        self,
        store: Store,
        manager: JobManager,
        runner: FakeRunner,
        tmp: Path,
        snap: list[ResourceSnapshot],
    ) -> None:
        self.store, self.manager, self.runner, self.tmp, self.snap = (
            store,
            manager,
            runner,
            tmp,
            snap,
        )

    def score(self, name: str, sheets: int = 3, extra: str = "") -> str:
        path = self.tmp / f"{name}.yaml"
        path.write_text(
            f"name: {name}\nbackend: {{type: command, command: 'true'}}\n"
            f"sheet: {{size: 1, total_items: {sheets}}}\nprompt: {{template: hi}}\n{extra}"
        )
        return str(path)

    async def wait_status(self, job_id: str, status: str, timeout: float = 5) -> None:
        async def poll() -> None:
            while True:
                rec = await self.store.jobs.get(job_id)
                if rec is not None and rec.status == status:
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), timeout)

    async def wait_started(self, n: int, timeout: float = 5) -> None:
        async def poll() -> None:
            while len(self.runner.started) < n:
                self.runner.changed.clear()
                await self.runner.changed.wait()

        await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    config = config_from_mapping({"max_concurrent_jobs": 2, "max_concurrent_sheets": 3})
    store = await Store.open(tmp_path / "state.db")
    snap = [ResourceSnapshot(memory_mb=1, child_processes=0, taken_at=0)]
    coordinator = RateLimitCoordinator(max_api_calls_per_minute=1000)
    bp = BackpressureController(
        max_memory_mb=100,
        max_processes=10,
        snapshot=lambda: snap[0],
        rate_limited=coordinator.any_active,
    )
    runner = FakeRunner(store)
    manager = JobManager(
        config=config,
        store=store,
        scheduler=GlobalSheetScheduler(
            max_concurrent_sheets=3, is_rate_limited=coordinator.is_rate_limited
        ),
        coordinator=coordinator,
        backpressure=bp,
        events=JobEvents(store),
        runner=runner,
    )
    manager.start()
    yield Env(store, manager, runner, tmp_path, snap)
    for gate in runner.gates.values():
        gate.set()
    await manager.shutdown(1)
    await store.close()


async def test_submit_runs_all_sheets_in_order(env: Env) -> None:
    assert await env.manager.submit(config_path=env.score("a")) == ("a", "running")
    await env.wait_status("a", "completed")
    assert env.runner.started == [("a", 1), ("a", 2), ("a", 3)]
    events = [e.type for e in await env.store.events.since("a")]
    assert events[:2] == ["job.queued", "job.started"] and events[-1] == "job.completed"


async def test_a_submits_job_queued_is_written_with_its_rows_and_delivered_once(
    env: Env,
) -> None:
    """job.queued is committed in the job's own transaction (durable, as the submit is), then
    delivered once, before job.started; a submit with events of its own before job.queued
    (sheets skipped) keeps that order."""
    delivered: list[tuple[str, str, int]] = []
    env.manager.events.add_listener(lambda e: delivered.append((e.job_id, e.type, e.id)))
    statements: list[str] = []
    env.store.db._conn.set_trace_callback(statements.append)
    try:
        await env.manager.submit(config_path=env.score("a", sheets=1))
    finally:
        env.store.db._conn.set_trace_callback(None)
    create = statements[statements.index("BEGIN IMMEDIATE") : statements.index("COMMIT") + 1]
    assert [s.split(" (")[0] for s in create] == [
        "BEGIN IMMEDIATE", "INSERT INTO jobs", "INSERT INTO sheets", "INSERT INTO events",
        "COMMIT",
    ]  # fmt: skip
    assert "'job.queued'" in create[3]
    await env.wait_status("a", "completed")
    await env.store.db.flush()
    logged = [(e.job_id, e.type, e.id) for e in await env.store.events.since("a")]
    assert delivered == logged
    assert [t for _, t, _ in logged] == ["job.queued", "job.started", "job.completed"]

    delivered.clear()
    await env.manager.submit(config_path=env.score("b"), start_sheet=3)
    await env.wait_status("b", "completed")
    await env.store.db.flush()
    logged = [(e.job_id, e.type, e.id) for e in await env.store.events.since("b")]
    assert delivered == logged
    assert [t for _, t, _ in logged][:4] == [
        "sheet.skipped", "sheet.skipped", "job.queued", "job.started"
    ]  # fmt: skip


async def test_a_submit_counts_as_loop_work_until_answered(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet's process started while a submit is being handled goes to the spawn helper
    (engine/process.py ``work_in_progress``): the loop has the submit to get on with."""
    seen: list[int] = []
    real_create = env.store.jobs.create

    async def create(**kwargs: object) -> None:
        seen.append(process._RUNS.work)
        await real_create(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(env.store.jobs, "create", create)
    env.runner.auto = False
    before = process._RUNS.work
    await env.manager.submit(config_path=env.score("a"))
    assert seen == [before + 1]
    assert process._RUNS.work == before
    with pytest.raises(errors.DaemonError):
        await env.manager.submit(config_path=str(env.tmp / "missing.yaml"))
    assert process._RUNS.work == before  # a refused submit is no longer counted either


async def test_submit_rules(env: Env) -> None:
    env.runner.auto = False
    path = env.score("a")
    await env.manager.submit(config_path=path)
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=path)
    assert info.value.code == errors.JOB_ALREADY_EXISTS and "running" in info.value.message
    await env.manager.cancel("a")
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=path)
    assert "--fresh" in info.value.message and "mozart resume a" in info.value.message
    env.runner.auto = True
    assert await env.manager.submit(config_path=path, fresh=True) == ("a", "running")
    await env.wait_status("a", "completed")


async def test_invalid_and_unreadable_scores(env: Env) -> None:
    bad = env.tmp / "bad.yaml"
    bad.write_text("name: bad\nsheet: {size: 0, total_items: 1}\nprompt: {template: x}\n")
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=str(bad))
    assert info.value.code == errors.SCORE_INVALID
    assert info.value.data and info.value.data["findings"]
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=str(env.tmp / "missing.yaml"))
    assert info.value.code == errors.SCORE_NOT_READABLE


async def test_max_concurrent_jobs_queues_the_rest(env: Env) -> None:
    env.runner.auto = False
    states = [(await env.manager.submit(config_path=env.score(n, sheets=1)))[1] for n in "abc"]
    assert states == ["running", "running", "queued"]
    assert (env.manager.running_jobs, env.manager.queued_jobs) == (2, 1)
    env.runner.gate("a", 1).set()
    await env.wait_status("c", "running")
    assert (env.manager.running_jobs, env.manager.queued_jobs) == (2, 0)
    for name in "bc":
        env.runner.gate(name, 1).set()
    await env.wait_status("b", "completed")
    await env.wait_status("c", "completed")
    assert (env.manager.running_jobs, env.manager.queued_jobs) == (0, 0)


async def test_a_queued_job_cancelled_or_paused_leaves_the_queue_in_its_order(env: Env) -> None:
    env.runner.auto = False
    for name in "abcde":
        await env.manager.submit(config_path=env.score(name, sheets=1))
    assert env.manager.queued_jobs == 3  # c, d, e
    assert await env.manager.cancel("d") == "cancelled"
    assert await env.manager.pause("e") == "paused"
    assert env.manager.queued_jobs == 1
    env.runner.gate("a", 1).set()
    await env.wait_status("c", "running")
    env.runner.gate("b", 1).set()
    await env.wait_status("b", "completed")
    await asyncio.sleep(0.05)
    assert ("d", 1) not in env.runner.started and ("e", 1) not in env.runner.started
    assert (env.manager.running_jobs, env.manager.queued_jobs) == (1, 0)
    await env.manager.resume("e")  # queued again, and a slot is free
    await env.wait_status("e", "running")
    for name in "ce":
        env.runner.gate(name, 1).set()
        await env.wait_status(name, "completed")
    assert [key[0] for key in env.runner.started] == ["a", "b", "c", "e"]


async def test_two_jobs_interleave(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a", sheets=2))
    await env.manager.submit(config_path=env.score("b", sheets=2))
    await env.wait_started(2)
    assert sorted(env.runner.started) == [("a", 1), ("b", 1)]
    for key in [("a", 1), ("b", 1)]:
        env.runner.gate(*key).set()
    await env.wait_started(4)
    for key in [("a", 2), ("b", 2)]:
        env.runner.gate(*key).set()
    await env.wait_status("a", "completed")
    await env.wait_status("b", "completed")


async def test_pause_lets_running_sheet_finish_then_resume(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a"))
    await env.wait_started(1)
    assert await env.manager.pause("a") == "paused"
    env.runner.gate("a", 1).set()

    async def sheet_done() -> None:
        while await env.store.sheets.completed("a") != {1}:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(sheet_done(), 5)
    await asyncio.sleep(0.05)
    assert env.runner.started == [("a", 1)]  # nothing new while paused
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.pause("a")
    assert info.value.code == errors.INVALID_JOB_STATE
    env.runner.auto = True
    await env.manager.resume("a")
    await env.wait_status("a", "completed")
    assert env.runner.started == [("a", 1), ("a", 2), ("a", 3)]


async def test_a_job_that_ends_while_its_resume_is_written_stays_ended(env: Env) -> None:
    """Paused with its last sheet running; the sheet ends while job.resumed is being
    written: the job is completed, and the resume must not queue it again."""
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a", sheets=1))
    await env.wait_started(1)
    assert await env.manager.pause("a") == "paused"
    emit = env.manager.events.emit

    async def emit_while_the_sheet_ends(job_id: str, type: str, **kwargs: object) -> None:
        if type == "job.resumed":
            env.runner.gate("a", 1).set()
            await env.wait_status("a", "completed")
        await emit(job_id, type, **kwargs)

    env.manager.events.emit = emit_while_the_sheet_ends  # type: ignore[method-assign]
    assert await env.manager.resume("a") == "completed"
    env.manager.events.emit = emit  # type: ignore[method-assign]
    await asyncio.sleep(0.05)
    record = await env.store.jobs.get("a")
    assert record is not None and record.status == "completed"
    assert env.manager.queued_jobs == 0 and env.manager.active("a") is None


async def test_failure_fails_job_and_resume_skips_completed(env: Env) -> None:
    env.runner.fail = {("a", 2)}
    await env.manager.submit(config_path=env.score("a"))
    await env.wait_status("a", "failed")
    rec = await env.store.jobs.get("a")
    assert rec is not None and rec.error == "Sheet 2 failed: boom"
    env.runner.fail = set()
    await env.manager.resume("a")
    await env.wait_status("a", "completed")
    assert env.runner.started == [("a", 1), ("a", 2), ("a", 2), ("a", 3)]


async def test_cancel_stops_running_sheets(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a"))
    await env.wait_started(1)
    assert await env.manager.cancel("a") == "cancelled"
    sheet = await env.store.sheets.sheet("a", 1)
    assert sheet is not None and sheet.status == "pending"
    with pytest.raises(errors.DaemonError):
        await env.manager.cancel("a")


async def test_job_timeout(env: Env) -> None:
    env.manager.config = config_from_mapping({"job_timeout_seconds": 0.1})
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a"))
    await env.wait_status("a", "failed")
    rec = await env.store.jobs.get("a")
    assert rec is not None and "job_timeout_seconds" in (rec.error or "")


async def test_pressure_refuses_and_critical_pauses_lowest_priority(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("hi", extra="priority: 9\n"))
    await env.manager.submit(config_path=env.score("lo", extra="priority: 1\n"))
    env.snap[0] = ResourceSnapshot(memory_mb=99, child_processes=0, taken_at=0)
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=env.score("c"))
    assert info.value.message == "System under high pressure — try again later."
    await env.manager.on_pressure(Pressure.CRITICAL)
    await env.wait_status("lo", "paused")
    assert (await env.store.jobs.get("hi")).status == "running"  # type: ignore[union-attr]
    await env.manager.cancel("hi")
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.resume("hi")  # a resume adds work: refused like a submit
    assert info.value.code == errors.SYSTEM_UNDER_PRESSURE


async def test_start_sheet_skips_earlier_sheets(env: Env) -> None:
    await env.manager.submit(config_path=env.score("a"), start_sheet=3)
    await env.wait_status("a", "completed")
    assert env.runner.started == [("a", 3)]
    assert (await env.store.sheets.sheet("a", 1)).status == "skipped"  # type: ignore[union-attr]


async def test_orphans_recovered(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a"))
    assert await env.manager.recover_orphans() == 1
    rec = await env.store.jobs.get("a")
    assert rec is not None and rec.status == "failed" and rec.error == ORPHAN_MESSAGE


async def test_shutdown_waits_then_stops(env: Env) -> None:
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a"))
    await env.wait_started(1)
    await env.manager.shutdown(0.05)
    rec = await env.store.jobs.get("a")
    assert rec is not None and rec.status == "failed"
    with pytest.raises(errors.DaemonError) as info:
        await env.manager.submit(config_path=env.score("b"))
    assert info.value.code == errors.DAEMON_SHUTTING_DOWN


async def test_concurrent_submits_of_one_score_admit_it_once(env: Env) -> None:
    env.runner.auto = False
    path = env.score("a")
    results = await asyncio.gather(
        *(env.manager.submit(config_path=path) for _ in range(5)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, errors.DaemonError)]
    assert accepted == [("a", "running")]
    assert len(refused) == 4 and all(e.code == errors.JOB_ALREADY_EXISTS for e in refused)


async def test_queued_jobs_wait_out_high_pressure(env: Env) -> None:
    env.runner.auto = False
    for name in "abc":
        await env.manager.submit(config_path=env.score(name, sheets=1))
    env.snap[0] = ResourceSnapshot(memory_mb=90, child_processes=0, taken_at=0)  # HIGH
    env.runner.gate("a", 1).set()
    await env.wait_status("a", "completed")
    await asyncio.sleep(0.05)
    assert (await env.store.jobs.get("c")).status == "queued"  # type: ignore[union-attr]
    env.snap[0] = ResourceSnapshot(memory_mb=1, child_processes=0, taken_at=0)
    await env.manager.on_pressure(Pressure.NONE)
    await env.wait_status("c", "running")


async def test_a_sheet_held_by_a_lapsing_rate_limit_starts_once_it_lapses(env: Env) -> None:
    """Nothing reports the end of a rate limit: the dispatch loop looks again at least
    once a second while it waits, and finds the backend clear."""
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a", sheets=2))
    await env.wait_started(1)
    env.manager._coordinator.report("command", 0.3)
    env.runner.gate("a", 1).set()  # sheet 2 is ready now, its backend limited
    await asyncio.sleep(0.2)
    assert env.runner.started == [("a", 1)]
    await env.wait_started(2, timeout=3)
    env.runner.gate("a", 2).set()
    await env.wait_status("a", "completed")


async def test_low_pressure_spaces_out_dispatches(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mozart_daemon import backpressure

    monkeypatch.setitem(backpressure.DISPATCH_DELAY_SECONDS, Pressure.LOW, 0.3)
    env.snap[0] = ResourceSnapshot(memory_mb=60, child_processes=0, taken_at=0)  # LOW
    times: list[float] = []
    original = env.runner.run

    async def timed(job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
        times.append(asyncio.get_running_loop().time())
        return await original(job, sheet)

    env.runner.run = timed  # type: ignore[method-assign]
    path = env.tmp / "wide.yaml"
    path.write_text(
        "name: a\nbackend: {type: command, command: 'true'}\n"
        "sheet: {size: 1, total_items: 3, dependencies: {}}\nprompt: {template: hi}\n"
        "parallel: {enabled: true, max_concurrent: 3}\n"
    )
    await env.manager.submit(config_path=str(path))
    await env.wait_status("a", "completed")
    assert len(times) == 3
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(times))


async def test_a_job_whose_end_is_being_written_is_not_revived(env: Env) -> None:
    """The registry may still say paused while the job's final state is written (the slot
    frees first): resume, pause and cancel must see the job has ended, not re-queue it."""
    env.runner.auto = False
    await env.manager.submit(config_path=env.score("a", sheets=1))
    await env.manager.pause("a")
    job = env.manager.active("a")
    assert job is not None
    job.finalized, job.state = True, "completed"  # _finalize's first step, before its write
    for action in (env.manager.resume, env.manager.pause, env.manager.cancel):
        with pytest.raises(errors.DaemonError) as info:
            await action("a")
        assert info.value.code == errors.INVALID_JOB_STATE
        assert info.value.data == {"job_id": "a", "state": "completed", "action": action.__name__}
    assert (await env.store.jobs.get("a")).status == "paused"  # not overwritten with queued
