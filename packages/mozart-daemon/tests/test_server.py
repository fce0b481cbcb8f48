"""An in-process Daemon (fake sheet runner) on a real socket: dispatch, peer check, caps."""

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mozart_daemon import server as server_mod
from mozart_daemon.app import Daemon
from mozart_daemon.config import config_from_mapping
from mozart_daemon.handlers import HANDLERS
from mozart_daemon.jobs import JobRun, SheetOutcome
from mozart_daemon.server import DaemonServer, ServerError
from mozart_protocol import METHODS, Method
from mozart_protocol.score import PlannedSheet


class InstantRunner:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
        await self.daemon.store.sheets.sheet_started(job.job_id, sheet.sheet_num)
        await self.daemon.store.sheets.sheet_finished(
            job.job_id, sheet.sheet_num, status="completed"
        )
        return SheetOutcome(status="completed", attempts=1)


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))
    config = config_from_mapping(
        {
            "socket": {"path": str(tmp / "s.sock")},
            "state_db_path": str(tmp / "db"),
            "pid_file": str(tmp / "pid"),
        }
    ).expanded()
    d = Daemon(config, runner_factory=InstantRunner)
    await d.start()
    yield d
    d.request_shutdown()
    await asyncio.wait_for(d.stopped.wait(), 10)
    shutil.rmtree(tmp, ignore_errors=True)


async def rpc(d: Daemon, *messages: Any, replies: int = 1) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(str(d.config.socket.path))
    for m in messages:
        writer.write(m if isinstance(m, bytes) else json.dumps(m).encode() + b"\n")
    await writer.drain()
    out = []
    for _ in range(replies):
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            break
        out.append(json.loads(line))
    writer.close()
    return out


def test_handler_table_covers_every_method_of_the_schema() -> None:
    schema_file = Path(__file__).resolve().parents[3] / "schema" / "rpc.schema.json"
    in_schema = set(json.loads(schema_file.read_text())["x-mozart-methods"])
    assert {m.value for m in HANDLERS} == {m.value for m in Method} == in_schema
    assert set(HANDLERS) == set(METHODS)


async def test_health_ready_status(daemon: Daemon) -> None:
    [h] = await rpc(daemon, {"jsonrpc": "2.0", "id": 1, "method": "daemon.health"})
    assert h["result"]["status"] == "ok" and h["result"]["pid"] == os.getpid()
    [s] = await rpc(daemon, {"jsonrpc": "2.0", "id": 2, "method": "daemon.status", "params": {}})
    assert s["result"]["readiness"] == "ready" and s["result"]["accepting_work"] is True


