import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mozart_daemon.learning import AttemptOutcome, LearningHub
from mozart_daemon.store import ORPHAN_MESSAGE, StateError, Store
from mozart_daemon.store.migrations import MIGRATIONS, SCHEMA_VERSION


async def make_job(store: Store, job_id: str, sheets: int = 3, *, replace: bool = True) -> None:
    await store.jobs.create(
        job_id=job_id,
        name=job_id,
        description=None,
        config_path=f"/scores/{job_id}.yaml",
        workspace="/ws",
        priority=5,
        total_sheets=sheets,
        backend="command",
        sheets=[(n, n, 1) for n in range(1, sheets + 1)],
        replace=replace,
    )


@contextmanager
def traced(store: Store) -> Iterator[list[str]]:
    """The SQL statements the database thread runs meanwhile (BEGIN/COMMIT/PRAGMA left out)."""
    seen: list[str] = []

    def note(sql: str) -> None:
        if not sql.startswith(("BEGIN", "COMMIT", "PRAGMA", "SAVEPOINT", "RELEASE")):
            seen.append(sql)

    store.db._conn.set_trace_callback(note)
    try:
        yield seen
    finally:
        store.db._conn.set_trace_callback(None)


async def test_wal_and_schema(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "sub" / "state.db")
    try:
        assert await store.db.scalar("PRAGMA journal_mode") == "wal"
        assert await store.db.scalar("PRAGMA user_version") == SCHEMA_VERSION
        # Migration 7: jobs and sheets are their primary key's b-tree, with no index of
        # their own for it; attempts keep their rowid (their rows carry output tails).
        rows = await store.db.fetchall(
            "SELECT name, wr FROM pragma_table_list WHERE name IN ('jobs', 'sheets', 'attempts')"
        )
        assert {r[0]: r[1] for r in rows} == {"jobs": 1, "sheets": 1, "attempts": 0}
        autoindexes = await store.db.fetchall(
            "SELECT name FROM sqlite_schema WHERE name LIKE 'sqlite_autoindex_%' ORDER BY 1"
        )
        assert [r[0] for r in autoindexes] == [
            "sqlite_autoindex_attempts_1",
            "sqlite_autoindex_learning_patterns_1",
        ]
    finally:
        await store.close()


