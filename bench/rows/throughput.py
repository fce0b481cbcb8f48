"""Job throughput: N one-sheet `true` jobs submitted by 8 concurrent clients to a daemon
with default limits, timed from the first submit until no job is queued or running; vs
Debian's task-spooler (5 slots) running N `true` tasks in the same run."""

from __future__ import annotations

import asyncio
import time

from bench import refs, rpc
from bench.daemon import BenchDaemon, wait_idle, write_score
from bench.result import Row
from bench.rows.context import Context

CLIENTS = 8
TARGET = 1.0


async def submit_all(path: str, scores: list[str], clients: int = CLIENTS) -> None:
    async def client(conn: rpc.Connection, share: list[str]) -> None:
        try:
            for score in share:
                await conn.call("job.submit", {"config_path": score})
        finally:
            await conn.close()

    conns = await refs.open_connections(path, clients)
    await asyncio.gather(*(client(conn, scores[i::clients]) for i, conn in enumerate(conns)))


async def run(ctx: Context) -> list[Row]:
    jobs = ctx.pick(1000, 200)
    tsp_rate = await asyncio.to_thread(refs.task_spooler_rate, jobs, 5)
    async with BenchDaemon() as daemon:
        scores = [str(write_score(daemon.dir, f"tp-{i:05d}")) for i in range(jobs)]
        user0, sys0 = daemon.cpu_seconds()
        t0 = time.perf_counter()
        await submit_all(daemon.path, scores)
        submitted = time.perf_counter() - t0
        await wait_idle(daemon.path, timeout=jobs * 1.0 + 60)
        elapsed = time.perf_counter() - t0
        user1, sys1 = daemon.cpu_seconds()
        page = await rpc.call(daemon.path, "job.list", {"status": "completed", "limit": 1000})
    completed = len(page["jobs"])
    if completed != jobs:
        raise RuntimeError(f"{completed} of {jobs} jobs completed")
    rate = jobs / elapsed
    user_ms, sys_ms = (user1 - user0) / jobs * 1000, (sys1 - sys0) / jobs * 1000
    note = (
        f"all {jobs} submits answered after {submitted:.2f} s; the daemon used"
        f" {user_ms:.1f} ms user + {sys_ms:.1f} ms system CPU per job"
    )
    if tsp_rate is None:
        note += "; SKIPPED the reference: task-spooler (tsp) is not installed"
    return [
        Row(
            key="jobs.throughput",
            what=f"{jobs} one-sheet jobs, {CLIENTS} clients, default limits",
            figure=rate,
            unit="jobs/s",
            reference=tsp_rate,
            reference_what="tasks/s tsp -S 5" if tsp_rate is not None else "tsp absent",
            ratio=rate / tsp_rate if tsp_rate else None,
            target=f">= {TARGET}x tsp",
            passed=rate / tsp_rate >= TARGET if tsp_rate else None,
            note=note,
            extra={
                "jobs": jobs,
                "seconds": elapsed,
                "submit_seconds": submitted,
                "daemon_user_ms_per_job": user_ms,
                "daemon_system_ms_per_job": sys_ms,
            },
        )
    ]