async def test_submit_and_status(daemon: Daemon, tmp_path: Path) -> None:
    score = tmp_path / "s.yaml"
    score.write_text(
        "name: s\nbackend: {type: command, command: 'true'}\n"
        "sheet: {size: 1, total_items: 2}\nprompt: {template: x}\n"
    )
    [r] = await rpc(
        daemon,
        {"jsonrpc": "2.0", "id": 1, "method": "job.submit", "params": {"config_path": str(score)}},
    )
    assert r["result"]["job_id"] == "s"
    for _ in range(200):
        [st] = await rpc(
            daemon, {"jsonrpc": "2.0", "id": 2, "method": "job.status", "params": {"job_id": "s"}}
        )
        if st["result"]["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert st["result"]["completed_sheets"] == 2


async def test_internal_error_hides_traceback(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*_a: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setitem(HANDLERS, Method.DAEMON_HEALTH, boom)
    [r] = await rpc(daemon, {"jsonrpc": "2.0", "id": 1, "method": "daemon.health"})
    assert r["error"]["code"] == -32603 and "secret" not in json.dumps(r)


async def test_peer_not_allowed_is_refused(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_mod, "peer_credentials", lambda _s: (1, 4242, 4242))
    [r] = await rpc(daemon, {"jsonrpc": "2.0", "id": 1, "method": "daemon.health"})
    assert r["error"]["code"] == -32007


async def test_symlinked_socket_path_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link.sock"
    link.symlink_to(real / "x.sock")
    cfg = config_from_mapping({"socket": {"path": str(link)}}).socket

    async def dispatch(raw: bytes, notify: Any) -> bytes | None:
        return None

    with pytest.raises(ServerError, match="symlink"):
        await DaemonServer(config=cfg, dispatch=dispatch).start()


async def test_stale_socket_replaced_and_permissions(tmp_path: Path) -> None:
    import socket as socket_mod

    short = Path(tempfile.mkdtemp(dir="/tmp"))
    path = short / "sub" / "s.sock"
    path.parent.mkdir()
    stale = socket_mod.socket(socket_mod.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on
    cfg = config_from_mapping({"socket": {"path": str(path), "permissions": 0o600}}).socket

    async def dispatch(raw: bytes, notify: Any) -> bytes | None:
        return raw

    srv = DaemonServer(config=cfg, dispatch=dispatch)
    await srv.start()
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        with pytest.raises(ServerError, match="already running"):
            await DaemonServer(config=cfg, dispatch=dispatch).start()
    finally:
        await srv.close()
    assert not path.exists()
    shutil.rmtree(short, ignore_errors=True)


def test_peer_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sock"
    path.write_text("")  # only its group is read

    async def dispatch(raw: bytes, notify: Any) -> bytes | None:
        return None

    def server(mode: int) -> DaemonServer:
        cfg = config_from_mapping({"socket": {"path": str(path), "permissions": mode}}).socket
        return DaemonServer(config=cfg, dispatch=dispatch)

    me = os.getuid()
    gid = path.stat().st_gid
    other = me + 4242
    assert server(0o600)._allowed(me, 0) and server(0o600)._allowed(0, 0)
    assert not server(0o600)._allowed(other, gid)  # group not granted by the mode
    assert server(0o660)._allowed(other, gid)  # a member of the socket's group
    assert not server(0o660)._allowed(other, gid + 1)
    monkeypatch.setattr(server_mod, "_user_in_group", lambda uid, peer_gid, group: True)
    assert server(0o660)._allowed(other, gid + 1)  # supplementary membership counts


async def test_client_leaving_a_stream_is_not_an_error(
    daemon: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = asyncio.Event()

    class Slow:
        async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome:
            await gate.wait()
            return SheetOutcome(status="completed", attempts=1)

    daemon.manager._runner = Slow()
    score = tmp_path / "s.yaml"
    score.write_text(
        "name: s\nbackend: {type: command, command: 'true'}\n"
        "sheet: {size: 1, total_items: 1}\nprompt: {template: x}\n"
    )
    await daemon.manager.submit(config_path=str(score))
    reader, writer = await asyncio.open_unix_connection(str(daemon.config.socket.path))
    writer.write(
        b'{"jsonrpc": "2.0", "id": 1, "method": "job.follow", "params": {"job_id": "s"}}\n'
    )
    await writer.drain()
    assert b"job.event" in await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    await writer.wait_closed()
    gate.set()  # more events go to a closed connection
    for _ in range(100):
        record = await daemon.store.jobs.get("s")
        if record is not None and record.status == "completed":
            break
        await asyncio.sleep(0.02)
    [health] = await rpc(daemon, {"jsonrpc": "2.0", "id": 2, "method": "daemon.health"})
    assert health["result"]["status"] == "ok"
    captured = capsys.readouterr()
    assert "rpc.failed" not in captured.out + captured.err


@pytest.fixture
async def echo_server() -> AsyncIterator[DaemonServer]:
    """A server whose dispatch answers each line with itself (``fail`` raises, ``big`` is
    answered with 256 KiB), messages capped at 1,000 bytes."""
    short = Path(tempfile.mkdtemp(dir="/tmp"))
    cfg = config_from_mapping({"socket": {"path": str(short / "s.sock")}}).socket

    async def dispatch(raw: bytes, notify: Any) -> bytes | None:
        if raw == b"fail":
            raise RuntimeError("a bug")
        await asyncio.sleep(0)
        return (b"x" * 262_144 if raw == b"big" else raw) + b"\n"

    srv = DaemonServer(config=cfg, dispatch=dispatch, max_message_size=1000)
    await srv.start()
    yield srv
    await srv.close()
    shutil.rmtree(short, ignore_errors=True)


async def read_to_end(reader: asyncio.StreamReader) -> list[bytes]:
    return (await asyncio.wait_for(reader.read(), 5)).splitlines()


async def test_pipelined_lines_are_answered_in_order(echo_server: DaemonServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(echo_server.path))
    writer.write(b"".join(b"%d\n" % i for i in range(50)) + b"\n \r\nlast\n")
    writer.write_eof()  # the half-closed client is still answered, then the server closes
    assert await read_to_end(reader) == [b"%d" % i for i in range(50)] + [b"last"]
    writer.close()


async def test_line_past_the_cap_answered_in_turn_then_closed(echo_server: DaemonServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(echo_server.path))
    writer.write(b"first\n" + b"y" * 1001 + b"\nnever\n")
    first, refusal = await read_to_end(reader)
    assert first == b"first"
    assert json.loads(refusal)["error"]["code"] == -32009
    writer.close()


async def test_a_bug_in_dispatch_closes_only_its_connection(
    echo_server: DaemonServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_unix_connection(str(echo_server.path))
    writer.write(b"fail\nnever\n")
    assert await read_to_end(reader) == []
    assert "a bug" in caplog.text
    writer.close()
    reader, writer = await asyncio.open_unix_connection(str(echo_server.path))
    writer.write(b"again\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"again\n"
    writer.close()


async def test_client_that_does_not_read_is_not_read_either(echo_server: DaemonServer) -> None:
    """Requests with large replies, none read: the server stops taking requests, and the
    client's sends block (what it holds for the client is bounded)."""
    import socket as socket_mod

    sock = socket_mod.socket(socket_mod.AF_UNIX)
    sock.connect(str(echo_server.path))
    sock.setblocking(False)
    request = b"big\n" * 4096
    sent = stalled = 0
    while sent < 64 * 1024 * 1024 and stalled < 100:  # a second without progress: stop
        try:
            sent += sock.send(request)
            stalled = 0
        except BlockingIOError:
            stalled += 1
            await asyncio.sleep(0.01)
    assert sent < 64 * 1024 * 1024
    [conn] = echo_server._connections
    assert conn._reading_paused
    sock.close()


async def test_past_the_cap_the_refusal_waits_for_the_first_line(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(dir="/tmp"))
    cfg = config_from_mapping(
        {"socket": {"path": str(short / "s.sock"), "max_connections": 1}}
    ).socket

    async def dispatch(raw: bytes, notify: Any) -> bytes | None:
        return raw + b"\n"

    srv = DaemonServer(config=cfg, dispatch=dispatch)
    await srv.start()
    try:
        _r1, w1 = await asyncio.open_unix_connection(str(cfg.path))
        for _ in range(100):  # the first connection is counted once accepted
            if srv._connections:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(str(cfg.path))
        writer.write(b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}\n')
        [refusal] = await read_to_end(reader)
        assert json.loads(refusal)["error"]["code"] == -32008
        writer.close()
        w1.close()
    finally:
        await srv.close()
        shutil.rmtree(short, ignore_errors=True)


REQUESTS: list[bytes] = [
    b'{"jsonrpc":"2.0","id":1,"method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":"a","method":"daemon.health","params":{}}',
    b'{"jsonrpc":"2.0","id":null,"method":"daemon.status","params":null}',
    b'{"jsonrpc":"2.0","method":"daemon.health"}',
    b'{"jsonrpc":"2.0","method":"job.status","params":{"job_id":"j"}}',
    b'{"jsonrpc":"2.0","id":2,"method":"job.submit","params":{"config_path":"/s.yaml"}}',
    b'{"jsonrpc":"2.0","id":3,"method":"job.submit","params":{"config_path":"s.yaml"}}',
    b'{"jsonrpc":"2.0","id":4,"method":"job.submit","params":{"config_path":"/s","priority":10}}',
    b'{"jsonrpc":"2.0","id":5,"method":"job.submit","params":{"config_path":"/s","fresh":1}}',
    b'{"jsonrpc":"2.0","id":6,"method":"job.submit","params":{"config_path":"/s","x":1}}',
    b'{"jsonrpc":"2.0","id":7,"method":"job.submit","params":{}}',
    b'{"jsonrpc":"2.0","id":8,"method":"job.submit","params":[1]}',
    b'{"jsonrpc":"2.0","id":9,"method":"job.submit","params":"x"}',
    b'{"jsonrpc":"2.0","id":10,"method":"job.list","params":{"status":"done","limit":0}}',
    b'{"jsonrpc":"2.0","id":11,"method":"job.list","params":{"status":"running","all":true}}',
    b'{"jsonrpc":"2.0","id":12,"method":"job.logs","params":{"job_id":"j","tail":1.5}}',
    b'{"jsonrpc":"2.0","id":13,"method":"learning.patterns","params":{"limit":"5"}}',
    b'{"jsonrpc":"2.0","id":14,"method":"no.such"}',
    b'{"jsonrpc":"2.0","id":true,"method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":1.5,"method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":[1],"method":"daemon.health"}',
    b'{"jsonrpc":"1.0","id":15,"method":"daemon.health"}',
    b'{"jsonrpc":2,"id":16,"method":"daemon.health"}',
    b'{"id":17,"method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":18,"method":5}',
    b'{"jsonrpc":"2.0","id":19}',
    b'{"jsonrpc":"2.0","id":20,"method":"job.status","method":"daemon.health"}',
    b'{"jsonrpc":"2.0","id":21,"method":"job.status","params":{"job_id":"a","job_id":""}}',
    b'{"jsonrpc":"2.0","id":22,"method":"daemon.health","extra":{"a":[1,2]}}',
    b'{"jsonrpc":"2.0","id":23,"method":"job.status","params":{"job_id":"\\u00e9\\n"}}',
    b'{"jsonrpc":"2.0","id":24,"method":"job.status","params":{"job_id":"\xff"}}',
    b'{"jsonrpc":"2.0","id":25,"method":"job.status","params":{"job_id":"j"}',
    b"[1, 2]",
    b'"text"',
    b"nope",
    b' {"jsonrpc":"2.0","id":26,"method":"daemon.health"} ',
]


async def test_a_request_is_answered_alike_either_way(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The envelope's way (one decode into the method's params type) and the general way
    call the same handler with the same params and give the same reply, or the same
    error, for well-formed requests and for every kind of malformed one."""
    from mozart_daemon.handlers import dispatch as dispatch_mod

    calls: list[tuple[object, ...]] = []

    async def record(_daemon: Any, params: Any, call: Any) -> Any:
        calls.append((type(params).__name__, repr(params), call.request_id))
        return params

    for method in Method:
        monkeypatch.setitem(dispatch_mod.HANDLERS, method, record)
    dispatcher = dispatch_mod.Dispatcher(daemon)

    async def notify(line: bytes) -> None:
        raise AssertionError("no notification here")

    general = dispatcher._dispatch
    went_general: list[bytes] = []

    async def spy(line: bytes, notify: Any) -> Any:
        went_general.append(line)
        return await general(line, notify)

    monkeypatch.setattr(dispatcher, "_dispatch", spy)
    for line in REQUESTS:
        replies = []
        for answer in (dispatcher.dispatch, general):
            calls.clear()
            replies.append((await answer(line, notify), list(calls)))
        assert replies[0] == replies[1], line
    # The well-formed ones took the envelope's way.
    well_formed = [REQUESTS[i] for i in (0, 1, 3, 4, 5, 14, 20, 27, 29, 30, 36)]
    assert not set(well_formed) & set(went_general)
    assert len(went_general) == len(REQUESTS) - len(well_formed)
