"""One client connection to mozartd: connect, check the peer, send requests, read replies.

The client (``mozart_protocol.client``) builds typed calls on top of :class:`Connection`;
this module owns the failure rules that users see:

- nothing on the socket (missing, refused, not a socket) -> :class:`DaemonNotRunning`
  naming the path; an error object from the daemon -> its :class:`RpcError` subclass;
- a socket served by another user than us or root -> :class:`UntrustedDaemonError`;
- a reply that is not JSON-RPC, has the wrong id or never completes -> :class:`ProtocolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from mozart_protocol import framing
from mozart_protocol._generated.models import RpcErrorObject
from mozart_protocol.errors import (
    DaemonNotRunning,
    ProtocolError,
    RpcError,
    UntrustedDaemonError,
)

DEFAULT_SOCKET_PATH = "/tmp/mozartd.sock"
SOCKET_ENV = "MOZART_SOCKET"


def resolve_socket_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The socket to use: ``explicit`` > ``$MOZART_SOCKET`` > ``/tmp/mozartd.sock``."""
    if explicit is not None and str(explicit):
        return Path(explicit)
    from_env = os.environ.get(SOCKET_ENV)
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_SOCKET_PATH)


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process serving ``sock`` (None where SO_PEERCRED does not exist)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    fmt = "3i"  # struct ucred: pid, uid, gid
    raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize(fmt))
    return int(struct.unpack(fmt, raw)[1])


def check_peer(sock: socket.socket, path: str) -> None:
    """Refuse a daemon run by someone else: it could read our scores or feed us lies."""
    uid = peer_uid(sock)
    ours = os.getuid()
    if uid is not None and uid not in (ours, 0):
        raise UntrustedDaemonError(path, uid, ours)


_REASONS: dict[type[BaseException], str] = {
    FileNotFoundError: "no such file",
    ConnectionRefusedError: "connection refused",
    PermissionError: "permission denied",
    TimeoutError: "connection timed out",
}


def not_running(path: str, exc: BaseException) -> DaemonNotRunning:
    fallback = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return DaemonNotRunning(path, _REASONS.get(type(exc), str(fallback)))


async def _connect_unix(path: str) -> socket.socket:
    """A connected Unix socket. While the daemon's listen backlog is full, a non-blocking
    connect fails with EAGAIN and the socket stays unconnected (asyncio would take that for
    "in progress" and hand back a socket with no peer): retry until the daemon accepts; the
    caller's timeout bounds the wait."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    delay = 0.001
    try:
        while True:
            try:
                sock.connect(path)
                return sock
            except BlockingIOError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
    except BaseException:
        sock.close()
        raise


class Message(msgspec.Struct):
    """Any JSON-RPC message we may receive; results stay raw until their type is known."""

    jsonrpc: str | msgspec.UnsetType = msgspec.UNSET
    id: int | str | msgspec.UnsetType | None = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: RpcErrorObject | msgspec.UnsetType = msgspec.UNSET

    @property
    def is_notification(self) -> bool:
        return self.id is msgspec.UNSET and isinstance(self.method, str)


_message_decoder = msgspec.json.Decoder(Message)


def decode_as(raw: msgspec.Raw, kind: Any, what: str) -> Any:
    """Decode a result or notification into its generated type; a mismatch is the peer's fault."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"invalid {what} from the daemon: {exc}") from None


class Connection:
    """An open NDJSON connection; one request at a time (replies come back in order)."""

    def __init__(
        self,
        path: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        max_message_size: int,
    ) -> None:
        self.path = path
        self._reader = reader
        self._writer = writer
        self._max = max_message_size
        self._next_id = 0

    @classmethod
    async def open(cls, path: str, max_message_size: int, *, verify_peer: bool) -> Connection:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=await _connect_unix(path))
        except (OSError, ValueError) as exc:
            # ValueError: a path the kernel refuses outright (embedded NUL).
            raise not_running(path, exc) from exc
        if verify_peer:
            sock = writer.get_extra_info("socket")
            try:
                check_peer(sock, path)
            except BaseException:
                writer.close()
                raise
        return cls(path, reader, writer, max_message_size)

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(OSError):  # the daemon went first: nothing left to flush
            await self._writer.wait_closed()

    async def send(self, method: str, params: Any) -> int:
        self._next_id += 1
        request = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        line = framing.encode_message(request, self._max)
        try:
            self._writer.write(line)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ProtocolError(f"lost the connection to the daemon on {self.path}: {exc}") from exc
        return self._next_id

    async def receive(self, request_id: int, method: str) -> Message:
        """The next message for this request: a notification, or its reply (errors raised)."""
        try:
            line = await framing.read_message(self._reader, self._max)
        except (ConnectionError, OSError) as exc:
            raise ProtocolError(f"lost the connection to the daemon on {self.path}: {exc}") from exc
        if line is None:
            raise ProtocolError(f"the daemon closed the connection before answering {method}")
        try:
            message = _message_decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(f"unreadable reply to {method}: {exc}") from None
        if message.is_notification:
            return message
        if message.jsonrpc != "2.0":
            raise ProtocolError(f"reply to {method} is not JSON-RPC 2.0")
        if isinstance(message.error, RpcErrorObject):
            # A connection-level refusal (too many connections, permission) has id null.
            if message.id not in (request_id, None):
                raise ProtocolError(f"reply id {message.id!r} does not match request {request_id}")
            err = message.error
            raise RpcError.from_wire(err.code, err.message, _plain(err.data))
        if message.id != request_id:
            raise ProtocolError(f"reply id {message.id!r} does not match request {request_id}")
        if message.result is msgspec.UNSET:
            raise ProtocolError(f"reply to {method} has neither result nor error")
        return message


def _plain(data: Any) -> Any:
    return dict(data) if isinstance(data, Mapping) else data
