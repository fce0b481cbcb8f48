"""Dispatch overhead: a sequential N-sheet job whose backend is ``["true"]`` (no validations,
no pause). Per sheet: the job's wall time (the daemon's own started_at -> finished_at) / N,
minus the median cost of one asyncio spawn of `true` measured in this run."""

from __future__ import annotations

import time

from bench import refs, rpc
from bench.daemon import BenchDaemon, wait_idle, write_score
from bench.result import Row
from bench.rows.context import Context

MAX_OVERHEAD_MS = 2.0
MAX_RATIO = 1.0


async def run(ctx: Context) -> list[Row]:
    sheets = ctx.pick(400, 100)
    async with BenchDaemon() as daemon:
        spawn_before = await refs.spawn_cost(ctx.pick(200, 50))
        score = write_score(daemon.dir, "dispatch", sheets=sheets)
        t0 = time.perf_counter()
        await rpc.call(daemon.path, "job.submit", {"config_path": str(score)})
        await wait_idle(daemon.path, timeout=sheets * 0.5 + 30)
        wall = time.perf_counter() - t0
        status = await rpc.call(daemon.path, "job.status", {"job_id": "dispatch"})
        spawn_after = await refs.spawn_cost(ctx.pick(200, 50))
    if status["status"] != "completed" or status["completed_sheets"] != sheets:
        raise RuntimeError(f"the dispatch job ended {status['status']}: {status.get('error')}")
    from datetime import datetime

    run_s = (
        datetime.fromisoformat(status["finished_at"]) - datetime.fromisoformat(status["started_at"])
    ).total_seconds()
    spawn = (spawn_before + spawn_after) / 2
    per_sheet = run_s / sheets
    overhead = per_sheet - spawn
    ratio = overhead / spawn
    return [
        Row(
            key="dispatch.per_sheet",
            what=f"wall time per sheet, {sheets}-sheet job, backend ['true']",
            figure=per_sheet * 1000,
            unit="ms",
            reference=spawn * 1000,
            reference_what="ms asyncio spawn of true",
            ratio=per_sheet / spawn,
            note=f"submit to idle seen by the client: {wall:.2f} s for {sheets} sheets",
            extra={"job_seconds": run_s, "client_wall_seconds": wall, "sheets": sheets},
        ),
        Row(
            key="dispatch.overhead",
            what="per-sheet overhead = per-sheet wall time - spawn cost",
            figure=overhead * 1000,
            unit="ms",
            reference=spawn * 1000,
            reference_what="ms spawn",
            ratio=ratio,
            target=f"<= {MAX_OVERHEAD_MS} ms and <= {MAX_RATIO}x spawn",
            passed=overhead * 1000 <= MAX_OVERHEAD_MS and ratio <= MAX_RATIO,
        ),
    ]
