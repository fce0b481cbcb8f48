"""The state database: one SQLite file in WAL mode behind one aiosqlite connection.

Every write is its own committed transaction with ``synchronous=FULL``: once a method that
writes returns, what it wrote survives ``kill -9`` of the daemon (and power loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from mozart_daemon.logging import get_logger
from mozart_daemon.store.migrations import MIGRATIONS, SCHEMA_VERSION

log = get_logger(__name__)


class StateError(Exception):
    """The state database cannot be used; the message says how to recover."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        # One connection serves every coroutine: writes take turns so that no statement
        # lands inside another coroutine's open transaction.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            db = cls(conn, path)
            await db.check()
            await db.migrate()
        except BaseException as exc:
            # The connection owns a thread: close it or the process cannot exit.
            await conn.close()
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            raise StateError(
                f"cannot open the state database {path}: {exc}. If the file is damaged, "
                f"stop mozartd, move it aside (mv {path} {path}.broken) and start again; "
                "the job registry then starts empty."
            ) from exc
        return db

    async def check(self) -> None:
        """``PRAGMA quick_check`` before anything is written: a damaged file is refused at
        startup (and left as it is) instead of failing, or being patched over, later."""
        rows = await self.fetchall("PRAGMA quick_check")
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            raise sqlite3.DatabaseError(f"integrity check failed: {problems[0]}")

    async def migrate(self) -> None:
        version = await self.scalar("PRAGMA user_version")
        version = int(version or 0)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state database {self.path} has schema version {version}, newer than "
                f"this mozartd understands ({SCHEMA_VERSION}); upgrade mozartd"
            )
        for number in range(version, SCHEMA_VERSION):
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[number]):
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version = {number + 1}")
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            log.info("store.migrated", version=number + 1, path=str(self.path))

    async def close(self) -> None:
        await self.conn.close()

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write; returns the number of rows changed."""
        async with self._write_lock:
            cursor = await self.conn.execute(sql, tuple(params))
            count = cursor.rowcount
            await cursor.close()
        return count

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one INSERT; returns the new rowid."""
        async with self._write_lock:
            cursor = await self.conn.execute(sql, tuple(params))
            rowid = cursor.lastrowid
            await cursor.close()
        return int(rowid or 0)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
            return row

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return row[0] if row is not None else None

    async def transaction(self, statements: list[tuple[str, Iterable[Any]]]) -> None:
        """Several writes committed together (all or none)."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    await self.conn.execute(sql, tuple(params))
                await self.conn.execute("COMMIT")
            except BaseException:
                # Shielded: a cancellation must not leave the transaction open. SQLite may
                # have rolled back already (disk full, I/O error): then the original error is
                # the one to report, not "cannot rollback".
                if self.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        await asyncio.shield(self.conn.execute("ROLLBACK"))
                raise


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
