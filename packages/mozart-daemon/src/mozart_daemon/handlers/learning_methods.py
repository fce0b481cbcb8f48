"""job.history and learning.patterns: what the daemon recorded and learned."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mozart_protocol import (
    AttemptInfo,
    AttemptKind,
    AttemptOutcome,
    JobHistory,
    JobIdParams,
    LearningPattern,
    LearningPatternsParams,
    LearningPatternsResult,
    PatternKind,
    ValidationCheck,
)

from mozart_daemon import errors
from mozart_daemon.learning import Pattern
from mozart_daemon.store import AttemptRecord

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon
    from mozart_daemon.handlers.table import Call


def _check(item: object) -> ValidationCheck | None:
    if not isinstance(item, dict):
        return None
    return ValidationCheck(
        type=str(item.get("type")),
        stage=int(item.get("stage") or 1),
        passed=bool(item.get("passed")),
        description=str(item.get("description")),
        message=item.get("message"),
    )


def attempt_info(a: AttemptRecord) -> AttemptInfo:
    checks = [c for c in map(_check, a.validations) if c is not None]
    return AttemptInfo(
        sheet_num=a.sheet_num,
        attempt=a.attempt,
        kind=AttemptKind(a.kind),
        started_at=a.started_at,
        finished_at=a.finished_at,
        duration_seconds=a.duration_seconds,
        outcome=AttemptOutcome(a.outcome) if a.outcome is not None else None,
        exit_code=a.exit_code,
        error=a.error,
        validations=checks,
    )


async def history(daemon: Daemon, params: JobIdParams, call: Call) -> JobHistory:
    if await daemon.store.jobs.get(params.job_id) is None:
        raise errors.job_not_found(params.job_id)
    attempts = await daemon.store.sheets.job_attempts(params.job_id)
    return JobHistory(job_id=params.job_id, attempts=[attempt_info(a) for a in attempts])


def learning_pattern(p: Pattern) -> LearningPattern:
    return LearningPattern(
        id=p.id,
        kind=PatternKind(p.kind),
        rule_type=p.rule_type,
        path=p.path,
        pattern=p.pattern,
        description=p.description,
        backend=p.backend,
        error_class=p.error_class,
        last_error=p.last_error,
        last_job_id=p.last_job_id,
        occurrences=p.occurrences,
        fixed_by_retry=p.fixed_by_retry,
        fixed_by_completion=p.fixed_by_completion,
        given=p.given,
        given_passed=p.given_passed,
        effectiveness=p.effectiveness,
        first_seen=datetime.fromisoformat(p.first_seen),
        last_seen=datetime.fromisoformat(p.last_seen),
    )


async def patterns(
    daemon: Daemon, params: LearningPatternsParams, call: Call
) -> LearningPatternsResult:
    kind = params.kind.value if params.kind is not None else None
    found = daemon.learning.patterns(kind=kind, limit=params.limit)
    return LearningPatternsResult(patterns=[learning_pattern(p) for p in found])
