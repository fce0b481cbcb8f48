"""The daemon's state: one SQLite database (WAL) with the job registry, every job's
checkpoint (sheets and attempts), the event log and the learning store.

``Store.open(path)`` opens (creating and migrating as needed) and exposes the parts.
"""

from __future__ import annotations

from pathlib import Path

from mozart_daemon.store.checkpoints import AttemptRecord, SheetRecord, SheetStore
from mozart_daemon.store.database import Database, StateError
from mozart_daemon.store.events import EventLog, EventRecord
from mozart_daemon.store.registry import ORPHAN_MESSAGE, JobRecord, JobRegistry


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = JobRegistry(db)
        self.sheets = SheetStore(db)
        self.events = EventLog(db)

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()


__all__ = [
    "ORPHAN_MESSAGE",
    "AttemptRecord",
    "Database",
    "EventLog",
    "EventRecord",
    "JobRecord",
    "JobRegistry",
    "SheetRecord",
    "SheetStore",
    "StateError",
    "Store",
]
