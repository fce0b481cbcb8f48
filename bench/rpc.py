"""A lean JSON-RPC client for the benchmarks: raw NDJSON over the Unix socket.

It avoids the protocol package's typed client on purpose, so that the client side costs the
same against the daemon and against the reference echo server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
LIMIT = 16 * 1024 * 1024 + 1


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.data = data


class Connection:
    """One connection; requests are answered in order, one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, path: str) -> Connection:
        reader, writer = await asyncio.open_unix_connection(path, limit=LIMIT)
        return cls(reader, writer)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        self.writer.write(_encode(message) + b"\n")
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        reply = _decode(line)
        if "error" in reply:
            err = reply["error"]
            raise RpcError(err["code"], err["message"], err.get("data"))
        return reply["result"]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def call(path: str, method: str, params: dict[str, Any] | None = None) -> Any:
    """One request on a connection of its own."""
    conn = await Connection.open(path)
    try:
        return await conn.call(method, params)
    finally:
        await conn.close()
