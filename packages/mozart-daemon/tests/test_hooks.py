"""SuccessHooks on a JobManager with a sheet runner that completes at once: order, results
as events, run_command / run_script / run_job, chain depth, the no-work guard, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mozart_daemon.backpressure import BackpressureController
from mozart_daemon.config import config_from_mapping
from mozart_daemon.hooks import SuccessHooks
from mozart_daemon.jobs import JobEvents, JobManager, JobRun, SheetOutcome
from mozart_daemon.jobs.runtime import ChainLink
from mozart_daemon.monitor import ResourceSnapshot
from mozart_daemon.rate_coordinator import RateLimitCoordinator
from mozart_daemon.scheduler import GlobalSheetScheduler
from mozart_daemon.store import Store
from mozart_protocol.score import PlannedSheet


class DoneRunner:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.ran: list[tuple[str, int]] = []
        self.fail: set[str] = set()

    async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
        key = (job.job_id, sheet.sheet_num)
        self.ran.append(key)
        status = "failed" if job.job_id in self.fail else "completed"
        await self.store.sheets.sheet_started(*key)
        await self.store.sheets.sheet_finished(*key, status=status)
        return SheetOutcome(status=status, attempts=1, error="boom" if status == "failed" else None)


@dataclass
class Env:
    store: Store
    manager: JobManager
    hooks: SuccessHooks
    runner: DoneRunner
    tmp: Path

    def score(self, name: str, hooks: str = "", sheets: int = 1) -> str:
        path = self.tmp / f"{name}.yaml"
        text = (
            f"name: {name}\nworkspace: ./{name}-ws\nbackend: {{type: command, command: 'true'}}\n"
            f"sheet: {{size: 1, total_items: {sheets}}}\nprompt: {{template: hi}}\n"
        )
        path.write_text(text + (f"on_success:\n{hooks}" if hooks else ""))
        return str(path)

    async def hook_events(self, job_id: str, count: int) -> list[tuple[str, str]]:
        """The job's hook.* events once there are ``count`` of them (and its hooks ended)."""

        async def poll() -> list[tuple[str, str]]:
            while True:
                found = [
                    (e.type, e.message or "")
                    for e in await self.store.events.since(job_id)
                    if e.type.startswith("hook.")
                ]
                if len(found) >= count and not self.hooks.busy(job_id):
                    return found
                await asyncio.sleep(0.01)

        async with asyncio.timeout(10):
            return await poll()

    async def wait_status(self, job_id: str, status: str) -> None:
        async with asyncio.timeout(10):
            while True:
                record = await self.store.jobs.get(job_id)
                if record is not None and record.status == status:
                    return
                await asyncio.sleep(0.01)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    config = config_from_mapping({"max_chain_depth": 2})
    store = await Store.open(tmp_path / "state.db")
    coordinator = RateLimitCoordinator(max_api_calls_per_minute=1000)
    snap = ResourceSnapshot(memory_mb=1, child_processes=0, taken_at=0)
    backpressure = BackpressureController(
        max_memory_mb=100, max_processes=10, snapshot=lambda: snap,
        rate_limited=coordinator.any_active,
    )  # fmt: skip
    events = JobEvents(store)
    runner = DoneRunner(store)
    manager = JobManager(
        config=config, store=store, coordinator=coordinator, backpressure=backpressure,
        scheduler=GlobalSheetScheduler(
            max_concurrent_sheets=3, is_rate_limited=coordinator.is_rate_limited
        ),
        events=events, runner=runner,
    )  # fmt: skip
    hooks = SuccessHooks(manager=manager, events=events, store=store)
    manager.hooks = hooks
    manager.start()
    yield Env(store, manager, hooks, runner, tmp_path)
    await manager.shutdown(1)
    await hooks.aclose()
    await store.close()


def test_chain_link_message_round_trip() -> None:
    link = ChainLink("nightly.v2", 3)
    assert ChainLink.parse(link.message) == link
    assert ChainLink.parse("something else") is None and ChainLink.parse(None) is None


