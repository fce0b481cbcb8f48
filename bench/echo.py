"""The reference server: a bare asyncio NDJSON JSON-RPC server using Mozart's framing.

Run as ``python -m bench.echo SOCKET``: a process of its own, like the daemon, so that the
two are measured under the same conditions. It decodes each request and encodes a
``daemon.health``-shaped reply, which is the least any JSON-RPC server must do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import msgspec
from mozart_protocol import framing

_START = time.monotonic()


async def _handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            raw = await framing.read_message(reader)
            if raw is None:
                break
            req = msgspec.json.decode(raw)
            result = {
                "status": "ok",
                "pid": os.getpid(),
                "uptime_seconds": time.monotonic() - _START,
            }
            writer.write(
                framing.encode_message({"jsonrpc": "2.0", "id": req.get("id"), "result": result})
            )
            await writer.drain()
    except (ConnectionError, framing.FramingError):
        pass
    finally:
        writer.close()


async def main(path: str) -> None:
    server = await asyncio.start_unix_server(
        _handler, path=path, limit=framing.DEFAULT_MAX_MESSAGE_SIZE + 1
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
