"""The state database: one SQLite file in WAL mode, used from one thread of its own.

Every write is a committed transaction before the coroutine that asked for it resumes, so
what a method wrote survives ``kill -9`` of the daemon. Writes are **group-committed**:
writes issued while the thread is busy, or in the same pass of the event loop as the one
that finds it idle, wait in a queue and are then committed together, in one transaction,
each in a savepoint of its own (one failing write does not undo the others; each caller
gets its own result or error). Concurrent writers share one commit and one ``fsync``
instead of queueing for one each. Reads go through the same queue and run
after the batch's commit: a batch costs one hop to the thread (about 0.1 ms of CPU here)
however many coroutines it serves.

Durability has two levels, chosen per write (``durable``):

- durable (the default): committed with ``synchronous=FULL``, the WAL is ``fsync``-ed before
  the caller resumes: the write survives power loss too;
- not durable: committed with ``synchronous=NORMAL``: the WAL frames are written to the
  operating system before the caller resumes, so the write survives a crash of the daemon
  (``kill -9``, a segfault, OOM) but may be lost, with every later write, if the machine
  loses power before the next durable write or WAL checkpoint. Because the WAL is appended
  in order, a durable commit also makes every earlier write durable: power loss rewinds the
  database to a consistent earlier point, never to a state with a gap.

The daemon writes intermediate transitions (a sheet or attempt started, progress events) as
not durable, and every end (a sheet completed or failed, a job's final state, a submit) as
durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import queue
import sqlite3
import threading
import time
from asyncio import InvalidStateError
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from mozart_daemon.logging import get_logger
from mozart_daemon.store.migrations import MIGRATIONS, SCHEMA_VERSION

log = get_logger(__name__)

T = TypeVar("T")
Statements = Sequence[tuple[str, Iterable[Any]]]
# The statements of a queued write (``enqueue``): the database keeps the list itself.
Writes = list[tuple[str, tuple[Any, ...]]]
# How long a queued write (``enqueue``) may wait for company before it is committed.
QUEUED_WRITE_DELAY = 0.005


class StateError(Exception):
    """The state database cannot be used; the message says how to recover."""


# The second of the last ``now_iso``: the microsecond it starts at, and its text as a
# format of the microseconds into it ("2026-11-27T07:52:02.%06d+00:00").
_second: tuple[int, str] = (0, "1970-01-01T00:00:00.%06d+00:00")
_A_SECOND = range(1_000_000)


def now_iso() -> str:
    """The time now, as ``datetime.now(UTC).isoformat(timespec="microseconds")`` gives it
    (``2026-11-27T07:52:02.974505+00:00``), with the date and time of day formatted once a
    second: the loop stamps about fifteen writes a job, and the whole datetime path cost
    1.8 us a stamp here (this one 0.4)."""
    micros = time.time_ns() // 1000
    start, text = _second
    if (into := micros - start) in _A_SECOND:
        return text % into
    return _next_second(micros)


def _next_second(micros: int) -> str:
    global _second  # one tuple, replaced whole: safe from any thread
    start = micros - micros % 1_000_000
    whole = datetime.fromtimestamp(start // 1_000_000, UTC).isoformat(timespec="seconds")
    _second = (start, whole.removesuffix("+00:00") + ".%06d+00:00")
    return _second[1] % (micros - start)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def json_list(values: list[object]) -> str:
    """``json.dumps(values, default=str)``, the text of a list column (validation
    results); an empty one, as most attempts have, without building an encoder (2 us)."""
    return json.dumps(values, default=str) if values else "[]"


class Write(msgspec.Struct):
    """A write in the queue. One queued with ``enqueue`` can still be changed (its
    statements, its durability) until the database thread takes it (``queued``).

    A Struct rather than a dataclass: made in C, without a Python ``__init__`` (nine a
    job)."""

    statements: Writes
    durable: bool
    rowid: bool  # the result is the last statement's rowid (else its rowcount)
    # The awaited write's future; None for one queued with ``enqueue``, which nobody awaits
    # (a failure is logged).
    future: asyncio.Future[int] | None
    # A queued write's ``then`` and the context it runs in (the caller's).
    then: Callable[[int], object] | None = None
    context: contextvars.Context | None = None
    batch: int = 0  # a queued write's: the number of batches taken before it was queued


@dataclass(slots=True)
class _Read:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


# What the database thread hands back for a batch: each write's result (a value or its
# exception), whether any of them is an exception, and each read's; or the exception that
# stopped the whole batch.
_Results = tuple[list[int | BaseException], bool, list[object]] | BaseException


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection  # set by ``open``; used only in the database thread
        self._loop = asyncio.get_running_loop()
        # What the thread has yet to take: writes (committed first) and reads.
        self._writes: list[Write] = []
        self._reads: list[_Read] = []
        self._writing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._synchronous = "FULL"
        self._kick_scheduled = False
        # An awaited write or a read waits for the thread (it was busy when it came): the
        # next batch goes as soon as the thread is free, else only when the queued writes'
        # time is up (``_processed``).
        self._urgent = False
        # An awaited write or a read that finds the thread idle takes it at the end of the
        # loop's current pass, not at once: the others issued in the same pass (a burst of
        # submits, the ends of jobs whose exits came together) share its commit and fsync
        # instead of waiting for it and then committing again.
        self._kick_soon = False
        # Batches taken by the thread so far: a queued write (``enqueue``) made since the
        # last one taken is still in ``_writes``, and can be changed (``queued``).
        self._taken = 0
        # The thread of the connection and the batches it takes, None to end it. A thread
        # of its own rather than an executor's: a batch's trip through concurrent.futures
        # (its future, condition and callbacks) cost the loop about 400 bytecodes. A
        # daemon thread, so that a process that exits without ``close`` does not hang on
        # it: a batch it cuts short is rolled back (as by kill -9), none was acknowledged.
        self._batches: queue.SimpleQueue[tuple[list[Write], list[_Read]] | None]
        self._batches = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="mozart-db", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = cls(path)
        try:
            db._conn = await db._run(_connect, path)
        except BaseException:
            db._stop()
            raise
        try:
            await db._run(_prepare, db._conn)
            await db.check()
            await db.migrate()
        except BaseException as exc:
            # The connection owns a thread: close it or the process cannot exit.
            await db.close()
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
        version = int(await self.scalar("PRAGMA user_version") or 0)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state database {self.path} has schema version {version}, newer than "
                f"this mozartd understands ({SCHEMA_VERSION}); upgrade mozartd"
            )
        for number in range(version, SCHEMA_VERSION):
            await self._run(_migrate_one, self._conn, number)
            log.info("store.migrated", version=number + 1, path=str(self.path))

    async def close(self) -> None:
        await self.flush()
        with contextlib.suppress(sqlite3.Error):
            await self._run(self._conn.close)
        self._stop()

    def _stop(self) -> None:
        self._batches.put(None)
        self._thread.join()

    async def flush(self) -> None:
        """Until every write issued so far is committed (or failed)."""
        while self._writes or self._reads or self._writing:
            self._kick()
            await self._idle.wait()

    # -- reads: in the same queue as the writes -------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the database thread, after the writes queued before it are
        committed (a coroutine reads what it wrote, queued writes included). Reads queued
        together share one hop to the thread."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._reads.append(_Read(fn, args, future))
        self._urgent = True
        if not (self._writing or self._kick_soon):
            self._kick_soon = True
            self._loop.call_soon(self._soon_kick)
        return await future

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return await self._run(_fetchall, self._conn, sql, tuple(params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self._run(_fetchmany1, self._conn, sql, tuple(params))
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return row[0] if row is not None else None

    # -- writes: group-committed ----------------------------------------------------------

    # ``execute``, ``insert`` and ``insert_with`` hand back the write's future, to await
    # (the write is queued at the call): a coroutine of their own cost each write about
    # 1,300 instructions and did nothing but wait.

    def execute(
        self, sql: str, params: Iterable[Any] = (), *, durable: bool = True
    ) -> asyncio.Future[int]:
        """Run one write; resolves to the number of rows changed."""
        return self._write([(sql, params)], durable=durable, rowid=False)

    def insert(
        self, sql: str, params: Iterable[Any] = (), *, durable: bool = True
    ) -> asyncio.Future[int]:
        """Run one INSERT; resolves to the new rowid."""
        return self._write([(sql, params)], durable=durable, rowid=True)

    def insert_with(
        self,
        before: Statements,
        sql: str,
        params: Iterable[Any] = (),
        *,
        durable: bool = True,
    ) -> asyncio.Future[int]:
        """Run ``before`` then one INSERT in one transaction; resolves to the new rowid."""
        return self._write([*before, (sql, params)], durable=durable, rowid=True)

    async def transaction(self, statements: Statements, *, durable: bool = True) -> None:
        """Several writes committed together (all or none)."""
        await self._write(statements, durable=durable, rowid=False)

    def enqueue(
        self,
        statements: Writes,
        *,
        durable: bool = True,
        rowid: bool = False,
        then: Callable[[int], object] | None = None,
    ) -> Write:
        """Queue writes (one transaction) without waiting for them: they are committed
        before, or together with, any write queued after them, so a caller that awaits a
        later write (the event that reports this one) knows both are committed. Used to let
        a transition share the commit of the event that reports it. A failure is logged
        (the later write, in the same database, fails too).

        ``statements`` is the database's from now on (not copied: ``queued`` hands it
        back to be changed), each one's parameters a tuple.

        ``then`` is called with the write's result (its rowid or rowcount) once it is
        committed, not if it failed: in commit order, in the caller's context (its log
        fields), before anything that awaits a later write resumes. No future: a queued
        write's future, and the trip of its callback through the loop's ready queue, cost
        more than the rest of its queueing (seven writes a one-sheet job).

        Returns the write, for ``queued``."""
        write = Write(
            statements,
            durable,
            rowid,
            None,
            then,
            contextvars.copy_context() if then is not None else None,
            self._taken,
        )
        self._writes.append(write)
        if not self._kick_scheduled:
            # Not at once: writes queued within the next few milliseconds (a short sheet's
            # start and end) join one batch; an awaited write takes them along sooner.
            self._kick_scheduled = True
            self._loop.call_later(QUEUED_WRITE_DELAY, self._scheduled_kick)
        return write

    def queued(self, write: Write) -> Write | None:
        """A write queued with ``enqueue`` while the thread has not taken it yet, else
        None. Changing its statements (or making it durable) changes what it
        commits. A write queued now is committed in the same transaction, so it may fold its
        statements into the earlier one or drop one of its that it overwrites: no reader can
        tell, as reads and callbacks come after the commit. (If a write of the batch fails,
        the batch runs again with a savepoint per write, and one of the two may then be
        undone alone, with what was moved between them.)"""
        return write if write.batch == self._taken else None

    def _scheduled_kick(self) -> None:
        self._kick_scheduled = False
        self._kick()

    def _write(self, statements: Statements, *, durable: bool, rowid: bool) -> asyncio.Future[int]:
        """Queue a write to be committed as soon as the thread is free (with the others
        queued meanwhile or in the same pass of the loop): its future, resolved when it is.
        A cancelled caller does not cancel its write: it is committed (all or none) with its
        batch, as if the cancellation had come just after."""
        future: asyncio.Future[int] = self._loop.create_future()
        # The parameters as tuples: the batch may run twice (with savepoints, after a
        # failure), and a caller may have passed an iterator.
        frozen = [(sql, tuple(params)) for sql, params in statements]
        self._writes.append(Write(frozen, durable, rowid, future))
        self._urgent = True
        if not (self._writing or self._kick_soon):
            self._kick_soon = True
            self._loop.call_soon(self._soon_kick)
        return future

    def _soon_kick(self) -> None:
        self._kick_soon = False
        self._kick()

    def _kick(self) -> None:
        if self._writing or not (self._writes or self._reads):
            return
        writes, reads = self._writes, self._reads
        self._writes, self._reads = [], []
        self._taken += 1
        self._urgent = False
        self._writing = True
        self._idle.clear()
        self._batches.put((writes, reads))

    def _serve(self) -> None:
        """The database thread: each batch in turn, its results handed back to the loop."""
        while (batch := self._batches.get()) is not None:
            writes, reads = batch
            results: _Results
            try:
                results = self._process(writes, reads)
            except BaseException as exc:  # every write and read of the batch fails with it
                results = exc
            try:
                self._loop.call_soon_threadsafe(self._processed, writes, reads, results)
            except RuntimeError:
                return  # the loop is closed: nobody is waiting

    def _processed(self, writes: list[Write], reads: list[_Read], results: _Results) -> None:
        """Hand out a batch's results: the writes', in the order they were queued, then the
        reads': a queued write's ``then`` runs before anything that awaits a later operation
        resumes."""
        self._writing = False
        if isinstance(results, BaseException):
            for write in writes:
                self._failed(write, results)
            read: Sequence[object] = [results] * len(reads)
        else:
            written, failed, read = results
            if failed:
                for write, result in zip(writes, written, strict=True):
                    if isinstance(result, BaseException):
                        self._failed(write, result)
                    elif write.future is None:
                        if write.then is not None:
                            try:
                                write.context.run(write.then, result)  # type: ignore[union-attr]
                            except Exception as exc:
                                self._then_failed(write, exc)
                    elif not write.future.done():
                        write.future.set_result(result)
            else:
                for write, result in zip(writes, written, strict=True):
                    future = write.future
                    if future is None:
                        if write.then is not None:
                            # In the caller's context (its log fields); a try costs nothing
                            # until it catches, a function of its own a frame a write.
                            try:
                                write.context.run(write.then, result)  # type: ignore[union-attr, arg-type]
                            except Exception as exc:
                                self._then_failed(write, exc)
                        continue
                    # A try costs nothing until it catches (``done()`` first: a call a write).
                    try:  # noqa: SIM105 (contextlib.suppress: a context manager a write)
                        future.set_result(result)  # type: ignore[arg-type]  # an int
                    except InvalidStateError:
                        pass  # its awaiter was cancelled: the write stands
        for op, value in zip(reads, read, strict=True):
            if not op.future.done():
                _resolve(op.future, value)
        if self._urgent or (self._writes and not self._kick_scheduled):
            self._kick()
        elif not self._writes:
            self._idle.set()
        # else: queued writes only, their 5 ms not up: they wait for company (the timer, or
        # an awaited write), as they would have had the thread been idle when they came. A
        # batch taken at once would be the thread's next commit, its pages written to the
        # log once more, and another hop each way between the threads.

    def _then_failed(self, write: Write, exc: Exception) -> None:
        """A queued write's ``then`` raised: reported as the loop reports a callback's
        exception, and the batch's other results still go out."""
        self._loop.call_exception_handler(
            {"message": f"Exception in {write.then!r}", "exception": exc}
        )

    def _failed(self, write: Write, error: BaseException) -> None:
        future = write.future
        if future is None:  # queued: nobody awaits it
            log.error("store.write_failed", error=str(error))
        elif not future.done():
            future.set_exception(error)

    def _process(
        self, writes: list[Write], reads: list[_Read]
    ) -> tuple[list[int | BaseException], bool, list[object]]:
        """In the database thread: the batch's writes in one transaction, then its reads.
        Each result is a value or the exception of that operation."""
        written: list[int | BaseException] = []
        failed = False
        if writes:
            try:
                written, failed = self._commit(writes)
            except Exception as exc:
                written, failed = [exc] * len(writes), True
        results: list[object] = []
        for read in reads:
            try:
                results.append(read.fn(*read.args))
            except Exception as exc:
                results.append(exc)
        return written, failed, results

    def _commit(self, batch: list[Write]) -> tuple[list[int | BaseException], bool]:
        """The writes in one transaction, one write per savepoint; one ``fsync`` if any
        write of the batch is durable. Each write's result or exception, and whether any
        failed."""
        conn = self._conn
        wanted = "FULL" if any(w.durable for w in batch) else "NORMAL"
        if wanted != self._synchronous:
            conn.execute(f"PRAGMA synchronous={wanted}")
            self._synchronous = wanted
        cursor = conn.cursor()
        if len(batch) > 1:
            # Optimistically without savepoints (each statement costs the thread a trip
            # through the GIL); if a write fails, the batch is run again with them.
            conn.execute("BEGIN IMMEDIATE")
            try:
                # ``_apply``, inline: a call per write was a tenth of the thread's Python.
                execute = cursor.execute
                done: list[int | BaseException] = []
                for write in batch:
                    statements = write.statements
                    for sql, params in statements:
                        execute(sql, params)
                    if not statements:
                        done.append(0)
                    elif write.rowid:
                        done.append(cursor.lastrowid or 0)
                    else:
                        done.append(cursor.rowcount)
                conn.execute("COMMIT")
                return done, False
            except sqlite3.Error:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        single = len(batch) == 1
        results: list[int | BaseException] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                if single:
                    results.append(_apply(cursor, write))
                    continue
                conn.execute("SAVEPOINT w")
                try:
                    results.append(_apply(cursor, write))
                except sqlite3.Error as exc:
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole transaction back (disk full, I/O)
                    conn.execute("ROLLBACK TO w")
                    results.append(exc)
                conn.execute("RELEASE w")
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (disk full, I/O error): then the original
            # error is the one to report, not "cannot rollback".
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return results, not single


