"""HealthChecker: liveness (``daemon.health``) and readiness (``daemon.ready``).

Liveness does no I/O: if the handler runs, the daemon is alive. Readiness answers from
state already in memory: the pressure level, shutdown, the recent failure rate of sheet
attempts, whether the resource monitor can measure, and notification channels that keep
failing (notify.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from mozart_daemon.backpressure import BackpressureController, Pressure
from mozart_daemon.monitor import ResourceMonitor

FAILURE_RATE_LIMIT = 0.5


class HealthChecker:
    def __init__(
        self,
        *,
        backpressure: BackpressureController,
        monitor: ResourceMonitor,
        shutting_down: Callable[[], bool],
        failure_rate: Callable[[], float | None],
        started_at: float | None = None,
        notifier_reasons: Callable[[], list[str]] | None = None,
    ) -> None:
        self._backpressure = backpressure
        self._monitor = monitor
        self._shutting_down = shutting_down
        self._failure_rate = failure_rate
        self._notifier_reasons = notifier_reasons
        self.started_monotonic = started_at if started_at is not None else time.monotonic()
        self.pid = os.getpid()

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def liveness(self) -> tuple[int, float]:
        return self.pid, self.uptime_seconds()

    def readiness(self) -> list[str]:
        """The reasons the daemon is not ready; empty when it is."""
        reasons: list[str] = []
        if self._shutting_down():
            reasons.append("shutting down")
        if self._monitor.degraded:
            error = self._monitor.latest.error or "unknown error"
            reasons.append(f"monitor degraded: {error}")
        level = self._backpressure.current_level()
        if level >= Pressure.HIGH:
            reasons.append(f"pressure {level.wire}")
        rate = self._failure_rate()
        if rate is not None and rate > FAILURE_RATE_LIMIT:
            reasons.append(f"elevated failure rate: {rate:.0%} of recent sheet attempts failed")
        if self._notifier_reasons is not None:
            reasons += self._notifier_reasons()
        return reasons
