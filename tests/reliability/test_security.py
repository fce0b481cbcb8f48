"""Security: who may talk to the daemon, which paths it refuses, what a client can make it
read, and that secrets never come back out.

Tests that need a second user create one (``useradd``) when running as root and skip with the
reason otherwise; the client of that user is a small stdlib script run with its uid.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from reliability_support import mozartd_argv, record, score_text

pytestmark = pytest.mark.timeout(120)

USER, GROUP = "mzrel", "mzrelsock"
SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect_error": exc.strerror or str(exc)}))
    sys.exit(0)
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode() or json.dumps({"closed": True}))
"""


class User(NamedTuple):
    uid: int
    gid: int
    group: int  # a group the user is in, to be given the socket


@pytest.fixture(scope="module")
def other_user() -> Iterator[User]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second user (useradd) and run a client as it")
    if shutil.which("useradd") is None or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("needs useradd and /usr/bin/python3 to run a client as another user")
    created_group = created_user = False
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", GROUP], check=True)
        created_group = True
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "-G", GROUP, USER],
            check=True,
        )  # fmt: skip
        created_user = True
    entry = pwd.getpwnam(USER)
    yield User(entry.pw_uid, entry.pw_gid, grp.getgrnam(GROUP).gr_gid)
    if created_user:
        subprocess.run(["userdel", USER], check=False)
    if created_group:
        subprocess.run(["groupdel", GROUP], check=False)


