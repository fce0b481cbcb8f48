"""Memory: the daemon's RSS idle, with Q jobs queued, after Q jobs finished, and after
T jobs finished (the target: T finished <= 1.2x Q finished, i.e. nothing grows per job).

Q jobs queue behind five `sleep` jobs that hold the default five job slots; cancelling
those lets the queue drain. The other T - Q jobs are submitted Q at a time, each batch
finishing before the next. The reference for each figure is the idle RSS.
"""

from __future__ import annotations

import asyncio
import time

from bench import rpc
from bench.daemon import BenchDaemon, wait_idle, write_score
from bench.result import Row
from bench.rows.context import Context
from bench.rows.throughput import submit_all

TARGET = 1.2
SLOTS = 5  # max_concurrent_jobs default


async def _wait_running(path: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = await rpc.call(path, "daemon.status")
        if st["running_jobs"] >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{count} jobs did not start")


async def _settled_rss(daemon: BenchDaemon) -> float:
    # Let the loop finish whatever follows the last job (events, history trimming).
    await asyncio.sleep(1.0)
    return daemon.rss_mb()


async def run(ctx: Context) -> list[Row]:
    queued = ctx.pick(1000, 200)
    total = ctx.pick(10_000, 1000)
    async with BenchDaemon() as daemon:
        await rpc.call(daemon.path, "daemon.health")
        idle = await _settled_rss(daemon)
        blockers = [
            str(write_score(daemon.dir, f"block-{i}", command=["sleep", "600"]))
            for i in range(SLOTS)
        ]
        for score in blockers:
            await rpc.call(daemon.path, "job.submit", {"config_path": score})
        await _wait_running(daemon.path, SLOTS)
        scores = [str(write_score(daemon.dir, f"mem-{i:05d}")) for i in range(total)]
        await submit_all(daemon.path, scores[:queued])
        st = await rpc.call(daemon.path, "daemon.status")
        if st["queued_jobs"] < queued:
            raise RuntimeError(f"only {st['queued_jobs']} of {queued} jobs queued")
        with_queued = await _settled_rss(daemon)
        for i in range(SLOTS):
            await rpc.call(daemon.path, "job.cancel", {"job_id": f"block-{i}"})
        await wait_idle(daemon.path, timeout=queued * 1.0 + 60)
        after_first = await _settled_rss(daemon)
        t0 = time.perf_counter()
        # In batches of Q, so that no more jobs are queued at once than in the first phase:
        # RSS keeps its high-water mark, and the figure should show what finished jobs
        # leave behind, not a longer queue.
        for start in range(queued, total, queued):
            await submit_all(daemon.path, scores[start : start + queued])
            await wait_idle(daemon.path, timeout=queued * 1.0 + 60)
        rest_s = time.perf_counter() - t0
        after_all = await _settled_rss(daemon)
        reported = (await rpc.call(daemon.path, "daemon.status"))["memory_mb"]
    ratio = after_all / after_first
    return [
        Row(key="memory.idle", what="daemon RSS, idle", figure=idle, unit="MB"),
        Row(
            key="memory.queued",
            what=f"daemon RSS with {queued:,} queued jobs",
            figure=with_queued,
            unit="MB",
            reference=idle,
            reference_what="MB idle",
            ratio=with_queued / idle,
        ),
        Row(
            key="memory.finished",
            what=f"daemon RSS after {queued:,} jobs finished",
            figure=after_first,
            unit="MB",
            reference=idle,
            reference_what="MB idle",
            ratio=after_first / idle,
        ),
        Row(
            key="memory.finished_many",
            what=f"daemon RSS after {total:,} jobs finished",
            figure=after_all,
            unit="MB",
            reference=after_first,
            reference_what=f"MB after {queued:,}",
            ratio=ratio,
            target=f"<= {TARGET}x after {queued:,}",
            passed=ratio <= TARGET,
            note=f"{total - queued:,} more jobs ran in batches of {queued:,} in {rest_s:.1f} s;"
            f" daemon.status says {reported} MB",
            extra={"rest_seconds": rest_s, "daemon_status_memory_mb": reported},
        ),
    ]
