"""The blocking client, socket resolution and the fail-safe availability probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mozart_protocol import _transport, errors, models
from mozart_protocol.client import (
    DEFAULT_SOCKET_PATH,
    DaemonClient,
    is_daemon_available,
    resolve_socket_path,
)

from .conftest import EVENT, RESULTS, FakeDaemon, Script  # type: ignore[import-not-found]


def test_socket_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOZART_SOCKET", raising=False)
    assert resolve_socket_path(None) == Path(DEFAULT_SOCKET_PATH) == Path("/tmp/mozartd.sock")
    monkeypatch.setenv("MOZART_SOCKET", "/run/env.sock")
    assert resolve_socket_path(None) == Path("/run/env.sock")
    assert resolve_socket_path("/run/arg.sock") == Path("/run/arg.sock")
    assert DaemonClient().socket_path == "/run/env.sock"
    monkeypatch.setenv("MOZART_SOCKET", "")
    assert resolve_socket_path(None) == Path(DEFAULT_SOCKET_PATH)


def test_sync_calls(threaded_daemon: FakeDaemon) -> None:
    client = DaemonClient(threaded_daemon.path, timeout=5)
    assert client.job_status("hello") == DaemonClient(threaded_daemon.path).job_status("hello")
    assert isinstance(client.submit_job("/s/a.yaml", fresh=True), models.JobSubmitResult)
    assert client.list_jobs(all=True).jobs[0].job_id == "hello"
    assert client.health().pid == 42
    assert threaded_daemon.methods() == [
        "job.status",
        "job.status",
        "job.submit",
        "job.list",
        "daemon.health",
    ]


def test_sync_error_and_not_running(threaded_daemon: FakeDaemon, tmp_path: Path) -> None:
    threaded_daemon.scripts["job.cancel"] = Script(
        error={"code": -32001, "message": "No job 'x'.", "data": {"job_id": "x"}}
    )
    with pytest.raises(errors.JobNotFoundError):
        DaemonClient(threaded_daemon.path).cancel_job("x")
    missing = tmp_path / "nope.sock"
    with pytest.raises(errors.DaemonNotRunning, match=str(missing)):
        DaemonClient(missing).health()


def test_sync_stream(threaded_daemon: FakeDaemon) -> None:
    threaded_daemon.scripts["job.follow"] = Script(
        result=RESULTS["job.follow"], notifications=[("job.event", EVENT)] * 3
    )
    stream = DaemonClient(threaded_daemon.path).follow_job("hello")
    events = list(stream)
    assert len(events) == 3 and all(isinstance(e, models.JobEvent) for e in events)
    assert stream.result.job_id == "hello"
    assert list(stream) == []  # finished streams stay finished


def test_is_daemon_available(threaded_daemon: FakeDaemon, tmp_path: Path) -> None:
    assert is_daemon_available(threaded_daemon.path) is True
    assert is_daemon_available(tmp_path / "none.sock") is False


@pytest.mark.parametrize(
    "script",
    [
        Script(raw=b"garbage\n"),
        Script(close=True),
        Script(result={"status": "degraded"}),
        Script(error={"code": -32603, "message": "Internal error"}),
        Script(hang=True),
    ],
)
def test_is_daemon_available_is_fail_safe(threaded_daemon: FakeDaemon, script: Script) -> None:
    threaded_daemon.scripts["daemon.health"] = script
    assert is_daemon_available(threaded_daemon.path, timeout=0.3) is False


def test_is_daemon_available_never_raises_on_odd_input(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_daemon_available("/tmp/\0bad") is False
    assert is_daemon_available("/" + "x" * 300) is False  # longer than sun_path


def test_is_daemon_available_refuses_another_users_daemon(
    threaded_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transport, "peer_uid", lambda sock: os.getuid() + 1)
    assert is_daemon_available(threaded_daemon.path) is False


def test_client_import_stays_light() -> None:
    # The CLI imports the client on every daemon command: no score or dev dependencies.
    code = (
        "import sys, mozart_protocol.client; "
        "print(sorted(m for m in ('yaml', 'jinja2', 'jsonschema', 'mozart_protocol.score') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
