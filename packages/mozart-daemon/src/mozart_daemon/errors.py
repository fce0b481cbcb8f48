"""Domain errors the daemon raises while handling a request, each with its wire code.

Codes are the schema's (``x-mozart-errors``); the server writes ``code``, ``message`` and
``data`` into the JSON-RPC error object. Messages are what an operator reads: they say what
happened and what to do.
"""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
JOB_NOT_FOUND = -32001
JOB_ALREADY_EXISTS = -32002
INVALID_JOB_STATE = -32003
DAEMON_SHUTTING_DOWN = -32004
SYSTEM_UNDER_PRESSURE = -32005
SCORE_INVALID = -32006
PERMISSION_DENIED = -32007
TOO_MANY_CONNECTIONS = -32008
MESSAGE_TOO_LARGE = -32009
SCORE_NOT_READABLE = -32010
STATE_UNAVAILABLE = -32011


class DaemonError(Exception):
    def __init__(self, code: int, message: str, data: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def job_not_found(job_id: str) -> DaemonError:
    return DaemonError(
        JOB_NOT_FOUND,
        f"No job '{job_id}'. List jobs with `mozart list --all`.",
        {"job_id": job_id},
    )


def job_already_exists(job_id: str, state: str, *, ended: bool) -> DaemonError:
    if ended:
        message = (
            f"Job '{job_id}' already exists ({state}). Submit it with --fresh to start over, "
            f"or continue it with `mozart resume {job_id}`."
        )
    else:
        message = f"Job '{job_id}' is already active ({state})."
    return DaemonError(JOB_ALREADY_EXISTS, message, {"job_id": job_id, "state": state})


def invalid_state(job_id: str, state: str, action: str) -> DaemonError:
    return DaemonError(
        INVALID_JOB_STATE,
        f"Cannot {action} job '{job_id}': it is {state}.",
        {"job_id": job_id, "state": state, "action": action},
    )


def shutting_down() -> DaemonError:
    return DaemonError(DAEMON_SHUTTING_DOWN, "mozartd is shutting down; no new work is accepted.")


def under_pressure() -> DaemonError:
    from mozart_daemon.backpressure import REFUSAL_MESSAGE

    return DaemonError(SYSTEM_UNDER_PRESSURE, REFUSAL_MESSAGE)


def state_unavailable(detail: str) -> DaemonError:
    return DaemonError(STATE_UNAVAILABLE, f"The state database is unavailable: {detail}")
