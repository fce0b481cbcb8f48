"""The checkpoint interface: every state transition of a sheet and of its attempts.

The attempt loop (``runner.run_sheet``) calls a ``Checkpoint`` at each transition and awaits
it before it reports the transition anywhere else (events, logs): what a subscriber has seen
is always already persisted. The daemon's SQLite store implements the protocol;
``InMemoryCheckpoint`` serves the tests.

Transitions of one sheet, in order::

    sheet_started                      pending -> running
      attempt_started (1..n)           an attempt record opens (kind normal | completion)
      attempt_finished                 the same record, closed with its outcome
    sheet_finished                     running -> completed | failed
    sheet_interrupted                  running -> pending (cancelled: pause, shutdown, cancel)

A cancelled attempt is closed with outcome ``cancelled`` before ``sheet_interrupted``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

import msgspec


class SheetState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


AttemptKind = Literal["normal", "completion"]

# How an attempt ended:
#   passed        every applicable validation passed (or exit code 0 with none)
#   failed        the run or its validations failed (a retry or completion may follow)
#   rate_limited  the output matched a rate-limit pattern (waited out, no retry used)
#   timeout       the backend ran past its timeout and was stopped
#   fatal         the backend could not start, or the score cannot be used: never retried
#   cancelled     the sheet was cancelled during the attempt
AttemptOutcome = Literal["passed", "failed", "rate_limited", "timeout", "fatal", "cancelled"]


@dataclass(frozen=True)
class ValidationResult:
    """One applicable rule checked after an attempt (rules of unreached stages are absent)."""

    index: int  # position of the rule in the score's `validations`
    type: str  # file_exists, file_modified, content_contains, content_regex, command_succeeds
    stage: int
    passed: bool
    description: str  # what was checked, placeholders expanded
    message: str | None = None  # why it failed (or the error, e.g. a path outside the workspace)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "type": self.type,
            "stage": self.stage,
            "passed": self.passed,
            "description": self.description,
            "message": self.message,
        }


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One backend run of a sheet and what followed it. ``attempt`` counts every run, 1-based.
    A Struct: built, and copied with changes (``msgspec.structs.replace``), in C; each
    attempt makes two."""

    sheet_num: int
    attempt: int
    kind: AttemptKind
    started_at: float  # wall clock (time.time())
    finished_at: float | None = None
    outcome: AttemptOutcome | None = None
    exit_code: int | None = None
    signal: int | None = None  # the signal that ended the process, when one did
    duration_seconds: float | None = None
    validations: tuple[ValidationResult, ...] = ()
    error_class: str | None = None  # see errors.ErrorClass
    error: str | None = None
    rate_limited: bool = False
    rate_limit_wait_seconds: float | None = None
    delay_before_seconds: float = 0.0  # the backoff/completion delay waited before this attempt
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""


class SheetResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a sheet ended (the argument of ``sheet_finished``)."""

    sheet_num: int
    status: Literal[SheetState.COMPLETED, SheetState.FAILED]
    attempts: int
    exit_code: int | None = None
    error_class: str | None = None
    error: str | None = None
    duration_seconds: float | None = None


class Checkpoint(Protocol):
    """Persists a sheet's transitions; each call returns only once the write is durable,
    or, when the checkpoint has ``queues_writes = True``, once it is queued to be written
    in order with every later write (the call never suspends, so the engine awaits it
    directly instead of shielding it from cancellation in a task of its own)."""

    async def sheet_started(self, job_id: str, sheet_num: int) -> None:
        """The sheet is running (clears a previous error)."""

    async def attempt_started(
        self, job_id: str, sheet_num: int, attempt: int, kind: AttemptKind
    ) -> None:
        """An attempt opens; the sheet's attempt count becomes at least ``attempt``."""

    async def attempt_finished(self, job_id: str, record: AttemptRecord) -> None:
        """The attempt ``record.attempt`` closes with everything known about it."""

    async def sheet_finished(self, job_id: str, result: SheetResult) -> None:
        """The sheet is completed or failed for good."""

    async def sheet_interrupted(self, job_id: str, sheet_num: int) -> None:
        """The sheet was cancelled mid-run and is pending again (it will run anew)."""


@dataclass
class SheetCheckpoint:
    """What ``InMemoryCheckpoint`` knows about one sheet."""

    state: SheetState = SheetState.PENDING
    attempts: list[AttemptRecord] = field(default_factory=list)
    result: SheetResult | None = None


class InMemoryCheckpoint:
    """A ``Checkpoint`` in a dict, with a journal of every call (for tests)."""

    def __init__(self) -> None:
        self.sheets: dict[tuple[str, int], SheetCheckpoint] = {}
        self.journal: list[tuple[str, str, int, object]] = []

    def sheet(self, job_id: str, sheet_num: int) -> SheetCheckpoint:
        return self.sheets.setdefault((job_id, sheet_num), SheetCheckpoint())

    def _note(self, what: str, job_id: str, sheet_num: int, detail: object = None) -> None:
        self.journal.append((what, job_id, sheet_num, detail))

    async def sheet_started(self, job_id: str, sheet_num: int) -> None:
        sheet = self.sheet(job_id, sheet_num)
        sheet.state = SheetState.RUNNING
        sheet.result = None
        self._note("sheet_started", job_id, sheet_num)

    async def attempt_started(
        self, job_id: str, sheet_num: int, attempt: int, kind: AttemptKind
    ) -> None:
        sheet = self.sheet(job_id, sheet_num)
        sheet.attempts = [a for a in sheet.attempts if a.attempt != attempt]
        sheet.attempts.append(
            AttemptRecord(sheet_num=sheet_num, attempt=attempt, kind=kind, started_at=time.time())
        )
        self._note("attempt_started", job_id, sheet_num, attempt)

    async def attempt_finished(self, job_id: str, record: AttemptRecord) -> None:
        sheet = self.sheet(job_id, record.sheet_num)
        sheet.attempts = [a for a in sheet.attempts if a.attempt != record.attempt]
        sheet.attempts.append(msgspec.structs.replace(record))
        sheet.attempts.sort(key=lambda a: a.attempt)
        self._note("attempt_finished", job_id, record.sheet_num, record.outcome)

    async def sheet_finished(self, job_id: str, result: SheetResult) -> None:
        sheet = self.sheet(job_id, result.sheet_num)
        sheet.state = SheetState(result.status)
        sheet.result = result
        self._note("sheet_finished", job_id, result.sheet_num, result.status.value)

    async def sheet_interrupted(self, job_id: str, sheet_num: int) -> None:
        self.sheet(job_id, sheet_num).state = SheetState.PENDING
        self._note("sheet_interrupted", job_id, sheet_num)
