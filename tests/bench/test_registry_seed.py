"""The registry row's seeding (bench/rows/registry.py): it writes the jobs the row pages
through, and broke silently once when the jobs table lost its rowid (migration 7): the
benchmark is not run by the test suite, this is."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import structlog

from bench.rows.registry import populate


async def test_the_registry_row_seeds_its_jobs_in_the_states_it_pages_through(
    tmp_path: Path,
) -> None:
    saved = structlog.get_config()  # populate quiets the store's logging
    try:
        await populate(tmp_path / "state.db", 30)
    finally:
        structlog.configure(**saved)
    with sqlite3.connect(tmp_path / "state.db") as db:
        jobs = Counter(status for (status,) in db.execute("SELECT status FROM jobs"))
        sheets = dict(
            db.execute(
                "SELECT j.status, COUNT(*) FROM sheets s JOIN jobs j USING (job_id)"
                " WHERE s.status = 'completed' GROUP BY j.status"
            ).fetchall()
        )
    # job-000000 counts as 1: jobs 1, 11 and 21 failed, 2, 12 and 22 cancelled.
    assert jobs == {"completed": 24, "failed": 3, "cancelled": 3}
    assert sheets == {"completed": 48}  # a completed job's two sheets, nobody else's
