"""CLI start-up: wall time of `mozart --help`, `mozart status JOB --json` and
`mozart list --json` (against a running daemon with one finished job) vs `python -c pass`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bench import refs, rpc
from bench.daemon import BenchDaemon, environ_with_socket, wait_idle, write_score
from bench.result import Row
from bench.rows.context import Context

TARGET = 3.0


def mozart_argv() -> list[str]:
    script = Path(sys.executable).parent / "mozart"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mozart_cli"]


async def run(ctx: Context) -> list[Row]:
    runs = ctx.pick(15, 5)
    async with BenchDaemon() as daemon:
        score = write_score(daemon.dir, "cli-job", sheets=3)
        await rpc.call(daemon.path, "job.submit", {"config_path": str(score)})
        await wait_idle(daemon.path, timeout=30)
        env = environ_with_socket(daemon.path)
        # As installed: bytecode cached (pip compiles it at install, and a first run writes
        # it). With PYTHONDONTWRITEBYTECODE set, every run would compile any module whose
        # cache is missing or stale; the warm-up run of each command writes it instead.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        mozart = mozart_argv()
        cases = [
            ("cli.help", "mozart --help", [*mozart, "--help"], None),
            (
                "cli.status",
                "mozart status JOB --json",
                [*mozart, "status", "cli-job", "--json"],
                TARGET,
            ),
            ("cli.list", "mozart list --json", [*mozart, "list", "--json"], TARGET),
        ]
        rows = []
        for key, what, argv, target in cases:
            # Reference and command alternate in blocks so that drift hits both.
            python = await asyncio.to_thread(refs.python_startup, runs)
            figure = await asyncio.to_thread(refs.command_time, argv, runs, env)
            ratio = figure / python
            rows.append(
                Row(
                    key=key,
                    what=f"wall time of `{what}`",
                    figure=figure * 1000,
                    unit="ms",
                    reference=python * 1000,
                    reference_what="ms python -c pass",
                    ratio=ratio,
                    target=f"<= {target:g}x python" if target else "",
                    passed=ratio <= target if target else None,
                    extra={"runs": runs},
                )
            )
    return rows
