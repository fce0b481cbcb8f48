"""JobRegistry: one row per job id in the state database, across daemon restarts.

The job id is the score's name, so a fresh submit of an ended job replaces its row (and,
through ON DELETE CASCADE, its checkpoint). ``list_jobs`` pages with a keyset cursor over
(created_at, job_id), newest first, so pages stay stable while jobs are added.
"""

from __future__ import annotations

import base64
import functools
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

import msgspec

from mozart_daemon.store.database import Database, Writes, now_iso, parse_time
from mozart_daemon.store.events import EventRecord

ACTIVE_STATES = ("queued", "running", "paused")
TERMINAL_STATES = ("completed", "failed", "cancelled")
ORPHAN_MESSAGE = "Daemon restarted while job was active"


class JobRecord(msgspec.Struct, kw_only=True):
    job_id: str
    name: str
    status: str
    description: str | None
    config_path: str
    workspace: str
    priority: int
    total_sheets: int
    backend: str
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        name=row["name"],
        status=row["status"],
        description=row["description"],
        config_path=row["config_path"],
        workspace=row["workspace"],
        priority=row["priority"],
        total_sheets=row["total_sheets"],
        backend=row["backend"],
        error=row["error"],
        created_at=parse_time(row["created_at"]) or datetime.min,
        started_at=parse_time(row["started_at"]),
        finished_at=parse_time(row["finished_at"]),
        updated_at=parse_time(row["updated_at"]) or datetime.min,
    )


