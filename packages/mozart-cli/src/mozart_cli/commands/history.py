"""``mozart history JOB``: every attempt of the job's current run with its outcome."""

from __future__ import annotations

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import format_duration, out, print_json, style, table, truncate
from mozart_cli.timefmt import clock

_COLOURS = {"passed": "green", "failed": "red", "fatal": "red", "timeout": "red",
            "rate_limited": "yellow", "cancelled": "yellow"}  # fmt: skip


def main(job: str, *, sheet: int | None, json_output: bool, socket: str | None) -> int:
    with session(socket, job=job):
        history = rpc.job_history(socket, job)
    attempts = [a for a in history.attempts if sheet is None or a.sheet_num == sheet]
    if json_output:
        print_json({"job_id": history.job_id, "attempts": attempts})
        return exit_codes.OK
    if not attempts:
        out(f"Job {history.job_id} has no attempts yet." if sheet is None else
            f"Sheet {sheet} of {history.job_id} has no attempts.")  # fmt: skip
        return exit_codes.OK
    rows = []
    for a in attempts:
        outcome = state_of_outcome(a.outcome)
        failed_checks = [v.description for v in a.validations if not v.passed]
        detail = a.error or ("; ".join(failed_checks) if failed_checks else None)
        rows.append(
            [
                str(a.sheet_num),
                str(a.attempt),
                str(getattr(a.kind, "value", a.kind)),
                style(outcome, _COLOURS.get(outcome, "bold")),
                "-" if a.exit_code is None else str(a.exit_code),
                format_duration(a.duration_seconds),
                clock(a.started_at),
                truncate(detail, 60),
            ]
        )
    headers = ["SHEET", "ATTEMPT", "KIND", "OUTCOME", "EXIT", "TIME", "STARTED", "ERROR"]
    for line in table(headers, rows):
        out(line)
    return exit_codes.OK


def state_of_outcome(outcome: object) -> str:
    """The outcome as plain text; ``running`` while the attempt is open."""
    return "running" if outcome is None else str(getattr(outcome, "value", outcome))
