"""job.submit, job.status, job.pause, job.resume, job.cancel, job.list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mozart_protocol import (
    JobActionResult,
    JobIdParams,
    JobListParams,
    JobListResult,
    JobState,
    JobStatus,
    JobSubmitParams,
    JobSubmitResult,
    JobSummary,
    SheetState,
    SheetStatus,
)

from mozart_daemon import errors
from mozart_daemon.store import JobRecord, SheetRecord

ENDED = frozenset({"completed", "failed", "cancelled"})
# A dict lookup instead of the Enum constructor on every submit.
_JOB_STATE: dict[str, JobState] = {s.value: s for s in JobState}

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon
    from mozart_daemon.handlers.table import Call


def sheet_status(s: SheetRecord, expected: float | None = None) -> SheetStatus:
    return SheetStatus(
        sheet_num=s.sheet_num,
        status=SheetState(s.status),
        attempts=s.attempts,
        exit_code=s.exit_code,
        error=s.error,
        started_at=s.started_at,
        finished_at=s.finished_at,
        duration_seconds=s.duration_seconds,
        stage=s.stage,
        instance=s.instance,
        expected_seconds=expected,
    )


async def job_status(daemon: Daemon, job_id: str) -> JobStatus:
    record = await daemon.store.jobs.get(job_id)
    if record is None:
        raise errors.job_not_found(job_id)
    sheets = await daemon.store.sheets.sheets(job_id)
    if record.status in ENDED:
        return build_status(record, sheets)
    history = await daemon.learning.expected_durations(job_id)
    fallback = daemon.learning.backend_expected_seconds(record.backend)
    expected = {s.sheet_num: history.get(s.sheet_num, fallback) for s in sheets}
    run = daemon.manager.active(job_id)
    parallel = run.max_parallel if run is not None else 1
    return build_status(record, sheets, expected=expected, parallel=parallel)


def eta_seconds(
    sheets: list[SheetRecord], expected: dict[int, float | None], parallel: int, now: datetime
) -> float | None:
    """Remaining expected work spread over the job's parallel slots (never less than the
    longest single remaining sheet); None when a remaining sheet has no history."""
    remaining: list[float] = []
    for s in sheets:
        if s.status in ("completed", "failed", "skipped"):
            continue
        guess = expected.get(s.sheet_num)
        if guess is None:
            return None
        if s.status == "running" and s.started_at is not None:
            guess -= (now - s.started_at).total_seconds()
        remaining.append(max(0.0, guess))
    if not remaining:
        return 0.0
    return max(sum(remaining) / max(1, min(parallel, len(remaining))), max(remaining))


def build_status(
    r: JobRecord,
    sheets: list[SheetRecord],
    *,
    expected: dict[int, float | None] | None = None,
    parallel: int = 1,
) -> JobStatus:
    expected = expected or {}
    eta = eta_seconds(sheets, expected, parallel, datetime.now(UTC)) if expected else None
    return JobStatus(
        job_id=r.job_id,
        name=r.name,
        status=JobState(r.status),
        description=r.description,
        config_path=r.config_path,
        workspace=r.workspace,
        priority=r.priority,
        total_sheets=r.total_sheets,
        completed_sheets=sum(1 for s in sheets if s.status == "completed"),
        failed_sheets=sum(1 for s in sheets if s.status == "failed"),
        sheets=[sheet_status(s, expected.get(s.sheet_num)) for s in sheets],
        error=r.error,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        updated_at=r.updated_at,
        eta_seconds=eta,
    )


async def submit(daemon: Daemon, params: JobSubmitParams, call: Call) -> JobSubmitResult:
    job_id, state = await daemon.manager.submit(
        config_path=params.config_path,
        fresh=params.fresh,
        start_sheet=params.start_sheet,
        priority=params.priority,
        workspace=params.workspace,
    )
    return JobSubmitResult(job_id=job_id, status=_JOB_STATE[state])


async def status(daemon: Daemon, params: JobIdParams, call: Call) -> JobStatus:
    return await job_status(daemon, params.job_id)


async def pause(daemon: Daemon, params: JobIdParams, call: Call) -> JobActionResult:
    state = await daemon.manager.pause(params.job_id)
    return JobActionResult(job_id=params.job_id, status=JobState(state))


async def resume(daemon: Daemon, params: JobIdParams, call: Call) -> JobActionResult:
    state = await daemon.manager.resume(params.job_id)
    return JobActionResult(job_id=params.job_id, status=JobState(state))


async def cancel(daemon: Daemon, params: JobIdParams, call: Call) -> JobActionResult:
    state = await daemon.manager.cancel(params.job_id)
    return JobActionResult(job_id=params.job_id, status=JobState(state))


async def list_jobs(daemon: Daemon, params: JobListParams, call: Call) -> JobListResult:
    try:
        records, cursor = await daemon.store.jobs.list_jobs(
            status=params.status.value if params.status is not None else None,
            include_all=params.all,
            limit=params.limit,
            after=params.after,
        )
    except ValueError as exc:
        raise errors.DaemonError(
            errors.INVALID_PARAMS, f"Invalid params: after: {exc}", {"field": "after"}
        ) from exc
    # One query for the whole page, not one per job.
    completed = await daemon.store.sheets.completed_counts([r.job_id for r in records])
    jobs = [
        JobSummary(
            job_id=r.job_id,
            name=r.name,
            status=JobState(r.status),
            description=r.description,
            priority=r.priority,
            total_sheets=r.total_sheets,
            completed_sheets=completed.get(r.job_id, 0),
            error=r.error,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in records
    ]
    return JobListResult(jobs=jobs, next_cursor=cursor)
