"""A scripted fake daemon on a real Unix socket, so client tests need no mozartd.

Each method gets a :class:`Script` (result or error, notifications first, or misbehaviour:
hang, close, a raw line); every request received is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mozart_protocol import framing

SAME_ID = object()

TIME = "2026-11-26T21:00:00Z"
SHEET = {
    "sheet_num": 1,
    "status": "completed",
    "attempts": 1,
    "exit_code": 0,
    "error": None,
    "started_at": TIME,
    "finished_at": TIME,
    "duration_seconds": 1.5,
    "stage": 1,
    "instance": 1,
    "expected_seconds": 2.0,
}
JOB_STATUS = {
    "job_id": "hello",
    "name": "hello",
    "status": "completed",
    "description": None,
    "config_path": "/scores/hello.yaml",
    "workspace": "/work/hello",
    "priority": 5,
    "total_sheets": 1,
    "completed_sheets": 1,
    "failed_sheets": 0,
    "sheets": [SHEET],
    "error": None,
    "created_at": TIME,
    "started_at": TIME,
    "finished_at": TIME,
    "updated_at": TIME,
    "eta_seconds": None,
}
SUMMARY = {
    k: JOB_STATUS[k]
    for k in (
        "job_id",
        "name",
        "status",
        "description",
        "priority",
        "total_sheets",
        "completed_sheets",
        "error",
        "created_at",
        "updated_at",
    )
}
# A valid result for every method, as the daemon would send it.
RESULTS: dict[str, Any] = {
    "job.submit": {"job_id": "hello", "status": "queued"},
    "job.status": JOB_STATUS,
    "job.pause": {"job_id": "hello", "status": "paused"},
    "job.resume": {"job_id": "hello", "status": "running"},
    "job.cancel": {"job_id": "hello", "status": "cancelled"},
    "job.list": {"jobs": [SUMMARY], "next_cursor": None},
    "job.follow": JOB_STATUS,
    "job.logs": {"job_id": "hello", "lines": 2},
    "daemon.status": {
        "pid": 42,
        "uptime_seconds": 3.5,
        "readiness": "ready",
        "ready_reasons": [],
        "running_jobs": 1,
        "queued_jobs": 0,
        "memory_mb": 88.2,
        "child_processes": 2,
        "accepting_work": True,
        "version": "0.1.0",
        "pressure_level": "none",
    },
    "daemon.shutdown": {"status": "shutting_down"},
    "daemon.health": {"status": "ok", "pid": 42, "uptime_seconds": 3.5},
    "daemon.ready": {"status": "ready", "reasons": []},
    "rpc.discover": {"title": "Mozart JSON-RPC 2.0 protocol", "x-anything": [1, 2]},
}
EVENT = {
    "job_id": "hello",
    "type": "sheet.started",
    "sheet_num": 1,
    "attempt": 1,
    "message": None,
    "time": TIME,
}
LOG = {"job_id": "hello", "sheet_num": 1, "stream": "stdout", "line": "hi"}


@dataclass
class Script:
    """What the fake daemon does with one method."""

    result: Any = None
    error: dict[str, Any] | None = None
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    hang: bool = False  # never reply; wait for the client to hang up (its timeout fires)
    close: bool = False  # close the connection instead of replying
    raw: bytes | None = None  # write this line instead of a reply
    reply_id: Any = SAME_ID
    # Wait for this event between notifications and the reply (streams that "run").
    gate: asyncio.Event | None = None


class FakeDaemon:
    def __init__(self, path: str) -> None:
        self.path = path
        self.scripts: dict[str, Script] = {m: Script(result=r) for m, r in RESULTS.items()}
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.closed_by_client = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def methods(self) -> list[str]:
        return [r["method"] for r in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (line := await framing.read_message(reader)) is not None:
                request = msgspec.json.decode(line)
                self.requests.append(request)
                script = self.scripts.get(request["method"])
                if script is None:
                    script = Script(error={"code": -32601, "message": "Method not found"})
                if not await self._act(script, request, reader, writer):
                    return
        except (ConnectionError, framing.FramingError):
            pass
        finally:
            self.closed_by_client.set()
            writer.close()

    async def _act(
        self,
        script: Script,
        request: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        for method, params in script.notifications:
            note = {"jsonrpc": "2.0", "method": method, "params": params}
            writer.write(framing.encode_message(note))
        await writer.drain()
        if script.gate is not None:
            await script.gate.wait()
        if script.hang:
            await reader.read()  # returns at EOF: the client gave up and closed
            return False
        if script.close:
            return False
        if script.raw is not None:
            writer.write(script.raw)
            await writer.drain()
            return True
        reply_id = request.get("id") if script.reply_id is SAME_ID else script.reply_id
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": reply_id}
        if script.error is not None:
            reply["error"] = script.error
        else:
            reply["result"] = script.result
        writer.write(framing.encode_message(reply))
        await writer.drain()
        return True


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths are limited to ~107 bytes: pytest's tmp_path is often longer.
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="mzp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def fake_daemon(short_dir: Path) -> AsyncIterator[FakeDaemon]:
    daemon = FakeDaemon(str(short_dir / "d.sock"))
    await daemon.start()
    yield daemon
    await daemon.stop()


@pytest.fixture
def threaded_daemon(short_dir: Path) -> Iterator[FakeDaemon]:
    """The fake daemon on its own loop in a thread: for the blocking client and probe."""
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[FakeDaemon] = []

    async def main() -> None:
        daemon = FakeDaemon(str(short_dir / "t.sock"))
        await daemon.start()
        holder.append(daemon)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(main(), loop)
    assert ready.wait(10)
    yield holder[0]
    asyncio.run_coroutine_threadsafe(holder[0].stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
