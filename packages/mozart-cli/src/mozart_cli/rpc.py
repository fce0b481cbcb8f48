"""The CLI's only door to ``mozart_protocol.client``: one small function per daemon call.

Keeping every client call here means the commands do not care how the client spells its
methods, and a test can see at a glance which RPC each command uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mozart_protocol._generated.models import (
        DaemonStatus,
        JobActionResult,
        JobEvent,
        JobHistory,
        JobListResult,
        JobLogsResult,
        JobStatus,
        JobSubmitResult,
        LearningPatternsResult,
        LogLine,
    )
    from mozart_protocol.client import AsyncDaemonClient, DaemonClient, RpcStream


def sync_client(socket: str | None) -> DaemonClient:
    from mozart_protocol.client import DaemonClient

    return DaemonClient(socket_path=socket)


def async_client(socket: str | None) -> AsyncDaemonClient:
    from mozart_protocol.client import AsyncDaemonClient

    return AsyncDaemonClient(socket_path=socket)


def submit(
    socket: str | None,
    *,
    config_path: str,
    fresh: bool,
    start_sheet: int | None,
    priority: int | None,
    workspace: str | None,
) -> JobSubmitResult:
    return sync_client(socket).submit_job(
        config_path,
        fresh=fresh,
        start_sheet=start_sheet,
        priority=priority,
        workspace=workspace,
    )


def job_status(socket: str | None, job_id: str) -> JobStatus:
    return sync_client(socket).job_status(job_id)


def list_jobs(
    socket: str | None,
    *,
    status: str | None,
    all_jobs: bool,
    limit: int,
    after: str | None = None,
) -> JobListResult:
    return sync_client(socket).list_jobs(status=status, all=all_jobs, limit=limit, after=after)


def job_history(socket: str | None, job_id: str) -> JobHistory:
    return sync_client(socket).job_history(job_id)


def learning_patterns(
    socket: str | None, *, kind: str | None, limit: int
) -> LearningPatternsResult:
    return sync_client(socket).learning_patterns(kind=kind, limit=limit)


def daemon_status(socket: str | None) -> DaemonStatus:
    return sync_client(socket).daemon_status()


def job_action(socket: str | None, action: str, job_id: str) -> JobActionResult:
    client = sync_client(socket)
    if action == "pause":
        return client.pause_job(job_id)
    if action == "resume":
        return client.resume_job(job_id)
    return client.cancel_job(job_id)


def follow_events(client: AsyncDaemonClient, job_id: str) -> RpcStream[JobEvent, JobStatus]:
    return client.follow_job(job_id)


def log_lines(
    client: AsyncDaemonClient,
    job_id: str,
    *,
    sheet_num: int | None,
    follow: bool,
    tail: int | None,
) -> RpcStream[LogLine, JobLogsResult]:
    return client.job_logs(job_id, sheet_num=sheet_num, follow=follow, tail=tail)
