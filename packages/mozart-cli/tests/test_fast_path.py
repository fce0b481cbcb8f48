"""The start-up fast path (mozart_cli.fastpath) prints exactly what the full command prints.

Every case runs ``mozart`` twice on the same input: once through the entry point (the fast
path, which may hand over) and once straight through the Typer app (the full command), and
compares stdout, stderr and exit code. The tables the fast path checks replies against are
held equal to the generated models, and its copies of the client's constants and messages
to the client's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from mozart_cli import daemon, fastpath, messages
from mozart_protocol import _transport, errors, framing
from mozart_protocol._generated import models
from mozart_protocol.client import DEFAULT_TIMEOUT
from msgspec import NODEFAULT

FULL = "import sys; from mozart_cli.app import app; app(prog_name='mozart')"
NOW = "2026-11-26T20:00:00Z"

# --- the tables and constants -------------------------------------------------------------


def _kind(info: Any) -> tuple[str, bool, Any, Any]:
    """(kind, nullable, minimum, maximum) of a msgspec type, as fastpath's tables spell it."""
    nullable = False
    if isinstance(info, msgspec.inspect.UnionType):
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        assert len(rest) == 1, info
        nullable, info = True, rest[0]
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.StrType):
        assert info.max_length is None and info.pattern is None, info
        return "str", nullable, info.min_length, None
    if isinstance(info, (msgspec.inspect.IntType, msgspec.inspect.FloatType)):
        assert info.gt is None and info.lt is None and info.multiple_of is None, info
        name = "int" if isinstance(info, msgspec.inspect.IntType) else "float"
        return name, nullable, info.ge, info.le
    if isinstance(info, msgspec.inspect.DateTimeType):
        assert info.tz is True, info
        return "time", nullable, None, None
    if isinstance(info, msgspec.inspect.EnumType):
        return (
            {models.JobState: "job_state", models.SheetState: "sheet_state"}[info.cls],
            nullable,
            None,
            None,
        )
    if isinstance(info, msgspec.inspect.ListType):
        assert info.min_length is None and info.max_length is None
        nested = {models.SheetStatus: "sheets", models.JobSummary: "jobs"}[info.item_type.cls]
        return nested, nullable, None, None
    raise AssertionError(f"a type the fast path does not know: {info}")


def _table(struct: type[msgspec.Struct]) -> tuple[tuple[str, str, bool, Any, Any, bool], ...]:
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    assert not info.array_like and info.forbid_unknown_fields
    rows = []
    for field in info.fields:
        assert field.encode_name == field.name, field
        # An optional field must default to null: the fast path prints null when it is left out.
        assert field.required or (field.default is None and field.default_factory is NODEFAULT)
        rows.append((field.name, *_kind(field.type), field.required))
    return tuple(rows)


@pytest.mark.parametrize(
    ("struct", "table"),
    [
        (models.JobStatus, fastpath.JOB_STATUS),
        (models.SheetStatus, fastpath.SHEET_STATUS),
        (models.JobListResult, fastpath.JOB_LIST),
        (models.JobSummary, fastpath.JOB_SUMMARY),
    ],
)
def test_result_tables_are_the_generated_models(struct: Any, table: Any) -> None:
    assert _table(struct) == table
    assert struct.__struct_config__.omit_defaults is False


def test_constants_are_the_clients() -> None:
    from mozart_protocol._generated.methods import METHODS, Method

    assert fastpath.TIMEOUT == DEFAULT_TIMEOUT
    assert fastpath.DEFAULT_SOCKET_PATH == _transport.DEFAULT_SOCKET_PATH
    assert fastpath.SOCKET_ENV == _transport.SOCKET_ENV
    assert fastpath.MAX_MESSAGE_SIZE == framing.DEFAULT_MAX_MESSAGE_SIZE
    assert fastpath.REASONS == _transport._REASONS
    assert tuple(s.value for s in models.JobState) == fastpath.JOB_STATES
    assert tuple(s.value for s in models.SheetState) == fastpath.SHEET_STATES
    assert METHODS[Method("job.status")].result is models.JobStatus
    assert METHODS[Method("job.list")].result is models.JobListResult
    # The params the fast path sends are the ones the full command's client encodes.
    listed = msgspec.to_builtins(models.JobListParams())
    assert fastpath.parse(["list", "--json"])[1] == listed  # type: ignore[index]
    every = msgspec.to_builtins(models.JobListParams(all=True))
    assert fastpath.parse(["list", "-a", "--json"])[1] == every  # type: ignore[index]


