# Generated from schema/rpc.schema.json by `nox -s codegen`.
# Do not edit: change the schema and regenerate. (models)
# ruff: noqa: E501
"""The wire models: one msgspec Struct per params, result, event and error data."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias

from msgspec import Meta, Struct, field

# RFC 3339 with an offset (the daemon writes UTC); naive times are refused.
Timestamp: TypeAlias = Annotated[datetime, Meta(tz=True)]


class JobState(StrEnum):
    """
    A job's state.
    """

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SheetState(StrEnum):
    """
    A sheet's state.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class PressureLevel(StrEnum):
    """
    The daemon's load level, from memory use and child processes.
    """

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Readiness(StrEnum):
    """
    Whether the daemon accepts new work.
    """

    READY = "ready"
    NOT_READY = "not_ready"


class JobEventType(StrEnum):
    """
    What happened to a job or one of its sheets (`noun.past_verb`). `job.chained`: the job was submitted by another job's `on_success` hook (the message names it and the chain depth). `hook.completed`, `hook.failed`, `hook.skipped`: the result of one of the job's `on_success` hooks; they come after `job.completed`.
    """

    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    JOB_PAUSED = "job.paused"
    JOB_RESUMED = "job.resumed"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    SHEET_STARTED = "sheet.started"
    SHEET_COMPLETED = "sheet.completed"
    SHEET_FAILED = "sheet.failed"
    SHEET_SKIPPED = "sheet.skipped"
    SHEET_RETRYING = "sheet.retrying"
    SHEET_RATE_LIMITED = "sheet.rate_limited"
    JOB_CHAINED = "job.chained"
    HOOK_COMPLETED = "hook.completed"
    HOOK_FAILED = "hook.failed"
    HOOK_SKIPPED = "hook.skipped"


class LogStream(StrEnum):
    """
    Which output of a sheet's process a line came from.
    """

    STDOUT = "stdout"
    STDERR = "stderr"


class FindingSeverity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class EmptyParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Params of a method that takes none; may be omitted.
    """


class JobIdParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Names one job.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]


class JobSubmitParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Submit a score as a new job.
    """

    config_path: Annotated[
        str,
        Meta(
            description="Absolute path of the score file, as the daemon will read it.",
            min_length=1,
            pattern="^/",
        ),
    ]
    fresh: Annotated[
        bool,
        Meta(description="Start over: discard the checkpoint of a previous job with the same id."),
    ] = False
    start_sheet: (
        Annotated[int, Meta(description="Skip the sheets before this one (1-based).", ge=1)] | None
    ) = None
    priority: (
        Annotated[
            int,
            Meta(
                description="0 (lowest) to 9 (highest); the score's own priority when null.",
                ge=0,
                le=9,
            ),
        ]
        | None
    ) = None
    workspace: (
        Annotated[
            str,
            Meta(
                description="Override the score's workspace directory (absolute, or relative to the score's directory).",
                min_length=1,
            ),
        ]
        | None
    ) = None


