"""BackpressureController: the daemon's load level and what each level does.

| level    | when                                         | effect                               |
|----------|----------------------------------------------|--------------------------------------|
| NONE     | memory < 50 % of max_memory_mb               | normal operation                     |
| LOW      | 50-70 %                                      | 2 s between sheet dispatches         |
| MEDIUM   | 70-85 %                                      | 10 s between sheet dispatches        |
| HIGH     | > 85 %, or a backend under a rate limit      | new submissions refused              |
| CRITICAL | > 95 %, or the monitor degraded              | + the lowest-priority job is paused  |

The child process count against ``max_processes`` is judged on the same scale; the worse of
the two ratios decides.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from mozart_daemon.monitor import ResourceSnapshot


class Pressure(enum.IntEnum):
    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def wire(self) -> str:
        """The PressureLevel value on the wire ("none" ... "critical")."""
        return self.name.lower()


DISPATCH_DELAY_SECONDS: dict[Pressure, float] = {
    Pressure.NONE: 0.0,
    Pressure.LOW: 2.0,
    Pressure.MEDIUM: 10.0,
    Pressure.HIGH: 10.0,
    Pressure.CRITICAL: 10.0,
}

REFUSAL_MESSAGE = "System under high pressure — try again later."


def level_for_ratio(ratio: float) -> Pressure:
    """Map a usage ratio (1.0 = at the limit) to a level, per the guide's thresholds."""
    if ratio > 0.95:
        return Pressure.CRITICAL
    if ratio > 0.85:
        return Pressure.HIGH
    if ratio >= 0.70:
        return Pressure.MEDIUM
    if ratio >= 0.50:
        return Pressure.LOW
    return Pressure.NONE


class BackpressureController:
    """Derives the level from the latest snapshot, the limits and active rate limits."""

    def __init__(
        self,
        *,
        max_memory_mb: int,
        max_processes: int,
        snapshot: Callable[[], ResourceSnapshot],
        rate_limited: Callable[[], bool] = lambda: False,
    ) -> None:
        self.max_memory_mb = max_memory_mb
        self.max_processes = max_processes
        self._snapshot = snapshot
        self._rate_limited = rate_limited
        # The level of the last snapshot judged: the monitor replaces its snapshot (a frozen
        # Struct) every few seconds, and the level is asked for several times a job.
        self._judged: tuple[ResourceSnapshot, Pressure] | None = None

    def set_limits(self, *, max_memory_mb: int, max_processes: int) -> None:
        self.max_memory_mb = max_memory_mb
        self.max_processes = max_processes
        self._judged = None

    def resource_level(self) -> Pressure:
        """The level from memory and processes alone (what CRITICAL reacts to)."""
        snap = self._snapshot()
        judged = self._judged
        if judged is not None and judged[0] is snap:
            return judged[1]
        if snap.degraded:
            level = Pressure.CRITICAL
        else:
            level = level_for_ratio(
                max(snap.memory_mb / self.max_memory_mb, snap.child_processes / self.max_processes)
            )
        self._judged = (snap, level)
        return level

    def current_level(self) -> Pressure:
        level = self.resource_level()
        if level < Pressure.HIGH and self._rate_limited():
            level = Pressure.HIGH
        return level

    def should_accept_job(self) -> bool:
        return self.current_level() < Pressure.HIGH

    def dispatch_delay(self) -> float:
        """Seconds to wait after dispatching a sheet at the current resource level."""
        return DISPATCH_DELAY_SECONDS[self.resource_level()]
