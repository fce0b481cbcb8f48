"""Times as people read them: local clock time and "3m ago"."""

from __future__ import annotations

from datetime import UTC, datetime


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def clock(moment: datetime | None) -> str:
    """``2026-11-26 20:45:04`` in local time; ``-`` when unknown."""
    if moment is None:
        return "-"
    return _aware(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - _aware(moment)).total_seconds()
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"