class JobSubmitResult(Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    status: JobState


class SheetStatus(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    One sheet of a job.
    """

    sheet_num: Annotated[int, Meta(description="1-based sheet number.", ge=1)]
    status: SheetState
    attempts: Annotated[int, Meta(description="Attempts made so far.", ge=0)]
    exit_code: Annotated[int, Meta(description="Exit code of the last attempt's process.")] | None
    error: Annotated[str, Meta(description="Why the sheet failed, when it did.")] | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_seconds: Annotated[float, Meta(ge=0.0)] | None
    stage: Annotated[
        int, Meta(description="Stage number (equals sheet_num unless the score fans out).", ge=1)
    ]
    instance: Annotated[
        int, Meta(description="Instance within a fanned-out stage (1 when not fanned out).", ge=1)
    ]
    expected_seconds: (
        Annotated[
            float,
            Meta(
                description="Expected duration of this sheet from earlier runs (same score and sheet, else same backend); null without history.",
                ge=0.0,
            ),
        ]
        | None
    ) = None


class JobStatus(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    A job and all its sheets.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    name: Annotated[str, Meta(description="The score's name.")]
    status: JobState
    description: str | None
    config_path: Annotated[str, Meta(description="Absolute path of the score file.")]
    workspace: Annotated[str, Meta(description="Absolute path of the job's workspace.")]
    priority: Annotated[int, Meta(ge=0, le=9)]
    total_sheets: Annotated[int, Meta(ge=0)]
    completed_sheets: Annotated[int, Meta(ge=0)]
    failed_sheets: Annotated[int, Meta(ge=0)]
    sheets: list[SheetStatus]
    error: Annotated[str, Meta(description="Why the job failed or was cancelled.")] | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    updated_at: Timestamp
    eta_seconds: (
        Annotated[
            float,
            Meta(
                description="Expected seconds until the job ends, from the durations of earlier runs (same score and sheet, else same backend); null when the job has ended or there is no history yet.",
                ge=0.0,
            ),
        ]
        | None
    ) = None


class JobActionResult(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    The job's state after pause, resume or cancel.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    status: JobState


class JobListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    List jobs, newest first.
    """

    status: Annotated[JobState, Meta(description="Only jobs in this state.")] | None = None
    all: Annotated[
        bool, Meta(description="Include finished jobs (completed, failed, cancelled).")
    ] = False
    limit: Annotated[int, Meta(description="At most this many jobs.", ge=1, le=1000)] = 50
    after: (
        Annotated[
            str,
            Meta(description="Keyset cursor: the next_cursor of the previous page.", min_length=1),
        ]
        | None
    ) = None


class JobSummary(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    One row of job.list.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    name: str
    status: JobState
    description: str | None
    priority: Annotated[int, Meta(ge=0, le=9)]
    total_sheets: Annotated[int, Meta(ge=0)]
    completed_sheets: Annotated[int, Meta(ge=0)]
    error: str | None
    created_at: Timestamp
    updated_at: Timestamp


class JobListResult(Struct, kw_only=True, forbid_unknown_fields=True):
    jobs: list[JobSummary]
    next_cursor: (
        Annotated[
            str, Meta(description="Pass as `after` to get the next page; null on the last page.")
        ]
        | None
    )


class JobFollowParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Follow a job's events until it ends.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]


class JobEvent(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Params of the `job.event` notification.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    type: JobEventType
    sheet_num: Annotated[int, Meta(ge=1)] | None
    attempt: Annotated[int, Meta(ge=1)] | None
    message: str | None
    time: Timestamp


class JobLogsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    A job's sheet output, line by line.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    sheet_num: (
        Annotated[int, Meta(description="Only this sheet; all sheets when null.", ge=1)] | None
    ) = None
    follow: Annotated[bool, Meta(description="Keep sending new lines until the job ends.")] = False
    tail: (
        Annotated[int, Meta(description="Start with the last N lines of each log.", ge=0)] | None
    ) = None


class LogLine(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Params of the `job.log` notification.
    """

    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    sheet_num: Annotated[int, Meta(ge=1)]
    stream: LogStream
    line: Annotated[str, Meta(description="The line, without its newline.")]


class JobLogsResult(Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    lines: Annotated[int, Meta(description="How many job.log notifications were sent.", ge=0)]


class AttemptKind(StrEnum):
    """
    A normal attempt (first run or retry) or a completion attempt.
    """

    NORMAL = "normal"
    COMPLETION = "completion"


class AttemptOutcome(StrEnum):
    """
    How an attempt ended: passed (every applicable validation passed), failed (a retry or completion may follow), rate_limited (waited out, no retry used), timeout, fatal (never retried), cancelled.
    """

    PASSED = "passed"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    FATAL = "fatal"
    CANCELLED = "cancelled"


class ValidationCheck(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    One validation rule checked after an attempt.
    """

    type: Annotated[str, Meta(description="The rule's type (file_exists, ...).")]
    stage: Annotated[int, Meta(ge=1)]
    passed: bool
    description: Annotated[str, Meta(description="What was checked.")]
    message: Annotated[str, Meta(description="Why it failed.")] | None


class AttemptInfo(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    One attempt of a sheet and its outcome.
    """

    sheet_num: Annotated[int, Meta(ge=1)]
    attempt: Annotated[int, Meta(description="1-based, per sheet.", ge=1)]
    kind: AttemptKind
    started_at: Timestamp
    finished_at: Timestamp | None
    duration_seconds: Annotated[float, Meta(ge=0.0)] | None
    outcome: (
        Annotated[AttemptOutcome, Meta(description="How the attempt ended; null while it runs.")]
        | None
    )
    exit_code: int | None
    error: Annotated[str, Meta(description="What went wrong.")] | None
    validations: list[ValidationCheck]


class JobHistory(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Every attempt of a job's current run, by sheet then attempt.
    """

    job_id: str
    attempts: list[AttemptInfo]


class PatternKind(StrEnum):
    """
    validation: a validation rule that keeps failing; error: an error class that keeps occurring on a backend.
    """

    VALIDATION = "validation"
    ERROR = "error"


class LearningPatternsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    List the patterns mined from recorded outcomes.
    """

    kind: Annotated[PatternKind, Meta(description="Only patterns of this kind.")] | None = None
    limit: Annotated[
        int, Meta(description="At most this many patterns (most frequent first).", ge=1, le=1000)
    ] = 100


class LearningPattern(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    A recurring failure mined from the outcomes of every job.
    """

    id: Annotated[str, Meta(description="Stable identifier of the pattern.")]
    kind: PatternKind
    rule_type: Annotated[str, Meta(description="The validation rule's type.")] | None
    path: (
        Annotated[
            str,
            Meta(
                description="The rule's path (or command) as written in the score, placeholders unexpanded."
            ),
        ]
        | None
    )
    pattern: Annotated[str, Meta(description="The rule's pattern.")] | None
    description: Annotated[str, Meta(description="The rule's description.")] | None
    backend: Annotated[str, Meta(description="The backend it was last seen on.")]
    error_class: Annotated[str, Meta(description="For error patterns.")] | None
    last_error: Annotated[str, Meta(description="What went wrong, last time.")] | None
    last_job_id: str
    occurrences: Annotated[int, Meta(description="Failed attempts.", ge=0)]
    fixed_by_retry: Annotated[
        int, Meta(description="Sheets where a later normal attempt passed after it.", ge=0)
    ]
    fixed_by_completion: Annotated[
        int, Meta(description="Sheets where a later completion attempt passed after it.", ge=0)
    ]
    given: Annotated[
        int, Meta(description="Sheets whose prompt carried this pattern as a lesson.", ge=0)
    ]
    given_passed: Annotated[
        int, Meta(description="Of those, the sheets that then completed.", ge=0)
    ]
    effectiveness: (
        Annotated[
            float,
            Meta(
                description="given_passed / given; null until the lesson was given.", ge=0.0, le=1.0
            ),
        ]
        | None
    )
    first_seen: Timestamp
    last_seen: Timestamp


class LearningPatternsResult(Struct, kw_only=True, forbid_unknown_fields=True):
    patterns: list[LearningPattern]


class DaemonStatus(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    What `mozartd status` shows.
    """

    pid: Annotated[int, Meta(ge=1)]
    uptime_seconds: Annotated[float, Meta(ge=0.0)]
    readiness: Readiness
    ready_reasons: Annotated[
        list[str], Meta(description="Why the daemon is not ready (empty when ready).")
    ]
    running_jobs: Annotated[int, Meta(ge=0)]
    queued_jobs: Annotated[int, Meta(ge=0)]
    memory_mb: Annotated[
        float, Meta(description="Resident memory of the daemon and its children.", ge=0.0)
    ]
    child_processes: Annotated[int, Meta(ge=0)]
    accepting_work: bool
    version: Annotated[str, Meta(description="mozartd's version.")]
    pressure_level: PressureLevel


class DaemonShutdownParams(Struct, kw_only=True, forbid_unknown_fields=True):
    force: Annotated[bool, Meta(description="Cancel running jobs instead of waiting for them.")] = (
        False
    )


class DaemonShutdownResult(Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["shutting_down"]


class DaemonHealth(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Liveness: the daemon's loop answers.
    """

    status: Literal["ok"]
    pid: Annotated[int, Meta(ge=1)]
    uptime_seconds: Annotated[float, Meta(ge=0.0)]


class DaemonReady(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    Readiness: whether new work is accepted, and why not.
    """

    status: Readiness
    reasons: list[str]


class RpcErrorObject(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    The `error` member of a JSON-RPC reply.
    """

    code: int
    message: str
    data: Annotated[
        Any,
        Meta(description="Structured detail; its shape depends on the code (see x-mozart-errors)."),
    ] = None


class JobNotFoundData(Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]


class JobAlreadyExistsData(Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    state: JobState


class InvalidJobStateData(Struct, kw_only=True, forbid_unknown_fields=True):
    job_id: Annotated[
        str,
        Meta(
            description="The job's id (the score's name unless the daemon had to make it unique).",
            min_length=1,
        ),
    ]
    state: JobState
    action: Annotated[str, Meta(description="The refused action (pause, resume, cancel).")]


class ScoreFinding(Struct, kw_only=True, forbid_unknown_fields=True):
    """
    One finding of static validation.
    """

    code: str
    severity: FindingSeverity
    message: str
    file: str
    line: Annotated[int, Meta(ge=1)] | None = None
    column: Annotated[int, Meta(ge=1)] | None = None
    path: Annotated[str, Meta(description="Score path, e.g. sheet.size.")] = ""


class ScoreInvalidData(Struct, kw_only=True, forbid_unknown_fields=True):
    findings: list[ScoreFinding]


class InvalidParamsData(Struct, kw_only=True, forbid_unknown_fields=True):
    field_: Annotated[str, Meta(description="The offending field.")] = field(name="field")


# rpc.discover's result: the schema document itself, free-form by design.
SchemaDocument: TypeAlias = dict[str, Any]

__all__ = [
    "AttemptInfo",
    "AttemptKind",
    "AttemptOutcome",
    "DaemonHealth",
    "DaemonReady",
    "DaemonShutdownParams",
    "DaemonShutdownResult",
    "DaemonStatus",
    "EmptyParams",
    "FindingSeverity",
    "InvalidJobStateData",
    "InvalidParamsData",
    "JobActionResult",
    "JobAlreadyExistsData",
    "JobEvent",
    "JobEventType",
    "JobFollowParams",
    "JobHistory",
    "JobIdParams",
    "JobListParams",
    "JobListResult",
    "JobLogsParams",
    "JobLogsResult",
    "JobNotFoundData",
    "JobState",
    "JobStatus",
    "JobSubmitParams",
    "JobSubmitResult",
    "JobSummary",
    "LearningPattern",
    "LearningPatternsParams",
    "LearningPatternsResult",
    "LogLine",
    "LogStream",
    "PatternKind",
    "PressureLevel",
    "Readiness",
    "RpcErrorObject",
    "SchemaDocument",
    "ScoreFinding",
    "ScoreInvalidData",
    "SheetState",
    "SheetStatus",
    "Timestamp",
    "ValidationCheck",
]
