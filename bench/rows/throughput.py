"""Job throughput: N one-sheet `true` jobs submitted by 8 concurrent clients to a daemon
with default limits, timed from the first submit until no job is queued or running (asked
every millisecond once none is queued, so that the end is timed as precisely as task-spooler's,
whose ``tsp -w`` is told); vs Debian's task-spooler (5 slots) running N `true` tasks in the
same run.

Like the RPC rows, the measurements alternate (task-spooler, Mozart on disk, Mozart on tmpfs;
three rounds in a full run, one in a quick one) and the best of each is kept: one run of each
lasts about a second, and a second in which another tenant of this shared machine is busy
would otherwise decide the ratio. The note lists every round's rates.

A second figure, without a target, runs the same jobs with their score files, and so their
workspaces, on tmpfs (the daemon's state database stays on disk): each job creates three
inodes (its workspace, ``logs/`` and the prompt file), which on this machine's ext4 without
a journal cost far more after recent deletions than on tmpfs, while task-spooler creates
none. The difference between the two figures is the file system's share.

Before the jobs run on disk, the row waits (up to three minutes) until creating files there
costs what it does when nothing was deleted recently (``bench.disk``): deletions made just
before, by a test suite or an earlier benchmark run, would otherwise be charged to the
daemon. The note says how long it waited and what creating a job's files cost then."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import disk, refs, rpc
from bench.daemon import BenchDaemon, remove_at_end, wait_idle, write_score
from bench.result import Row
from bench.rows.context import Context

CLIENTS = 8
TARGET = 1.0
TMPFS = Path("/dev/shm")


async def submit_all(path: str, scores: list[str], clients: int = CLIENTS) -> None:
    async def client(conn: rpc.Connection, share: list[str]) -> None:
        try:
            for score in share:
                await conn.call("job.submit", {"config_path": score})
        finally:
            await conn.close()

    conns = await refs.open_connections(path, clients)
    await asyncio.gather(*(client(conn, scores[i::clients]) for i, conn in enumerate(conns)))


@dataclass(frozen=True)
class Run:
    rate: float  # jobs/s
    seconds: float
    submit_seconds: float
    daemon_ms: tuple[float, float]  # user, system CPU per job
    helper_ms: tuple[float, float] | None  # the spawn helper's, when it ran


def _helper_cpu(daemon_pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds of the daemon's spawn helper, if one runs."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == daemon_pid and b"spawn_helper" in cmdline:
            ticks = os.sysconf("SC_CLK_TCK")
            return int(fields[11]) / ticks, int(fields[12]) / ticks
    return None


async def _measure(jobs: int, scores_dir: Path | None) -> Run:
    async with BenchDaemon() as daemon:
        where = scores_dir or daemon.dir
        scores = [str(write_score(where, f"tp-{i:05d}")) for i in range(jobs)]
        user0, sys0 = daemon.cpu_seconds()
        helper0 = _helper_cpu(daemon.pid)  # None: not started yet (it starts under load)
        t0 = time.perf_counter()
        await submit_all(daemon.path, scores)
        submitted = time.perf_counter() - t0
        await wait_idle(daemon.path, timeout=jobs * 1.0 + 60, tail_interval=0.001)
        elapsed = time.perf_counter() - t0
        user1, sys1 = daemon.cpu_seconds()
        helper1 = _helper_cpu(daemon.pid)
        page = await rpc.call(daemon.path, "job.list", {"status": "completed", "limit": 1000})
    completed = len(page["jobs"])
    if completed != jobs:
        raise RuntimeError(f"{completed} of {jobs} jobs completed")
    helper = None
    if helper1 is not None:
        before = helper0 or (0.0, 0.0)
        helper = ((helper1[0] - before[0]) / jobs * 1000, (helper1[1] - before[1]) / jobs * 1000)
    return Run(
        rate=jobs / elapsed,
        seconds=elapsed,
        submit_seconds=submitted,
        daemon_ms=((user1 - user0) / jobs * 1000, (sys1 - sys0) / jobs * 1000),
        helper_ms=helper,
    )


def _note(run: Run, jobs: int, settled: disk.Settle | None = None) -> str:
    note = ""
    if settled is not None:
        state = "settled" if settled.settled else "NOT settled"
        note = (
            f"disk {state} after {settled.waited:.0f} s (a job's 3 inodes cost"
            f" {settled.cost_us:.0f} us CPU, normal <= {disk.SETTLED_US:.0f}); "
        )
    note += (
        f"all {jobs} submits answered after {run.submit_seconds:.2f} s; the daemon used"
        f" {run.daemon_ms[0]:.1f} ms user + {run.daemon_ms[1]:.1f} ms system CPU per job"
    )
    if run.helper_ms is not None:
        note += (
            f", its spawn helper {run.helper_ms[0]:.1f} ms user + {run.helper_ms[1]:.1f} ms system"
        )
    return note


def _extra(run: Run, jobs: int, settled: disk.Settle | None = None) -> dict[str, object]:
    return {
        "disk_wait_seconds": settled.waited if settled else None,
        "disk_inode_cost_us": settled.cost_us if settled else None,
        "jobs": jobs,
        "seconds": run.seconds,
        "submit_seconds": run.submit_seconds,
        "daemon_user_ms_per_job": run.daemon_ms[0],
        "daemon_system_ms_per_job": run.daemon_ms[1],
        "helper_user_ms_per_job": run.helper_ms[0] if run.helper_ms else None,
        "helper_system_ms_per_job": run.helper_ms[1] if run.helper_ms else None,
    }


def _rates(runs: list[Run]) -> str:
    return "/".join(f"{run.rate:.0f}" for run in runs)


async def _measure_tmpfs(jobs: int) -> Run:
    shm = Path(tempfile.mkdtemp(prefix="mzb", dir=TMPFS))
    try:
        return await _measure(jobs, shm)
    finally:
        shutil.rmtree(shm, ignore_errors=True)  # tmpfs: no cost for later creations


async def run(ctx: Context) -> list[Row]:
    jobs = ctx.pick(1000, 200)
    rounds = ctx.pick(3, 1)
    settled = await asyncio.to_thread(disk.settle, Path("/tmp"), remove_at_end)
    tsp_rates: list[float] = []
    on_disk: list[Run] = []
    in_memory: list[Run] = []
    for _ in range(rounds):
        tsp_rate = await asyncio.to_thread(refs.task_spooler_rate, jobs, 5)
        if tsp_rate is not None:
            tsp_rates.append(tsp_rate)
        on_disk.append(await _measure(jobs, None))
        if TMPFS.is_dir():
            in_memory.append(await _measure_tmpfs(jobs))
    best = max(on_disk, key=lambda run: run.rate)
    reference = max(tsp_rates) if tsp_rates else None
    note = _note(best, jobs, settled)
    rounds_note = f"; best of {rounds}: Mozart {_rates(on_disk)} jobs/s"
    if tsp_rates:
        rounds_note += ", tsp " + "/".join(f"{rate:.0f}" for rate in tsp_rates) + " tasks/s"
    note += rounds_note
    if reference is None:
        note += "; SKIPPED the reference: task-spooler (tsp) is not installed"
    rows = [
        Row(
            key="jobs.throughput",
            what=f"{jobs} one-sheet jobs, {CLIENTS} clients, default limits",
            figure=best.rate,
            unit="jobs/s",
            reference=reference,
            reference_what="tasks/s tsp -S 5" if reference is not None else "tsp absent",
            ratio=best.rate / reference if reference else None,
            target=f">= {TARGET}x tsp",
            passed=best.rate / reference >= TARGET if reference else None,
            note=note,
            extra={
                **_extra(best, jobs, settled),
                "rates": [run.rate for run in on_disk],
                "tsp_rates": tsp_rates,
            },
        )
    ]
    if in_memory:
        fastest = max(in_memory, key=lambda run: run.rate)
        rows.append(
            Row(
                key="jobs.throughput_tmpfs",
                what="the same, the jobs' workspaces on tmpfs (database on disk)",
                figure=fastest.rate,
                unit="jobs/s",
                reference=reference,
                reference_what="tasks/s tsp -S 5" if reference is not None else "tsp absent",
                ratio=fastest.rate / reference if reference else None,
                note=_note(fastest, jobs) + f"; best of {rounds}: {_rates(in_memory)} jobs/s",
                extra={**_extra(fastest, jobs), "rates": [run.rate for run in in_memory]},
            )
        )
    return rows
