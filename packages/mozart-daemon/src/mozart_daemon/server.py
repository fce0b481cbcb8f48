"""DaemonServer: the Unix socket, one asyncio task per connection, NDJSON framing.

Accept -> connection cap -> peer check (SO_PEERCRED) -> read one line at a time (size cap,
``mozart_protocol.framing``) -> ``dispatch`` -> write the reply (none for notifications).
A connection may carry any number of requests; they are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

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
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._uid = os.getuid()

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
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._on_connection, path=str(path), backlog=self.config.backlog,
                limit=self._max_size + 1,
            )  # fmt: skip
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
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
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

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            if len(self._connections) >= self.max_connections:
                log.warning("server.connection_refused", reason="too many connections",
                            max_connections=self.max_connections)  # fmt: skip
                await self._refuse(reader, writer, error_line(
                    errors.TOO_MANY_CONNECTIONS,
                    f"Too many connections: mozartd serves at most {self.max_connections} "
                    "at once; close idle clients or raise socket.max_connections.",
                ))  # fmt: skip
                return
            self._connections.add(task)
            sock = writer.get_extra_info("socket")
            pid, uid, gid = peer_credentials(sock)
            PEER.set(Peer(pid, uid, gid))
            if not self._allowed(uid, gid):
                log.warning("server.peer_refused", peer_pid=pid, peer_uid=uid, peer_gid=gid)
                await self._refuse(reader, writer, error_line(
                    errors.PERMISSION_DENIED,
                    f"Permission denied: uid {uid} may not use this mozartd socket.",
                ))  # fmt: skip
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def notify(line: bytes) -> None:
            await self._send(writer, line)

        while True:
            try:
                raw = await framing.read_message(reader, self._max_size)
            except framing.MessageTooLarge:
                log.warning("rpc.message_rejected", reason="too large", max_bytes=self._max_size)
                await self._send(writer, error_line(
                    errors.MESSAGE_TOO_LARGE,
                    f"Message too large: the limit is {self._max_size} bytes per message.",
                ))  # fmt: skip
                return  # the rest of the stream cannot be re-synchronised
            except framing.TruncatedMessage:
                return
            if raw is None:
                return
            reply = await self._dispatch(raw, notify)
            if reply is not None:
                await self._send(writer, reply)

    @staticmethod
    async def _refuse(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
    ) -> None:
        """Send a refusal, then take the client's first line (a second at most) before the
        connection closes: closing a Unix socket with unread input resets it, and the client
        would report a lost connection instead of the refusal."""
        await DaemonServer._send(writer, line)
        with contextlib.suppress(TimeoutError, ValueError, asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readline(), timeout=REFUSAL_LINGER_SECONDS)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, line: bytes) -> None:
        writer.write(line)
        await writer.drain()
