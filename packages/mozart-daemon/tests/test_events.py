"""The event log's writes: what a queued event's listener is handed, and when."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mozart_daemon.store import EventRecord, Store


async def test_a_queued_event_is_handed_over_once_committed_as_it_reads_back(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "state.db")
    try:
        seen: list[EventRecord] = []
        store.events.append_soon("j", "job.started", seen.append)
        store.events.append_soon(
            "j", "sheet.completed", seen.append, sheet_num=2, attempt=1, message="done"
        )
        assert seen == []  # not committed yet
        # A write that fails (no such table) hands nothing over; the next ones still come.
        store.events.append_soon(
            "j", "sheet.started", seen.append, with_writes=[("INSERT INTO nowhere VALUES (1)", ())]
        )
        last = await store.events.append("j", "job.completed")
        assert [e.type for e in seen] == ["job.started", "sheet.completed"]
        assert await store.events.since("j") == [*seen, last]
        assert seen[0].id < seen[1].id < last.id
        assert (seen[1].sheet_num, seen[1].attempt, seen[1].message) == (2, 1, "done")
        assert seen[0].time.tzinfo is not None and seen[0].time <= last.time
    finally:
        await asyncio.sleep(0)
        await store.close()


async def test_every_mix_of_given_and_absent_fields_reads_back_as_written(tmp_path: Path) -> None:
    """Absent fields are written as NULL in the SQL, not bound: each of the eight mixes of
    sheet_num, attempt and message reads back as it was given, queued or awaited."""
    store = await Store.open(tmp_path / "state.db")
    try:
        mixes = [
            (sheet, attempt, message)
            for sheet in (None, 0, 3)
            for attempt in (None, 2)
            for message in (None, "", "a message")
        ]
        seen: list[EventRecord] = []
        for sheet, attempt, message in mixes:
            store.events.append_soon(
                "j", "sheet.retrying", seen.append, sheet_num=sheet, attempt=attempt,
                message=message,
            )  # fmt: skip
            await store.events.append(
                "j", "sheet.failed", sheet_num=sheet, attempt=attempt, message=message
            )
        back = await store.events.since("j")
        assert [(e.sheet_num, e.attempt, e.message) for e in back] == [
            mix for mix in mixes for _ in range(2)
        ]
        assert [(e.sheet_num, e.attempt, e.message) for e in seen] == mixes
    finally:
        await asyncio.sleep(0)
        await store.close()
