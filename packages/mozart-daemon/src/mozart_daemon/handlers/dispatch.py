"""JSON-RPC 2.0 dispatch: one raw line in, one reply line out (or none).

parse (-32700) -> envelope (-32600) -> method in the table (-32601) -> params decoded into
the generated type (-32602, naming the field) -> handler -> result encoded. Domain errors
carry their own code; a database fault is -32011; anything else is -32603 with the
traceback only in the daemon log. Notifications (no ``id``) never get a reply.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from mozart_protocol import METHODS, Method, framing

from mozart_daemon import errors
from mozart_daemon.handlers.table import HANDLERS, Call
from mozart_daemon.logging import bind_request, get_logger
from mozart_daemon.store import StateError

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon

log = get_logger(__name__)

_NO_ID = object()
# A dict lookup instead of the Enum constructor on every request.
_BY_NAME: dict[str, Method] = {m.value: m for m in Method}


class _Envelope(msgspec.Struct):
    """A request as nearly every one arrives: decoded in one step, its params left as JSON
    to decode straight into the method's type (no dict of the whole message, no checks of
    its fields in Python, no conversion of the params' dict). A line it does not fit (not
    an object, a field of another type, null params, ...), or whose params do not decode,
    goes the general way, which answers it as before."""

    jsonrpc: str
    method: str
    id: int | str | msgspec.UnsetType | None = msgspec.UNSET
    params: msgspec.Raw = msgspec.Raw()


_ENVELOPE = msgspec.json.Decoder(_Envelope)
# Each method's params decoder (``msgspec.json.decode`` with a type looks its decoder up
# on every call).
_PARAMS: dict[Method, msgspec.json.Decoder[Any]] = {
    method: msgspec.json.Decoder(spec.params) for method, spec in METHODS.items()
}
_NO_PARAMS = b"{}"


def _reply(request_id: object, result: object) -> bytes:
    # msgspec encodes the result Struct straight to JSON (no to_builtins copy first).
    return framing.encode_message({"jsonrpc": "2.0", "id": request_id, "result": result})


def _error(request_id: object, code: int, message: str, data: object = None) -> bytes:
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return framing.encode_message({"jsonrpc": "2.0", "id": request_id, "error": error})


def _describe(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """msgspec's message made readable (``limit: Expected `int`...``) and the field named."""
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        field = where.rstrip("`")
        return f"{field}: {message}", field.split(".")[0].split("[")[0]
    match = re.search(r"field `([^`]+)`", text)
    return text, match.group(1) if match else None


class Dispatcher:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def dispatch(
        self, raw: bytes, notify: Callable[[bytes], Awaitable[None]]
    ) -> bytes | None:
        try:
            envelope = _ENVELOPE.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
            return await self._dispatch(raw, notify)
        method = _BY_NAME.get(envelope.method)
        if envelope.jsonrpc != "2.0" or method is None:
            return await self._dispatch(raw, notify)
        try:
            typed = _PARAMS[method].decode(envelope.params or _NO_PARAMS)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return await self._dispatch(raw, notify)
        request_id = envelope.id
        if request_id is msgspec.UNSET:  # a notification
            await self._answer(method, envelope.method, typed, None, notify)
            return None
        return await self._answer(method, envelope.method, typed, request_id, notify)

    async def _dispatch(
        self, raw: bytes, notify: Callable[[bytes], Awaitable[None]]
    ) -> bytes | None:
        """Any line: each check in turn, each failure answered with its error."""
        try:
            message = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string.
            log.info("rpc.rejected", reason="parse error")
            return _error(None, errors.PARSE_ERROR, f"Parse error: {exc}")
        if not isinstance(message, dict):
            return _error(None, errors.INVALID_REQUEST, "Invalid request: expected a JSON object")
        request_id: Any = message.get("id", _NO_ID)
        is_notification = request_id is _NO_ID
        reply_id = None if is_notification else request_id
        if (
            message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
            or not (reply_id is None or isinstance(reply_id, str | int))
            or isinstance(reply_id, bool)
        ):
            return (
                None
                if is_notification
                else _error(
                    reply_id if isinstance(reply_id, str | int) else None,
                    errors.INVALID_REQUEST,
                    'Invalid request: needs "jsonrpc": "2.0", a string "method" and a'
                    " string or integer id",
                )
            )
        name: str = message["method"]
        reply = await self._call(name, message.get("params"), reply_id, notify)
        return None if is_notification else reply

    async def _call(
        self,
        name: str,
        params: object,
        request_id: object,
        notify: Callable[[bytes], Awaitable[None]],
    ) -> bytes:
        method = _BY_NAME.get(name)
        if method is None:
            return _error(request_id, errors.METHOD_NOT_FOUND, f"Method not found: {name}")
        spec = METHODS[method]
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return _error(
                request_id, errors.INVALID_PARAMS, "Invalid params: expected an object (by name)"
            )
        try:
            typed = msgspec.convert(params, spec.params)
        except msgspec.ValidationError as exc:
            message, field = _describe(exc)
            data = {"field": field} if field else None
            return _error(request_id, errors.INVALID_PARAMS, f"Invalid params: {message}", data)
        return await self._answer(method, name, typed, request_id, notify)

    async def _answer(
        self,
        method: Method,
        name: str,
        typed: Any,
        request_id: object,
        notify: Callable[[bytes], Awaitable[None]],
    ) -> bytes:
        """The handler's result, or its error, as the reply line."""
        with bind_request(request_id, name):
            try:
                result = await HANDLERS[method](self.daemon, typed, Call(notify, request_id))
            except ConnectionError:
                raise  # the client went away mid-stream: nothing to answer, nothing to log
            except errors.DaemonError as exc:
                log.info("rpc.refused", code=exc.code, error=exc.message)
                return _error(request_id, exc.code, exc.message, exc.data)
            except (StateError, sqlite3.DatabaseError) as exc:
                log.error("rpc.failed", error=str(exc), kind="state")
                err = errors.state_unavailable(
                    f"{exc}. Check the disk and the permissions of "
                    f"{self.daemon.config.state_db_path}; if the file is damaged, stop "
                    "mozartd, move it aside and start again."
                )
                return _error(request_id, err.code, err.message, err.data)
            except Exception:
                log.exception("rpc.failed")
                return _error(
                    request_id,
                    errors.INTERNAL_ERROR,
                    "Internal error: see the mozartd log for details",
                )
        return _reply(request_id, result)