def as_user(user: User, d: Any, method: str, params: dict[str, Any] | None = None) -> Any:
    """One JSON-RPC request sent by a process running as ``user``."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", CLIENT, str(d.socket_path), json.dumps(request)],
        user=user.uid,
        group=user.gid,
        extra_groups=[user.group],
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def open_to_others(d: Any) -> None:
    """Let other users reach the socket's directory (the daemon's own check must hold)."""
    os.chmod(d.dir, 0o711)


# -- peers ---------------------------------------------------------------------------------


def test_client_of_another_uid_is_refused(daemon: Any, other_user: User) -> None:
    open_to_others(daemon)
    os.chmod(daemon.socket_path, 0o666)  # even a too-open socket file does not let it in
    reply = as_user(other_user, daemon, "daemon.health")
    assert reply["error"]["code"] == -32007, reply
    assert f"uid {other_user.uid}" in reply["error"]["message"]
    assert "server.peer_refused" in daemon.log_text()
    record(security_refusals=1)


def test_socket_group_member_is_served_only_when_configured(
    daemon_factory: Callable[..., Any], other_user: User
) -> None:
    shared = daemon_factory(socket={"permissions": "0o660"})
    private = daemon_factory(socket={"permissions": "0o600"})
    for d in (shared, private):
        open_to_others(d)
        os.chown(d.socket_path, -1, other_user.group)
    assert os.stat(shared.socket_path).st_mode & 0o777 == 0o660
    assert os.stat(private.socket_path).st_mode & 0o777 == 0o600
    assert as_user(other_user, shared, "daemon.health")["result"]["status"] == "ok"
    os.chmod(private.socket_path, 0o666)  # the config, not the file mode, decides
    assert as_user(other_user, private, "daemon.health")["error"]["code"] == -32007
    record(security_refusals=1)


def test_client_cannot_make_the_daemon_read_what_it_cannot(
    daemon_factory: Callable[..., Any], other_user: User
) -> None:
    d = daemon_factory()
    open_to_others(d)
    os.chown(d.socket_path, -1, other_user.group)
    secret_line = "token: do-not-print-this-line"
    cmd = 'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    # A root-only score: refused before it is read (the YAML error would quote it).
    private = d.dir / "private.yaml"
    private.write_text(f"{secret_line}\n: [unbalanced\n")
    os.chmod(private, 0o600)
    # A readable score naming a root-only template.
    template = d.dir / "private-template.j2"
    template.write_text("{{ " + secret_line + " }}\n")
    os.chmod(template, 0o600)
    named = d.dir / "named.yaml"
    named.write_text(
        score_text("named", cmd).replace(
            "prompt: {template: 'Sheet {{ sheet_num }}'}", f"prompt: {{template_file: {template}}}"
        )
    )
    os.chmod(named, 0o644)
    # A score inside a directory the user may not enter.
    hidden_dir = d.dir / "hidden"
    hidden_dir.mkdir(mode=0o700)
    hidden = hidden_dir / "hidden.yaml"
    hidden.write_text(score_text("hidden", cmd))
    os.chmod(hidden, 0o644)
    for path in (private, named, hidden, Path("/etc/shadow")):
        reply = as_user(other_user, d, "job.submit", {"config_path": str(path)})
        assert reply.get("error", {}).get("code") == -32010, (path, reply)
        assert "do-not-print" not in json.dumps(reply)
        record(security_refusals=1)
    # The user's own readable score is accepted (the daemon is not merely refusing everyone).
    mine = d.dir / "mine.yaml"
    mine.write_text(score_text("mine", cmd))
    os.chmod(mine, 0o644)
    reply = as_user(other_user, d, "job.submit", {"config_path": str(mine)})
    assert reply["result"]["job_id"] == "mine", reply
    assert d.wait_job("mine", "completed", "failed")["status"] == "completed"
    # Root (the daemon's own uid) may still submit the private one (and gets the YAML error).
    with pytest.raises(d.RpcFailure) as root_reply:
        d.request("job.submit", {"config_path": str(private)})
    assert root_reply.value.code == -32006


# -- paths ---------------------------------------------------------------------------------


def run_mozartd(directory: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = directory / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [*mozartd_argv(), "start", "--foreground", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=directory,
    )


@pytest.fixture
def short_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mzs", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_symlinked_socket_and_pid_file_are_refused(short_dir: Path) -> None:
    target_dir = short_dir / "real"
    target_dir.mkdir()
    base = {"state_db_path": str(short_dir / "state.db"), "shutdown_timeout_seconds": 1}
    # The socket path is a symlink (to a missing file, and to a regular file).
    (short_dir / "s1").symlink_to(target_dir / "nothing.sock")
    (target_dir / "file").write_text("precious")
    (short_dir / "s2").symlink_to(target_dir / "file")
    for link in ("s1", "s2"):
        out = run_mozartd(
            short_dir,
            {**base, "socket": {"path": str(short_dir / link)}, "pid_file": str(short_dir / "p")},
        )
        assert out.returncode == 1, out
        assert "symlink" in (out.stdout + out.stderr).lower(), out
        assert (target_dir / "file").read_text() == "precious"
        assert not (target_dir / "nothing.sock").exists()
    # The PID file path is a symlink.
    (short_dir / "p2").symlink_to(target_dir / "file")
    out = run_mozartd(
        short_dir,
        {**base, "socket": {"path": str(short_dir / "ok.sock")}, "pid_file": str(short_dir / "p2")},
    )
    assert out.returncode == 1, out
    assert "symlink" in (out.stdout + out.stderr).lower(), out
    assert (target_dir / "file").read_text() == "precious"
    record(security_refusals=3)


def test_validation_paths_cannot_escape_the_workspace(daemon: Any) -> None:
    cmd = 'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    static = {
        "dotdot": "    path: '{workspace}/../outside.txt'\n",
        "absolute": "    path: /etc/hostname\n",
        "relative": "    path: ../../outside.txt\n",
    }
    for name, line in static.items():
        rules = f"validations:\n  - type: file_exists\n{line}"
        text = score_text(name, cmd, validations=False) + rules
        (daemon.dir / f"{name}.yaml").write_text(text)
        with pytest.raises(daemon.RpcFailure) as info:
            daemon.request("job.submit", {"config_path": str(daemon.dir / f"{name}.yaml")})
        assert info.value.code == -32006, (name, info.value)
        assert any(f["code"] == "E305" for f in info.value.data["findings"]), info.value.data
    wd = "validations:\n  - type: command_succeeds\n    command: 'true'\n"
    text = score_text("wd", cmd, validations=False) + wd + "    working_directory: /\n"
    (daemon.dir / "wd.yaml").write_text(text)
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.submit", {"config_path": str(daemon.dir / "wd.yaml")})
    assert info.value.code == -32006
    # A symlink made at run time, inside the workspace, pointing out of it.
    link_cmd = 'ln -s /etc "$MOZART_WORKSPACE/link"; ' + cmd
    rules = "validations:\n  - type: file_exists\n    path: '{workspace}/link/hostname'\n"
    (daemon.dir / "symlink.yaml").write_text(
        score_text("symlink", link_cmd, validations=False) + rules
    )
    daemon.request("job.submit", {"config_path": str(daemon.dir / "symlink.yaml")})
    status = daemon.wait_job("symlink", "completed", "failed")
    assert status["status"] == "failed", status
    assert "workspace" in (status["sheets"][0]["error"] or ""), status
    link_wd = (
        "validations:\n  - type: command_succeeds\n    command: 'touch escaped'\n"
        "    working_directory: '{workspace}/link'\n"
    )
    (daemon.dir / "symwd.yaml").write_text(
        score_text("symwd", link_cmd, validations=False) + link_wd
    )
    daemon.request("job.submit", {"config_path": str(daemon.dir / "symwd.yaml")})
    status = daemon.wait_job("symwd", "completed", "failed")
    assert status["status"] == "failed", status
    assert not Path("/etc/escaped").exists()
    record(security_refusals=6)


# -- secrets -------------------------------------------------------------------------------

API_KEY = "sk-ant-reliability-0123456789abcdef"
ENV_SECRET = "env-secret-fedcba9876543210"


class EchoingApi:
    """A hostile model API on 127.0.0.1 that echoes the key it got in its error replies."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                key = self.headers.get("x-api-key", "")
                outer.keys.append(key)
                status = 401 if len(outer.keys) % 2 else 500
                body = json.dumps({"error": {"message": f"bad key {key} (auth {key})"}})
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        self.keys: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_secrets_never_appear_in_logs_status_events_or_errors(
    daemon_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = EchoingApi()
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    try:
        d = daemon_factory()
        (d.dir / "api.yaml").write_text(
            "name: api\nworkspace: ./api-ws\n"
            f"backend: {{type: anthropic_api, model: m, base_url: '{api.url}', "
            "timeout_seconds: 10}\n"
            "sheet: {size: 1, total_items: 2}\n"
            "prompt: {template: 'Sheet {{ sheet_num }}'}\n"
            "retry: {max_retries: 1, base_delay_seconds: 0.01, jitter: false}\n"
            "parallel: {enabled: true, max_concurrent: 2, fail_fast: false}\n"
        )
        (d.dir / "envjob.yaml").write_text(
            score_text(
                "envjob",
                'test -n "$TOKEN"; exit 3',
                backend_extra=f"  env: {{TOKEN: {ENV_SECRET}}}\n",
            )
        )
        for name in ("api", "envjob"):
            d.request("job.submit", {"config_path": str(d.dir / f"{name}.yaml")})
        seen: list[str] = []
        for name in ("api", "envjob"):
            status = d.wait_job(name, "completed", "failed", timeout=30)
            assert status["status"] == "failed", status
            seen.append(json.dumps(status))
            seen.append(json.dumps(d.request("job.list", {"all": True})))
            seen.append(json.dumps(_stream(d, "job.follow", {"job_id": name})))
            seen.append(json.dumps(_stream(d, "job.logs", {"job_id": name})))
            with pytest.raises(d.RpcFailure) as info:
                d.request("job.cancel", {"job_id": name})
            seen.append(str(info.value))
        seen.append(json.dumps(d.request("daemon.status")))
        assert api.keys and all(k == API_KEY for k in api.keys)  # the key was really used
        seen.append(d.log_text())
        for ws in ("api-ws", "envjob-ws"):
            for log in (d.dir / ws).rglob("*"):
                if log.is_file():
                    seen.append(log.read_text(errors="replace"))
        text = "\n".join(seen)
        assert "bad key" in text  # the API's error did reach the user (with the key hidden)
        for secret in (API_KEY, ENV_SECRET, API_KEY[-12:]):
            where = [
                part[max(0, part.find(secret) - 300) :][:400] for part in seen if secret in part
            ]
            assert not where, f"{secret} leaked: {where}"
    finally:
        api.close()
    record(secret_checks=2)


def _stream(d: Any, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    out = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(str(d.socket_path))
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            done = False
            for line in lines:
                msg = json.loads(line)
                out.append(msg)
                done = done or "id" in msg
            if done:
                break
    return out
