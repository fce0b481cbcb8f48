"""The learning tables of the state database: patterns (migration 4) and the per-job
duration history read from ``learning_outcomes``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from mozart_daemon.learning.patterns import Pattern
from mozart_daemon.store.database import Database

_COLUMNS = (
    "id", "kind", "backend", "rule_type", "path", "pattern", "description", "error_class",
    "last_error", "last_job_id", "occurrences", "fixed_by_retry", "fixed_by_completion",
    "given", "given_passed", "first_seen", "last_seen",
)  # fmt: skip
_UPSERT = (
    "INSERT OR REPLACE INTO learning_patterns (id, kind, backend, rule_type, path, pattern,"
    " description, error_class, last_error, last_job_id, occurrences, fixed_by_retry,"
    " fixed_by_completion, given, given_passed, first_seen, last_seen)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _row(pattern: Pattern) -> tuple[Any, ...]:
    return tuple(getattr(pattern, column) for column in _COLUMNS)


def _pattern(row: sqlite3.Row) -> Pattern:
    return Pattern(**{column: row[column] for column in _COLUMNS})


async def load_patterns(db: Database) -> list[Pattern]:
    return [_pattern(r) for r in await db.fetchall("SELECT * FROM learning_patterns")]


def pattern_writes(patterns: Iterable[Pattern]) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that save ``patterns`` (for a transaction of the caller's)."""
    return [(_UPSERT, _row(p)) for p in patterns]


async def save_patterns(db: Database, patterns: Iterable[Pattern]) -> None:
    rows = [_row(p) for p in patterns]
    if len(rows) == 1:
        await db.execute(_UPSERT, rows[0])
    elif rows:
        await db.transaction([(_UPSERT, row) for row in rows])


# Time spent on a sheet per completion: attempts cut short (cancelled) and rate-limit
# waits (no attempt time) do not count; failed attempts do, they are part of what finishing
# the sheet took.
_BACKEND_TOTALS = (
    "SELECT backend,"
    " SUM(CASE WHEN outcome != 'cancelled' THEN COALESCE(duration_seconds, 0) END),"
    " SUM(outcome = 'passed') FROM learning_outcomes GROUP BY backend"
)
_SHEET_TOTALS = (
    "SELECT sheet_num,"
    " SUM(CASE WHEN outcome != 'cancelled' THEN COALESCE(duration_seconds, 0) END),"
    " SUM(outcome = 'passed') FROM learning_outcomes WHERE job_id = ? GROUP BY sheet_num"
)


async def backend_totals(db: Database) -> dict[str, tuple[float, int]]:
    rows = await db.fetchall(_BACKEND_TOTALS)
    return {r[0]: (float(r[1] or 0.0), int(r[2] or 0)) for r in rows}


async def sheet_totals(db: Database, job_id: str) -> dict[int, tuple[float, int]]:
    rows = await db.fetchall(_SHEET_TOTALS, (job_id,))
    return {int(r[0]): (float(r[1] or 0.0), int(r[2] or 0)) for r in rows}
