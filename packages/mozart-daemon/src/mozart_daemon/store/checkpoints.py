"""SheetStore: the persisted checkpoint of every job's sheets and their attempts.

Each method is one committed write (see ``database``): a sheet recorded as completed here
stays completed across any crash, power loss included, and a restart never runs it again.
The transitions before a sheet's end (started, attempts) survive a crash of the daemon; on
power loss they may rewind, which recovery treats like any interrupted sheet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from datetime import datetime
from typing import Any

import msgspec

from mozart_daemon.store.database import (
    Database,
    Write,
    Writes,
    json_list,
    now_iso,
    parse_time,
)


class SheetRecord(msgspec.Struct, kw_only=True):
    sheet_num: int
    status: str
    attempts: int
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    stage: int
    instance: int


class AttemptRecord(msgspec.Struct, kw_only=True):
    sheet_num: int
    attempt: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    exit_code: int | None
    outcome: str | None
    error: str | None
    duration_seconds: float | None
    validations: list[object]


# The updates of a sheet's row; the parameters end with its key (job_id, sheet_num).
_STARTED = (
    "UPDATE sheets SET status = 'running', error = NULL, exit_code = NULL, started_at = ?,"
    " finished_at = NULL, duration_seconds = NULL WHERE job_id = ? AND sheet_num = ?"
)
_ATTEMPT_COUNT = "UPDATE sheets SET attempts = MAX(attempts, ?) WHERE job_id = ? AND sheet_num = ?"
_ATTEMPT_RESULT = "UPDATE sheets SET exit_code = ?, error = ? WHERE job_id = ? AND sheet_num = ?"
_FINISHED = (
    "UPDATE sheets SET status = ?, exit_code = ?, error = ?, finished_at = ?,"
    " duration_seconds = ? WHERE job_id = ? AND sheet_num = ?"
)
# Those that can also raise the attempt count: the same with the count's parameter before
# the key's.
_COUNTING = {
    _STARTED: (
        "UPDATE sheets SET status = 'running', error = NULL, exit_code = NULL, started_at = ?,"
        " finished_at = NULL, duration_seconds = NULL, attempts = MAX(attempts, ?)"
        " WHERE job_id = ? AND sheet_num = ?"
    ),
    _ATTEMPT_RESULT: (
        "UPDATE sheets SET exit_code = ?, error = ?, attempts = MAX(attempts, ?)"
        " WHERE job_id = ? AND sheet_num = ?"
    ),
}


_OPENED = (
    "INSERT OR REPLACE INTO attempts (job_id, sheet_num, attempt, kind, started_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_ATTEMPT_END = (
    "UPDATE attempts SET finished_at = ?, outcome = ?, exit_code = ?, error = ?,"
    " duration_seconds = ?, stdout_tail = ?, stderr_tail = ?, validations = ?"
    " WHERE job_id = ? AND sheet_num = ? AND attempt = ?"
)
# Without an error (most ends): NULL in the SQL rather than a None parameter, which sqlite3
# binds through an adapter (1,200 instructions).
_CLEAN_ATTEMPT_END = (
    "UPDATE attempts SET finished_at = ?, outcome = ?, exit_code = ?, error = NULL,"
    " duration_seconds = ?, stdout_tail = ?, stderr_tail = ?, validations = ?"
    " WHERE job_id = ? AND sheet_num = ? AND attempt = ?"
)
_CLEAN_FINISHED = (
    "UPDATE sheets SET status = ?, exit_code = ?, error = NULL, finished_at = ?,"
    " duration_seconds = ? WHERE job_id = ? AND sheet_num = ?"
)


def _started(job_id: str, sheet_num: int) -> Writes:
    return [(_STARTED, (now_iso(), job_id, sheet_num))]


def _opened(job_id: str, sheet_num: int, attempt: int, kind: str) -> tuple[str, tuple[Any, ...]]:
    return _OPENED, (job_id, sheet_num, attempt, kind, now_iso())


def _attempt_end(
    job_id: str,
    sheet_num: int,
    attempt: int,
    outcome: str,
    exit_code: int | None,
    error: str | None,
    duration_seconds: float | None,
    stdout_tail: str | None,
    stderr_tail: str | None,
    validations: list[object] | None,
) -> Writes:
    """The attempt's row closed, and its exit code and error on the sheet's row (the sheet's
    update is the second statement)."""
    texts = json_list(validations) if validations else "[]"
    closed: tuple[str, tuple[Any, ...]]
    if error is None:
        closed = _CLEAN_ATTEMPT_END, (
            now_iso(), outcome, exit_code, duration_seconds, stdout_tail, stderr_tail, texts,
            job_id, sheet_num, attempt,
        )  # fmt: skip
    else:
        closed = _ATTEMPT_END, (
            now_iso(), outcome, exit_code, error, duration_seconds, stdout_tail, stderr_tail,
            texts, job_id, sheet_num, attempt,
        )  # fmt: skip
    return [closed, (_ATTEMPT_RESULT, (exit_code, error, job_id, sheet_num))]


def _end(
    job_id: str,
    sheet_num: int,
    status: str,
    exit_code: int | None,
    error: str | None,
    duration_seconds: float | None,
) -> tuple[str, tuple[Any, ...]]:
    if error is None:
        return _CLEAN_FINISHED, (status, exit_code, now_iso(), duration_seconds, job_id, sheet_num)
    return _FINISHED, (status, exit_code, error, now_iso(), duration_seconds, job_id, sheet_num)


def _sheet(row: sqlite3.Row) -> SheetRecord:
    return SheetRecord(
        sheet_num=row["sheet_num"],
        status=row["status"],
        attempts=row["attempts"],
        exit_code=row["exit_code"],
        error=row["error"],
        started_at=parse_time(row["started_at"]),
        finished_at=parse_time(row["finished_at"]),
        duration_seconds=row["duration_seconds"],
        stage=row["stage"],
        instance=row["instance"],
    )


class SheetStore:
    """Each transition (a sheet or attempt started or finished) two ways: awaited (one
    committed write, e.g. ``sheet_started``) or queued (``queue_sheet_started``: a
    ``Database.enqueue``, committed before, or with, any later write; what the engine's
    checkpoint uses). Both write the same rows."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Per sheet, its last queued write and the index of the row's update among the
        # write's statements, until the sheet ends: the next queued write of the same row
        # folds into it while the database thread has not taken it (``Database.queued``).
        # A one-attempt sheet's row is then updated twice instead of four times (start with
        # attempt count, end), with the same result, in two queued writes instead of four
        # (the attempt's row joins the start, the sheet's end the attempt's): each write
        # costs the loop its own bookkeeping.
        self._row_writes: dict[tuple[str, int], tuple[Write, int]] = {}

    async def sheets(self, job_id: str) -> list[SheetRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM sheets WHERE job_id = ? ORDER BY sheet_num", (job_id,)
        )
        return [_sheet(r) for r in rows]

    async def sheet(self, job_id: str, sheet_num: int) -> SheetRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM sheets WHERE job_id = ? AND sheet_num = ?", (job_id, sheet_num)
        )
        return _sheet(row) if row is not None else None

    async def completed(self, job_id: str) -> set[int]:
        rows = await self._db.fetchall(
            "SELECT sheet_num FROM sheets WHERE job_id = ? AND status IN ('completed', 'skipped')",
            (job_id,),
        )
        return {r[0] for r in rows}

    async def completed_count(self, job_id: str) -> int:
        value = await self._db.scalar(
            "SELECT COUNT(*) FROM sheets WHERE job_id = ? AND status = 'completed'", (job_id,)
        )
        return int(value or 0)

    async def completed_counts(self, job_ids: list[str]) -> dict[str, int]:
        """``completed_count`` of several jobs in one query (jobs without any: absent)."""
        if not job_ids:
            return {}
        marks = ", ".join("?" for _ in job_ids)
        rows = await self._db.fetchall(
            f"SELECT job_id, COUNT(*) FROM sheets WHERE job_id IN ({marks})"  # noqa: S608
            " AND status = 'completed' GROUP BY job_id",
            job_ids,
        )
        return {r[0]: int(r[1]) for r in rows}

    # -- transitions, awaited ---------------------------------------------------------------

    async def sheet_started(self, job_id: str, sheet_num: int) -> None:
        # Not durable: a sheet found running after a crash is pending again anyway.
        await self._write_now((job_id, sheet_num), _started(job_id, sheet_num), durable=False)

    async def attempt_started(
        self, job_id: str, sheet_num: int, attempt: int, *, kind: str = "normal"
    ) -> None:
        row = (job_id, sheet_num)
        statements = [_opened(job_id, sheet_num, attempt, kind), (_ATTEMPT_COUNT, (attempt, *row))]
        await self._write_now(row, statements, durable=False)

    async def attempt_finished(
        self,
        job_id: str,
        sheet_num: int,
        attempt: int,
        *,
        outcome: str,
        exit_code: int | None = None,
        error: str | None = None,
        duration_seconds: float | None = None,
        stdout_tail: str | None = None,
        stderr_tail: str | None = None,
        validations: list[object] | None = None,
    ) -> None:
        statements = _attempt_end(
            job_id, sheet_num, attempt, outcome, exit_code, error, duration_seconds,
            stdout_tail, stderr_tail, validations,
        )  # fmt: skip
        # The sheet's own end (``sheet_finished``, durable) follows; a retry's attempt only
        # needs to survive a crash of the daemon.
        await self._write_now((job_id, sheet_num), statements, durable=False)

    async def sheet_finished(
        self,
        job_id: str,
        sheet_num: int,
        *,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
        duration_seconds: float | None = None,
    ) -> None:
        """Durable (power loss included)."""
        update = _end(job_id, sheet_num, status, exit_code, error, duration_seconds)
        await self._write_now((job_id, sheet_num), [update], durable=True)

    async def _write_now(self, row: tuple[str, int], statements: Writes, *, durable: bool) -> None:
        self._row_writes.pop(row, None)  # nothing may fold into the row's earlier write now
        await self._db.transaction(statements, durable=durable)

    # -- transitions, queued (never suspend) ---------------------------------------------------

    def queue_sheet_started(self, job_id: str, sheet_num: int) -> None:
        """``sheet_started``, queued (``Database.enqueue``)."""
        written = self._db.enqueue(_started(job_id, sheet_num), durable=False)
        self._row_writes[(job_id, sheet_num)] = (written, 0)

    def queue_attempt_started(
        self, job_id: str, sheet_num: int, attempt: int, *, kind: str = "normal"
    ) -> None:
        """``attempt_started``, queued."""
        row = (job_id, sheet_num)
        opened = _opened(job_id, sheet_num, attempt, kind)
        found = self._queued_update(row, _COUNTING)
        if found is not None:
            # The row's update still queued (the sheet's start, or the previous attempt's
            # result) raises the count too, and the attempt's row joins its write.
            write, index = found
            sql, params = write.statements[index]
            write.statements[index] = (_COUNTING[sql], (*params[:-2], attempt, *row))
            write.statements.append(opened)
            return
        written = self._db.enqueue([opened, (_ATTEMPT_COUNT, (attempt, *row))], durable=False)
        self._row_writes[row] = (written, 1)

    def queue_attempt_finished(
        self,
        job_id: str,
        sheet_num: int,
        attempt: int,
        *,
        outcome: str,
        exit_code: int | None = None,
        error: str | None = None,
        duration_seconds: float | None = None,
        stdout_tail: str | None = None,
        stderr_tail: str | None = None,
        validations: list[object] | None = None,
    ) -> None:
        """``attempt_finished``, queued."""
        statements = _attempt_end(
            job_id, sheet_num, attempt, outcome, exit_code, error, duration_seconds,
            stdout_tail, stderr_tail, validations,
        )  # fmt: skip
        written = self._db.enqueue(statements, durable=False)
        self._row_writes[(job_id, sheet_num)] = (written, 1)

    def queue_sheet_finished(
        self,
        job_id: str,
        sheet_num: int,
        *,
        status: str,
        exit_code: int | None = None,
        error: str | None = None,
        duration_seconds: float | None = None,
    ) -> None:
        """``sheet_finished``, queued: durable (power loss included) once committed."""
        row = (job_id, sheet_num)
        update = _end(job_id, sheet_num, status, exit_code, error, duration_seconds)
        found = self._queued_update(row, (_ATTEMPT_RESULT,))
        self._row_writes.pop(row, None)  # the sheet ended: nothing more folds into it
        if found is not None:
            # The end takes the place of the last attempt's exit code and error, which it
            # overwrites in the same commit: one write fewer, durable now.
            write, index = found
            write.statements[index] = update
            write.durable = True
            return
        self._db.enqueue([update], durable=True)

    def _queued_update(
        self, row: tuple[str, int], kinds: Collection[str]
    ) -> tuple[Write, int] | None:
        """The sheet's last queued write, while it can still be changed, if its update of
        the row is one of ``kinds``: the write and the update's index among its statements."""
        last = self._row_writes.get(row)
        if last is None or (write := self._db.queued(last[0])) is None:
            return None
        index = last[1]
        return (write, index) if write.statements[index][0] in kinds else None

    async def set_sheet_status(
        self, job_id: str, sheet_num: int, status: str, *, error: str | None = None
    ) -> None:
        self._row_writes.pop((job_id, sheet_num), None)
        await self._db.execute(
            "UPDATE sheets SET status = ?, error = ? WHERE job_id = ? AND sheet_num = ?",
            (status, error, job_id, sheet_num),
        )

    async def reset_unfinished(self, job_id: str) -> None:
        """Before a resume: every sheet that did not complete is pending again."""
        await self._db.execute(
            "UPDATE sheets SET status = 'pending' WHERE job_id = ?"
            " AND status NOT IN ('completed', 'skipped')",
            (job_id,),
        )

    async def job_attempts(self, job_id: str) -> list[AttemptRecord]:
        """Every attempt of the job's current run, by sheet then attempt."""
        rows = await self._db.fetchall(
            "SELECT * FROM attempts WHERE job_id = ? ORDER BY sheet_num, attempt", (job_id,)
        )
        return [_attempt(r) for r in rows]

    async def attempts(self, job_id: str, sheet_num: int) -> list[AttemptRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM attempts WHERE job_id = ? AND sheet_num = ? ORDER BY attempt",
            (job_id, sheet_num),
        )
        return [_attempt(r) for r in rows]


def _attempt(r: sqlite3.Row) -> AttemptRecord:
    return AttemptRecord(
        sheet_num=r["sheet_num"],
        attempt=r["attempt"],
        kind=r["kind"],
        started_at=parse_time(r["started_at"]) or datetime.min,
        finished_at=parse_time(r["finished_at"]),
        exit_code=r["exit_code"],
        outcome=r["outcome"],
        error=r["error"],
        duration_seconds=r["duration_seconds"],
        validations=json.loads(r["validations"]),
    )
