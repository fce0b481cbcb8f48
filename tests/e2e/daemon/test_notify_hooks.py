"""Notifications and success hooks through a real mozartd: a webhook received by a local
HTTP server, a failing one in daemon.ready, run_job chains, the depth limit, the no-work
guard, and a run_command time-out that leaves no process behind."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)
Handle = Any  # tests/e2e/conftest.py::DaemonHandle


class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.status = 200
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver.changed:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    receiver.changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"{len(self.requests)} of {count} requests: {self.requests}"
        return [body for _, _, body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def follow(daemon: Handle, job_id: str, timeout: float = 20.0) -> tuple[list[dict[str, Any]], Any]:
    """``job.follow`` on its own connection: (event params, final result)."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "job.follow", "params": {"job_id": job_id}}
    events: list[dict[str, Any]] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(daemon.socket_path))
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            assert chunk, "the daemon closed the stream before its final reply"
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                message = json.loads(raw)
                if "id" in message:
                    daemon.check_reply("job.follow", message)
                    return events, message["result"]
                daemon.validate_notification(message)
                events.append(message["params"])


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def hook_events(daemon: Handle, job_id: str) -> list[dict[str, Any]]:
    events, _ = follow(daemon, job_id)
    return [e for e in events if e["type"].startswith("hook.")]


