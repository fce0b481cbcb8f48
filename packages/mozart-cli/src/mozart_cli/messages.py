"""What ``mozart`` says when talking to the daemon fails: message lines and exit codes.

The one place for these texts. Both ways a daemon command can run use it: the Typer
commands (through :func:`mozart_cli.daemon.report`) and the start-up fast path of
``status JOB --json`` and ``list --json`` (:mod:`mozart_cli.fastpath`). Standard library
only, so that the fast path can import it without Typer, asyncio or msgspec.

Each function returns ``(lines, exit code)``; the first line is printed after ``Error:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from mozart_cli import exit_codes

NOT_RUNNING = "Mozart daemon is not running."
START_HINT = "Start it with: mozartd start"

Report = tuple[list[str], int]


class Meaning(NamedTuple):
    """What a JSON-RPC error code means to a user, and the exit code it becomes."""

    name: str
    exit_code: int
    hint: str = ""


ERROR_MEANINGS: dict[int, Meaning] = {
    -32700: Meaning("parse error", exit_codes.FAILURE, "The daemon could not parse the request."),
    -32600: Meaning("invalid request", exit_codes.FAILURE),
    -32601: Meaning(
        "method not found",
        exit_codes.FAILURE,
        "The daemon does not know this request: are mozart and mozartd the same version?",
    ),
    -32602: Meaning("invalid parameters", exit_codes.USAGE),
    -32603: Meaning("internal daemon error", exit_codes.FAILURE, "Details are in the daemon log."),
    -32001: Meaning("job not found", exit_codes.JOB_NOT_FOUND, "List jobs with: mozart list --all"),
    -32002: Meaning("job already exists", exit_codes.WRONG_STATE),
    -32003: Meaning("wrong job state", exit_codes.WRONG_STATE),
    -32004: Meaning("daemon shutting down", exit_codes.BUSY, "Start it again with: mozartd start"),
    -32005: Meaning("daemon under pressure", exit_codes.BUSY),
    -32006: Meaning("invalid score", exit_codes.FAILURE, "Check it with: mozart validate"),
    -32007: Meaning("permission denied", exit_codes.PERMISSION_DENIED),
    -32008: Meaning("too many connections", exit_codes.BUSY, "Try again in a moment."),
    -32009: Meaning("message too large", exit_codes.FAILURE),
    -32010: Meaning("score not readable", exit_codes.USAGE),
    -32011: Meaning("daemon state unavailable", exit_codes.FAILURE),
}


def describe_rpc_error(
    code: int, message: str, data: Mapping[str, Any], *, job: str | None = None
) -> tuple[str, list[str], int]:
    """``(message, detail lines, exit code)`` for a JSON-RPC error from the daemon."""
    meaning = ERROR_MEANINGS.get(code, Meaning("daemon error", exit_codes.FAILURE))
    details = [meaning.hint] if meaning.hint else []
    job = job or (str(data["job_id"]) if data.get("job_id") else None)
    who = f"Job '{job}'" if job else "The job"
    if code == -32001:
        text = f"{who} not found."
    elif code == -32002:
        state = data.get("state")
        text = f"{who} already exists" + (f" and is {state}." if state else ".")
        details = ["Wait until it ends, or cancel it: mozart cancel " + (job or "JOB")]
        if state in ("completed", "cancelled"):
            details = ["Run it again from the start with --fresh."]
        elif state == "failed":
            details = [f"Continue it: mozart resume {job or 'JOB'}, or start over with --fresh."]
    elif code == -32003:
        state, action = data.get("state"), data.get("action")
        target = f"job '{job}'" if job else "the job"
        if state and action:
            text = f"Cannot {action} {target}: it is {state}."
        else:
            text = f"{who} is in the wrong state: {message}"
    elif code == -32005:
        text = message or "System under high pressure — try again later."
        details = ["The daemon refuses new work until memory and process load go down."]
    elif code == -32004:
        text = "The daemon is shutting down and accepts no new work."
    elif code == -32007:
        reason = "" if message in ("", "Permission denied") else f": {message.rstrip('.')}"
        text = f"Permission denied by the daemon{reason}."
        details = ["Only the daemon's own user (or root) may use it: run your own mozartd."]
    elif code == -32008:
        text = "The daemon has reached its connection limit."
    elif code == -32010:
        generic = message in ("", "Score not readable")
        text = "The daemon cannot read the score file." if generic else message
        details = ["It reads the file as its own user: check the path and its permissions."]
    else:
        text = message or meaning.name
    return text, details, meaning.exit_code


def rpc_error(code: int, message: str, data: Any, *, job: str | None = None) -> Report:
    """An error object answered by the daemon (``data`` as received: any JSON value)."""
    text, details, exit_code = describe_rpc_error(
        code, message, data if isinstance(data, Mapping) else {}, job=job
    )
    return [text, *details], exit_code


def daemon_unreachable(path: str, reason: str, *, permission: bool = False) -> Report:
    """Nothing answers on the socket ``path`` (``reason`` says why, e.g. "no such file")."""
    if permission or reason == "permission denied":
        # The daemon may well be running: it is the socket we may not open.
        return [
            f"Permission denied on the daemon socket {path}.",
            "Use a daemon of your own (--socket or MOZART_SOCKET), or ask for access to it.",
        ], exit_codes.PERMISSION_DENIED
    because = f" ({reason})" if reason else ""
    return [NOT_RUNNING, START_HINT, f"Socket tried: {path}{because}"], exit_codes.FAILURE


def no_reply(what: str) -> Report:
    """The request timed out; ``what`` is the client's own account (``RpcTimeout``'s text)."""
    return [f"The daemon did not answer in time: {what}"], exit_codes.TIMEOUT


def show(report: Report) -> int:
    """Print ``report`` on stderr (``Error:`` and its lines) and return its exit code."""
    from mozart_cli.output import error

    lines, exit_code = report
    error(*lines)
    return exit_code
