"""LearningHub: the one learning store of the daemon, shared by every job.

Every sheet attempt's outcome is recorded (job, sheet, backend, duration, attempts,
validation results, error class) in the state database's ``learning_outcomes`` table.
Jobs share the hub in-process, so there is no cross-process SQLite contention. What the
daemon learns from these rows comes later; ``recent_failure_rate`` already feeds readiness.
"""

from __future__ import annotations

import json
from collections import deque

import msgspec

from mozart_daemon.logging import get_logger
from mozart_daemon.store.database import Database, now_iso

log = get_logger(__name__)


class AttemptOutcome(msgspec.Struct, kw_only=True):
    job_id: str
    sheet_num: int
    attempt: int
    backend: str
    outcome: str  # the engine's: passed, failed, rate_limited, timeout, fatal, cancelled
    duration_seconds: float | None = None
    attempts: int = 1
    validations: list[object] = msgspec.field(default_factory=list)
    error_class: str | None = None


class LearningHub:
    def __init__(self, db: Database, *, window: int = 50) -> None:
        self._db = db
        # The last outcomes, in memory: readiness reads them without I/O.
        self._recent: deque[bool] = deque(maxlen=window)

    async def record(self, outcome: AttemptOutcome) -> None:
        if outcome.outcome in ("cancelled", "rate_limited"):
            pass  # neither a success nor a failure of the work itself
        else:
            self._recent.append(outcome.outcome in ("success", "completed", "passed"))
        try:
            await self._db.insert(
                "INSERT INTO learning_outcomes (job_id, sheet_num, attempt, backend, outcome,"
                " duration_seconds, attempts, validations, error_class, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    outcome.job_id,
                    outcome.sheet_num,
                    outcome.attempt,
                    outcome.backend,
                    outcome.outcome,
                    outcome.duration_seconds,
                    outcome.attempts,
                    json.dumps(outcome.validations, default=str),
                    outcome.error_class,
                    now_iso(),
                ),
            )
        except Exception as exc:
            # Learning is advisory: a failed write must never fail the sheet.
            log.warning("learning.record_failed", error=str(exc))

    def recent_failure_rate(self, *, minimum: int = 10) -> float | None:
        """Share of failed attempts among the last ones; None until ``minimum`` were seen."""
        if len(self._recent) < minimum:
            return None
        return 1.0 - sum(self._recent) / len(self._recent)

    async def outcomes(self, job_id: str | None = None) -> list[AttemptOutcome]:
        sql = "SELECT * FROM learning_outcomes"
        params: tuple[object, ...] = ()
        if job_id is not None:
            sql += " WHERE job_id = ?"
            params = (job_id,)
        rows = await self._db.fetchall(sql + " ORDER BY id", params)
        return [
            AttemptOutcome(
                job_id=r["job_id"],
                sheet_num=r["sheet_num"],
                attempt=r["attempt"],
                backend=r["backend"],
                outcome=r["outcome"],
                duration_seconds=r["duration_seconds"],
                attempts=r["attempts"],
                validations=json.loads(r["validations"]),
                error_class=r["error_class"],
            )
            for r in rows
        ]
