"""A one-line live progress bar for ``status --watch`` and ``run --follow``.

On a terminal the bar is redrawn in place (``\\r`` + clear line) and event lines are
printed above it; elsewhere (a pipe, a CI log) a line is written only when the progress or
the state changes, so logs stay readable. Nothing here talks to the daemon: callers feed it
``JobStatus``-shaped objects.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from mozart_cli.output import format_duration, guard_pipe, state_text, style

TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})
WIDTH = 24


class JobProgress(Protocol):
    """The fields of ``JobStatus`` the bar uses."""

    @property
    def job_id(self) -> str: ...
    @property
    def total_sheets(self) -> int: ...
    @property
    def completed_sheets(self) -> int: ...
    @property
    def failed_sheets(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...


def state_of(job: Any) -> str:
    """The job's state as a plain string (enum members and strings alike)."""
    status = job.status
    return str(getattr(status, "value", status))


def elapsed_seconds(job: JobProgress, now: datetime | None = None) -> float | None:
    start = job.started_at
    if start is None:
        return None
    end = job.finished_at or now or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return max(0.0, (end - start).total_seconds())


def eta_seconds(done: int, total: int, elapsed: float | None) -> float | None:
    """Remaining time at the average pace so far (None before the first sheet finishes)."""
    if elapsed is None or done <= 0 or done >= total:
        return None
    return elapsed / done * (total - done)


def bar(done: int, total: int, *, unicode: bool) -> str:
    filled = WIDTH if total <= 0 else min(WIDTH, round(WIDTH * done / total))
    full, empty = ("█", "░") if unicode else ("#", "-")
    return "[" + full * filled + empty * (WIDTH - filled) + "]"


def render(
    job: Any,
    *,
    now: datetime | None = None,
    unicode: bool = True,
    stream: TextIO,
    age: float = 0.0,
) -> str:
    """``[████░░] 2/3 sheets  elapsed 4.1s  ETA 2.0s  running``.

    ``age``: seconds since ``job`` was fetched (the daemon's ETA counts down meanwhile).
    """
    state = state_of(job)
    done = job.completed_sheets + job.failed_sheets
    total = job.total_sheets
    elapsed = elapsed_seconds(job, now)
    parts = [f"{bar(done, total, unicode=unicode)} {done}/{total} sheets"]
    if job.failed_sheets:
        parts.append(style(f"{job.failed_sheets} failed", "red", stream=stream))
    parts.append(f"elapsed {format_duration(elapsed)}")
    if state not in TERMINAL_STATES:
        # The daemon's estimate from earlier runs when it has one; else the pace so far.
        eta = getattr(job, "eta_seconds", None)
        eta = max(0.0, eta - age) if eta is not None else eta_seconds(done, total, elapsed)
        parts.append(f"ETA {format_duration(eta) if eta is not None else '-'}")
    parts.append(state_text(state, stream=stream))
    return "  ".join(parts)


class ProgressView:
    """Draws the bar on ``stream``; :meth:`line` prints a message above it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        encoding = (getattr(self.stream, "encoding", None) or "").lower()
        self.unicode = encoding.startswith("utf")
        self._drawn = False
        self._last_key: tuple[object, ...] | None = None
        self._last: Any = None
        self._fetched = 0.0

    def update(self, job: Any) -> None:
        self._last = job
        self._fetched = time.monotonic()
        if self.live:
            self._draw(job)
            return
        key = (state_of(job), job.completed_sheets, job.failed_sheets, job.total_sheets)
        if key != self._last_key:
            self._last_key = key
            self._emit(f"{job.job_id}: {render(job, unicode=False, stream=self.stream)}\n")

    def tick(self) -> None:
        """Redraw (elapsed time moves on) without new data."""
        if self.live and self._last is not None:
            self._draw(self._last)

    def line(self, text: str) -> None:
        clear = "\r\x1b[2K" if self.live and self._drawn else ""
        self._drawn = False
        self._emit(clear + text + "\n")
        if self.live and self._last is not None:
            self._draw(self._last)

    def close(self) -> None:
        """Leave the last bar on screen; later :meth:`line` calls print plain lines."""
        if self.live and self._drawn:
            self._emit("\n")
        self._drawn = False
        self._last = None

    def _draw(self, job: Any) -> None:
        age = time.monotonic() - self._fetched
        line = render(job, unicode=self.unicode, stream=self.stream, age=age)
        self._emit("\r\x1b[2K" + line)
        self._drawn = True

    def _emit(self, text: str) -> None:
        with guard_pipe():
            self.stream.write(text)
            self.stream.flush()
