"""Talking to mozartd: socket resolution, the client, and daemon errors shown by meaning.

Every daemon command wraps its calls in :func:`session`; it turns each failure into one
message on stderr and an exit code (:mod:`mozart_cli.exit_codes`), so a job that is not
found is never reported as "daemon not running" and vice versa.

The JSON-RPC error table (``mozart_protocol.errors``) maps one-to-one to the rows of
:data:`ERROR_MEANINGS`; the client-side failures (no daemon, timeout, a broken reply) are
handled next to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer

from mozart_cli import exit_codes
from mozart_cli.output import error

NOT_RUNNING = "Mozart daemon is not running."
START_HINT = "Start it with: mozartd start"


@dataclass(frozen=True)
class Meaning:
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


class CommandFailed(typer.Exit):
    """Stops a command with ``exit_code``; its message has already been shown on stderr."""


def socket_path(explicit: str | None) -> str:
    """The socket the client will use: ``--socket`` > ``MOZART_SOCKET`` > the default."""
    from mozart_protocol.client import resolve_socket_path

    return str(resolve_socket_path(explicit))


def _data(exc: BaseException) -> Mapping[str, Any]:
    data = getattr(exc, "data", None)
    return data if isinstance(data, Mapping) else {}


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


def report(exc: BaseException, *, socket: str | None, job: str | None = None) -> int:
    """Print what ``exc`` means on stderr and return its exit code."""
    from mozart_protocol import errors

    if isinstance(exc, errors.DaemonNotRunning):
        path = exc.socket_path or socket_path(socket)
        cause = exc.__cause__ or exc.__context__
        if exc.reason == "permission denied" or isinstance(cause, PermissionError):
            # The daemon may well be running: it is the socket we may not open.
            error(
                f"Permission denied on the daemon socket {path}.",
                "Use a daemon of your own (--socket or MOZART_SOCKET), or ask for access to it.",
            )
            return exit_codes.PERMISSION_DENIED
        reason = f" ({exc.reason})" if exc.reason else ""
        error(NOT_RUNNING, START_HINT, f"Socket tried: {path}{reason}")
        return exit_codes.FAILURE
    if isinstance(exc, errors.UntrustedDaemonError):
        error(str(exc))
        return exit_codes.PERMISSION_DENIED
    if isinstance(exc, errors.RpcTimeout):
        error(f"The daemon did not answer in time: {exc}")
        return exit_codes.TIMEOUT
    if isinstance(exc, errors.RpcError):
        if exc.code == -32006:
            return _report_invalid_score(exc)
        text, details, code = describe_rpc_error(exc.code, exc.message, _data(exc), job=job)
        error(text, *details)
        return code
    if isinstance(exc, errors.ProtocolError):
        error(f"Unexpected reply from the daemon: {exc}")
        return exit_codes.FAILURE
    if isinstance(exc, PermissionError):
        error(f"Permission denied on the daemon socket {socket_path(socket)}.")
        return exit_codes.PERMISSION_DENIED
    if isinstance(exc, (ConnectionError, EOFError)):
        error(f"Lost the connection to the daemon: {exc or type(exc).__name__}")
        return exit_codes.FAILURE
    raise exc


def _report_invalid_score(exc: Any) -> int:
    import sys

    from mozart_cli.findings import print_findings, summary

    findings = _data(exc).get("findings") or []
    errors_ = [f for f in findings if isinstance(f, Mapping) and f.get("severity") == "error"]
    warnings = len(findings) - len(errors_)
    error(f"The daemon refused the score: {summary(len(errors_), warnings)}.")
    print_findings(findings, stream=sys.stderr)
    return exit_codes.FAILURE


_HANDLED: tuple[type[BaseException], ...] = (ConnectionError, EOFError, PermissionError)


@contextmanager
def session(socket: str | None, *, job: str | None = None) -> Iterator[None]:
    """Run daemon calls; any daemon failure becomes its message and :class:`CommandFailed`."""
    from mozart_protocol import errors

    try:
        yield
    except (
        errors.RpcError,
        errors.DaemonNotRunning,
        errors.RpcTimeout,
        errors.ProtocolError,
    ) as exc:
        raise CommandFailed(report(exc, socket=socket, job=job)) from None
    except _HANDLED as exc:
        raise CommandFailed(report(exc, socket=socket, job=job)) from None
