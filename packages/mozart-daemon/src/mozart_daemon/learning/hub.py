"""LearningHub: the one learning store of the daemon, shared by every job.

Every sheet attempt's outcome is recorded (job, sheet, backend, kind, duration, validation
results, error class) in the state database's ``learning_outcomes`` table, and mined at
once into patterns (``patterns.py``): recurring validation failures per rule, error classes
per backend, what fixed them (a retry, a completion attempt). Patterns live in memory,
indexed, so the lessons given before each attempt (``lessons``) cost no I/O and a failure
recorded by one job shows in the very next prompt of any other; every change is also
written to ``learning_patterns``. Effectiveness: of the sheets that were given a pattern as
a lesson, how many then completed. Expected durations (``expected_durations``) come from
the same outcomes. Jobs share the hub in-process, so there is no cross-process SQLite
contention; ``recent_failure_rate`` feeds readiness.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence

import msgspec
from mozart_protocol.score import ValidationRule

from mozart_daemon.learning import persist
from mozart_daemon.learning.lessons import lessons_section, relevant
from mozart_daemon.learning.patterns import Pattern, PatternIndex, failures_of, ranked
from mozart_daemon.logging import get_logger
from mozart_daemon.store.database import Database, Writes, json_list, now_iso

log = get_logger(__name__)

SheetKey = tuple[str, int]


_INSERT_OUTCOME = (
    "INSERT INTO learning_outcomes (job_id, sheet_num, attempt, backend, outcome,"
    " duration_seconds, attempts, validations, error_class, recorded_at, kind,"
    " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same for an outcome without an error (most): NULL in the SQL rather than two None
# parameters, which sqlite3 binds through an adapter each.
_INSERT_CLEAN_OUTCOME = (
    "INSERT INTO learning_outcomes (job_id, sheet_num, attempt, backend, outcome,"
    " duration_seconds, attempts, validations, error_class, recorded_at, kind,"
    " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)"
)


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
    kind: str = "normal"  # normal | completion
    error: str | None = None


# The outcomes that count as a success of the work.
_PASSED = frozenset({"success", "completed", "passed"})


def _passed(outcome: str) -> bool:
    return outcome in _PASSED


class LearningHub:
    def __init__(self, db: Database, *, window: int = 50) -> None:
        self._db = db
        # The last outcomes, in memory: readiness reads them without I/O.
        self._recent: deque[bool] = deque(maxlen=window)
        self._index = PatternIndex()
        # Per running sheet: the patterns its attempts failed on (to credit the fix) and
        # the patterns it was given as lessons (to score their effectiveness at its end).
        self._failing: dict[SheetKey, set[str]] = {}
        self._given: dict[SheetKey, set[str]] = {}
        # Per backend: seconds spent on attempts, and attempts that passed.
        self._backend_totals: dict[str, list[float]] = {}

    async def load(self) -> None:
        """Read the persisted patterns and duration totals (once, at startup)."""
        for pattern in await persist.load_patterns(self._db):
            self._index.add(pattern)
        for backend, (spent, passes) in (await persist.backend_totals(self._db)).items():
            self._backend_totals[backend] = [spent, float(passes)]
        log.debug("learning.loaded", patterns=len(self._index))

    async def record(
        self,
        outcome: AttemptOutcome,
        *,
        rules: Sequence[ValidationRule] = (),
        mine: bool = True,
    ) -> None:
        """``record_soon``, awaited: until its writes are committed."""
        try:
            await self._db.transaction(self._writes(outcome, rules, mine), durable=False)
        except Exception as exc:
            # Learning is advisory: a failed write must never fail the sheet.
            log.warning("learning.record_failed", error=str(exc))

    def record_soon(
        self,
        outcome: AttemptOutcome,
        *,
        rules: Sequence[ValidationRule] = (),
        mine: bool = True,
    ) -> None:
        """Record one finished attempt and, unless ``mine`` is off (the score's
        ``learning.enabled: false``), fold it into the patterns at once. The writes are
        queued (not durable: learning is advisory), so they share the commit of the
        sheet's next write instead of costing one of their own."""
        self._db.enqueue(self._writes(outcome, rules, mine), durable=False)

    def _writes(
        self, outcome: AttemptOutcome, rules: Sequence[ValidationRule], mine: bool
    ) -> Writes:
        """The outcome folded into the totals (and the patterns): the writes that save it."""
        # The durations per backend and ``json_list`` inline (a frame each was a quarter
        # of this), and ``_mine`` only when it has something to do (the outcome failed, or
        # a sheet waits for the fix of a failure).
        result = outcome.outcome
        passed = result in _PASSED
        if result != "cancelled":
            if result != "rate_limited":  # neither a success nor a failure of the work
                self._recent.append(passed)
            totals = self._backend_totals.get(outcome.backend)
            if totals is None:
                totals = self._backend_totals[outcome.backend] = [0.0, 0.0]
            totals[0] += outcome.duration_seconds or 0.0
            if passed:
                totals[1] += 1.0
        validations = outcome.validations
        texts = json_list(validations) if validations else "[]"
        error_class, error = outcome.error_class, outcome.error
        statements: Writes
        if error_class is None and error is None:
            statements = [
                (
                    _INSERT_CLEAN_OUTCOME,
                    (
                        outcome.job_id, outcome.sheet_num, outcome.attempt, outcome.backend,
                        result, outcome.duration_seconds, outcome.attempts, texts, now_iso(),
                        outcome.kind,
                    ),
                )
            ]  # fmt: skip
        else:
            statements = [
                (
                    _INSERT_OUTCOME,
                    (
                        outcome.job_id, outcome.sheet_num, outcome.attempt, outcome.backend,
                        result, outcome.duration_seconds, outcome.attempts, texts, error_class,
                        now_iso(), outcome.kind, error,
                    ),
                )
            ]  # fmt: skip
        if mine and (self._failing or not passed):
            changed = self._mine(outcome, rules)
            if changed:
                statements += persist.pattern_writes(changed)
        return statements

    def _mine(self, outcome: AttemptOutcome, rules: Sequence[ValidationRule]) -> list[Pattern]:
        key = (outcome.job_id, outcome.sheet_num)
        if _passed(outcome.outcome):
            fixed = self._failing.pop(key, None)
            if not fixed:
                return []
            changed = [self._index.by_id[i] for i in fixed if i in self._index.by_id]
            for pattern in changed:
                if outcome.kind == "completion":
                    pattern.fixed_by_completion += 1
                else:
                    pattern.fixed_by_retry += 1
            return changed
        if outcome.outcome in ("cancelled", "rate_limited"):
            return []
        failures = failures_of(
            backend=outcome.backend,
            validations=outcome.validations,
            error_class=outcome.error_class,
            error=outcome.error,
            rules=rules,
        )
        now = now_iso()
        changed = [self._index.fold(f, job_id=outcome.job_id, now=now) for f in failures]
        if changed:
            self._failing.setdefault(key, set()).update(p.id for p in changed)
            log.debug(
                "learning.pattern_seen",
                job_id=outcome.job_id,
                sheet_num=outcome.sheet_num,
                patterns=[p.id for p in changed],
            )
        return changed

    def lessons(
        self, job_id: str, sheet_num: int, rules: Sequence[ValidationRule], backend: str
    ) -> str | None:
        """The "Lessons from previous runs" section for a sheet's next prompt, or None.

        No I/O: it reads the in-memory index, so it is current to the last recorded attempt
        of any job. The patterns given are remembered until the sheet ends.
        """
        if not self._index:
            return None  # nothing learnt yet (no failure seen): skip the lookups
        chosen = relevant(self._index, rules, backend)
        if not chosen:
            return None
        self._given.setdefault((job_id, sheet_num), set()).update(p.id for p in chosen)
        return lessons_section(chosen)

    async def sheet_finished(self, job_id: str, sheet_num: int, *, completed: bool | None) -> None:
        """The sheet ended (``completed`` True or False) or was interrupted (None): score the
        lessons it was given, and forget its per-sheet state."""
        key = (job_id, sheet_num)
        self._failing.pop(key, None)
        given = self._given.pop(key, None)
        if completed is None or not given:
            return
        changed = [self._index.by_id[i] for i in given if i in self._index.by_id]
        for pattern in changed:
            pattern.given += 1
            pattern.given_passed += int(completed)
        try:
            await persist.save_patterns(self._db, changed)
        except Exception as exc:
            log.warning("learning.record_failed", error=str(exc))

    def patterns(self, *, kind: str | None = None, limit: int | None = None) -> list[Pattern]:
        """Most frequent first."""
        found = ranked(p for p in self._index.by_id.values() if kind in (None, p.kind))
        return found[:limit] if limit is not None else found

    def backend_expected_seconds(self, backend: str) -> float | None:
        spent, passes = self._backend_totals.get(backend, (0.0, 0.0))
        return spent / passes if passes else None

    async def expected_durations(self, job_id: str) -> dict[int, float]:
        """Expected duration of each sheet of ``job_id`` that has history: the time spent
        on it (every attempt) per completion, over every earlier run of the same score."""
        totals = await persist.sheet_totals(self._db, job_id)
        return {sheet: spent / passes for sheet, (spent, passes) in totals.items() if passes}

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
                kind=r["kind"],
                error=r["error"],
            )
            for r in rows
        ]
