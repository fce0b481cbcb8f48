"""EventLog: every job and sheet event, in order, for ``job.follow`` and post-mortems."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from operator import is_not
from typing import Any

import msgspec

from mozart_daemon.store.database import Database, Statements, now_iso, parse_time

# The end of a job is durable across power loss (see ``database``); every other event is
# durable across a crash of the daemon, and the state it reports (a sheet's row) carries
# its own durability.
DURABLE_EVENTS = frozenset({"job.completed", "job.failed", "job.cancelled", "job.paused"})


class EventRecord(msgspec.Struct, kw_only=True):
    id: int
    job_id: str
    type: str
    sheet_num: int | None
    attempt: int | None
    message: str | None
    time: datetime


def _insert_sql(sheet: bool, attempt: bool, message: bool) -> str:
    """The insert with NULL written for each of sheet_num, attempt, message that is None
    (False here): binding None goes through an adapter, about 1,400 instructions each, and
    a job event has all three None."""
    given = ("?" if sheet else "NULL", "?" if attempt else "NULL", "?" if message else "NULL")
    values = ", ".join(("?", "?", *given, "?"))  # placeholders and NULLs only
    columns = "job_id, type, sheet_num, attempt, message, time"
    return f"INSERT INTO events ({columns}) VALUES ({values})"  # noqa: S608


# (sheet_num given, attempt given, message given) -> the insert's SQL.
_INSERTS = {
    (s, a, m): _insert_sql(s, a, m)
    for s in (False, True)
    for a in (False, True)
    for m in (False, True)
}


def _insert(
    job_id: str, type: str, sheet_num: int | None, attempt: int | None, message: str | None,
    stamp: str,
) -> tuple[str, tuple[Any, ...]]:  # fmt: skip
    """The statement that inserts an event: None values written as NULL, not bound."""
    if sheet_num is None and attempt is None and message is None:  # a job's event
        return _INSERTS[False, False, False], (job_id, type, stamp)
    sql = _INSERTS[sheet_num is not None, attempt is not None, message is not None]
    return sql, (job_id, type, *filter(_given, (sheet_num, attempt, message)), stamp)


# Whether a value is given (not None), for ``filter``: in C, where a generator expression
# cost a frame and about 25 bytecodes a sheet's event.
_given = partial(is_not, None)


class EventLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self,
        job_id: str,
        type: str,
        *,
        sheet_num: int | None = None,
        attempt: int | None = None,
        message: str | None = None,
        with_writes: Statements = (),
    ) -> EventRecord:
        """Persist an event; ``with_writes``: writes to commit in the same transaction,
        before it (the state change the event reports)."""
        stamp = now_iso()
        rowid = await self._db.insert_with(
            with_writes,
            *_insert(job_id, type, sheet_num, attempt, message, stamp),
            durable=type in DURABLE_EVENTS,
        )
        return EventRecord(
            id=rowid, job_id=job_id, type=type, sheet_num=sheet_num, attempt=attempt,
            message=message, time=datetime.fromisoformat(stamp),
        )  # fmt: skip

    def append_soon(
        self,
        job_id: str,
        type: str,
        on_persisted: Callable[[EventRecord], None],
        *,
        sheet_num: int | None = None,
        attempt: int | None = None,
        message: str | None = None,
        with_writes: Sequence[tuple[str, tuple[Any, ...]]] = (),
    ) -> None:
        """``append`` without waiting: queued (``Database.enqueue``), and ``on_persisted``
        called once it is committed, in commit order with every other write. ``with_writes``
        are committed with it, before it, and as durable as the event.

        The record is made now, its ``id`` (the row's) set once it is committed: nobody
        sees it before."""
        stamp = now_iso()
        record = EventRecord(
            id=0, job_id=job_id, type=type, sheet_num=sheet_num, attempt=attempt,
            message=message, time=datetime.fromisoformat(stamp),
        )  # fmt: skip

        def persisted(rowid: int) -> None:  # not called if it failed: the database logs it
            record.id = rowid
            on_persisted(record)

        self._db.enqueue(
            [*with_writes, _insert(job_id, type, sheet_num, attempt, message, stamp)],
            durable=type in DURABLE_EVENTS,
            rowid=True,
            then=persisted,
        )

    async def since(self, job_id: str, after_id: int = 0) -> list[EventRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after_id)
        )
        return [
            EventRecord(
                id=r["id"],
                job_id=r["job_id"],
                type=r["type"],
                sheet_num=r["sheet_num"],
                attempt=r["attempt"],
                message=r["message"],
                time=parse_time(r["time"]) or datetime.min,
            )
            for r in rows
        ]
