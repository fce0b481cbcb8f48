"""Shared e2e fixtures: a real ``mozartd start --foreground`` on a temporary socket.

Fixture API (used by tests/e2e/daemon and tests/e2e/cli):

``daemon`` -> ``DaemonHandle``, started with the defaults below and stopped afterwards.
``daemon_factory(**config)`` -> start another daemon (each in its own temp dir) with config
    overrides, e.g. ``daemon_factory(max_concurrent_jobs=1, resource_limits={...})``.

``DaemonHandle``:
    .socket_path .config_path .state_db .pid_file .dir (temp dir) .log_path (daemon stderr)
    .pid                         the daemon's PID
    .env                         environment with MOZART_SOCKET set (for CLI subprocesses)
    .call(method, params=None)   raw JSON-RPC reply (dict), checked against the schema
                                 (tests/contract/schema_check.py's assert_valid_reply when
                                 present, else a jsonschema check of result/error/data)
    .request(method, params)     the result; raises RpcFailure(code, message, data)
    .wait_job(job_id, *states)   poll job.status until the job is in one of ``states``
    .log_text()                  what the daemon logged so far
    .check_reply(method, reply)  assert a raw reply matches the schema
    .validate_notification(msg)  assert a job.event / job.log notification matches it
    .stop(signal=SIGTERM)        signal and wait for exit; returns the exit code
    .kill9()                     SIGKILL, no cleanup (socket and PID file stay behind)
    .restart(**config)           start again on the same socket, database and temp dir
    .write_config(**config)      rewrite the config file (for SIGHUP)

Fixtures ``write_score`` and ``counts`` give the helpers of the same name:
``write_score(directory, name, ...)`` writes a ``command``-backend score and returns its
path; every sheet appends its number to ``<directory>/<name>.count``, which
``counts(directory, name)`` reads back. ``DaemonHandle.RpcFailure`` is the exception
``request`` raises. Every wait is bounded by a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mozart_protocol.errors import JOB_NOT_FOUND

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


def _schema_validator() -> Callable[[str, dict[str, Any]], None] | None:
    """H1's ``tests/contract/schema_check.py::assert_valid_reply`` when it exists."""
    path = REPO / "tests" / "contract" / "schema_check.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_mozart_schema_check", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check = getattr(module, "assert_valid_reply", None)
    return check if callable(check) else None


def _own_validator() -> Callable[[str, dict[str, Any]], None]:
    """Until the contract helper exists: check a reply against schema/rpc.schema.json."""
    import jsonschema

    schema = json.loads((REPO / "schema" / "rpc.schema.json").read_text())
    methods = schema["x-mozart-methods"]
    data_refs = {e["code"]: e.get("data") for e in schema["x-mozart-errors"].values()}

    def valid(instance: Any, subschema: dict[str, Any]) -> None:
        jsonschema.validate(instance, {**subschema, "$defs": schema["$defs"]})

    def check(method: str, reply: dict[str, Any]) -> None:
        assert reply.get("jsonrpc") == "2.0", reply
        assert set(reply) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), reply
        if "error" in reply:
            valid(reply["error"], {"$ref": "#/$defs/RpcErrorObject"})
            code = reply["error"]["code"]
            assert code in data_refs, f"undeclared error code {code}"
            if "data" in reply["error"]:
                assert data_refs[code] is not None, f"{code} carries no data"
                valid(reply["error"]["data"], data_refs[code])
            if method in methods and -32099 <= code <= -32000 and code not in (-32007, -32008):
                assert code in methods[method]["errors"], f"{method} may not raise {code}"
        elif method in methods:
            valid(reply["result"], methods[method]["result"])

    return check


def validate_notification(message: dict[str, Any]) -> None:
    """A streamed notification matches x-mozart-notifications."""
    import jsonschema

    schema = json.loads((REPO / "schema" / "rpc.schema.json").read_text())
    spec = schema["x-mozart-notifications"][message["method"]]
    assert "id" not in message
    jsonschema.validate(message["params"], {**spec["params"], "$defs": schema["$defs"]})


_CONTRACT_CHECK = _schema_validator()
_OWN_CHECK = _own_validator()
_METHODS = set(json.loads((REPO / "schema" / "rpc.schema.json").read_text())["x-mozart-methods"])


def VALIDATE_REPLY(method: str, reply: dict[str, Any]) -> None:
    """The contract helper for schema methods; our own check for replies to lines that
    name no method of the schema (parse errors, unknown methods)."""
    if _CONTRACT_CHECK is not None and method in _METHODS:
        _CONTRACT_CHECK(method, reply)
    else:
        _OWN_CHECK(method, reply)


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def mozartd_argv() -> list[str]:
    script = Path(sys.executable).parent / "mozartd"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mozart_daemon"]


