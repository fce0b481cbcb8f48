"""The handler table: one entry per method of the schema, keyed by the generated Method.

Each handler takes the daemon, its typed params and the ``Call`` (to send notifications
from streaming methods) and returns its typed result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from mozart_protocol import Method, framing

from mozart_daemon.handlers import (
    daemon_methods,
    job_methods,
    learning_methods,
    stream_methods,
)

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon


class Call:
    """The request being answered: lets a streaming handler send notifications first."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]], request_id: object) -> None:
        self._write = write
        self.request_id = request_id

    async def notify(self, method: str, params: msgspec.Struct) -> None:
        await self._write(
            framing.encode_message(
                {"jsonrpc": "2.0", "method": method, "params": msgspec.to_builtins(params)}
            )
        )


Handler = Callable[["Daemon", Any, Call], Awaitable[Any]]

HANDLERS: dict[Method, Handler] = {
    Method.JOB_SUBMIT: job_methods.submit,
    Method.JOB_STATUS: job_methods.status,
    Method.JOB_PAUSE: job_methods.pause,
    Method.JOB_RESUME: job_methods.resume,
    Method.JOB_CANCEL: job_methods.cancel,
    Method.JOB_LIST: job_methods.list_jobs,
    Method.JOB_FOLLOW: stream_methods.follow,
    Method.JOB_LOGS: stream_methods.logs,
    Method.JOB_HISTORY: learning_methods.history,
    Method.DAEMON_STATUS: daemon_methods.status,
    Method.DAEMON_SHUTDOWN: daemon_methods.shutdown,
    Method.DAEMON_HEALTH: daemon_methods.health,
    Method.DAEMON_READY: daemon_methods.ready,
    Method.LEARNING_PATTERNS: learning_methods.patterns,
    Method.RPC_DISCOVER: daemon_methods.discover,
}
