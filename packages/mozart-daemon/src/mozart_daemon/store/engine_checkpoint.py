"""StoreCheckpoint: the engine's ``Checkpoint`` protocol on the state database.

Each transition is committed before it is reported. The writes are queued
(``Database.enqueue``) rather than awaited: the state database commits writes in the order
they were queued, and the write that reports each transition comes after it (the
``sheet.started`` / ``sheet.completed`` event, the attempt's learning record), in the same
transaction or a later one; so by the time anything is reported, what it reports is
committed. An attempt's start is reported to nobody: its write is committed while the
attempt's process starts (a crash in between loses only the record that the attempt
started; recovery makes the sheet pending again either way). A sheet's end is durable
across power loss, its start and its attempts across a crash of the daemon (see
``database``).

Every finished attempt is also recorded in the LearningHub (the one learning store of the
daemon).
"""

from __future__ import annotations

from collections.abc import Sequence

from mozart_protocol.score import ValidationRule

from mozart_daemon.engine import AttemptKind, AttemptRecord, SheetResult
from mozart_daemon.learning import AttemptOutcome, LearningHub
from mozart_daemon.store.checkpoints import SheetStore


class StoreCheckpoint:
    # sheet_started, attempt_started, attempt_finished and sheet_finished queue their
    # writes (Database.enqueue, through SheetStore's queue_ methods: no coroutine of their
    # own) and never suspend (engine/checkpoint.py: Checkpoint).
    queues_writes = True

    def __init__(
        self,
        sheets: SheetStore,
        learning: LearningHub,
        *,
        backend: str,
        rules: Sequence[ValidationRule] = (),
        learn: bool = True,
    ) -> None:
        self._sheets = sheets
        self._learning = learning
        self._backend = backend
        self._rules = rules  # the score's validations, to name the rule a failure concerns
        self._learn = learn  # the score's learning.enabled

    async def sheet_started(self, job_id: str, sheet_num: int) -> None:
        self._sheets.queue_sheet_started(job_id, sheet_num)

    async def attempt_started(
        self, job_id: str, sheet_num: int, attempt: int, kind: AttemptKind
    ) -> None:
        self._sheets.queue_attempt_started(job_id, sheet_num, attempt, kind=kind)

    async def attempt_finished(self, job_id: str, record: AttemptRecord) -> None:
        # (Most attempts have none: no list comprehension, a frame of its own, then.)
        validations: list[object] = (
            [v.to_dict() for v in record.validations] if record.validations else []
        )
        self._sheets.queue_attempt_finished(
            job_id,
            record.sheet_num,
            record.attempt,
            outcome=record.outcome or "failed",
            exit_code=record.exit_code,
            error=record.error,
            duration_seconds=record.duration_seconds,
            stdout_tail=record.stdout_tail,
            stderr_tail=record.stderr_tail,
            validations=validations,
        )
        # Learning is advisory and its write need not hold the sheet up: the hub folds the
        # outcome into its patterns now and queues its write, committed with the sheet's
        # next one (its end, or the next attempt's start).
        self._learning.record_soon(
            AttemptOutcome(
                job_id=job_id,
                sheet_num=record.sheet_num,
                attempt=record.attempt,
                backend=self._backend,
                outcome=record.outcome or "failed",
                duration_seconds=record.duration_seconds,
                attempts=record.attempt,
                validations=validations,
                error_class=record.error_class,
                kind=record.kind,
                error=record.error,
            ),
            rules=self._rules,
            mine=self._learn,
        )

    async def sheet_finished(self, job_id: str, result: SheetResult) -> None:
        self._sheets.queue_sheet_finished(
            job_id,
            result.sheet_num,
            status=str(result.status),
            exit_code=result.exit_code,
            error=result.error,
            duration_seconds=result.duration_seconds,
        )

    async def sheet_interrupted(self, job_id: str, sheet_num: int) -> None:
        await self._sheets.set_sheet_status(
            job_id, sheet_num, "pending", error="Interrupted before it finished"
        )