def rpc_lines(
    sock_path: Path, lines: list[bytes], *, replies: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Send raw lines on one connection and read ``replies`` JSON lines back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        for line in lines:
            s.sendall(line)
        out: list[dict[str, Any]] = []
        buf = b""
        while len(out) < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf and len(out) < replies:
                raw, buf = buf.split(b"\n", 1)
                out.append(json.loads(raw))
        return out


class DaemonHandle:
    RpcFailure = RpcFailure
    validate_notification = staticmethod(validate_notification)

    @staticmethod
    def check_reply(method: str, reply: dict[str, Any]) -> None:
        """Assert that a raw reply matches the schema (what ``call`` does for you)."""
        VALIDATE_REPLY(method, reply)

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.dir = directory
        self.socket_path = directory / "d.sock"
        self.pid_file = directory / "d.pid"
        self.state_db = directory / "state.db"
        self.config_path = directory / "mozartd.yaml"
        self.log_path = directory / "mozartd.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        self.config: dict[str, Any] = {}
        self.write_config(**config)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MOZART_SOCKET": str(self.socket_path)}

    def write_config(self, **overrides: Any) -> None:
        base: dict[str, Any] = {
            "socket": {"path": str(self.socket_path)},
            "pid_file": str(self.pid_file),
            "state_db_path": str(self.state_db),
            "monitor_interval_seconds": 0.2,
            "shutdown_timeout_seconds": 10,
            "log_level": "debug",
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        self.config = base
        self.config_path.write_text(yaml.safe_dump(base))

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*mozartd_argv(), "start", "--foreground", "--config", str(self.config_path)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mozartd exited with {self.proc.returncode}:\n{self.log_text()}"
                )
            if self.pid_file.exists() and self.socket_path.exists():
                with contextlib.suppress(OSError, RpcFailure, ValueError):
                    self.request("daemon.health")
                    return
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"mozartd did not start within {START_TIMEOUT}s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            msg["params"] = params
        [reply] = rpc_lines(
            self.socket_path, [json.dumps(msg).encode() + b"\n"], replies=1, timeout=timeout
        )
        VALIDATE_REPLY(method, reply)
        return reply

    def request(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> Any:
        reply = self.call(method, params, timeout)
        if "error" in reply:
            err = reply["error"]
            raise RpcFailure(err["code"], err["message"], err.get("data"))
        return reply["result"]

    def wait_job(self, job_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.request("job.status", {"job_id": job_id})
            except RpcFailure as exc:
                # A job a hook submits (run_job) exists only some time after the job that ran
                # the hook has ended: wait for it as for any other state.
                if exc.code != JOB_NOT_FOUND:
                    raise
                status = {"status": None, "error": exc.message}
            if status["status"] in states:
                return status
            time.sleep(0.05)
        raise AssertionError(
            f"{job_id} not in {states} after {timeout}s: {status}\n{self.log_text()[-3000:]}"
        )

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"mozartd did not exit within {timeout}s:\n{self.log_text()[-3000:]}"
            ) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, **config: Any) -> None:
        self.stop()
        if config:
            self.write_config(**config)
        self.start()


def write_score(
    directory: Path,
    name: str,
    *,
    sheets: int = 3,
    command: str | None = None,
    sleep: float = 0.0,
    parallel: int | None = None,
    extra: str = "",
) -> Path:
    """A ``command`` score; each sheet sleeps ``sleep`` s, appends its number to
    ``<name>.count`` and writes ``sheet-N.txt`` in the workspace (checked by a validation)."""
    counter = directory / f"{name}.count"
    if command is None:
        command = (
            (f"sleep {sleep}; " if sleep else "")
            + f'echo "$MOZART_SHEET_NUM" >> {counter}; '
            + 'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
        )
    par = f"parallel: {{enabled: true, max_concurrent: {parallel}}}\n" if parallel else ""
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        f"workspace: ./{name}-ws\n"
        f"backend:\n  type: command\n  command: {json.dumps(command)}\n  timeout_seconds: 60\n"
        f"sheet: {{size: 1, total_items: {sheets}}}\n"
        "prompt: {template: 'Sheet {{ sheet_num }}'}\n"
        "validations:\n"
        "  - type: content_contains\n    path: '{workspace}/sheet-{sheet_num}.txt'\n"
        "    pattern: done\n"
        "retry: {max_retries: 1, base_delay_seconds: 0.01, jitter: false,"
        " completion_delay_seconds: 0.01}\n"
        f"{par}{extra}"
    )
    return path


def counts(directory: Path, name: str) -> list[int]:
    """The sheet numbers the score's command ran, in order (one per run)."""
    path = directory / f"{name}.count"
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().split()]


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., DaemonHandle]]:
    handles: list[DaemonHandle] = []
    dirs: list[Path] = []

    def make(**config: Any) -> DaemonHandle:
        directory = Path(tempfile.mkdtemp(prefix="mz", dir="/tmp"))
        dirs.append(directory)
        handle = DaemonHandle(directory, config)
        handles.append(handle)
        handle.start()
        return handle

    yield make
    for handle in handles:
        with contextlib.suppress(Exception):
            if handle.stop(timeout=20) is None:
                handle.kill9()
        handle.kill9()
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def daemon(daemon_factory: Callable[..., DaemonHandle]) -> DaemonHandle:
    return daemon_factory()


@pytest.fixture(name="write_score")
def write_score_fixture() -> Callable[..., Path]:
    return write_score


@pytest.fixture(name="counts")
def counts_fixture() -> Callable[[Path, str], list[int]]:
    return counts
