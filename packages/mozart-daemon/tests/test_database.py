"""The state database's group commit: concurrent writes share a transaction yet keep their
own results and errors; queued writes commit in order before later writes and reads; a
write's durability picks the commit's synchronous level; a new process sees every write."""

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from mozart_daemon.store import Database, database
from mozart_daemon.store.database import json_list, now_iso, parse_time


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "state.db")
    await database.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    try:
        yield database
    finally:
        await database.close()


async def test_the_databases_thread_ends_with_close(tmp_path: Path) -> None:
    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "mozart-db"]

    before = threads()
    db = await Database.open(tmp_path / "own.db")
    assert len(threads()) == len(before) + 1
    await db.close()
    assert threads() == before


async def test_concurrent_writes_share_batches_and_keep_their_own_errors(db: Database) -> None:
    await db.execute("INSERT INTO t VALUES ('taken', 0)")
    commits = 0
    original = db._commit

    def counting(batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return original(batch)

    db._commit = counting  # type: ignore[method-assign]
    writes = [db.insert("INSERT INTO t VALUES (?, ?)", (f"k{i}", i)) for i in range(50)]
    writes.insert(25, db.insert("INSERT INTO t VALUES ('taken', 1)"))
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(results[25], sqlite3.IntegrityError)
    assert all(isinstance(r, int) and r > 0 for i, r in enumerate(results) if i != 25)
    assert commits < 51  # batched
    assert await db.scalar("SELECT COUNT(*) FROM t") == 51
    assert await db.scalar("SELECT v FROM t WHERE k = 'taken'") == 0


async def test_awaited_writes_of_one_pass_of_the_loop_share_one_commit(db: Database) -> None:
    """The first awaited write that finds the thread idle does not take it alone: the
    writes (and reads) issued in the same pass of the loop share its commit and fsync."""
    batches: list[int] = []
    original = db._commit

    def recording(batch):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        return original(batch)

    db._commit = recording  # type: ignore[method-assign]
    await db.flush()
    rowids = await asyncio.gather(
        *(db.insert("INSERT INTO t VALUES (?, ?)", (f"k{i}", i)) for i in range(3)),
        db.scalar("SELECT COUNT(*) FROM t"),
    )
    assert rowids == [1, 2, 3, 3]
    assert batches == [3]


async def test_a_transaction_is_all_or_none_inside_a_batch(db: Database) -> None:
    good = db.transaction(
        [("INSERT INTO t VALUES ('a', 1)", ()), ("INSERT INTO t VALUES ('b', 2)", ())]
    )
    bad = db.transaction(
        [("INSERT INTO t VALUES ('c', 3)", ()), ("INSERT INTO t VALUES ('a', 4)", ())]
    )
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    rows = await db.fetchall("SELECT k, v FROM t ORDER BY k")
    assert [(r[0], r[1]) for r in rows] == [("a", 1), ("b", 2)]


async def test_queued_writes_commit_in_order_before_later_writes_and_reads(db: Database) -> None:
    order: list[str] = []
    db.enqueue(
        [("INSERT INTO t VALUES ('q', 1)", ())],
        durable=False,
        rowid=True,
        then=lambda _rowid: order.append("queued"),
    )
    # A read right after a queued write sees it.
    assert await db.scalar("SELECT v FROM t WHERE k = 'q'") == 1
    db.enqueue([("UPDATE t SET v = 2 WHERE k = 'q'", ())], durable=False)
    await db.execute("UPDATE t SET v = v * 10 WHERE k = 'q'")
    order.append("awaited")
    assert order == ["queued", "awaited"]
    assert await db.scalar("SELECT v FROM t WHERE k = 'q'") == 20


async def test_a_queued_write_can_be_changed_until_the_thread_takes_it(db: Database) -> None:
    levels = record_synchronous(db)
    first = db.enqueue([("INSERT INTO t VALUES ('a', 1)", ())], durable=False)
    write = db.queued(first)
    assert write is not None
    assert write.statements == [("INSERT INTO t VALUES ('a', 1)", ())]
    write.statements.append(("UPDATE t SET v = 2 WHERE k = 'a'", ()))
    write.durable = True
    db.enqueue([("INSERT INTO t VALUES ('b', 1)", ())], durable=False)
    await db.flush()
    assert db.queued(first) is None
    assert levels == ["FULL"]
    rows = await db.fetchall("SELECT k, v FROM t ORDER BY k")
    assert [(r[0], r[1]) for r in rows] == [("a", 2), ("b", 1)]


async def test_a_cancelled_caller_does_not_cancel_its_write(db: Database) -> None:
    gate = threading.Event()
    busy = asyncio.ensure_future(db._run(gate.wait))  # the next writes wait, in one batch
    while not db._writing:  # the thread took the read
        await asyncio.sleep(0)
    first = asyncio.ensure_future(db.insert("INSERT INTO t VALUES ('a', 1)"))
    second = asyncio.ensure_future(db.insert("INSERT INTO t VALUES ('b', 2)"))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await busy is True
    rows = await db.fetchall("SELECT k, v FROM t ORDER BY k")
    assert [(r[0], r[1]) for r in rows] == [("a", 1), ("b", 2)]


async def test_writes_queued_while_the_thread_is_busy_still_wait_for_company(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queued write waits up to QUEUED_WRITE_DELAY for company whether or not the thread
    was busy when it came: not taken the moment the busy batch ends (a commit of its own),
    but with the next awaited write or read, or when its time is up."""
    batches: list[list[str]] = []
    original = db._commit

    def recording(batch):  # type: ignore[no-untyped-def]
        batches.append([sql for write in batch for sql, _ in write.statements])
        return original(batch)

    db._commit = recording  # type: ignore[method-assign]
    monkeypatch.setattr(database, "QUEUED_WRITE_DELAY", 60.0)
    gate = threading.Event()
    busy = asyncio.ensure_future(db._run(gate.wait))
    while not db._writing:  # the thread took the read
        await asyncio.sleep(0)
    queued = db.enqueue([("INSERT INTO t VALUES ('q', 1)", ())], durable=False)
    gate.set()
    assert await busy is True
    await asyncio.sleep(0.01)  # the busy batch's results handed out
    assert db.queued(queued) is not None  # still waiting, not a batch of its own
    await db.execute("INSERT INTO t VALUES ('a', 2)")
    assert batches == [["INSERT INTO t VALUES ('q', 1)", "INSERT INTO t VALUES ('a', 2)"]]


class LogRecorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **fields: self.lines.append((level, event, fields))


async def test_a_failed_queued_write_is_logged_not_raised(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = LogRecorder()
    monkeypatch.setattr(database, "log", recorder)
    await db.execute("INSERT INTO t VALUES ('x', 1)")
    results: list[tuple[str, int]] = []
    db.enqueue([("INSERT INTO t VALUES ('x', 2)", ())], then=lambda n: results.append(("x", n)))
    db.enqueue([("INSERT INTO t VALUES ('y', 2)", ())], then=lambda n: results.append(("y", n)))
    await db.flush()
    assert results == [("y", 1)]  # the failed write's ``then`` is not called
    assert [(level, event) for level, event, _ in recorder.lines] == [
        ("error", "store.write_failed")
    ]
    assert "UNIQUE" in str(recorder.lines[0][2]["error"])


def record_synchronous(db: Database) -> list[str]:
    """The synchronous level of each commit from now on."""
    levels: list[str] = []
    original = db._commit

    def recording(batch):  # type: ignore[no-untyped-def]
        result = original(batch)
        levels.append(db._synchronous)
        return result

    db._commit = recording  # type: ignore[method-assign]
    return levels


async def test_durable_writes_commit_with_synchronous_full(db: Database) -> None:
    levels = record_synchronous(db)
    await db.execute("INSERT INTO t VALUES ('n', 1)", durable=False)
    await db.execute("INSERT INTO t VALUES ('d', 1)")
    await db.execute("INSERT INTO t VALUES ('n2', 1)", durable=False)
    assert levels == ["NORMAL", "FULL", "NORMAL"]


async def test_another_process_sees_every_awaited_write(db: Database) -> None:
    await asyncio.gather(
        *(db.execute("INSERT INTO t VALUES (?, ?)", (f"p{i}", i), durable=False) for i in range(20))
    )
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
            " print(db.execute('SELECT COUNT(*) FROM t').fetchone()[0])",
            str(db.path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.strip() == "20"


def test_now_iso_is_datetimes_isoformat(monkeypatch: pytest.MonkeyPatch) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    second = 1_796_083_199  # 2026-11-30T23:59:59
    instants = [
        second * 10**9,
        second * 10**9 + 999,  # under a microsecond: floored, as datetime.now does
        second * 10**9 + 123_456_789,
        second * 10**9 + 999_999_999,
        (second + 1) * 10**9,  # the next second, day and month's text
        (second + 1) * 10**9 + 1_000,
        second * 10**9 + 5_000,  # back (the clock was set back): still right
        1_798_761_600 * 10**9 - 1,  # the last nanosecond of 2026
        0,
    ]
    for ns in instants:
        monkeypatch.setattr(database, "time", SimpleNamespace(time_ns=lambda ns=ns: ns))
        expected = (epoch + timedelta(microseconds=ns // 1000)).isoformat(timespec="microseconds")
        assert now_iso() == expected
    monkeypatch.undo()
    before = datetime.now(UTC)
    stamp = parse_time(now_iso())
    assert stamp is not None and before <= stamp <= datetime.now(UTC)


def test_json_list_is_json_dumps_with_str_default() -> None:
    when = datetime(2026, 11, 27, tzinfo=UTC)
    cases: list[list[object]] = [[], [{}], [{"passed": False, "at": when}], [[1, "é", None]]]
    for values in cases:
        assert json_list(values) == json.dumps(values, default=str)


async def test_a_queued_writes_then_runs_in_its_callers_context_in_commit_order(
    db: Database,
) -> None:
    """``then`` gets the write's rowid or rowcount, in the context of the code that queued
    it (its log fields), in commit order; one that raises is reported as the loop reports a
    callback's, and the others still run; one that writes is waited for by ``flush``."""
    import contextvars

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    seen: list[tuple[str, str, int]] = []
    reported: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))

    def then(name: str) -> Callable[[int], None]:
        return lambda result: seen.append((name, who.get(), result))

    def fails(_result: int) -> None:
        raise RuntimeError("in then")

    later: list[asyncio.Future[int]] = []

    def writes(_result: int) -> None:
        later.append(db.execute("INSERT INTO t VALUES ('later', 9)"))

    async def queue(name: str) -> None:
        who.set(name)
        db.enqueue([("INSERT INTO t VALUES (?, 1)", (name,))], rowid=True, then=then(name))

    await asyncio.gather(queue("a"), queue("b"))  # each in a task, with its own context
    db.enqueue([("UPDATE t SET v = 2", ())], then=then("update"))
    db.enqueue([("UPDATE t SET v = 3 WHERE k = 'a'", ())], then=fails)
    db.enqueue([("UPDATE t SET v = 4 WHERE k = 'b'", ())], then=writes)
    db.enqueue([("UPDATE t SET v = v WHERE k = 'none'", ())], then=then("none"))
    await db.flush()
    assert later[0].done()  # flush waited for the write a ``then`` issued
    assert seen == [("a", "a", 1), ("b", "b", 2), ("update", "nobody", 2), ("none", "nobody", 0)]
    assert [str(e) for e in reported] == ["in then"]
    rows = await db.fetchall("SELECT k, v FROM t ORDER BY k")
    assert [(r[0], r[1]) for r in rows] == [("a", 3), ("b", 4), ("later", 9)]
