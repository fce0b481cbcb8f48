"""Shared helpers for the CLI unit tests (no daemon involved)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from mozart_cli.app import app
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples" / "hello.yaml"

VALID_SCORE = """\
name: demo
workspace: ./ws
backend:
  type: command
  command: "true"
sheet: {size: 1, total_items: 3}
prompt:
  template: "Sheet {{ sheet_num }}"
validations:
  - type: file_exists
    path: "{workspace}/out-{sheet_num}.txt"
  - type: file_exists
    path: "{workspace}/final.txt"
    condition: "sheet_num == 3"
"""


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def hello() -> Path:
    return HELLO


@pytest.fixture
def valid_score() -> str:
    return VALID_SCORE


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def score_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "score.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


# --- A scripted JSON-RPC server on a Unix socket, for unit tests of the daemon commands ---
#
# It speaks the wire format of the protocol (NDJSON, JSON-RPC 2.0), so the CLI goes through
# the real client; each test scripts the replies. A handler returns a result, raises
# RpcFailure for an error reply, or returns Stream(notifications, result) for a stream.


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Stream:
    def __init__(self, method: str, notifications: list[object], result: object) -> None:
        self.method, self.notifications, self.result = method, notifications, result


class FakeDaemon:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.handlers: dict[str, object] = {}
        self.calls: list[tuple[str, object]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    def on(self, method: str, handler: object) -> None:
        """``handler``: a value (the result), or a callable taking the params."""
        self.handlers[method] = handler

    @property
    def env(self) -> dict[str, str]:
        return {"MOZART_SOCKET": self.socket_path}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_unix_server(self._client, path=self.socket_path)
        self._ready.set()
        async with server:
            await self._stopping.wait()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                await self._answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: dict[str, object], writer: asyncio.StreamWriter) -> None:
        method = str(request["method"])
        params = request.get("params")
        self.calls.append((method, params))
        reply: dict[str, object] = {"jsonrpc": "2.0", "id": request.get("id")}
        handler = self.handlers.get(method)
        try:
            if handler is None:
                raise RpcFailure(-32601, f"Method not found: {method}")
            result = handler(params) if callable(handler) else handler
            if isinstance(result, Stream):
                for note in result.notifications:
                    message = {"jsonrpc": "2.0", "method": result.method, "params": note}
                    writer.write(json.dumps(message).encode() + b"\n")
                    await writer.drain()
                result = result.result
            reply["result"] = result
        except RpcFailure as failure:
            error: dict[str, object] = {"code": failure.code, "message": failure.message}
            if failure.data is not None:
                error["data"] = failure.data
            reply["error"] = error
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()


@pytest.fixture
def fake_daemon():  # type: ignore[no-untyped-def]
    directory = tempfile.mkdtemp(dir="/tmp", prefix="mzc-")
    daemon = FakeDaemon(os.path.join(directory, "d.sock"))
    daemon.start()
    yield daemon
    daemon.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def no_daemon_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose socket path has no daemon behind it."""
    return {"MOZART_SOCKET": str(tmp_path / "nobody.sock")}


@pytest.fixture
def rpc_failure() -> type[RpcFailure]:
    return RpcFailure


@pytest.fixture
def stream() -> type[Stream]:
    return Stream


def job_status_payload(
    job_id: str = "demo", status: str = "running", **extra: object
) -> dict[str, object]:
    """A ``job.status`` result as the daemon sends it."""
    now = "2026-11-26T20:00:00Z"
    payload: dict[str, object] = {
        "job_id": job_id,
        "name": job_id,
        "status": status,
        "description": "A demo job",
        "config_path": "/tmp/demo.yaml",
        "workspace": "/tmp/demo-ws",
        "priority": 5,
        "total_sheets": 2,
        "completed_sheets": 1,
        "failed_sheets": 0,
        "sheets": [
            {
                "sheet_num": 1,
                "status": "completed",
                "attempts": 1,
                "exit_code": 0,
                "error": None,
                "started_at": now,
                "finished_at": now,
                "duration_seconds": 0.5,
                "stage": 1,
                "instance": 1,
            },
            {
                "sheet_num": 2,
                "status": "running",
                "attempts": 2,
                "exit_code": None,
                "error": "validation failed: file missing",
                "started_at": now,
                "finished_at": None,
                "duration_seconds": None,
                "stage": 2,
                "instance": 1,
            },
        ],
        "error": None,
        "created_at": now,
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
    }
    payload.update(extra)
    return payload


@pytest.fixture
def job_payload():  # type: ignore[no-untyped-def]
    return job_status_payload
