"""ResourceMonitor: how much memory the daemon and everything it started use, and how many
processes it has.

Memory is the RSS of the daemon plus all its descendants (sheets run as children in their
own sessions, but they stay our descendants). The probe is fail-closed: when it cannot
measure, the snapshot says ``degraded`` and backpressure treats that as CRITICAL, so a
broken probe never lets unlimited work in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable

import msgspec
import psutil

from mozart_daemon.logging import get_logger

log = get_logger(__name__)


class ResourceSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    memory_mb: float
    child_processes: int
    taken_at: float
    degraded: bool = False
    error: str | None = None


def _measure(pid: int) -> ResourceSnapshot:
    proc = psutil.Process(pid)
    rss = proc.memory_info().rss
    children = proc.children(recursive=True)
    for child in children:
        try:
            rss += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # a child ending between the listing and the read
    return ResourceSnapshot(
        memory_mb=rss / (1024 * 1024), child_processes=len(children), taken_at=time.time()
    )


Probe = Callable[[int], ResourceSnapshot]
Listener = Callable[[ResourceSnapshot], Awaitable[None]]


class ResourceMonitor:
    """Samples the process tree every ``interval`` seconds and tells its listeners."""

    def __init__(self, *, interval: float, pid: int | None = None, probe: Probe = _measure) -> None:
        self.interval = interval
        self._pid = pid if pid is not None else os.getpid()
        self._probe = probe
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Until the first sample the monitor knows nothing: fail closed.
        self.latest = ResourceSnapshot(
            memory_mb=0.0, child_processes=0, taken_at=0.0, degraded=True, error="not sampled yet"
        )

    @property
    def degraded(self) -> bool:
        return self.latest.degraded

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def sample(self) -> ResourceSnapshot:
        """Take one sample now (off the event loop), store it and notify listeners."""
        try:
            snap = await asyncio.to_thread(self._probe, self._pid)
        except Exception as exc:
            snap = ResourceSnapshot(
                memory_mb=self.latest.memory_mb,
                child_processes=self.latest.child_processes,
                taken_at=time.time(),
                degraded=True,
                error=f"{type(exc).__name__}: {exc}",
            )
            log.error("monitor.probe_failed", error=snap.error)
        if self.latest.degraded and not snap.degraded and self.latest.taken_at > 0:
            log.info("monitor.recovered")
        self.latest = snap
        for listener in self._listeners:
            await listener(snap)
        return snap

    def set_interval(self, interval: float) -> None:
        self.interval = interval
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="resource-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.sample()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