async def test_hooks_run_in_order_in_the_workspace_with_placeholders(env: Env) -> None:
    hooks = (
        "  - type: run_command\n"
        "    command: 'echo \"$MOZART_JOB_ID {job_id} {total_sheets}\" > out.txt; pwd >> out.txt'\n"
        "  - type: run_command\n"
        "    command: 'cat out.txt; echo to-stderr >&2'\n"
        "    description: show it\n"
    )
    await env.manager.submit(config_path=env.score("a", hooks, sheets=2))
    events = await env.hook_events("a", 2)
    assert [t for t, _ in events] == ["hook.completed", "hook.completed"]
    assert events[1][1].startswith("on_success[1] run_command `cat out.txt; ")
    assert "(show it): exited with status 0" in events[1][1]
    workspace = env.tmp / "a-ws"
    assert (workspace / "out.txt").read_text() == f"a a 2\n{workspace}\n"
    log = (workspace / "logs" / "hooks.log").read_text()
    assert "a a 2" in log and "to-stderr" in log and log.count("=====") == 4  # 2 headers
    types = [e.type for e in await env.store.events.since("a")]
    assert types.index("job.completed") < types.index("hook.completed")


async def test_a_failed_hook_goes_on_or_aborts(env: Env) -> None:
    hooks = (
        "  - {type: run_command, command: 'echo nope >&2; exit 3'}\n"
        "  - {type: run_command, command: 'exit 4', on_failure: abort}\n"
        "  - {type: run_command, command: 'touch never'}\n"
    )
    await env.manager.submit(config_path=env.score("b", hooks))
    events = await env.hook_events("b", 3)
    assert [t for t, _ in events] == ["hook.failed", "hook.failed", "hook.skipped"]
    assert "exited with status 3: nope" in events[0][1]
    assert events[2][1].endswith("on_success[1] failed (on_failure: abort)")
    assert not (env.tmp / "b-ws" / "never").exists()
    record = await env.store.jobs.get("b")
    assert record is not None and record.status == "completed"  # hooks never fail a job


async def test_run_script_and_a_missing_working_directory(env: Env) -> None:
    script = env.tmp / "post.sh"
    script.write_text('#!/bin/sh\necho "script in $(pwd)" > "$MOZART_WORKSPACE/script.txt"\n')
    script.chmod(0o755)
    hooks = (
        "  - {type: run_script, command: ./post.sh}\n"
        "  - {type: run_command, command: 'true', working_directory: ./nowhere}\n"
    )
    await env.manager.submit(config_path=env.score("c", hooks))
    events = await env.hook_events("c", 2)
    assert [t for t, _ in events] == ["hook.completed", "hook.failed"]
    assert (env.tmp / "c-ws" / "script.txt").read_text() == f"script in {env.tmp / 'c-ws'}\n"
    assert f"working directory `{env.tmp / 'nowhere'}` does not exist" in events[1][1]


async def test_run_job_chains_until_max_chain_depth(env: Env) -> None:
    env.score("d2", "  - {type: run_job, job_path: ./d3.yaml}\n")
    env.score("d3", "  - {type: run_job, job_path: ./d4.yaml}\n")
    env.score("d4")
    await env.manager.submit(
        config_path=env.score("d1", "  - {type: run_job, job_path: d2.yaml}\n")
    )
    for name in ("d1", "d2", "d3"):
        await env.wait_status(name, "completed")
    d1 = await env.hook_events("d1", 1)
    assert d1[0][0] == "hook.completed" and "submitted d2 (" in d1[0][1]
    assert "chain depth 1 of 2" in d1[0][1]
    d3 = await env.hook_events("d3", 1)
    assert d3 == [
        (
            "hook.failed",
            "on_success[0] run_job `./d4.yaml`: not submitted: this job is at chain depth 2"
            " and the daemon's max_chain_depth is 2",
        )
    ]
    assert await env.store.jobs.get("d4") is None
    chained = [e.message for e in await env.store.events.since("d3") if e.type == "job.chained"]
    assert chained == ["submitted by the on_success hook of d2 (chain depth 2)"]


