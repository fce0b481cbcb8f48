# Generated from schema/rpc.schema.json by `nox -s codegen`.
# Do not edit: change the schema and regenerate. (error codes)
# ruff: noqa: E501
"""The error table: every wire error code with its name, default message and meaning.

Codes -32700..-32600 are JSON-RPC's own; -32099..-32000 are Mozart's domain errors.
A code is never reused for another meaning.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from mozart_protocol._generated import models

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
JOB_NOT_FOUND: Final = -32001
JOB_ALREADY_EXISTS: Final = -32002
INVALID_JOB_STATE: Final = -32003
DAEMON_SHUTTING_DOWN: Final = -32004
SYSTEM_UNDER_PRESSURE: Final = -32005
SCORE_INVALID: Final = -32006
PERMISSION_DENIED: Final = -32007
TOO_MANY_CONNECTIONS: Final = -32008
MESSAGE_TOO_LARGE: Final = -32009
SCORE_NOT_READABLE: Final = -32010
STATE_UNAVAILABLE: Final = -32011


class ErrorSpec(NamedTuple):
    name: str
    code: int
    message: str
    meaning: str
    data: type[Any] | None


ERRORS: dict[int, ErrorSpec] = {
    PARSE_ERROR: ErrorSpec(
        name="ParseError",
        code=-32700,
        message="Parse error",
        meaning="The line is not valid JSON (UTF-8). The connection stays open.",
        data=None,
    ),
    INVALID_REQUEST: ErrorSpec(
        name="InvalidRequest",
        code=-32600,
        message="Invalid request",
        meaning="The JSON is not a JSON-RPC 2.0 request object (jsonrpc, method, params, id).",
        data=None,
    ),
    METHOD_NOT_FOUND: ErrorSpec(
        name="MethodNotFound",
        code=-32601,
        message="Method not found",
        meaning="No such method; rpc.discover lists them. Client and daemon may be different versions.",
        data=None,
    ),
    INVALID_PARAMS: ErrorSpec(
        name="InvalidParams",
        code=-32602,
        message="Invalid params",
        meaning="Params do not match the method's schema: a missing, unknown or mistyped field, named in the message.",
        data=models.InvalidParamsData,
    ),
    INTERNAL_ERROR: ErrorSpec(
        name="InternalError",
        code=-32603,
        message="Internal error",
        meaning="The daemon failed unexpectedly; the traceback is in the daemon log, never on the wire.",
        data=None,
    ),
    JOB_NOT_FOUND: ErrorSpec(
        name="JobNotFoundError",
        code=-32001,
        message="Job not found",
        meaning="No job has this id. `mozart list --all` shows the known jobs.",
        data=models.JobNotFoundData,
    ),
    JOB_ALREADY_EXISTS: ErrorSpec(
        name="JobAlreadyExistsError",
        code=-32002,
        message="Job already exists",
        meaning="A job with this id exists: it is active, or it has ended and `fresh` was not set.",
        data=models.JobAlreadyExistsData,
    ),
    INVALID_JOB_STATE: ErrorSpec(
        name="InvalidJobStateError",
        code=-32003,
        message="Invalid job state",
        meaning="The job's state does not allow the action (e.g. pausing a completed job).",
        data=models.InvalidJobStateData,
    ),
    DAEMON_SHUTTING_DOWN: ErrorSpec(
        name="DaemonShuttingDownError",
        code=-32004,
        message="Daemon shutting down",
        meaning="The daemon is shutting down and accepts no new work.",
        data=None,
    ),
    SYSTEM_UNDER_PRESSURE: ErrorSpec(
        name="SystemUnderPressureError",
        code=-32005,
        message="System under high pressure — try again later.",
        meaning="Backpressure is HIGH or CRITICAL (memory, processes or an active rate limit): new work is refused until it goes down.",
        data=None,
    ),
    SCORE_INVALID: ErrorSpec(
        name="ScoreInvalidError",
        code=-32006,
        message="Score invalid",
        meaning="Static validation of the score found errors; data.findings lists them with file, line and score path.",
        data=models.ScoreInvalidData,
    ),
    PERMISSION_DENIED: ErrorSpec(
        name="PermissionDeniedError",
        code=-32007,
        message="Permission denied",
        meaning="The connecting user may not use this daemon (its uid is neither the daemon's nor root).",
        data=None,
    ),
    TOO_MANY_CONNECTIONS: ErrorSpec(
        name="TooManyConnectionsError",
        code=-32008,
        message="Too many connections",
        meaning="The daemon's connection limit is reached; try again in a moment.",
        data=None,
    ),
    MESSAGE_TOO_LARGE: ErrorSpec(
        name="MessageTooLargeError",
        code=-32009,
        message="Message too large",
        meaning="A request line exceeded the maximum message size; the daemon closes the connection.",
        data=None,
    ),
    SCORE_NOT_READABLE: ErrorSpec(
        name="ScoreNotReadableError",
        code=-32010,
        message="Score not readable",
        meaning="The daemon cannot read the score file (missing, a directory, or no permission for the daemon's user).",
        data=None,
    ),
    STATE_UNAVAILABLE: ErrorSpec(
        name="StateUnavailableError",
        code=-32011,
        message="State unavailable",
        meaning="The daemon's state database failed (locked, corrupt or disk full). The message says how to recover; restarting mozartd after fixing the disk usually does.",
        data=None,
    ),
}
