"""DaemonServer: the Unix socket, one asyncio Protocol per connection, NDJSON framing.

Accept -> connection cap -> peer check (SO_PEERCRED) -> split the bytes into lines (size
cap, ``mozart_protocol.framing.LineSplitter``) -> ``dispatch`` -> write the reply (none for
notifications). A connection may carry any number of requests; they are answered in order,
one at a time, by the connection's task.

A Protocol rather than asyncio's streams: a request costs the StreamReader's Python (its
buffer, a future to wait on, the wake-up, ``drain``) several times what the splitting
costs, and the daemon answers thousands a second. What the streams gave is kept here: the
size cap, a client that sends without reading is not read further until it reads (reading
pauses while requests wait, replies wait while the client's side is full), and a client
that leaves is seen by the handler that next writes to it (ConnectionError).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import grp
import os
import pwd
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from mozart_protocol import framing

from mozart_daemon import errors
from mozart_daemon.config import SocketConfig
from mozart_daemon.logging import get_logger
from mozart_daemon.peer import PEER, Peer

log = get_logger(__name__)

# How long a refused connection stays open for the client to finish sending its request.
REFUSAL_LINGER_SECONDS = 1.0

# (raw request line, function writing one notification line) -> reply line or None
Dispatch = Callable[[bytes, Callable[[bytes], Awaitable[None]]], Awaitable[bytes | None]]


class ServerError(Exception):
    """The socket cannot be served (symlinked path, another daemon answering, ...)."""


def error_line(code: int, message: str, request_id: object = None) -> bytes:
    return framing.encode_message(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    )


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    fmt = "3i"
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(fmt))
    pid, uid, gid = struct.unpack(fmt, raw)
    return pid, uid, gid


def _user_in_group(uid: int, peer_gid: int, group: int) -> bool:
    if peer_gid == group:
        return True
    try:
        name = pwd.getpwuid(uid).pw_name
        return group in os.getgrouplist(name, peer_gid)
    except (KeyError, OSError):
        try:
            return pwd.getpwuid(uid).pw_name in grp.getgrgid(group).gr_mem
        except KeyError:
            return False


class DaemonServer:
    def __init__(
        self, *, config: SocketConfig, dispatch: Dispatch, max_message_size: int | None = None
    ) -> None:
        self.config = config
        self.path = config.path
        self.max_connections = config.max_connections
        self._dispatch = dispatch
        self._max_size = max_message_size or framing.DEFAULT_MAX_MESSAGE_SIZE
        self._server: asyncio.AbstractServer | None = None
        # Counted against max_connections: served (or being refused for their peer) and not
        # finished (closed, and their last request's handler returned).
        self._connections: set[_Connection] = set()
        self._uid = os.getuid()
        self._loop: asyncio.AbstractEventLoop

    async def start(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            raise ServerError(
                f"Refusing to use socket path {path}: it is a symlink. "
                "Remove it or point socket.path at a real location."
            )
        if path.exists():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise ServerError(f"Refusing to replace {path}: it exists and is not a socket.")
            if await self._answers(path):
                raise ServerError(f"mozartd is already running (socket {path} answers)")
            path.unlink()
            log.info("server.stale_socket_removed", path=str(path))
        # Bind with a strict umask, then widen to the configured mode: never looser in between.
        # Kept: asyncio.get_running_loop() makes a getpid system call (Python 3.11), and the
        # connections would ask for it once a request.
        self._loop = asyncio.get_running_loop()
        old_umask = os.umask(0o177)
        try:
            self._server = await self._loop.create_unix_server(
                lambda: _Connection(self), path=str(path), backlog=self.config.backlog
            )
        finally:
            os.umask(old_umask)
        os.chmod(path, self.config.permissions)
        log.info("server.started", path=str(path), permissions=oct(self.config.permissions))

    @staticmethod
    async def _answers(path: Path) -> bool:
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path)), timeout=1.0
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop_listening(self) -> None:
        """Accept no new connections (existing ones keep being served)."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        await self.stop_listening()
        tasks = [task for conn in list(self._connections) if (task := conn.abort()) is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():
                self.path.unlink()
                log.info("server.socket_removed", path=str(self.path))

    def _allowed(self, uid: int, gid: int) -> bool:
        if uid in (self._uid, 0):
            return True
        if self.config.permissions & 0o060 != 0o060:
            return False
        try:
            sock_gid = self.path.stat().st_gid
        except OSError:
            return False
        return _user_in_group(uid, gid, sock_gid)


class _Connection(asyncio.Protocol):
    """One client: its lines go to ``dispatch`` in order, its replies back in that order.

    ``data_received`` splits the bytes into lines and queues them; one task a connection
    (``_serve``, in the connection's own context: ``PEER`` is its client) answers them and
    waits on a future while there are none. (A task a request would cost more: each task
    goes into asyncio's WeakSet of all tasks, in Python.) A line past the size cap is
    queued as ``None``: its error is the reply to it, after the replies to the lines
    before it, and then the connection closes."""

    def __init__(self, server: DaemonServer) -> None:
        self._server = server
        self._loop = server._loop
        self._lines = framing.LineSplitter(server._max_size)
        self._queue: collections.deque[bytes | None] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[None] | None = None  # _serve, for lines or the end
        self._reading = True  # False: refused, or past a line too large (input ignored)
        self._linger: asyncio.TimerHandle | None = None  # while refused
        self._transport = cast(asyncio.Transport, None)
        self._eof = False
        self._lost = False
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None

    # -- accepting ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        server = self._server
        if len(server._connections) >= server.max_connections:
            log.warning("server.connection_refused", reason="too many connections",
                        max_connections=server.max_connections)  # fmt: skip
            self._refuse(error_line(
                errors.TOO_MANY_CONNECTIONS,
                f"Too many connections: mozartd serves at most {server.max_connections} "
                "at once; close idle clients or raise socket.max_connections.",
            ))  # fmt: skip
            return
        server._connections.add(self)
        try:
            pid, uid, gid = peer_credentials(transport.get_extra_info("socket"))
        except OSError:  # gone already
            server._connections.discard(self)
            transport.close()
            return
        if not server._allowed(uid, gid):
            log.warning("server.peer_refused", peer_pid=pid, peer_uid=uid, peer_gid=gid)
            self._refuse(error_line(
                errors.PERMISSION_DENIED,
                f"Permission denied: uid {uid} may not use this mozartd socket.",
            ))  # fmt: skip
            return
        context = contextvars.copy_context()
        context.run(PEER.set, Peer(pid, uid, gid))
        self._task = self._loop.create_task(self._serve(), context=context)

    def _refuse(self, line: bytes) -> None:
        """Send a refusal, then take the client's first line (a second at most) before the
        connection closes: closing a Unix socket with unread input resets it, and the client
        would report a lost connection instead of the refusal."""
        self._transport.write(line)
        self._reading = False
        self._linger = self._loop.call_later(REFUSAL_LINGER_SECONDS, self._transport.close)

    # -- reading ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            if self._linger is not None and (
                b"\n" in data or self._lines.feed(data) or self._lines.too_large is not None
            ):
                self._transport.close()  # the refused client's first line is in
            return
        lines = self._lines.feed(data)
        if lines:
            self._queue.extend(lines)
        if self._lines.too_large is not None:
            log.warning("rpc.message_rejected", reason="too large",
                        max_bytes=self._server._max_size)  # fmt: skip
            self._queue.append(None)
            self._reading = False
            self._pause_reading()
        elif not lines:
            return
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            waiting.set_result(None)
        else:
            # A request is being answered: take no more until these are (bounds what a
            # client that sends without reading the replies makes the daemon hold).
            self._pause_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        # Keep the connection open to answer what was asked before the end (``_serve``
        # closes it); a refused one closes now.
        return self._linger is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._linger is not None:
            self._linger.cancel()
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._task is None:
            self._server._connections.discard(self)

    def _wake(self) -> None:
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            waiting.set_result(None)

    # -- answering ----------------------------------------------------------------------

    async def _serve(self) -> None:
        queue, transport, dispatch = self._queue, self._transport, self._server._dispatch
        try:
            while True:
                if not queue:
                    if self._eof or self._lost:
                        break
                    if self._reading_paused and self._reading:
                        self._reading_paused = False
                        transport.resume_reading()
                    self._waiting = waiting = self._loop.create_future()
                    await waiting
                    continue
                raw = queue.popleft()
                if raw is None:
                    await self._send(error_line(
                        errors.MESSAGE_TOO_LARGE,
                        f"Message too large: the limit is {self._server._max_size} bytes "
                        "per message.",
                    ))  # fmt: skip
                    break  # the rest of the stream cannot be re-synchronised
                reply = await dispatch(raw, self._send)
                if reply is not None:
                    if self._lost or transport.is_closing():
                        break  # the client has gone (a write to it failed)
                    transport.write(reply)
                    if self._writing_paused or transport.is_closing():
                        await self._drain()
        except ConnectionError:
            pass
        except Exception as exc:  # a bug: reported as asyncio's streams did, and closed
            self._loop.call_exception_handler({
                "message": "Unhandled exception while answering a request",
                "exception": exc,
                "transport": transport,
            })  # fmt: skip
        finally:
            self._task = None
            self._waiting = None
            transport.close()
            # Finished: no longer counted (its transport's loss may come a loop later).
            self._server._connections.discard(self)

    async def _send(self, line: bytes) -> None:
        """Write a line (a notification of a streaming method, an error); raises
        ConnectionError once the client has gone."""
        if self._lost or self._transport.is_closing():
            raise ConnectionResetError("Connection lost")
        self._transport.write(line)
        if self._writing_paused or self._transport.is_closing():
            await self._drain()

    async def _drain(self) -> None:
        """Wait until the client has read enough of what was written to it; raises
        ConnectionError once it has gone (a write to it failed: the transport closes)."""
        while self._writing_paused and not self._lost:
            self._drained = self._loop.create_future()
            await self._drained
        if self._lost or self._transport.is_closing():
            raise ConnectionResetError("Connection lost")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def abort(self) -> asyncio.Task[None] | None:
        """The daemon stops: cancel the task answering, close the connection."""
        task = self._task
        if task is not None:
            task.cancel()
        self._transport.close()
        self._server._connections.discard(self)
        return task