async def test_a_score_that_chains_itself_runs_until_the_depth_limit(env: Env) -> None:
    hook = "  - {type: run_job, job_path: ./self.yaml, fresh: true}\n"
    await env.manager.submit(config_path=env.score("self", hook))

    async def chain_ended() -> list[tuple[str, str]]:
        while True:
            events = [(e.type, e.message or "") for e in await env.store.events.since("self")]
            if ("job.chained", "submitted by the on_success hook of self (chain depth 2)") in (
                events
            ) and any(t == "hook.failed" for t, _ in events):
                return events
            await asyncio.sleep(0.01)

    async with asyncio.timeout(10):
        events = await chain_ended()
    assert env.runner.ran == [("self", 1)] * 3  # depth 0, 1, 2
    assert "max_chain_depth is 2" in next(m for t, m in events if t == "hook.failed")
    async with asyncio.timeout(5):
        while env.hooks.busy("self"):
            await asyncio.sleep(0.01)


async def test_a_refused_chained_job_is_a_failed_hook(env: Env) -> None:
    bad = env.tmp / "bad.yaml"
    bad.write_text("name: bad\nsheet: {size: 0, total_items: 1}\nprompt: {template: x}\n")
    hooks = (
        "  - {type: run_job, job_path: ./missing.yaml}\n"
        "  - {type: run_job, job_path: ./bad.yaml}\n"
        "  - {type: run_job, job_path: '{workspace}/../done.yaml'}\n"
    )
    await env.manager.submit(config_path=env.score("done"))
    await env.wait_status("done", "completed")
    await env.manager.submit(config_path=env.score("e", hooks))
    events = await env.hook_events("e", 3)
    assert [t for t, _ in events] == ["hook.failed"] * 3
    assert f"the daemon refused {env.tmp / 'missing.yaml'}: Cannot read the score" in events[0][1]
    assert "is invalid" in events[1][1]
    assert "already exists" in events[2][1]  # an ended job, chained without fresh


async def test_no_hooks_for_a_failed_job_nor_for_a_job_that_did_no_work(env: Env) -> None:
    marker = env.tmp / "runs.txt"
    path = env.score("f", f"  - {{type: run_command, command: 'echo x >> {marker}'}}\n", sheets=2)
    env.runner.fail.add("f")
    await env.manager.submit(config_path=path)
    await env.wait_status("f", "failed")
    assert not env.hooks.busy("f")
    env.runner.fail.clear()
    await env.manager.resume("f")
    [(kind, _)] = await env.hook_events("f", 1)
    assert kind == "hook.completed"
    assert marker.read_text() == "x\n"  # once: not for the failed run
    # Left failed with every sheet complete (the daemon stopped before the final write).
    await env.store.jobs.set_status("f", "failed", error="Daemon shut down while job was active")
    await env.manager.resume("f")
    await env.wait_status("f", "completed")
    events = await env.hook_events("f", 2)
    assert events[1][0] == "hook.skipped"
    assert "ran no sheet in this run (all 2 were already complete)" in events[1][1]
    assert marker.read_text() == "x\n"
    assert env.runner.ran == [("f", 1), ("f", 1), ("f", 2)]


async def test_shutdown_stops_a_running_hook(env: Env) -> None:
    marker = f"{id(env) % 100000 + 1000}.75"
    await env.manager.submit(
        config_path=env.score("g", f"  - {{type: run_command, command: 'sleep {marker}'}}\n")
    )

    async def running() -> None:
        while not _sleepers(marker):
            await asyncio.sleep(0.01)

    async with asyncio.timeout(10):
        await running()
    assert env.hooks.busy("g")
    await env.hooks.aclose()
    assert not env.hooks.busy("g")
    assert _sleepers(marker) == []


def _sleepers(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"sleep\0{marker}".encode() in cmdline:
                found.append(int(entry.name))
    return found
