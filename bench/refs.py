"""Reference measurements taken in the same run as Mozart's, so that ratios survive noise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench import rpc

REPO = Path(__file__).resolve().parent.parent


async def open_connections(path: str, count: int) -> list[rpc.Connection]:
    """``count`` connections, each answered once before the next is opened.

    Opening them all at once would overflow the listen backlog (mozartd's default
    socket.backlog is 5): on Linux a non-blocking connect to a full Unix socket backlog
    fails with EAGAIN, which asyncio takes for "in progress", and the connection then
    fails with EINVAL on its first read.
    """
    conns = []
    for _ in range(count):
        conn = await rpc.Connection.open(path)
        await conn.call("daemon.health")
        conns.append(conn)
    return conns


async def round_trips(path: str, clients: int, seconds: float) -> float:
    """Round trips per second of `daemon.health` requests from `clients` concurrent connections,
    each sending its next request when the previous reply has arrived."""
    request = rpc._encode({"jsonrpc": "2.0", "method": "daemon.health", "id": 1}) + b"\n"
    conns = await open_connections(path, clients)
    counts = [0] * clients
    stop = False

    async def one(i: int) -> None:
        reader, writer = conns[i].reader, conns[i].writer
        while not stop:
            writer.write(request)
            line = await reader.readline()
            if not line:
                raise RuntimeError("server closed the connection")
            counts[i] += 1

    async def timer() -> None:
        nonlocal stop
        await asyncio.sleep(seconds)
        stop = True

    start = time.perf_counter()
    await asyncio.gather(timer(), *(one(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    for conn in conns:
        await conn.close()
    return sum(counts) / elapsed


async def latencies(
    path: str, method: str, params: dict[str, object] | None, n: int
) -> list[float]:
    """Seconds per request, one connection, requests one after another."""
    conn = await rpc.Connection.open(path)
    try:
        await conn.call(method, params)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await conn.call(method, params)
            samples.append(time.perf_counter() - t0)
        return samples
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    """The bare asyncio NDJSON server (bench/echo.py) in a process of its own."""
    tmp = tempfile.mkdtemp(dir="/tmp", prefix="mzb")
    path = os.path.join(tmp, "echo.sock")
    proc = subprocess.Popen([sys.executable, "-m", "bench.echo", path], cwd=REPO)
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the echo server did not start")
            await asyncio.sleep(0.01)
        yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


async def spawn_cost(n: int = 200) -> float:
    """Seconds for one asyncio spawn-and-wait of `true` with its output piped (median of n)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            "true", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        await proc.communicate()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def command_time(argv: list[str], runs: int = 15, env: dict[str, str] | None = None) -> float:
    """Median wall time of a whole command, in seconds, after one warm-up run that must exit 0."""
    warm = subprocess.run(argv, capture_output=True, env=env, check=False)
    if warm.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {warm.returncode}: {warm.stderr.decode()[-500:]}"
        )
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def python_startup(runs: int = 15) -> float:
    return command_time([sys.executable, "-c", "pass"], runs)


def task_spooler() -> str | None:
    return shutil.which("tsp") or shutil.which("ts")


def task_spooler_rate(tasks: int = 1000, slots: int = 5) -> float | None:
    """Tasks per second of Debian's task-spooler running `true`, queued one `tsp` call after
    another and timed until the last has finished; None when tsp is absent."""
    tsp = task_spooler()
    if tsp is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="mzb-tsp", dir="/tmp"))
    env = dict(
        os.environ, TS_SOCKET=str(tmp / "ts.sock"), TMPDIR=str(tmp), TS_MAXFINISHED=str(tasks + 10)
    )
    try:
        subprocess.run([tsp, "-S", str(slots)], env=env, check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        for _ in range(tasks):
            subprocess.run([tsp, "-n", "true"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([tsp, "-w"], env=env, check=False, stdout=subprocess.DEVNULL)
        # `-w` waits for the last job only; wait until no job is left running or queued.
        while re.search(
            rb"\b(running|queued)\b", subprocess.run([tsp], env=env, capture_output=True).stdout
        ):
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        return tasks / elapsed
    finally:
        subprocess.run(
            [tsp, "-K"], env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        shutil.rmtree(tmp, ignore_errors=True)