def _resolve(future: asyncio.Future[Any], result: object) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _apply(cursor: sqlite3.Cursor, write: Write) -> int:
    """``write``'s statements through the batch's one cursor (``conn.execute`` makes and
    registers a cursor per statement)."""
    if not write.statements:
        return 0
    for sql, params in write.statements:
        cursor.execute(sql, params)
    return (cursor.lastrowid or 0) if write.rowid else cursor.rowcount


# What binds None: ``{}.get(None)`` is None, from C (a Python function costs its frame).
_NOTHING: dict[None, None] = {}
_bind_none = _NOTHING.get


def _connect(path: Path) -> sqlite3.Connection:
    # None is bound as NULL either way. Without an adapter of its own, sqlite3 (3.11) looks
    # for one through ``PrepareProtocol.__adapt__``, which formats and discards an
    # AttributeError each time: 2,900 instructions a None parameter instead of 1,200 with
    # this one (1,400 with a Python function), for about twenty a job. (For the whole
    # process: it changes nothing but that cost.)
    sqlite3.register_adapter(type(None), _bind_none)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")


def _fetchall(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _fetchmany1(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchmany(1)
    finally:
        cursor.close()


def _migrate_one(conn: sqlite3.Connection, number: int) -> None:
    """One migration, in one transaction, with foreign keys off (SQLite's way to rebuild a
    table: with them on, dropping the old ``jobs`` would delete every row that refers to it,
    through ON DELETE CASCADE) and checked before the commit."""
    conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before it
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"foreign keys broken by migration {number + 1}")
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
