"""``mozart list``: the daemon's jobs; active ones unless ``--all`` or ``--status``."""

from __future__ import annotations

from typing import Any

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import err, out, print_json, state_text, table, truncate
from mozart_cli.progress import state_of
from mozart_cli.timefmt import ago


def job_rows(jobs: list[Any]) -> list[str]:
    """The jobs table (header first) shared by ``list`` and ``status``."""
    rows = [
        [
            job.job_id,
            state_text(state_of(job)),
            f"{job.completed_sheets}/{job.total_sheets}",
            str(job.priority),
            ago(job.updated_at),
            truncate(job.error if job.error else job.description, 50),
        ]
        for job in jobs
    ]
    return table(["JOB", "STATUS", "SHEETS", "PRIO", "UPDATED", "DESCRIPTION / ERROR"], rows)


def main(
    *,
    all_jobs: bool,
    state: str | None,
    limit: int,
    after: str | None = None,
    json_output: bool,
    socket: str | None,
) -> int:
    with session(socket):
        result = rpc.list_jobs(socket, status=state, all_jobs=all_jobs, limit=limit, after=after)
    if json_output:
        print_json(result)
        return exit_codes.OK
    if not result.jobs:
        what = f"{state} jobs" if state else "jobs" if all_jobs else "active jobs"
        out(f"No {what}." + ("" if all_jobs or state else " (mozart list --all shows every job)"))
        return exit_codes.OK
    for line in job_rows(list(result.jobs)):
        out(line)
    if result.next_cursor:
        err(f"(more jobs: mozart list --after {result.next_cursor}, or raise --limit)")
    return exit_codes.OK
