"""AsyncDaemonClient against the scripted fake daemon: typed calls, errors, timeouts."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from mozart_protocol import _transport, errors, framing, models
from mozart_protocol.client import AsyncDaemonClient

from .conftest import RESULTS, FakeDaemon, Script  # type: ignore[import-not-found]


def client(daemon: FakeDaemon, **kw: Any) -> AsyncDaemonClient:
    return AsyncDaemonClient(daemon.path, **kw)


# (client call, expected wire method, expected params, result type)
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str, dict[str, Any], type]] = [
    (
        "submit_job",
        ("/s/hello.yaml",),
        {"priority": 3},
        "job.submit",
        {
            "config_path": "/s/hello.yaml",
            "fresh": False,
            "start_sheet": None,
            "priority": 3,
            "workspace": None,
        },
        models.JobSubmitResult,
    ),
    ("job_status", ("hello",), {}, "job.status", {"job_id": "hello"}, models.JobStatus),
    ("pause_job", ("hello",), {}, "job.pause", {"job_id": "hello"}, models.JobActionResult),
    ("resume_job", ("hello",), {}, "job.resume", {"job_id": "hello"}, models.JobActionResult),
    ("cancel_job", ("hello",), {}, "job.cancel", {"job_id": "hello"}, models.JobActionResult),
    (
        "list_jobs",
        (),
        {"status": "running", "all": True, "limit": 5},
        "job.list",
        {"status": "running", "all": True, "limit": 5, "after": None},
        models.JobListResult,
    ),
    ("daemon_status", (), {}, "daemon.status", {}, models.DaemonStatus),
    (
        "shutdown",
        (),
        {"force": True},
        "daemon.shutdown",
        {"force": True},
        models.DaemonShutdownResult,
    ),
    ("health", (), {}, "daemon.health", {}, models.DaemonHealth),
    ("ready", (), {}, "daemon.ready", {}, models.DaemonReady),
    ("discover", (), {}, "rpc.discover", {}, dict),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "method", "params", "kind"), CALLS)
async def test_typed_call_sends_its_method_and_decodes_its_result(
    fake_daemon: FakeDaemon,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    method: str,
    params: dict[str, Any],
    kind: type,
) -> None:
    async with client(fake_daemon) as c:
        result = await getattr(c, name)(*args, **kwargs)
    assert isinstance(result, kind)
    request = fake_daemon.requests[-1]
    assert request["jsonrpc"] == "2.0" and isinstance(request["id"], int)
    assert (request["method"], request["params"]) == (method, params)
    assert msgspec.to_builtins(result) == RESULTS[method]


async def test_results_carry_enums_and_aware_datetimes(fake_daemon: FakeDaemon) -> None:
    async with client(fake_daemon) as c:
        status = await c.job_status("hello")
    assert status.status is models.JobState.COMPLETED
    assert status.sheets[0].status is models.SheetState.COMPLETED
    assert isinstance(status.created_at, datetime) and status.created_at.tzinfo is not None


async def test_submit_makes_the_score_path_absolute(fake_daemon: FakeDaemon) -> None:
    async with client(fake_daemon) as c:
        await c.submit_job("scores/hello.yaml")
    sent = fake_daemon.requests[-1]["params"]["config_path"]
    assert sent == os.path.join(os.getcwd(), "scores/hello.yaml")


async def test_calls_share_one_connection(fake_daemon: FakeDaemon) -> None:
    async with client(fake_daemon) as c:
        for _ in range(3):
            await c.health()
    assert fake_daemon.connections == 1
    assert [r["id"] for r in fake_daemon.requests] == [1, 2, 3]


async def test_generic_call_decodes_known_and_passes_unknown(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["x.new"] = Script(result={"anything": [1]})
    async with client(fake_daemon) as c:
        assert isinstance(await c.call("daemon.health"), models.DaemonHealth)
        assert await c.call("x.new", {"a": 1}) == {"anything": [1]}
    assert fake_daemon.requests[-1]["params"] == {"a": 1}


async def test_daemon_error_is_its_rpc_error_and_connection_survives(
    fake_daemon: FakeDaemon,
) -> None:
    data = {"job_id": "x", "state": "completed", "action": "pause"}
    fake_daemon.scripts["job.pause"] = Script(
        error={"code": -32003, "message": "Cannot pause job 'x': it is completed.", "data": data}
    )
    async with client(fake_daemon) as c:
        with pytest.raises(errors.InvalidJobStateError) as info:
            await c.pause_job("x")
        assert info.value.data == data and "completed" in info.value.message
        assert not isinstance(info.value, errors.DaemonNotRunning)
        assert (await c.health()).status == "ok"
    assert fake_daemon.connections == 1


async def test_error_with_null_id_is_raised(fake_daemon: FakeDaemon) -> None:
    # A connection-level refusal cannot name the request it refuses.
    fake_daemon.scripts["daemon.health"] = Script(
        error={"code": -32008, "message": "Too many connections"}, reply_id=None
    )
    async with client(fake_daemon) as c:
        with pytest.raises(errors.TooManyConnectionsError):
            await c.health()


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda d: d / "missing.sock", "no such file"),
        (lambda d: _bound_not_listening(d / "dead.sock"), "connection refused"),
        (lambda d: _regular_file(d / "file.sock"), "connection refused"),
    ],
)
async def test_nothing_on_the_socket_is_daemon_not_running(
    short_dir: Path, make_path: Any, reason: str
) -> None:
    path = make_path(short_dir)
    c = AsyncDaemonClient(path, timeout=2)
    with pytest.raises(errors.DaemonNotRunning) as info:
        await c.health()
    assert str(path) in str(info.value)
    assert info.value.socket_path == str(path)
    assert info.value.reason == reason


def _bound_not_listening(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the file stays; nobody listens: connect gets ECONNREFUSED
    return path


def _regular_file(path: Path) -> Path:
    path.write_text("not a socket")
    return path


async def test_timeout_then_reconnect(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.status"] = Script(hang=True)
    async with client(fake_daemon, timeout=0.2) as c:
        with pytest.raises(errors.RpcTimeout) as info:
            await c.job_status("hello")
        assert info.value.method == "job.status" and fake_daemon.path in str(info.value)
        # The hung connection is dropped; the next call gets a fresh one and works.
        assert (await c.health()).status == "ok"
    assert fake_daemon.connections == 2


async def test_per_call_timeout_overrides_the_default(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["daemon.ready"] = Script(hang=True)
    async with client(fake_daemon, timeout=60) as c:
        with pytest.raises(errors.RpcTimeout):
            await c.call("daemon.ready", timeout=0.1)


async def test_invalid_result_is_a_protocol_error_naming_the_field(
    fake_daemon: FakeDaemon,
) -> None:
    fake_daemon.scripts["daemon.health"] = Script(result={"status": "ok", "pid": "forty-two"})
    async with client(fake_daemon) as c:
        with pytest.raises(errors.ProtocolError, match=r"pid"):
            await c.health()


async def test_unknown_result_field_is_refused(fake_daemon: FakeDaemon) -> None:
    result = {**RESULTS["daemon.health"], "extra": 1}
    fake_daemon.scripts["daemon.health"] = Script(result=result)
    async with client(fake_daemon) as c:
        with pytest.raises(errors.ProtocolError, match="extra"):
            await c.health()


async def test_naive_timestamp_is_refused(fake_daemon: FakeDaemon) -> None:
    result = {**RESULTS["job.status"], "created_at": "2026-11-26T21:00:00"}
    fake_daemon.scripts["job.status"] = Script(result=result)
    async with client(fake_daemon) as c:
        with pytest.raises(errors.ProtocolError, match="created_at"):
            await c.job_status("hello")


@pytest.mark.parametrize(
    ("script", "match"),
    [
        (Script(close=True), "closed the connection"),
        (Script(raw=b"this is not json\n"), "unreadable"),
        (Script(raw=b'{"jsonrpc":"2.0","id":99,"result":{}}\n'), "does not match"),
        (Script(raw=b'{"jsonrpc":"1.0","id":1,"result":{}}\n'), "not JSON-RPC 2.0"),
        (Script(raw=b'{"jsonrpc":"2.0","id":1}\n'), "neither result nor error"),
    ],
)
async def test_broken_replies_are_protocol_errors(
    fake_daemon: FakeDaemon, script: Script, match: str
) -> None:
    fake_daemon.scripts["daemon.health"] = script
    async with client(fake_daemon, timeout=5) as c:
        with pytest.raises(errors.ProtocolError, match=match):
            await c.health()


async def test_oversized_reply_is_refused(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["rpc.discover"] = Script(result={"blob": "x" * 5000})
    async with client(fake_daemon, max_message_size=1000) as c:
        with pytest.raises(framing.MessageTooLarge):
            await c.discover()


async def test_socket_of_another_user_is_refused(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transport, "peer_uid", lambda sock: os.getuid() + 1)
    with pytest.raises(errors.UntrustedDaemonError) as info:
        await client(fake_daemon).health()
    assert str(os.getuid() + 1) in str(info.value) and fake_daemon.path in str(info.value)
    assert fake_daemon.requests == []  # nothing was sent to the untrusted peer


async def test_root_and_ourselves_are_trusted(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client(fake_daemon) as c:  # the real SO_PEERCRED: our own uid
        assert (await c.health()).status == "ok"
    monkeypatch.setattr(_transport, "peer_uid", lambda sock: 0)
    async with client(fake_daemon) as c:
        assert (await c.health()).status == "ok"


def test_real_peer_credentials_are_ours(short_dir: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(short_dir / "p.sock"))
    server.listen(1)
    with server, socket.socket(socket.AF_UNIX) as c:
        c.connect(str(short_dir / "p.sock"))
        assert _transport.peer_uid(c) == os.getuid()


async def test_full_listen_backlog_is_a_timeout_not_a_broken_connection(short_dir: Path) -> None:
    # A non-blocking connect to a Unix socket whose backlog is full fails with EAGAIN; the
    # client must keep trying until its timeout, not treat the socket as connected.
    path = str(short_dir / "b.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(0)
    fillers = []
    try:
        while len(fillers) < 64:
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            fillers.append(s)
            try:
                s.connect(path)
            except BlockingIOError:
                break
        else:
            pytest.skip("could not fill the listen backlog")
        with pytest.raises(errors.RpcTimeout):
            await AsyncDaemonClient(path, timeout=0.3).health()
    finally:
        for s in fillers:
            s.close()
        server.close()