async def test_checkpoint_roundtrip_and_fresh_replace(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j")
        await store.sheets.sheet_started("j", 1)
        await store.sheets.attempt_started("j", 1, 1)
        await store.sheets.attempt_finished("j", 1, 1, outcome="success", exit_code=0)
        await store.sheets.sheet_finished("j", 1, status="completed", exit_code=0)
        assert await store.sheets.completed("j") == {1}
        sheet = await store.sheets.sheet("j", 1)
        assert sheet is not None and sheet.attempts == 1 and sheet.status == "completed"
        await make_job(store, "j")  # a fresh start replaces the checkpoint
        assert await store.sheets.completed("j") == set()
        assert await store.sheets.attempts("j", 1) == []  # ON DELETE CASCADE still holds
    finally:
        await store.close()


async def test_fresh_replace_drops_the_previous_runs_events(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j", replace=False)
        await store.events.append("j", "job.started")
        await store.events.append("other", "job.started")
        with pytest.raises(sqlite3.IntegrityError):
            await make_job(store, "j", replace=False)
        assert [e.type for e in await store.events.since("j")] == ["job.started"]
        await make_job(store, "j")
        assert await store.events.since("j") == []
        assert [e.type for e in await store.events.since("other")] == ["job.started"]
    finally:
        await store.close()


async def test_an_event_id_is_never_reused_after_a_replace(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j")
        await make_job(store, "k")
        await store.events.append("k", "job.started")
        newest = await store.events.append("j", "job.completed")  # the newest event is j's
        await make_job(store, "j")  # its events go; the newest stays, as a mark
        assert await store.events.since("j") == []
        again = await store.events.append("j", "job.queued")
        assert again.id > newest.id
        await make_job(store, "k")  # k's events go (its newest is not the newest)
        await make_job(store, "j")  # the mark goes, j's newest is the mark now
        assert await store.events.since("k") == []
        assert (await store.events.append("k", "job.queued")).id > again.id
        rows = await store.db.fetchall("SELECT id, job_id, type FROM events ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (again.id, "", "mark"),
            (again.id + 1, "k", "job.queued"),
        ]
    finally:
        await store.close()


async def test_a_job_created_with_its_event(tmp_path: Path) -> None:
    """The event is inserted last in the job's transaction and returned as persisted; a
    fresh replace's event id is still never one used before."""
    store = await Store.open(tmp_path / "state.db")
    try:
        args = dict(
            job_id="j", name="j", description=None, config_path="/s.yaml", workspace="/ws",
            priority=5, total_sheets=1, backend="command", sheets=[(1, 1, 1)],
        )  # fmt: skip
        first = await store.jobs.create(**args, replace=False, event="job.queued")  # type: ignore[arg-type]
        assert first is not None
        assert await store.events.since("j") == [first]
        assert (await store.jobs.get("j")).created_at == first.time  # type: ignore[union-attr]
        assert await store.jobs.create(**args) is None  # type: ignore[arg-type]
        assert await store.events.since("j") == []
        again = await store.jobs.create(**args, event="job.queued")  # type: ignore[arg-type]
        assert again is not None and again.id > first.id
        assert await store.events.since("j") == [again]
    finally:
        await store.close()


async def test_a_new_job_id_is_written_without_deletes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        with traced(store) as statements:
            await make_job(store, "new", sheets=2, replace=False)
        assert [s.split(" (")[0] for s in statements] == [
            "INSERT INTO jobs",
            "INSERT INTO sheets",
            "INSERT INTO sheets",
        ]
    finally:
        await store.close()


ROW = (
    "SELECT status, attempts, exit_code, error, started_at IS NOT NULL, finished_at IS NOT NULL,"
    " duration_seconds FROM sheets WHERE job_id = ? AND sheet_num = ?"
)


async def run_sheet_writes(
    store: Store, job_id: str, *, queued: bool, flush: bool
) -> list[tuple[object, ...]]:
    """A sheet's writes as the engine makes them (attempt 1 fails, 2 passes), awaited or
    queued; the row as a reader sees it after each (``flush``: the database thread takes
    each write at once)."""
    sheets = store.sheets
    seen: list[tuple[object, ...]] = []

    async def step() -> None:
        if flush:
            await store.db.flush()
            seen.append(tuple(await store.db.fetchone(ROW, (job_id, 1))))  # type: ignore[arg-type]

    if queued:
        sheets.queue_sheet_started(job_id, 1)
        await step()
        sheets.queue_attempt_started(job_id, 1, 1)
        await step()
        sheets.queue_attempt_finished(job_id, 1, 1, outcome="failed", exit_code=3, error="no")
        await step()
        sheets.queue_attempt_started(job_id, 1, 2, kind="completion")
        await step()
        sheets.queue_attempt_finished(job_id, 1, 2, outcome="passed", exit_code=0)
        await step()
        sheets.queue_sheet_finished(
            job_id, 1, status="completed", exit_code=0, duration_seconds=1.5
        )
    else:
        await sheets.sheet_started(job_id, 1)
        await step()
        await sheets.attempt_started(job_id, 1, 1)
        await step()
        await sheets.attempt_finished(job_id, 1, 1, outcome="failed", exit_code=3, error="no")
        await step()
        await sheets.attempt_started(job_id, 1, 2, kind="completion")
        await step()
        await sheets.attempt_finished(job_id, 1, 2, outcome="passed", exit_code=0)
        await step()
        await sheets.sheet_finished(
            job_id, 1, status="completed", exit_code=0, duration_seconds=1.5
        )
    await store.db.flush()
    seen.append(tuple(await store.db.fetchone(ROW, (job_id, 1))))  # type: ignore[arg-type]
    return seen


async def test_queued_writes_of_a_sheets_row_fold_with_the_same_result(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        for job_id in ("awaited", "queued", "taken"):
            await make_job(store, job_id, sheets=1)
        awaited = await run_sheet_writes(store, "awaited", queued=False, flush=True)
        assert awaited[-1] == ("completed", 2, 0, None, 1, 1, 1.5)
        assert awaited[2] == ("running", 1, 3, "no", 1, 0, None)  # between the attempts
        # Queued writes a reader may see between (the thread takes each): the same rows.
        assert await run_sheet_writes(store, "taken", queued=True, flush=True) == awaited
        with traced(store) as statements:
            final = await run_sheet_writes(store, "queued", queued=True, flush=False)
        assert final == awaited[-1:]
        updates = [s.split(" SET ")[1] for s in statements if s.startswith("UPDATE sheets")]
        assert len(updates) == 3, updates  # start + count 1, attempt 1 + count 2, end
        assert "attempts = MAX(attempts, 1)" in updates[0]
        assert "attempts = MAX(attempts, 2)" in updates[1]
        assert updates[2].startswith("status = 'completed'")
        rows = [
            (a.attempt, a.kind, a.outcome, a.exit_code)
            for a in await store.sheets.attempts("queued", 1)
        ]
        assert rows == [(1, "normal", "failed", 3), (2, "completion", "passed", 0)]
    finally:
        await store.close()


async def test_a_one_attempt_sheet_updates_its_row_twice_in_two_writes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j", sheets=1)
        commits: list[list[bool]] = []  # per commit, each write's durability
        original = store.db._commit

        def recording(batch):  # type: ignore[no-untyped-def]
            commits.append([write.durable for write in batch])
            return original(batch)

        store.db._commit = recording  # type: ignore[method-assign]
        with traced(store) as statements:
            store.sheets.queue_sheet_started("j", 1)
            store.sheets.queue_attempt_started("j", 1, 1)
            store.sheets.queue_attempt_finished("j", 1, 1, outcome="passed", exit_code=0)
            store.sheets.queue_sheet_finished("j", 1, status="completed", exit_code=0)
            await store.db.flush()
        assert [s.split(" SET ")[0].split(" (")[0] for s in statements] == [
            "UPDATE sheets",  # running, attempt count 1
            "INSERT OR REPLACE INTO attempts",
            "UPDATE attempts",
            "UPDATE sheets",  # completed, exit code
        ]
        # The attempt's row joins the sheet's start, the sheet's end its attempt's end
        # (which it makes durable): two queued writes instead of four.
        assert commits == [[False, True]]
        sheet = await store.sheets.sheet("j", 1)
        assert sheet is not None
        assert (sheet.status, sheet.attempts, sheet.exit_code) == ("completed", 1, 0)
    finally:
        await store.close()


async def test_a_jobs_status_change_is_stamped_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j")
        await store.jobs.set_status("j", "running", started=True)
        running = await store.jobs.get("j")
        assert running is not None and running.status == "running"
        assert running.started_at == running.updated_at and running.finished_at is None
        await store.jobs.set_status("j", "paused", error="held")
        paused = await store.jobs.get("j")
        assert paused is not None and (paused.status, paused.error) == ("paused", "held")
        assert paused.started_at == running.started_at and paused.finished_at is None
        await store.jobs.set_status("j", "failed", error="boom")
        failed = await store.jobs.get("j")
        assert failed is not None and failed.finished_at == failed.updated_at
        assert failed.started_at == running.started_at and failed.error == "boom"
        await store.jobs.set_status("j", "running", started=True)  # resumed
        again = await store.jobs.get("j")
        assert again is not None and again.finished_at is None and again.error is None
        await store.jobs.set_status("j", "completed")
        done = await store.jobs.get("j")
        assert done is not None and (done.status, done.error) == ("completed", None)
        assert done.finished_at == done.updated_at and done.started_at == again.started_at
        with pytest.raises(ValueError, match="cannot update job fields"):
            await store.jobs.update("j", name="renamed")
    finally:
        await store.close()


async def test_completed_sheet_survives_reopen_without_close(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path)
    await make_job(store, "j")
    await store.sheets.sheet_finished("j", 2, status="completed")
    # Read through a separate connection while the writer is still open (as after kill -9).
    conn = sqlite3.connect(path)
    status = conn.execute("SELECT status FROM sheets WHERE sheet_num = 2").fetchone()[0]
    conn.close()
    await store.close()
    assert status == "completed"


async def test_orphans_become_failed_and_running_sheets_pending(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        states = [("q", "queued"), ("r", "running"), ("p", "paused"), ("c", "completed")]
        for job_id, status in states:
            await make_job(store, job_id)
            await store.jobs.set_status(job_id, status)
        await store.sheets.sheet_started("r", 1)
        orphans = await store.jobs.mark_orphans_failed()
        assert sorted(orphans) == ["q", "r"]
        r = await store.jobs.get("r")
        assert r is not None and r.status == "failed" and r.error == ORPHAN_MESSAGE
        assert (await store.jobs.get("p")).status == "paused"  # type: ignore[union-attr]
        sheet = await store.sheets.sheet("r", 1)
        assert sheet is not None and sheet.status == "pending"
    finally:
        await store.close()


async def test_keyset_pagination(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        for i in range(7):
            await make_job(store, f"job{i}", sheets=1)
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = await store.jobs.list_jobs(include_all=True, limit=3, after=cursor)
            seen += [j.job_id for j in page]
            if cursor is None:
                break
        assert seen == [f"job{i}" for i in reversed(range(7))]
        active, _ = await store.jobs.list_jobs()
        assert len(active) == 7  # all queued
        await store.jobs.set_status("job0", "completed")
        done, _ = await store.jobs.list_jobs(status="completed")
        assert [j.job_id for j in done] == ["job0"]
        with pytest.raises(ValueError):
            await store.jobs.list_jobs(after="garbage!!")
    finally:
        await store.close()


async def test_events_in_order(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        a = await store.events.append("j", "job.started")
        await store.events.append("j", "sheet.started", sheet_num=1, attempt=1)
        await store.events.append("other", "job.started")
        events = await store.events.since("j")
        assert [e.type for e in events] == ["job.started", "sheet.started"]
        assert [e.type for e in await store.events.since("j", a.id)] == ["sheet.started"]
    finally:
        await store.close()


async def test_learning_hub_records_every_outcome(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        hub = LearningHub(store.db)
        for i in range(10):
            await hub.record(
                AttemptOutcome(
                    job_id="j",
                    sheet_num=1,
                    attempt=i + 1,
                    backend="command",
                    outcome="failed" if i < 6 else "success",
                    validations=[{"ok": False}],
                    error_class="validation",
                )
            )
        rows = await hub.outcomes("j")
        assert len(rows) == 10 and rows[0].validations == [{"ok": False}]
        assert hub.recent_failure_rate() == pytest.approx(0.6)
    finally:
        await store.close()


async def test_opens_a_database_from_every_previous_version(tmp_path: Path) -> None:
    for version in range(1, SCHEMA_VERSION):
        path = tmp_path / f"v{version}.db"
        conn = sqlite3.connect(path)
        for script in MIGRATIONS[:version]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO jobs (job_id, name, status, config_path, workspace, priority,"
            " total_sheets, backend, created_at, updated_at) VALUES"
            " ('old', 'old', 'completed', '/s.yaml', '/ws', 5, 1, 'command',"
            " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO sheets (job_id, sheet_num, status, stage, instance)"
            " VALUES ('old', 1, 'completed', 1, 1)"
        )
        conn.execute(
            "INSERT INTO attempts (job_id, sheet_num, attempt, kind, started_at, outcome)"
            " VALUES ('old', 1, 1, 'normal', '2026-01-01T00:00:00+00:00', 'passed')"
        )
        # Events 1 to 3, the newest since deleted as a replace did before version 5 (since
        # then, a replace keeps the newest event as a mark).
        for _ in range(3):
            conn.execute(
                "INSERT INTO events (job_id, type, time)"
                " VALUES ('old', 'job.started', '2026-01-01T00:00:00+00:00')"
            )
        if version < 5:
            conn.execute("DELETE FROM events WHERE id = 3")
        if version >= 2:  # an outcome recorded before
            conn.execute(
                "INSERT INTO learning_outcomes (job_id, sheet_num, attempt, backend, outcome,"
                " attempts, recorded_at) VALUES ('old', 1, 7, 'b', 'failed', 1,"
                " '2026-01-01T00:00:00+00:00')"
            )
        conn.commit()
        conn.close()
        store = await Store.open(path)
        try:
            assert await store.db.scalar("PRAGMA user_version") == SCHEMA_VERSION
            job = await store.jobs.get("old")
            assert job is not None and job.status == "completed"
            page, _ = await store.jobs.list_jobs(status="completed")
            assert [j.job_id for j in page] == ["old"]
            assert await store.sheets.completed("old") == {1}
            assert [a.outcome for a in await store.sheets.attempts("old", 1)] == ["passed"]
            kept = [1, 2] if version < 5 else [1, 2, 3]
            assert [e.id for e in await store.events.since("old")] == kept
            assert (await store.events.append("old", "job.resumed")).id == 4  # not 3
            hub = LearningHub(store.db)
            for attempt in (1, 2):
                await hub.record(
                    AttemptOutcome(
                        job_id="old", sheet_num=1, attempt=attempt, backend="b", outcome="success"
                    )
                )
            before = [7] if version >= 2 else []
            assert [o.attempt for o in await hub.outcomes("old")] == [*before, 1, 2]
        finally:
            await store.close()


async def test_newer_or_broken_database_is_a_clear_error(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StateError, match="upgrade mozartd"):
        await Store.open(newer)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="move it aside"):
        await Store.open(broken)
    unusable = tmp_path / "a-directory.db"
    unusable.mkdir()
    with pytest.raises(sqlite3.OperationalError):
        await Store.open(unusable)
    # Neither left the database's thread running.
    assert not [t for t in threading.enumerate() if t.name == "mozart-db"]


async def test_concurrent_transactions_take_turns(tmp_path: Path) -> None:
    import asyncio

    store = await Store.open(tmp_path / "state.db")
    try:
        await make_job(store, "j", sheets=20)
        await asyncio.gather(
            *(store.sheets.attempt_started("j", n, 1) for n in range(1, 21)),
            *(store.events.append("j", "sheet.started", sheet_num=n) for n in range(1, 21)),
        )
        assert [s.attempts for s in await store.sheets.sheets("j")] == [1] * 20
    finally:
        await store.close()


async def test_completed_counts_of_a_page_in_one_query(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        for job_id in ("a", "b", "c"):
            await make_job(store, job_id)
        await store.sheets.sheet_finished("a", 1, status="completed")
        await store.sheets.sheet_finished("a", 3, status="completed")
        await store.sheets.sheet_finished("b", 2, status="failed")
        counts = await store.sheets.completed_counts(["a", "b", "c"])
        assert counts == {"a": 2}
        for job_id in ("a", "b", "c"):
            assert counts.get(job_id, 0) == await store.sheets.completed_count(job_id)
        assert await store.sheets.completed_counts([]) == {}
    finally:
        await store.close()


async def test_status_filter_pages_through_an_index(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        plan = await store.db.fetchall(
            "EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE status = ?"
            " ORDER BY created_at DESC, job_id DESC LIMIT 51",
            ("completed",),
        )
        detail = " ".join(str(r[3]) for r in plan)
        assert "jobs_by_status_created" in detail and "TEMP B-TREE" not in detail
    finally:
        await store.close()


async def test_pages_run_newest_first_through_ascending_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs' indexes are ascending (migration 6): listing newest first scans them
    backwards, without sorting, and a page boundary between jobs created in the same
    microsecond still orders them by id, descending."""
    from mozart_daemon.store import registry

    store = await Store.open(tmp_path / "state.db")
    try:
        stamps = iter(["2026-01-01T00:00:01+00:00"] * 4 + ["2026-01-01T00:00:02+00:00"] * 3)
        monkeypatch.setattr(registry, "now_iso", lambda: next(stamps))
        for job_id in ("b", "d", "a", "c", "f", "e", "g"):
            await make_job(store, job_id, sheets=1)
        monkeypatch.undo()
        for job_id in ("d", "a", "g", "e"):
            await store.jobs.set_status(job_id, "completed")
        newest_first = ["g", "f", "e", "d", "c", "b", "a"]
        for filters, expected in (
            ({"include_all": True}, newest_first),
            ({"status": "completed"}, ["g", "e", "d", "a"]),
            ({}, ["f", "c", "b"]),  # the active ones
        ):
            seen: list[str] = []
            cursor = None
            while True:
                page, cursor = await store.jobs.list_jobs(limit=2, after=cursor, **filters)
                seen += [j.job_id for j in page]
                if cursor is None:
                    break
            assert seen == expected, filters
        for sql, index in (
            ("SELECT * FROM jobs", "jobs_by_created"),
            ("SELECT * FROM jobs WHERE status = 'completed'", "jobs_by_status_created"),
        ):
            plan = await store.db.fetchall(
                f"EXPLAIN QUERY PLAN {sql} ORDER BY created_at DESC, job_id DESC LIMIT 3"
            )
            detail = " ".join(str(r[3]) for r in plan)
            assert index in detail and "TEMP B-TREE" not in detail
    finally:
        await store.close()
