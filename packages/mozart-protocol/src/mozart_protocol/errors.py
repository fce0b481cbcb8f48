"""Every exception mozart_protocol raises, and the wire error table behind them.

::

    MozartError
     ├── RpcError(code, message, data)   an error object answered by the daemon
     │    ├── ParseError                 -32700
     │    ├── InvalidRequest             -32600
     │    ├── MethodNotFound             -32601
     │    ├── InvalidParams              -32602
     │    ├── InternalError              -32603
     │    ├── JobNotFoundError           -32001
     │    ├── JobAlreadyExistsError      -32002  data: {job_id, state}
     │    ├── InvalidJobStateError       -32003  data: {job_id, state, action}
     │    ├── DaemonShuttingDownError    -32004
     │    ├── SystemUnderPressureError   -32005
     │    ├── ScoreInvalidError          -32006  data: {findings: [...]}
     │    ├── PermissionDeniedError      -32007
     │    ├── TooManyConnectionsError    -32008
     │    ├── MessageTooLargeError       -32009
     │    ├── ScoreNotReadableError      -32010
     │    └── StateUnavailableError      -32011
     ├── DaemonNotRunning(socket_path)   client side: nothing answers on the socket
     ├── RpcTimeout                      client side: no reply within the call's timeout
     └── ProtocolError                   client side: the peer broke the protocol
          ├── UntrustedDaemonError       the socket is served by another user (SO_PEERCRED)
          └── framing.FramingError
               ├── framing.MessageTooLarge
               └── framing.TruncatedMessage

Wire code <-> class is one-to-one: :func:`error_class` maps a code to its class and
:meth:`RpcError.from_wire` builds the right subclass from a reply's error object. The codes,
default messages and meanings come from ``schema/rpc.schema.json`` (``x-mozart-errors``).
An unknown code (a newer daemon) still becomes a plain :class:`RpcError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mozart_protocol._generated.error_codes import (
    DAEMON_SHUTTING_DOWN,
    ERRORS,
    INTERNAL_ERROR,
    INVALID_JOB_STATE,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JOB_ALREADY_EXISTS,
    JOB_NOT_FOUND,
    MESSAGE_TOO_LARGE,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PERMISSION_DENIED,
    SCORE_INVALID,
    SCORE_NOT_READABLE,
    STATE_UNAVAILABLE,
    SYSTEM_UNDER_PRESSURE,
    TOO_MANY_CONNECTIONS,
    ErrorSpec,
)


class MozartError(Exception):
    """Base of every exception raised by mozart_protocol."""


class RpcError(MozartError):
    """A JSON-RPC error object: ``code``, ``message`` and optional structured ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through the code table: the subclasses take (message, data), not (code, ...).
        return (RpcError.from_wire, (self.code, self.message, self.data))

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` member of a reply; ``data`` only when there is some."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @staticmethod
    def from_wire(code: int, message: str, data: Any = None) -> RpcError:
        """The exception for an error object received on the wire: its named subclass."""
        coded = ERROR_CLASSES.get(code)
        if coded is None:
            return RpcError(code, message, data)
        return coded(message, data)


class _CodedError(RpcError):
    """An :class:`RpcError` whose code is fixed by its class."""

    CODE: ClassVar[int]

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(self.CODE, message or ERRORS[self.CODE].message, data)

    @classmethod
    def spec(cls) -> ErrorSpec:
        return ERRORS[cls.CODE]


class ParseError(_CodedError):
    CODE = PARSE_ERROR


class InvalidRequest(_CodedError):
    CODE = INVALID_REQUEST


class MethodNotFound(_CodedError):
    CODE = METHOD_NOT_FOUND


class InvalidParams(_CodedError):
    CODE = INVALID_PARAMS


class InternalError(_CodedError):
    CODE = INTERNAL_ERROR


class JobNotFoundError(_CodedError):
    CODE = JOB_NOT_FOUND


class JobAlreadyExistsError(_CodedError):
    CODE = JOB_ALREADY_EXISTS


class InvalidJobStateError(_CodedError):
    CODE = INVALID_JOB_STATE


class DaemonShuttingDownError(_CodedError):
    CODE = DAEMON_SHUTTING_DOWN


class SystemUnderPressureError(_CodedError):
    CODE = SYSTEM_UNDER_PRESSURE


class ScoreInvalidError(_CodedError):
    CODE = SCORE_INVALID


class PermissionDeniedError(_CodedError):
    CODE = PERMISSION_DENIED


class TooManyConnectionsError(_CodedError):
    CODE = TOO_MANY_CONNECTIONS


class MessageTooLargeError(_CodedError):
    CODE = MESSAGE_TOO_LARGE


class ScoreNotReadableError(_CodedError):
    CODE = SCORE_NOT_READABLE


class StateUnavailableError(_CodedError):
    CODE = STATE_UNAVAILABLE


ERROR_CLASSES: dict[int, type[_CodedError]] = {
    cls.CODE: cls for cls in _CodedError.__subclasses__()
}


def error_class(code: int) -> type[RpcError]:
    """The class for a wire code; plain :class:`RpcError` for a code this version lacks."""
    return ERROR_CLASSES.get(code, RpcError)


class DaemonNotRunning(MozartError):
    """Nothing accepts connections on the socket (missing, refused or not a socket)."""

    def __init__(self, socket_path: str, reason: str = "") -> None:
        self.socket_path = socket_path
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(f"Mozart daemon is not running (nothing on socket {socket_path}{detail})")


class RpcTimeout(MozartError):
    """The daemon did not reply within the call's timeout."""

    def __init__(self, method: str, timeout: float, socket_path: str = "") -> None:
        self.method = method
        self.timeout = timeout
        self.socket_path = socket_path
        where = f" on {socket_path}" if socket_path else ""
        super().__init__(f"no reply to {method} within {timeout:g} s{where}")


class ProtocolError(MozartError):
    """The other end broke the protocol: not JSON-RPC, a wrong id, a broken line."""


class UntrustedDaemonError(ProtocolError):
    """The socket is served by a process of another user than ours or root."""

    def __init__(self, socket_path: str, server_uid: int, our_uid: int) -> None:
        self.socket_path = socket_path
        self.server_uid = server_uid
        self.our_uid = our_uid
        super().__init__(
            f"refusing to talk to the daemon on {socket_path}: it runs as uid {server_uid}, "
            f"not as you (uid {our_uid}) or root. Use your own socket (--socket or MOZART_SOCKET)."
        )


__all__ = [
    "DAEMON_SHUTTING_DOWN",
    "ERRORS",
    "ERROR_CLASSES",
    "INTERNAL_ERROR",
    "INVALID_JOB_STATE",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "JOB_ALREADY_EXISTS",
    "JOB_NOT_FOUND",
    "MESSAGE_TOO_LARGE",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PERMISSION_DENIED",
    "SCORE_INVALID",
    "SCORE_NOT_READABLE",
    "STATE_UNAVAILABLE",
    "SYSTEM_UNDER_PRESSURE",
    "TOO_MANY_CONNECTIONS",
    "DaemonNotRunning",
    "DaemonShuttingDownError",
    "ErrorSpec",
    "InternalError",
    "InvalidJobStateError",
    "InvalidParams",
    "InvalidRequest",
    "JobAlreadyExistsError",
    "JobNotFoundError",
    "MessageTooLargeError",
    "MethodNotFound",
    "MozartError",
    "ParseError",
    "PermissionDeniedError",
    "ProtocolError",
    "RpcError",
    "RpcTimeout",
    "ScoreInvalidError",
    "ScoreNotReadableError",
    "StateUnavailableError",
    "SystemUnderPressureError",
    "TooManyConnectionsError",
    "UntrustedDaemonError",
    "error_class",
]