def encode_cursor(created_at: str, job_id: str) -> str:
    raw = json.dumps([created_at, job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """Raises ValueError for a cursor this registry did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
    except Exception as exc:
        raise ValueError("not a cursor returned by job.list") from exc
    if not isinstance(created_at, str) or not isinstance(job_id, str):
        raise ValueError("not a cursor returned by job.list")
    return created_at, job_id


_UPDATABLE = frozenset({"status", "error", "started_at", "finished_at", "priority", "workspace"})


def status_is_durable(status: str) -> bool:
    """Queued and running are where a crash leaves a job anyway (recovery marks it failed,
    resumable): they need not survive power loss (see ``database``). Every other state does."""
    return status not in ("queued", "running")


@functools.cache
def _update_sql(names: tuple[str, ...]) -> str:
    """The UPDATE of these fields (and ``updated_at``), checked and built once per shape."""
    unknown = set(names) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update job fields {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in names)
    return f"UPDATE jobs SET {assignments}, updated_at = ? WHERE job_id = ?"  # noqa: S608


def _update_statement(job_id: str, fields: dict[str, object]) -> tuple[str, Iterable[object]]:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in fields.values()]
    return _update_sql(tuple(fields)), (*values, now_iso(), job_id)


# The updates ``set_status`` makes: the new status alone, or with the start or the end;
# and the two every job makes (started, ended) without an error, with NULL in the SQL
# rather than bound: sqlite3 binds None through an adapter (1,200 instructions each).
_STATUS = _update_sql(("status", "error"))
_STATUS_STARTED = _update_sql(("status", "error", "started_at", "finished_at"))
_STATUS_ENDED = _update_sql(("status", "error", "finished_at"))
_CLEAN_START = (
    "UPDATE jobs SET status = ?, error = NULL, started_at = ?, finished_at = NULL,"
    " updated_at = ? WHERE job_id = ?"
)
_CLEAN_END = (
    "UPDATE jobs SET status = ?, error = NULL, finished_at = ?, updated_at = ? WHERE job_id = ?"
)


class JobRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        job_id: str,
        name: str,
        description: str | None,
        config_path: str,
        workspace: str,
        priority: int,
        total_sheets: int,
        backend: str,
        sheets: Iterable[tuple[int, int, int]],
        replace: bool = True,
        event: str | None = None,
    ) -> EventRecord | None:
        """Insert (or replace, for a fresh start) a queued job and its pending sheets.

        ``sheets`` yields (sheet_num, stage, instance). One transaction: a job never exists
        without its checkpoint rows. With ``replace`` false, a job id already in the registry
        raises ``sqlite3.IntegrityError`` (a new job needs no read before its write).

        ``event``: the type of an event of the job (``job.queued``) inserted last, in the same
        transaction (as durable as the job): returned as persisted, for its caller to
        deliver. A submit's own event costs no write of its own then.
        """
        now = now_iso()
        statements: list[tuple[str, Iterable[object]]] = []
        if replace:
            # The previous run's events go with its row. Without ``replace`` the id is new
            # (the INSERT fails otherwise), and a new id has no events: the daemon writes
            # them only for jobs in the registry, and removes a row only here. The newest
            # event stays, as a mark (job id '', no score's name), so that no event id is
            # ever reused (migration 5); an earlier mark goes once it is not the newest.
            statements += [
                ("DELETE FROM jobs WHERE job_id = ?", (job_id,)),
                (
                    "DELETE FROM events WHERE job_id IN (?, '')"
                    " AND id < (SELECT MAX(id) FROM events)",
                    (job_id,),
                ),
                ("UPDATE events SET job_id = '', type = 'mark' WHERE job_id = ?", (job_id,)),
            ]
        statements.append(
            (
                "INSERT INTO jobs (job_id, name, status, description, config_path, workspace,"
                " priority, total_sheets, backend, error, created_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    job_id,
                    name,
                    description,
                    config_path,
                    workspace,
                    priority,
                    total_sheets,
                    backend,
                    now,
                    now,
                ),
            )
        )
        statements += [
            (
                "INSERT INTO sheets (job_id, sheet_num, status, stage, instance)"
                " VALUES (?, ?, 'pending', ?, ?)",
                (job_id, num, stage, instance),
            )
            for num, stage, instance in sheets
        ]
        if event is None:
            await self._db.transaction(statements)
            return None
        rowid = await self._db.insert_with(
            statements,
            "INSERT INTO events (job_id, type, sheet_num, attempt, message, time)"
            " VALUES (?, ?, NULL, NULL, NULL, ?)",
            (job_id, event, now),
        )
        return EventRecord(
            id=rowid, job_id=job_id, type=event, sheet_num=None, attempt=None, message=None,
            time=datetime.fromisoformat(now),
        )  # fmt: skip

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return _record(row) if row is not None else None

    async def update(self, job_id: str, *, durable: bool = True, **fields: object) -> None:
        await self._db.transaction([_update_statement(job_id, fields)], durable=durable)

    async def set_status(
        self,
        job_id: str,
        status: str,
        *,
        error: str | None = None,
        started: bool = False,
    ) -> None:
        """Write a job's state now (``status_statements`` give the same writes to commit
        with others: the event that reports them)."""
        statements = self.status_statements(job_id, status, error=error, started=started)
        await self._db.transaction(statements, durable=status_is_durable(status))

    def status_statements(
        self, job_id: str, status: str, *, error: str | None = None, started: bool = False
    ) -> Writes:
        """The writes of ``set_status``, to commit together with others (the job's event).
        One time for the transition: started or finished, and updated."""
        now = now_iso()
        ended = status in TERMINAL_STATES
        if started:
            if error is None and not ended:
                return [(_CLEAN_START, (status, now, now, job_id))]
            return [(_STATUS_STARTED, (status, error, now, now if ended else None, now, job_id))]
        if ended:
            if error is None:
                return [(_CLEAN_END, (status, now, now, job_id))]
            return [(_STATUS_ENDED, (status, error, now, now, job_id))]
        return [(_STATUS, (status, error, now, job_id))]

    async def list_jobs(
        self,
        *,
        status: str | None = None,
        include_all: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[list[JobRecord], str | None]:
        """A page of jobs, newest first, and the cursor of the next page (None at the end).

        Without ``status`` and ``include_all``, only active jobs are listed.
        """
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        elif not include_all:
            where.append(f"status IN ({', '.join('?' for _ in ACTIVE_STATES)})")
            params.extend(ACTIVE_STATES)
        if after is not None:
            created_at, job_id = decode_cursor(after)
            where.append("(created_at < ? OR (created_at = ? AND job_id < ?))")
            params.extend([created_at, created_at, job_id])
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, job_id DESC LIMIT ?"
        params.append(limit + 1)
        rows = await self._db.fetchall(sql, params)
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["job_id"]) if more else None
        return [_record(r) for r in rows], cursor

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        return {r[0]: r[1] for r in rows}

    async def mark_orphans_failed(self) -> list[str]:
        """Jobs left queued or running by a previous daemon become failed (resumable)."""
        rows = await self._db.fetchall(
            "SELECT job_id FROM jobs WHERE status IN ('queued', 'running')"
        )
        ids = [r[0] for r in rows]
        if ids:
            now = now_iso()
            await self._db.transaction(
                [
                    (
                        "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?,"
                        " updated_at = ? WHERE status IN ('queued', 'running')",
                        (ORPHAN_MESSAGE, now, now),
                    ),
                ]
            )
        # No sheet runs before the daemon starts: one left running was interrupted.
        await self._db.execute(
            "UPDATE sheets SET status = 'pending', error = ? WHERE status = 'running'",
            ("Interrupted by a daemon restart",),
        )
        return ids
