"""``mozart status [JOB]``: one job and its sheets, or the daemon and its active jobs."""

from __future__ import annotations

import sys
from typing import Any

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import format_duration, out, print_json, state_text, style, table, truncate
from mozart_cli.progress import state_of
from mozart_cli.timefmt import clock


def main(
    job: str | None, *, watch: bool, interval: float, json_output: bool, socket: str | None
) -> int:
    if job is None:
        return _summary(json_output=json_output, socket=socket)
    if watch:
        from mozart_cli.commands import follow

        return follow.watch(job, socket=socket, interval=interval, json_output=json_output)
    with session(socket, job=job):
        status = rpc.job_status(socket, job)
    if json_output:
        print_json(status)
    else:
        print_job(status)
    return exit_codes.OK


def _summary(*, json_output: bool, socket: str | None) -> int:
    from mozart_cli.commands.list_jobs import job_rows

    with session(socket):
        daemon = rpc.daemon_status(socket)
        jobs = rpc.list_jobs(socket, status=None, all_jobs=False, limit=50)
    if json_output:
        print_json({"daemon": daemon, "jobs": jobs})
        return exit_codes.OK
    pressure = str(getattr(daemon.pressure_level, "value", daemon.pressure_level))
    readiness = str(getattr(daemon.readiness, "value", daemon.readiness))
    ready = style(readiness, "green" if readiness == "ready" else "yellow")
    out(
        f"mozartd {daemon.version} (PID {daemon.pid}), up {format_duration(daemon.uptime_seconds)}"
        f", {ready}, pressure {pressure}"
    )
    out(f"  {daemon.running_jobs} running, {daemon.queued_jobs} queued")
    if daemon.ready_reasons:
        out(f"  not ready: {'; '.join(daemon.ready_reasons)}")
    out()
    if not jobs.jobs:
        out("No active jobs. (mozart list --all shows every job)")
        return exit_codes.OK
    for line in job_rows(list(jobs.jobs)):
        out(line)
    return exit_codes.OK


def print_job(status: Any) -> None:
    """The job's header and its sheets table."""
    state = state_of(status)
    out(f"{style('Job', 'bold')} {style(status.job_id, 'bold')}  {state_text(state)}")
    if status.description:
        out(f"  {status.description.strip().splitlines()[0]}")
    done = status.completed_sheets
    progress = f"{done}/{status.total_sheets} sheets completed"
    if status.failed_sheets:
        progress += f", {style(str(status.failed_sheets) + ' failed', 'red')}"
    out(f"  Progress:  {progress}")
    out(f"  Config:    {status.config_path}")
    out(f"  Workspace: {status.workspace}")
    out(f"  Priority:  {status.priority}")
    times = f"  Created:   {clock(status.created_at)}"
    if status.started_at is not None:
        times += f"   Started: {clock(status.started_at)}"
    if status.finished_at is not None:
        times += f"   Finished: {clock(status.finished_at)}"
    out(times)
    if status.error:
        out(f"  {style('Error:', 'red')}     {status.error}")
    sheets = list(status.sheets)
    if not sheets:
        return
    fan_out = any(s.instance != 1 or s.stage != s.sheet_num for s in sheets)
    headers = ["SHEET", *(["STAGE"] if fan_out else []), "STATE", "ATTEMPTS"]
    headers += ["DURATION", "EXIT", "LAST ERROR"]
    rows = []
    for sheet in sheets:
        row = [str(sheet.sheet_num)]
        if fan_out:
            row.append(f"{sheet.stage}.{sheet.instance}")
        row += [
            state_text(state_of(sheet)),
            str(sheet.attempts),
            format_duration(sheet.duration_seconds),
            "-" if sheet.exit_code is None else str(sheet.exit_code),
            truncate(sheet.error, 60),
        ]
        rows.append(row)
    out()
    for line in table(headers, rows):
        out(line)
    sys.stdout.flush()