def test_client_side_texts_are_the_clients() -> None:
    path = "/tmp/x/d.sock"
    assert fastpath.timeout_text("job.status", path) == str(
        errors.RpcTimeout("job.status", DEFAULT_TIMEOUT, path)
    )
    for exc in [
        FileNotFoundError(2, "No such file or directory"),
        ConnectionRefusedError(111, "Connection refused"),
        PermissionError(13, "Permission denied"),
        NotADirectoryError(20, "Not a directory"),
        OSError("AF_UNIX path too long"),
        ValueError("embedded null byte"),
        OSError(),
    ]:
        assert fastpath.unreachable_reason(exc) == _transport.not_running(path, exc).reason


def test_socket_permission_message_is_the_full_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Root (these tests' usual user) cannot be refused a socket: compare the texts."""
    path = "/tmp/x/d.sock"
    reason = fastpath.unreachable_reason(PermissionError(13, "Permission denied"))
    code = messages.show(messages.daemon_unreachable(path, reason))
    fast = capsys.readouterr().err
    assert daemon.report(errors.DaemonNotRunning(path, "permission denied"), socket=None) == code
    assert capsys.readouterr().err == fast and code == 6


@pytest.mark.parametrize(
    "path",
    ["/tmp/a.sock", "//tmp//a.sock", "///tmp/a", "/tmp/./a/", "rel/../a.sock", "./a", ".", "a//b"],
)
def test_socket_path_spelt_as_pathlib(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fastpath.normalise(path) == str(pathlib.Path(path))
    assert fastpath.resolve_socket_path(path) == str(_transport.resolve_socket_path(path))
    monkeypatch.setenv("MOZART_SOCKET", path)
    assert fastpath.resolve_socket_path(None) == str(_transport.resolve_socket_path(None))
    assert fastpath.resolve_socket_path("") == str(_transport.resolve_socket_path(""))
    monkeypatch.setenv("MOZART_SOCKET", "")
    assert fastpath.resolve_socket_path(None) == str(_transport.resolve_socket_path(None))


@pytest.mark.parametrize(
    ("argv", "served"),
    [
        (["status", "j", "--json"], True),
        (["status", "--json", "j"], True),
        (["status", "j", "--json", "--socket", "/s"], True),
        (["status", "j", "--socket=/s", "--json"], True),
        (["list", "--json"], True),
        (["list", "--all", "--json"], True),
        (["list", "-a", "--json", "--socket", "/s"], True),
        (["status", "j"], False),
        (["status", "--json"], False),
        (["status", "j", "k", "--json"], False),
        (["status", "j", "--json", "--watch"], False),
        (["status", "j", "--json", "--json"], False),
        (["status", "j", "--json", "--socket"], False),
        (["status", "j", "--json", "--socket", "/a", "--socket", "/b"], False),
        (["status", "--", "-j", "--json"], False),
        (["status", "j", "--all", "--json"], False),
        (["list"], False),
        (["list", "--json", "--limit", "5"], False),
        (["list", "--json", "--status", "failed"], False),
        (["list", "-aj"], False),
        (["list", "x", "--json"], False),
        (["--socket", "/s", "list", "--json"], False),
        (["--help"], False),
        ([], False),
    ],
)
def test_served_forms(argv: list[str], served: bool) -> None:
    assert (fastpath.parse(argv) is not None) == served


# --- both paths on the same inputs --------------------------------------------------------


class RawDaemon:
    """A Unix socket server whose replies are scripted as raw bytes (possibly malformed).

    ``reply(request) -> bytes`` gets each request's decoded JSON; the connection closes after
    the reply, as a daemon may. The full command reconnects when the fast path hands over.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.reply: Callable[[dict[str, Any]], bytes] = lambda request: b""
        self.requests: list[dict[str, Any]] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                if not data:
                    continue
                request = json.loads(data.split(b"\n")[0])
                self.requests.append(request)
                with contextlib.suppress(OSError):
                    conn.sendall(self.reply(request))

    def answer(self, result: Any = None, *, error: Any = None, ident: Any = "same") -> None:
        def reply(request: dict[str, Any]) -> bytes:
            message: dict[str, Any] = {"jsonrpc": "2.0"}
            message["id"] = request["id"] if ident == "same" else ident
            if error is not None:
                message["error"] = error
            else:
                message["result"] = result
            return json.dumps(message).encode() + b"\n"

        self.reply = reply

    def close(self) -> None:
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(5)


@pytest.fixture
def raw_daemon() -> Iterator[RawDaemon]:
    directory = tempfile.mkdtemp(dir="/tmp", prefix="mzf-")
    server = RawDaemon(os.path.join(directory, "d.sock"))
    yield server
    server.close()
    shutil.rmtree(directory, ignore_errors=True)


def run_both(*args: str, env: dict[str, str]) -> tuple[Any, Any]:
    """(fast, full) completed processes of ``mozart args``, run one after the other."""
    environment = {**os.environ, "NO_COLOR": "1", **env}
    fast = subprocess.run(
        [sys.executable, "-m", "mozart_cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    full = subprocess.run(
        [sys.executable, "-c", FULL, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    return fast, full


def assert_same(*args: str, env: dict[str, str], served: bool | None = None) -> Any:
    fast, full = run_both(*args, env=env)
    assert (fast.stdout, fast.stderr, fast.returncode) == (
        full.stdout,
        full.stderr,
        full.returncode,
    )
    if served is not None:
        assert served_in_process(list(args), env) == served
    return fast


def served_in_process(argv: list[str], env: dict[str, str]) -> bool:
    """Whether the fast path answers ``argv`` itself (stdout/stderr of the call discarded)."""
    saved = dict(os.environ)
    os.environ.update(env)
    out, err = sys.stdout, sys.stderr
    try:
        with open(os.devnull, "w") as devnull:
            sys.stdout = sys.stderr = devnull
            return fastpath.serve(argv) is not None
    finally:
        sys.stdout, sys.stderr = out, err
        os.environ.clear()
        os.environ.update(saved)


def sheet(num: int, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "sheet_num": num,
        "status": "completed",
        "attempts": 1,
        "exit_code": 0,
        "error": None,
        "started_at": NOW,
        "finished_at": "2026-11-26T20:00:01.250000Z",
        "duration_seconds": 1.25,
        "stage": num,
        "instance": 1,
    }
    value.update(extra)
    return value


def status(**extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "job_id": "demo",
        "name": "demo",
        "status": "running",
        "description": "Ünïcode — “quoted” \u2028 and \\ and \x1b",
        "config_path": "/tmp/demo.yaml",
        "workspace": "/tmp/demo-ws",
        "priority": 5,
        "total_sheets": 3,
        "completed_sheets": 1,
        "failed_sheets": 1,
        "sheets": [
            sheet(1),
            sheet(2, status="failed", exit_code=-9, error="killed 😀", duration_seconds=3),
            sheet(
                3,
                status="pending",
                attempts=0,
                exit_code=None,
                started_at=None,
                finished_at=None,
                duration_seconds=None,
            ),
        ],
        "error": None,
        "created_at": NOW,
        "started_at": "2026-11-26T20:00:00.000001+05:30",
        "finished_at": None,
        "updated_at": NOW,
    }
    # The daemon need not send the schema's order: msgspec prints it in the schema's.
    value = dict(reversed(list(value.items())))
    value.update(extra)
    return value


def summary(job_id: str, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "job_id": job_id,
        "name": job_id,
        "status": "queued",
        "description": None,
        "priority": 0,
        "total_sheets": 0,
        "completed_sheets": 0,
        "error": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    value.update(extra)
    return value


def test_status_served_and_identical(raw_daemon: RawDaemon) -> None:
    raw_daemon.answer(status())
    env = {"MOZART_SOCKET": raw_daemon.path}
    done = assert_same("status", "demo", "--json", env=env, served=True)
    assert done.returncode == 0 and json.loads(done.stdout)["job_id"] == "demo"
    assert list(json.loads(done.stdout)) == [name for name, *_ in fastpath.JOB_STATUS]
    assert raw_daemon.requests[-1]["params"] == {"job_id": "demo"}


def test_list_served_and_identical(raw_daemon: RawDaemon) -> None:
    page = {"jobs": [summary("a"), summary("b", status="failed", error="boom")]}
    raw_daemon.answer({**page, "next_cursor": "cursor-1"})
    env = {"MOZART_SOCKET": raw_daemon.path}
    assert_same("list", "--json", env=env, served=True)
    assert_same("list", "--all", "--json", env=env, served=True)
    assert raw_daemon.requests[-1]["params"] == {
        "status": None,
        "all": True,
        "limit": 50,
        "after": None,
    }
    raw_daemon.answer({"jobs": [], "next_cursor": None})
    assert_same("list", "--json", env=env, served=True)


def test_socket_option_and_environment(raw_daemon: RawDaemon, tmp_path: pathlib.Path) -> None:
    page = {"jobs": [summary("a")], "next_cursor": None}
    raw_daemon.reply = lambda r: _ok(r, status() if r["method"] == "job.status" else page)
    nobody = {"MOZART_SOCKET": str(tmp_path / "nobody.sock")}
    assert_same("status", "demo", "--json", "--socket", raw_daemon.path, env=nobody, served=True)
    assert_same("status", "demo", f"--socket={raw_daemon.path}", "--json", env=nobody)
    double_slash = raw_daemon.path.replace("/", "//")
    assert_same("list", "--json", env={"MOZART_SOCKET": double_slash}, served=True)
    assert_same("list", "--json", "--socket", "", env={"MOZART_SOCKET": raw_daemon.path})


@pytest.mark.parametrize(
    "error",
    [
        {"code": -32001, "message": "Job not found: demo", "data": {"job_id": "demo"}},
        {"code": -32005, "message": "System under high pressure — try again later."},
        {"code": -32007, "message": "Permission denied"},
        {"code": -32007, "message": "uid 1000 may not use this daemon."},
        {"code": -32004, "message": "Daemon shutting down"},
        {"code": -32011, "message": "State database unavailable: disk I/O error. Restart."},
        {"code": -32602, "message": "Invalid params", "data": "not a mapping"},
        {"code": -32099, "message": "something new", "data": None},
        {"code": -32603, "message": ""},
    ],
)
def test_daemon_errors_by_meaning(raw_daemon: RawDaemon, error: dict[str, Any]) -> None:
    raw_daemon.answer(error=error)
    env = {"MOZART_SOCKET": raw_daemon.path}
    served = bool(error["message"])  # an empty one takes the client's default: handed over
    done = assert_same("status", "demo", "--json", env=env, served=served)
    assert done.returncode != 0 and done.stdout == ""
    assert_same("list", "--json", env=env, served=served)


def test_connection_level_refusal_with_null_id(raw_daemon: RawDaemon) -> None:
    raw_daemon.answer(error={"code": -32008, "message": "Too many connections"}, ident=None)
    done = assert_same("list", "--json", env={"MOZART_SOCKET": raw_daemon.path}, served=True)
    assert done.returncode == 5


def test_no_daemon_and_bad_sockets(tmp_path: pathlib.Path) -> None:
    directory = tempfile.mkdtemp(dir="/tmp", prefix="mzf-")
    try:
        a_file = os.path.join(directory, "file")
        pathlib.Path(a_file).write_text("not a socket")
        os.mkdir(os.path.join(directory, "dir"))
        stale = os.path.join(directory, "stale.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(stale)
        server.close()  # a socket file nobody listens on: connection refused
        for path in [
            os.path.join(directory, "absent.sock"),
            a_file,
            os.path.join(directory, "dir"),
            os.path.join(a_file, "below-a-file.sock"),
            stale,
            "/tmp/" + "x" * 120 + ".sock",
        ]:
            env = {"MOZART_SOCKET": path}
            done = assert_same("status", "demo", "--json", env=env, served=True)
            assert done.returncode == 1 and "Mozart daemon is not running." in done.stderr
            assert_same("list", "--all", "--json", env=env, served=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize(
    ("reply", "served"),
    [
        # Served: what the full client also takes as is.
        (lambda r: b'{"jsonrpc":"2.0","method":"job.event","params":{}}\n\n' + _ok(r), True),
        (lambda r: b"  \n" + _ok(r), True),
        # Handed over: the full command reports the broken protocol (or prints the reply).
        (lambda r: b"not json\n", False),
        (lambda r: b"[1, 2]\n", False),
        (lambda r: b"", False),
        (lambda r: _ok(r)[:-1], False),
        (lambda r: _ok(r).replace(b'"2.0"', b'"1.0"'), False),
        (lambda r: _ok(r).replace(b'"id": 1', b'"id": 7'), False),
        (lambda r: _ok(r).replace(b'"id": 1', b'"id": true'), False),
        (lambda r: b'{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}\n', False),
        (lambda r: b'{"jsonrpc":"2.0","id":1,"error":null}\n', False),
        (lambda r: b'{"jsonrpc":"2.0","id":1}\n', False),
        (lambda r: b'{"jsonrpc":"2.0","id":1,"result":null}\n', False),
    ],
)
def test_malformed_replies(raw_daemon: RawDaemon, reply: Any, served: bool) -> None:
    raw_daemon.reply = reply
    env = {"MOZART_SOCKET": raw_daemon.path}
    assert_same("status", "demo", "--json", env=env, served=served)


def _ok(request: dict[str, Any], result: Any = None) -> bytes:
    message = {"jsonrpc": "2.0", "id": request["id"], "result": result or status()}
    return json.dumps(message).encode() + b"\n"


@pytest.mark.parametrize(
    ("change", "served"),
    [
        ({"priority": 9, "total_sheets": 0, "error": "x"}, True),
        ({"sheets": []}, True),
        # Optional fields (a default of null): sent or left out, msgspec prints them.
        ({"eta_seconds": 12.5, "sheets": [sheet(1, expected_seconds=2.5)]}, True),
        ({"eta_seconds": None, "sheets": [sheet(1, expected_seconds=None)]}, True),
        ({"eta_seconds": -1.0}, False),
        ({"extra_field": 1}, False),
        ({"priority": 10}, False),
        ({"priority": True}, False),
        ({"priority": 5.0}, False),
        ({"status": "exploded"}, False),
        ({"job_id": ""}, False),
        ({"name": None}, False),
        ({"created_at": "2026-11-26T20:00:00+00:00"}, False),
        ({"created_at": "2026-11-26T20:00:00.000000Z"}, False),
        ({"created_at": "2026-11-26T20:00:00.12Z"}, False),
        ({"created_at": "2026-02-30T20:00:00Z"}, False),
        ({"created_at": "2026-11-26T20:00:00"}, False),
        ({"created_at": "2026-11-26 20:00:00Z"}, False),
        ({"sheets": [sheet(1, duration_seconds=1.5e-05)]}, False),
        ({"sheets": [sheet(1, duration_seconds=1e16)]}, False),
        ({"sheets": [sheet(1, duration_seconds=-1.0)]}, False),
        ({"sheets": [sheet(1, duration_seconds=0)]}, True),
        ({"sheets": [sheet(1, exit_code=2**70)]}, False),
        ({"sheets": [sheet(1, status="queued")]}, False),
        ({"sheets": [{**sheet(1), "eta": None}]}, False),
        ({"sheets": [sheet(1, sheet_num=0)]}, False),
        ({"sheets": None}, False),
        ({"description": "\ud800 lone surrogate"}, False),
    ],
)
def test_result_shapes(raw_daemon: RawDaemon, change: dict[str, Any], served: bool) -> None:
    payload = status(**change)
    raw_daemon.reply = lambda request: _ok(request, payload)
    env = {"MOZART_SOCKET": raw_daemon.path}
    assert_same("status", "demo", "--json", env=env, served=served)


def test_other_commands_are_not_served(raw_daemon: RawDaemon) -> None:
    raw_daemon.answer(status())
    env = {"MOZART_SOCKET": raw_daemon.path}
    assert_same("status", "demo", env=env, served=False)
    assert_same("--version", env=env, served=False)


PROBE = """
import sys
from mozart_cli.main import main
sys.argv = ["mozart", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = {"typer", "click", "asyncio", "msgspec", "pydantic", "mozart_protocol", "typing",
         "json", "socket", "re"}
print(sorted({m.split(".")[0] for m in sys.modules} & heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["status", "demo", "--json"], ["list", "--all", "--json"]])
def test_served_forms_load_only_the_standard_library(
    raw_daemon: RawDaemon, args: list[str], tmp_path: pathlib.Path
) -> None:
    page = {"jobs": [summary("a")], "next_cursor": None}
    raw_daemon.reply = lambda r: _ok(r, status() if r["method"] == "job.status" else page)
    for socket_path in (raw_daemon.path, str(tmp_path / "none.sock")):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args],
            capture_output=True,
            text=True,
            env={"MOZART_SOCKET": socket_path, "PATH": "/usr/bin:/bin"},
            timeout=30,
        )
        loaded = done.stderr.strip().splitlines()[-1]
        if socket_path == raw_daemon.path:
            assert loaded == "[]", done.stderr
        else:  # on the way out of a failure: mozart_cli.messages and its typing
            assert "typer" not in loaded and "msgspec" not in loaded, done.stderr


JSON_VALUES: list[Any] = [
    None,
    True,
    0,
    -5,
    2**63,
    1.5,
    -0.0,
    'é\u2028\x1b"\\/😀\x7f\x00',
    [],
    {},
    [1, [2, []], {"a": {}}],
    {"k": [None, {"x": "y"}], "e": [], "n": {"deep": [[[]]]}},
    status(),
]


@pytest.mark.parametrize("value", JSON_VALUES)
def test_json_without_the_json_package(value: Any) -> None:
    assert fastpath.dumps(value) == json.dumps(value, ensure_ascii=False)
    pretty = fastpath.dumps(value, indent="\n")
    assert pretty == json.dumps(value, indent=2, ensure_ascii=False)
    assert pretty.encode() == msgspec.json.format(msgspec.json.encode(value), indent=2)
    assert fastpath.loads(json.dumps(value).encode()) == value
    assert fastpath.loads(b" \t" + json.dumps(value, indent=2).encode() + b"\r\n") == value


@pytest.mark.parametrize(
    "text", [b"", b" ", b"NaN", b"[Infinity]", b"[1,]", b"{} x", b'"\x01"', b"\xff", b"{'a': 1}"]
)
def test_json_reader_refuses_what_msgspec_refuses(text: bytes) -> None:
    with pytest.raises((ValueError, StopIteration)):
        fastpath.loads(text)
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(text)
