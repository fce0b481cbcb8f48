"""``mozart run CONFIG``: submit a score to the daemon; ``--dry-run`` plans it locally."""

from __future__ import annotations

import os

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import error, out, print_json, style
from mozart_cli.progress import state_of

ESCALATION_REFUSED = (
    "--escalation is incompatible with daemon mode.",
    "Escalation needs interactive console prompts, which are not available when a job runs",
    "in the daemon. Escalation is not currently supported when running through the daemon.",
)


def main(
    config: str,
    *,
    dry_run: bool,
    fresh: bool,
    start_sheet: int | None,
    priority: int | None,
    workspace: str | None,
    follow: bool,
    escalation: bool,
    json_output: bool,
    socket: str | None,
) -> int:
    if escalation:
        error(*ESCALATION_REFUSED)
        return exit_codes.USAGE
    if dry_run:
        from mozart_cli.commands import plan

        return plan.main(
            config, workspace=workspace, start_sheet=start_sheet, json_output=json_output
        )

    config_path = os.path.abspath(config)
    with session(socket):
        result = rpc.submit(
            socket,
            config_path=config_path,
            fresh=fresh,
            start_sheet=start_sheet,
            priority=priority,
            workspace=os.path.abspath(workspace) if workspace is not None else None,
        )
    job_id = result.job_id
    if not follow:
        if json_output:
            print_json(result)
        else:
            out(f"Job {style(job_id, 'bold')} submitted ({state_of(result)}).")
            out(f"Follow it with: mozart status {job_id} --watch")
        return exit_codes.OK

    from mozart_cli.commands import follow as follow_command

    if not json_output:
        out(f"Job {style(job_id, 'bold')} submitted; following it (Ctrl-C stops following only).")
    return follow_command.follow(job_id, socket=socket, json_output=json_output)
