"""Rate limits in a backend's output: detection (the score's patterns) and reset hints.

A hint found in the output wins over ``rate_limit.wait_minutes``. Understood hints::

    resets in 3 hours / reset in 2h 30m / try again in 20 seconds / retry after 120 seconds
    Retry-After: 120                      (seconds)
    resets at 5pm / resets 5:30pm / resets at 17:00   (the next such local time)
    usage limit reached|1767225600        (a Unix time, as older claude CLIs print it)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
_AMOUNT = rf"\d+(?:\.\d+)?\s*{_UNIT}"
_RELATIVE = re.compile(
    rf"(?:resets?|try\s+again|retry|wait|available)\s+(?:again\s+)?(?:in|after)\s+"
    rf"((?:{_AMOUNT}(?:\s*,?\s*(?:and\s+)?)?)+)",
    re.IGNORECASE,
)
_PART = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT})", re.IGNORECASE)
_RETRY_AFTER = re.compile(r"retry[- ]after[:=]?\s*(\d+(?:\.\d+)?)\s*(?!\s*[a-z])", re.IGNORECASE)
_CLOCK = re.compile(
    r"resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?![\d.:])", re.IGNORECASE
)
_EPOCH = re.compile(r"limit reached\|(\d{10})\b", re.IGNORECASE)


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def is_rate_limited(text: str, patterns: Sequence[re.Pattern[str]]) -> bool:
    return any(p.search(text) for p in patterns)


def reset_hint_seconds(text: str, now: datetime | None = None) -> float | None:
    """Seconds until the limit resets, from a hint in ``text``; None without a hint."""
    now = now or datetime.now().astimezone()
    match = _RELATIVE.search(text)
    if match:
        total = sum(float(n) * _UNITS[u.lower()] for n, u in _PART.findall(match.group(1)))
        return total
    match = _RETRY_AFTER.search(text)
    if match:
        return float(match.group(1))
    match = _EPOCH.search(text)
    if match:
        return max(0.0, float(match.group(1)) - now.timestamp())
    match = _CLOCK.search(text)
    if match:
        hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
        if meridiem is None and match.group(2) is None:
            return None  # "resets 5" is no clock time
        if meridiem:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
        if hour > 23 or minute > 59:
            return None
        target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if target <= now:
            target += timedelta(days=1)
        return (target - now).total_seconds()
    return None
