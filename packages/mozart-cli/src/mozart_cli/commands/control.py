"""``mozart pause|resume|cancel JOB``: ask the daemon, then wait until it confirms the state.

The daemon accepts the request at once, but a job stops at a safe point (the running sheet
is stopped or finishes), so the command polls ``job.status`` until the new state shows up,
or until ``--timeout`` with a message that says what the job is doing instead.
"""

from __future__ import annotations

import time

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import error, out, print_json, state_text, style
from mozart_cli.progress import TERMINAL_STATES, state_of

PAST = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def confirmed(action: str, state: str) -> bool:
    """Whether ``state`` shows that ``action`` took effect."""
    if action == "pause":
        return state == "paused"
    if action == "resume":
        return state != "paused"  # running, queued for a slot, or already finished
    return state == "cancelled"


def impossible(action: str, state: str) -> bool:
    """Whether ``action`` can no longer take effect (the job ended some other way)."""
    return action != "resume" and state in TERMINAL_STATES and not confirmed(action, state)


def main(
    action: str, job: str, *, timeout: float, wait: bool, json_output: bool, socket: str | None
) -> int:
    with session(socket, job=job):
        result = rpc.job_action(socket, action, job)
        state = state_of(result)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while wait and not confirmed(action, state) and not impossible(action, state):
            if time.monotonic() >= deadline:
                error(
                    f"Timed out after {timeout:g}s waiting for job '{job}' to be {PAST[action]}:"
                    f" it is still {state}.",
                    "The daemon accepted the request; check with: mozart status " + job,
                )
                return exit_codes.TIMEOUT
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)
            state = state_of(rpc.job_status(socket, job))

    if wait and impossible(action, state):
        error(f"Job '{job}' ended as {state} before it could be {PAST[action]}.")
        return exit_codes.WRONG_STATE
    if json_output:
        print_json({"job_id": result.job_id, "status": state})
        return exit_codes.OK
    if confirmed(action, state):
        out(f"Job {style(job, 'bold')} {PAST[action]} (now {state_text(state)}).")
    else:
        out(f"Job {style(job, 'bold')}: {action} requested (now {state_text(state)}).")
    return exit_codes.OK
