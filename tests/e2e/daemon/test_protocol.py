"""The wire: JSON-RPC errors, notifications, many requests per connection, size cap,
backpressure refusal, the connection cap."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)
Handle = Any


def send(handle: Handle, *lines: bytes, replies: int = 1) -> list[dict[str, Any]]:
    """Send raw lines on one connection; read ``replies`` replies (notifications, which carry
    no id, are collected too but not counted)."""
    out: list[dict[str, Any]] = []
    got = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(handle.socket_path))
        for line in lines:
            s.sendall(line)
        buf = b""
        while got < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf and got < replies:
                raw, buf = buf.split(b"\n", 1)
                message = json.loads(raw)
                out.append(message)
                got += "id" in message
    return out


def test_error_codes(daemon: Handle) -> None:
    [parse] = send(daemon, b'{"jsonrpc": "2.0", "id": 1, "method": \n')
    daemon.check_reply("?", parse)
    assert parse["error"]["code"] == -32700 and parse["id"] is None
    unknown = daemon.call("job.explode", {})
    assert unknown["error"]["code"] == -32601 and "job.explode" in unknown["error"]["message"]
    bad = daemon.call("job.list", {"limit": "many"})
    assert bad["error"]["code"] == -32602 and "limit" in bad["error"]["message"]
    extra = daemon.call("job.status", {"job_id": "x", "bogus": 1})
    assert extra["error"]["code"] == -32602 and "bogus" in extra["error"]["message"]
    assert bad["error"]["data"] == {"field": "limit"}
    assert extra["error"]["data"] == {"field": "bogus"}
    missing = daemon.call("job.status", {})
    assert missing["error"]["data"] == {"field": "job_id"}
    [invalid] = send(daemon, b'{"id": 7, "method": "daemon.health"}\n')
    assert invalid["error"]["code"] == -32600 and invalid["id"] == 7


def test_invalid_utf8_is_a_parse_error_and_the_connection_goes_on(daemon: Handle) -> None:
    # msgspec raises UnicodeDecodeError (not DecodeError) for bad UTF-8 inside a string: it
    # closed the connection with a traceback in the daemon's log instead of answering.
    bad = b'{"jsonrpc": "2.0", "id": 1, "method": "job.status", "params": {"job_id": "\xff"}}\n'
    health = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "daemon.health"}).encode() + b"\n"
    parse, after = send(daemon, bad, health, replies=2)
    daemon.check_reply("?", parse)
    assert parse["error"]["code"] == -32700 and parse["id"] is None
    assert "utf-8" in parse["error"]["message"].lower()
    assert after["id"] == 2 and after["result"]["status"] == "ok"
    assert "Traceback" not in daemon.log_text()


def test_many_requests_per_connection_and_no_reply_to_notifications(daemon: Handle) -> None:
    lines = [
        json.dumps({"jsonrpc": "2.0", "method": "daemon.health"}).encode() + b"\n",  # notification
        json.dumps({"jsonrpc": "2.0", "id": "a", "method": "daemon.health"}).encode() + b"\n",
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "daemon.ready"}).encode() + b"\n",
    ]
    replies = send(daemon, *lines, replies=2)
    assert [r["id"] for r in replies] == ["a", 2]
    assert replies[0]["result"]["status"] == "ok" and replies[0]["result"]["pid"] == daemon.pid
    schema = daemon.request("rpc.discover")
    assert set(schema["x-mozart-methods"]) >= {"job.submit", "daemon.ready", "rpc.discover"}


def test_oversized_message_is_refused(daemon: Handle) -> None:
    big = b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.health", "params": {"x": "'
    big += b"a" * (17 * 1024 * 1024) + b'"}}\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(daemon.socket_path))
        # The daemon may close before reading it all; its reply is already queued.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(big)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data.split(b"\n")[0])
    assert reply["error"]["code"] == -32009
    assert daemon.request("daemon.health")["status"] == "ok"  # the daemon is fine


def test_streaming_follow_sends_events_then_status(daemon: Handle, write_score: Any) -> None:
    score = write_score(daemon.dir, "f", sheets=2)
    daemon.request("job.submit", {"config_path": str(score)})
    line = (
        json.dumps(
            {"jsonrpc": "2.0", "id": 9, "method": "job.follow", "params": {"job_id": "f"}}
        ).encode()
        + b"\n"
    )
    out = send(daemon, line, replies=1)
    final = out[-1]
    assert final["id"] == 9 and final["result"]["status"] == "completed"
    types = [m["params"]["type"] for m in out[:-1]]
    assert all(m["method"] == "job.event" for m in out[:-1])
    for message in out[:-1]:
        daemon.validate_notification(message)
    daemon.check_reply("job.follow", final)
    assert types[:2] == ["job.queued", "job.started"] and types[-1] == "job.completed"
    assert types.count("sheet.started") == 2
    assert "sheet.completed" in types


def test_backpressure_refuses_submissions(
    daemon_factory: Callable[..., Handle], write_score: Any
) -> None:
    d = daemon_factory(resource_limits={"max_memory_mb": 1})
    status = d.request("daemon.status")
    assert status["pressure_level"] == "critical" and status["accepting_work"] is False
    ready = d.request("daemon.ready")
    assert ready["status"] == "not_ready" and any("pressure" in r for r in ready["reasons"])
    with pytest.raises(d.RpcFailure) as info:
        d.request("job.submit", {"config_path": str(write_score(d.dir, "x"))})
    assert info.value.code == -32005
    assert info.value.message == "System under high pressure — try again later."
    script = Path(sys.executable).parent / "mozartd"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mozart_daemon"]
    shown = subprocess.run(
        [*argv, "status", "--config", str(d.config_path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    lines = shown.stdout.splitlines()
    assert lines[2] == "  [-] Readiness: not_ready"
    assert lines[3].startswith("      Reasons: ") and "pressure critical" in lines[3]
    assert "  Accepting work: False" in lines


def test_connection_cap(daemon_factory: Callable[..., Handle]) -> None:
    d = daemon_factory(socket={"max_connections": 1})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as first:
        first.connect(str(d.socket_path))
        first.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}\n')
        first.settimeout(5)
        assert b'"ok"' in first.recv(65536)  # the first connection is being served
        deadline = time.monotonic() + 5
        reply: dict[str, Any] = {}
        while time.monotonic() < deadline:
            [reply] = send(d, b'{"jsonrpc": "2.0", "id": 2, "method": "daemon.health"}\n')
            if "error" in reply:
                break
        assert reply["error"]["code"] == -32008
        assert "max_connections" in reply["error"]["message"]


def test_job_logs_streams_sheet_output(daemon: Handle, write_score: Any) -> None:
    cmd = (
        'echo "out of $MOZART_SHEET_NUM"; echo "err of $MOZART_SHEET_NUM" >&2; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    score = write_score(daemon.dir, "logs", sheets=2, command=cmd)
    daemon.request("job.submit", {"config_path": str(score)})
    daemon.wait_job("logs", "completed")
    request = {"jsonrpc": "2.0", "id": 3, "method": "job.logs",
               "params": {"job_id": "logs", "sheet_num": 2}}  # fmt: skip
    out = send(daemon, json.dumps(request).encode() + b"\n")
    final = out[-1]
    daemon.check_reply("job.logs", final)
    notes = out[:-1]
    for note in notes:
        daemon.validate_notification(note)
    lines = [(n["params"]["stream"], n["params"]["line"]) for n in notes]
    assert ("stdout", "out of 2") in lines and ("stderr", "err of 2") in lines
    assert all(n["params"]["sheet_num"] == 2 for n in notes)
    assert final["result"] == {"job_id": "logs", "lines": len(notes)}
