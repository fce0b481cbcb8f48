"""Registry scale: `job.list` (first page of 50) and `job.status` with N jobs in the registry.

The jobs are written into the daemon's database through its own store API
(``JobRegistry.create``) before the daemon starts, rather than by N submits. Most are ended
(completed, failed, cancelled); one in a thousand is paused, so `mozart list` (active jobs)
has something to show. The reference is `daemon.health` on the same connection: the cost of
a round trip that touches no state.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path

from bench import refs
from bench.daemon import BenchDaemon
from bench.result import Row
from bench.rows.context import Context

TARGET_MS = 5.0


async def populate(db_path: Path, jobs: int, sheets_per_job: int = 2) -> float:
    """Write ``jobs`` jobs into a new state database; returns the seconds it took."""
    import structlog
    from mozart_daemon.store import Store

    # The store logs its migrations: not the benchmark's business.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    t0 = time.perf_counter()
    store = await Store.open(db_path)
    try:
        # Creates issued together are group-committed: one transaction per batch.
        for start in range(0, jobs, 500):
            await asyncio.gather(
                *(
                    store.jobs.create(
                        job_id=f"job-{i:06d}",
                        name=f"job-{i:06d}",
                        description=f"registry scale job {i}",
                        config_path=f"/nonexistent/job-{i:06d}.yaml",
                        workspace=f"/nonexistent/ws/job-{i:06d}",
                        priority=i % 10,
                        total_sheets=sheets_per_job,
                        backend="command",
                        sheets=[(n, n, 1) for n in range(1, sheets_per_job + 1)],
                    )
                    for i in range(start, min(start + 500, jobs))
                )
            )
        # n: job-000000 is 1, as its rowid was (the jobs table has none since migration 7).
        n = "(CAST(substr(job_id, 5) AS INTEGER) + 1)"
        await store.db.execute(
            "UPDATE jobs SET status = CASE"
            f" WHEN {n} % 1000 = 0 THEN 'paused'"
            f" WHEN {n} % 10 = 1 THEN 'failed'"
            f" WHEN {n} % 10 = 2 THEN 'cancelled'"
            " ELSE 'completed' END,"
            " started_at = created_at, finished_at = created_at"
        )
        await store.db.execute(
            "UPDATE sheets SET status = 'completed', attempts = 1, exit_code = 0"
            " WHERE job_id IN (SELECT job_id FROM jobs WHERE status = 'completed')"
        )
    finally:
        await store.close()
    return time.perf_counter() - t0


def _p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def run(ctx: Context) -> list[Row]:
    jobs = ctx.pick(100_000, 10_000)
    n = ctx.pick(300, 100)
    daemon = BenchDaemon()
    try:
        load_s = await populate(daemon.state_db, jobs)
        async with daemon:
            middle = f"job-{jobs // 2:06d}"
            health = _p50_ms(await refs.latencies(daemon.path, "daemon.health", None, n))
            cases: list[tuple[str, str, str, dict[str, object]]] = [
                (
                    "registry.list_all",
                    "job.list all=true, first page of 50",
                    "job.list",
                    {"all": True, "limit": 50},
                ),
                (
                    "registry.list_active",
                    "job.list (active jobs), first page of 50",
                    "job.list",
                    {"limit": 50},
                ),
                (
                    "registry.list_completed",
                    "job.list status=completed, first page of 50",
                    "job.list",
                    {"status": "completed", "limit": 50},
                ),
                ("registry.status", "job.status of one job", "job.status", {"job_id": middle}),
            ]
            rows = []
            for key, what, method, params in cases:
                samples = await refs.latencies(daemon.path, method, params, n)
                p50 = _p50_ms(samples)
                p95 = sorted(samples)[int(len(samples) * 0.95)] * 1000
                rows.append(
                    Row(
                        key=key,
                        what=f"{what}, {jobs:,} jobs in the registry",
                        figure=p50,
                        unit="ms p50",
                        reference=health,
                        reference_what="ms p50 daemon.health",
                        ratio=p50 / health,
                        target=f"p50 <= {TARGET_MS} ms",
                        passed=p50 <= TARGET_MS,
                        note=f"p95 {p95:.2f} ms" if key == "registry.list_all" else "",
                        extra={
                            "p95_ms": p95,
                            "requests": n,
                            "jobs": jobs,
                            "populate_seconds": load_s,
                        },
                    )
                )
    finally:
        daemon.cleanup()
    return rows
