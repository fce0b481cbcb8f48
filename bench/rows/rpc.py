"""RPC throughput: `daemon.health` round trips/s vs the bare asyncio echo server.

Both servers run as processes of their own; the same lean client drives both. Measurements
alternate (reference, Mozart, reference, Mozart, ...) and the best of each is kept, so a
noisy second hurts both sides alike.
"""

from __future__ import annotations

from bench import refs
from bench.daemon import BenchDaemon
from bench.result import Row
from bench.rows.context import Context

TARGET = 0.8


async def run(ctx: Context) -> list[Row]:
    seconds = ctx.seconds(3.0, 1.0)
    rounds = ctx.pick(3, 1)
    rows = []
    async with BenchDaemon() as daemon, refs.echo_server() as echo:
        for clients in (1, 32):
            ours, theirs = [], []
            for _ in range(rounds):
                theirs.append(await refs.round_trips(echo, clients, seconds))
                ours.append(await refs.round_trips(daemon.path, clients, seconds))
            figure, reference = max(ours), max(theirs)
            ratio = figure / reference
            rows.append(
                Row(
                    key=f"rpc.health.{clients}c",
                    what=f"daemon.health round trips/s, {clients} concurrent client(s)",
                    figure=figure,
                    unit="req/s",
                    reference=reference,
                    reference_what="req/s bare echo",
                    ratio=ratio,
                    target=f">= {TARGET}x echo",
                    passed=ratio >= TARGET,
                    extra={"mozart_samples": ours, "echo_samples": theirs, "seconds": seconds},
                )
            )
    return rows
