"""``mozart errors JOB``: why the job's sheets failed, one block per failed sheet."""

from __future__ import annotations

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import out, print_json, style
from mozart_cli.progress import state_of


def main(job: str, *, json_output: bool, socket: str | None) -> int:
    with session(socket, job=job):
        status = rpc.job_status(socket, job)
    failed = [s for s in status.sheets if s.error or state_of(s) == "failed"]
    if json_output:
        print_json(
            {
                "job_id": status.job_id,
                "status": status.status,
                "error": status.error,
                "sheets": failed,
            }
        )
        return exit_codes.OK
    state = state_of(status)
    if status.error:
        out(f"{style('Job', 'bold')} {status.job_id} ({state}): {status.error}")
    if not failed:
        if not status.error:
            out(f"Job {status.job_id} ({state}) has no errors.")
        return exit_codes.OK
    for sheet in failed:
        exit_text = "" if sheet.exit_code is None else f", exit code {sheet.exit_code}"
        head = f"Sheet {sheet.sheet_num}: {state_of(sheet)} after {sheet.attempts} attempt(s)"
        out(style(head + exit_text, "bold", "red" if state_of(sheet) == "failed" else "yellow"))
        for line in (sheet.error or "(no error message)").rstrip().splitlines():
            out(f"  {line}")
    out()
    out(f"Sheet output: mozart logs {status.job_id} --sheet {failed[0].sheet_num}")
    return exit_codes.OK
