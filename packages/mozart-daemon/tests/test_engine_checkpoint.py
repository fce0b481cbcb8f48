"""StoreCheckpoint implements the engine's Checkpoint on the database, durably."""

import sqlite3
import time
from pathlib import Path

from mozart_daemon.engine import (
    AttemptRecord,
    Checkpoint,
    SheetResult,
    SheetState,
    ValidationResult,
)
from mozart_daemon.learning import LearningHub
from mozart_daemon.store import Store
from mozart_daemon.store.engine_checkpoint import StoreCheckpoint


async def test_transitions_are_persisted_and_learned(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db")
    try:
        await store.jobs.create(
            job_id="j",
            name="j",
            description=None,
            config_path="/s.yaml",
            workspace="/ws",
            priority=5,
            total_sheets=2,
            backend="command",
            sheets=[(1, 1, 1), (2, 2, 1)],
        )
        hub = LearningHub(store.db)
        cp: Checkpoint = StoreCheckpoint(store.sheets, hub, backend="command")
        await cp.sheet_started("j", 1)
        await cp.attempt_started("j", 1, 1, "normal")
        await cp.attempt_finished(
            "j",
            AttemptRecord(
                sheet_num=1,
                attempt=1,
                kind="normal",
                started_at=time.time(),
                outcome="failed",
                exit_code=1,
                error="validation failed",
                error_class="validation",
                validations=(
                    ValidationResult(
                        index=0, type="file_exists", stage=1, passed=False, description="x exists"
                    ),
                ),
            ),
        )
        await cp.attempt_started("j", 1, 2, "completion")
        await cp.attempt_finished(
            "j",
            AttemptRecord(
                sheet_num=1,
                attempt=2,
                kind="completion",
                started_at=time.time(),
                outcome="passed",
                exit_code=0,
            ),
        )
        await cp.sheet_finished(
            "j", SheetResult(sheet_num=1, status=SheetState.COMPLETED, attempts=2, exit_code=0)
        )
        await cp.sheet_started("j", 2)
        await cp.sheet_interrupted("j", 2)

        conn = sqlite3.connect(tmp_path / "db")  # what another process would see after kill -9
        rows = conn.execute("SELECT sheet_num, status, attempts FROM sheets ORDER BY 1").fetchall()
        conn.close()
        assert rows == [(1, "completed", 2), (2, "pending", 0)]
        attempts = await store.sheets.attempts("j", 1)
        assert [(a.kind, a.outcome) for a in attempts] == [
            ("normal", "failed"),
            ("completion", "passed"),
        ]
        assert attempts[0].validations[0]["passed"] is False  # type: ignore[index]
        learned = await hub.outcomes("j")
        assert [(o.attempt, o.outcome, o.error_class) for o in learned] == [
            (1, "failed", "validation"),
            (2, "passed", None),
        ]
    finally:
        await store.close()