def test_webhook_gets_job_start_and_job_complete(
    daemon_factory: Callable[..., Handle],
    write_score: Any,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MZ_E2E_HOOK_TOKEN", "s3cret")
    daemon = daemon_factory()
    extra = (
        "notifications:\n"
        "  - type: webhook\n"
        "    on_events: [job_start, sheet_failed, job_complete, job_failed]\n"
        f"    config: {{url: '{receiver.url('/hook')}', timeout: 5,"
        " headers: {Authorization: 'Bearer ${MZ_E2E_HOOK_TOKEN}'}}\n"
        "  - type: desktop\n"
        "    on_events: [job_complete]\n"
    )
    score = write_score(daemon.dir, "told", sheets=2, extra=extra)
    daemon.request("job.submit", {"config_path": str(score)})
    daemon.wait_job("told", "completed")
    bodies = receiver.wait_for(2)
    assert [b["event"] for b in bodies] == ["job_start", "job_complete"]
    start, done = bodies
    assert start["job_id"] == start["name"] == "told" and start["status"] == "running"
    assert done["status"] == "completed" and done["sheet_num"] is None
    assert done["total_sheets"] == 2 and done["workspace"] == str(daemon.dir / "told-ws")
    assert done["time"].endswith("Z") and done["source"] == "mozart"
    path, headers, _ = receiver.requests[0]
    assert path == "/hook"
    assert headers["Authorization"] == "Bearer s3cret"  # from the daemon's environment
    assert headers["Content-Type"] == "application/json"
    assert daemon.request("daemon.ready") == {"status": "ready", "reasons": []}


def test_failing_webhook_is_retried_and_shows_in_readiness(
    daemon: Handle, write_score: Any, receiver: Receiver
) -> None:
    receiver.status = 500
    url = receiver.url("/down?token=hidden")
    extra = (
        "notifications:\n"
        "  - type: webhook\n"
        "    on_events: [job_start, sheet_complete, job_complete]\n"
        f"    config: {{url: '{url}', max_retries: 1, retry_delay: 0.01, timeout: 5}}\n"
    )
    score = write_score(daemon.dir, "loud", sheets=2, extra=extra)
    daemon.request("job.submit", {"config_path": str(score)})
    daemon.wait_job("loud", "completed")  # a dead webhook holds nothing up
    # 4 deliveries (job_start, 2 x sheet_complete, job_complete), each tried twice.
    receiver.wait_for(8)

    def not_ready() -> Any:
        ready = daemon.request("daemon.ready")
        return ready if ready["status"] == "not_ready" else None

    ready = wait_until(not_ready, "daemon.ready to report the failing notifier")
    [reason] = ready["reasons"]
    assert reason.startswith("notifier failing: webhook http://127.0.0.1:")
    assert "/down" in reason and "HTTP 500" in reason and "hidden" not in reason
    # daemon.status names the same notifier (its failure count may have grown in between).
    [again] = daemon.request("daemon.status")["ready_reasons"]
    assert again.split(" (")[0] == reason.split(" (")[0]
    assert "notify.failed" in daemon.log_text()

    # The endpoint comes back: the next delivery succeeds and the reason goes.
    receiver.status = 204
    daemon.request("job.submit", {"config_path": str(score), "fresh": True})
    daemon.wait_job("loud", "completed")
    wait_until(lambda: daemon.request("daemon.ready")["status"] == "ready", "readiness to recover")


def chain_score(directory: Path, write_score: Any, name: str, nxt: str | None) -> Path:
    extra = ""
    if nxt is not None:
        extra = f"on_success:\n  - type: run_job\n    job_path: ./{nxt}.yaml\n    fresh: true\n"
    return write_score(directory, name, sheets=1, extra=extra)


def test_run_job_chain_of_two_scores(daemon: Handle, write_score: Any, counts: Any) -> None:
    first = chain_score(daemon.dir, write_score, "first", "second")
    chain_score(daemon.dir, write_score, "second", None)
    daemon.request("job.submit", {"config_path": str(first)})
    # A follower of the first job sees its hook's result before the stream ends.
    events, final = follow(daemon, "first")
    assert final["status"] == "completed"
    types = [e["type"] for e in events]
    assert types.index("job.completed") < types.index("hook.completed")
    [hook] = [e for e in events if e["type"] == "hook.completed"]
    assert "on_success[0] run_job `./second.yaml`" in hook["message"]
    assert "submitted second" in hook["message"] and "chain depth 1 of 5" in hook["message"]

    second = daemon.wait_job("second", "completed")
    assert second["config_path"] == str(daemon.dir / "second.yaml")
    assert counts(daemon.dir, "first") == [1] and counts(daemon.dir, "second") == [1]
    events, _ = follow(daemon, "second")
    chained = [e for e in events if e["type"] == "job.chained"]
    assert [e["message"] for e in chained] == [
        "submitted by the on_success hook of first (chain depth 1)"
    ]


def test_chain_stops_at_max_chain_depth(
    daemon_factory: Callable[..., Handle], write_score: Any
) -> None:
    daemon = daemon_factory(max_chain_depth=1)
    first = chain_score(daemon.dir, write_score, "one", "two")
    chain_score(daemon.dir, write_score, "two", "three")
    chain_score(daemon.dir, write_score, "three", None)
    daemon.request("job.submit", {"config_path": str(first)})
    daemon.wait_job("one", "completed")
    daemon.wait_job("two", "completed")
    [hook] = wait_until(lambda: hook_events(daemon, "two"), "the second job's hook result")
    assert hook["type"] == "hook.failed"
    assert "chain depth 1" in hook["message"] and "max_chain_depth is 1" in hook["message"]
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.status", {"job_id": "three"})
    assert info.value.code == -32001


def test_a_job_that_did_no_work_does_not_run_its_hooks_again(
    daemon: Handle, write_score: Any, counts: Any
) -> None:
    marker = daemon.dir / "hook-runs.txt"
    extra = (
        "on_success:\n"
        f"  - {{type: run_command, command: 'echo ran >> {marker}'}}\n"
        "  - {type: run_job, job_path: ./after.yaml, fresh: true}\n"
    )
    score = write_score(daemon.dir, "once", sheets=2, extra=extra)
    chain_score(daemon.dir, write_score, "after", None)
    daemon.request("job.submit", {"config_path": str(score)})
    daemon.wait_job("once", "completed")
    daemon.wait_job("after", "completed")
    assert [e["type"] for e in hook_events(daemon, "once")] == ["hook.completed"] * 2
    assert marker.read_text() == "ran\n"

    # The daemon stopped after the last sheet was checkpointed but before the job's final
    # state was written: the job is left failed with every sheet complete.
    daemon.stop()
    with sqlite3.connect(daemon.state_db) as db:
        db.execute("UPDATE jobs SET status = 'failed' WHERE job_id = 'once'")
    daemon.start()
    daemon.request("job.resume", {"job_id": "once"})
    daemon.wait_job("once", "completed")
    [skipped] = wait_until(lambda: hook_events(daemon, "once")[2:], "the no-work guard")
    assert skipped["type"] == "hook.skipped" and "ran no sheet" in skipped["message"]
    assert counts(daemon.dir, "once") == [1, 2]  # no sheet ran again
    assert marker.read_text() == "ran\n"  # the command did not run again
    assert counts(daemon.dir, "after") == [1]  # nor did the chain


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def test_run_command_timeout_leaves_no_process(daemon: Handle, write_score: Any) -> None:
    marker = f"{time.time_ns() % 1_000_000 + 1000}.25"  # a unique sleep length
    extra = (
        "on_success:\n"
        f"  - {{type: run_command, command: 'sleep {marker} & sleep {marker}',"
        " timeout_seconds: 0.5, on_failure: abort}\n"
        "  - {type: run_command, command: 'echo never'}\n"
    )
    score = write_score(daemon.dir, "slow", sheets=1, extra=extra)
    daemon.request("job.submit", {"config_path": str(score)})
    events, final = follow(daemon, "slow")
    assert final["status"] == "completed"  # a failed hook does not fail the job
    hooks = [e for e in events if e["type"].startswith("hook.")]
    assert [e["type"] for e in hooks] == ["hook.failed", "hook.skipped"]
    assert "timed out after 0.5 s" in hooks[0]["message"]
    assert "on_success[0] failed (on_failure: abort)" in hooks[1]["message"]
    assert _processes_with(f"sleep {marker}") == []  # both sleeps were stopped
    log = (daemon.dir / "slow-ws" / "logs" / "hooks.log").read_text()
    assert f"slow: sleep {marker} & sleep {marker}" in log


def test_a_job_a_restart_finds_interrupted_is_notified_as_failed(
    daemon_factory: Callable[..., Handle], write_score: Any, receiver: Receiver
) -> None:
    """kill -9 with a job running: the next daemon fails it, and its score's webhook (read
    again from the file) is told; a job whose score file has gone is failed, not notified."""
    daemon = daemon_factory()
    gate = daemon.dir / "gate"
    extra = (
        "notifications:\n"
        "  - type: webhook\n"
        "    on_events: [job_failed]\n"
        f"    config: {{url: '{receiver.url('/hook')}', timeout: 5}}\n"
    )
    wait = f"while [ ! -e {gate} ]; do sleep 0.05; done"
    told = write_score(daemon.dir, "told", sheets=1, command=wait, extra=extra)
    gone = write_score(daemon.dir, "gone", sheets=1, command=wait, extra=extra)
    for score in (told, gone):
        daemon.request("job.submit", {"config_path": str(score)})
    for name in ("told", "gone"):
        daemon.wait_job(name, "running")
    daemon.kill9()
    gone.unlink()
    daemon.start()
    bodies = receiver.wait_for(1)
    assert [(b["event"], b["job_id"], b["status"]) for b in bodies] == [
        ("job_failed", "told", "failed")
    ]
    assert bodies[0]["message"] == "Daemon restarted while job was active"
    assert daemon.request("job.status", {"job_id": "gone"})["status"] == "failed"
    assert "manager.orphan_not_notified" in daemon.log_text()
    time.sleep(0.5)  # nothing more comes
    assert len(receiver.requests) == 1
    gate.touch()
