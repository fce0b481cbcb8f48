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
from typing import Any

import typer

from mozart_cli import exit_codes, messages
from mozart_cli.messages import (  # re-exported: the texts live in mozart_cli.messages
    ERROR_MEANINGS,
    NOT_RUNNING,
    START_HINT,
    Meaning,
    describe_rpc_error,
)
from mozart_cli.output import error

__all__ = [
    "ERROR_MEANINGS",
    "NOT_RUNNING",
    "START_HINT",
    "CommandFailed",
    "Meaning",
    "describe_rpc_error",
    "report",
    "session",
    "socket_path",
]


class CommandFailed(typer.Exit):
    """Stops a command with ``exit_code``; its message has already been shown on stderr."""


def socket_path(explicit: str | None) -> str:
    """The socket the client will use: ``--socket`` > ``MOZART_SOCKET`` > the default."""
    from mozart_protocol.client import resolve_socket_path

    return str(resolve_socket_path(explicit))


def _data(exc: BaseException) -> Mapping[str, Any]:
    data = getattr(exc, "data", None)
    return data if isinstance(data, Mapping) else {}


def report(exc: BaseException, *, socket: str | None, job: str | None = None) -> int:
    """Print what ``exc`` means on stderr and return its exit code."""
    from mozart_protocol import errors

    if isinstance(exc, errors.DaemonNotRunning):
        path = exc.socket_path or socket_path(socket)
        cause = exc.__cause__ or exc.__context__
        permission = isinstance(cause, PermissionError)
        return messages.show(messages.daemon_unreachable(path, exc.reason, permission=permission))
    if isinstance(exc, errors.UntrustedDaemonError):
        error(str(exc))
        return exit_codes.PERMISSION_DENIED
    if isinstance(exc, errors.RpcTimeout):
        return messages.show(messages.no_reply(str(exc)))
    if isinstance(exc, errors.RpcError):
        if exc.code == -32006:
            return _report_invalid_score(exc)
        return messages.show(messages.rpc_error(exc.code, exc.message, exc.data, job=job))
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
