"""The RateLimitCoordinator wired both ways through the real engine: a limit hit by one
job holds the sheets of another job on the same backend, and raises pressure to HIGH."""

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mozart_daemon.app import Daemon
from mozart_daemon.backpressure import Pressure
from mozart_daemon.config import config_from_mapping


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))
    config = config_from_mapping(
        {"socket": {"path": str(tmp / "s.sock")}, "state_db_path": str(tmp / "db"),
         "pid_file": str(tmp / "pid"), "max_concurrent_sheets": 4}
    ).expanded()  # fmt: skip
    d = Daemon(config)
    await d.start()
    yield d
    d.request_shutdown(force=True)
    await asyncio.wait_for(d.stopped.wait(), 10)
    shutil.rmtree(tmp, ignore_errors=True)


def score(directory: Path, name: str, sheets: int, command: str, extra: str = "") -> str:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nworkspace: ./{name}-ws\n"
        f"backend: {{type: command, command: {command!r}}}\n"
        f"sheet: {{size: 1, total_items: {sheets}}}\nprompt: {{template: x}}\n"
        "retry: {max_retries: 0, base_delay_seconds: 0.01}\n" + extra
    )
    return str(path)


async def wait_for(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_limit_of_one_job_holds_the_other(daemon: Daemon, tmp_path: Path) -> None:
    marker = tmp_path / "limited"
    trace = tmp_path / "trace"
    limited = (
        f"if [ ! -e {marker} ]; then date +%s.%N > {marker}; "
        "echo 'rate limit exceeded' >&2; exit 1; fi"
    )
    # b's sheets go on once the test has seen a's limit reported (not as soon as a has hit
    # it: the daemon learns of it only after a's process has ended, and b's second sheet
    # could start before that).
    go = tmp_path / "go"
    steady = f"while [ ! -e {go} ]; do sleep 0.02; done; date +%s.%N >> {trace}"
    # rate_limit.wait_minutes 0.02 = 1.2 s, reported to the coordinator for every job.
    await daemon.manager.submit(
        config_path=score(tmp_path, "a", 1, limited, "rate_limit: {wait_minutes: 0.02}\n")
    )
    await daemon.manager.submit(config_path=score(tmp_path, "b", 2, steady))
    await wait_for(lambda: daemon.coordinator.any_active())
    go.touch()
    assert daemon.backpressure.current_level() == Pressure.HIGH
    assert not daemon.backpressure.should_accept_job()

    async def ended(job_id: str) -> bool:
        record = await daemon.store.jobs.get(job_id)
        return record is not None and record.status in ("completed", "failed")

    deadline = time.monotonic() + 15
    while not (await ended("a") and await ended("b")):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert (await daemon.store.jobs.get("a")).status == "completed"  # type: ignore[union-attr]
    assert (await daemon.store.jobs.get("b")).status == "completed"  # type: ignore[union-attr]
    hit = float(marker.read_text())
    starts = [float(x) for x in trace.read_text().split()]
    assert len(starts) == 2
    # b's second sheet became ready right away but waited out a's limit on the backend.
    assert starts[1] - hit >= 1.0
    outcomes = [o.outcome for o in await daemon.learning.outcomes("a")]
    assert outcomes == ["rate_limited", "passed"]
