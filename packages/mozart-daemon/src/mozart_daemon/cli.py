"""``mozartd``: start, stop and inspect the daemon.

    mozartd start [--foreground] [--config PATH]
    mozartd stop [--force] [--config PATH]
    mozartd status [--json] [--config PATH]

Exit codes: 0 success; 1 the daemon is not running, already running, or failed to start;
2 a bad config file or bad arguments.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mozart_daemon.config import ConfigError, DaemonConfig, load_config
from mozart_daemon.pidfile import is_locked, pid_alive, read_pid

app = typer.Typer(
    name="mozartd",
    help="mozartd, the Mozart daemon: owns every job, answers JSON-RPC on a Unix socket.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Daemon config file (YAML).", dir_okay=False),
]


def _config(path: Path | None) -> DaemonConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _call(path: Path, method: str, timeout: float = 5.0) -> Any:
    """One JSON-RPC request over the socket; returns the result or raises OSError/RuntimeError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {}}
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if "error" in reply:
        raise RuntimeError(reply["error"].get("message", "error"))
    return reply["result"]


@app.command()
def start(
    foreground: Annotated[
        bool, typer.Option("--foreground", "-f", help="Stay attached; log to the console.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Start the daemon (in the background unless --foreground)."""
    from mozart_daemon.lifecycle import DaemonProcess

    cfg = _config(config)
    code = DaemonProcess(cfg, foreground=foreground).run(
        report=lambda message: typer.echo(message, err=message.startswith(("mozartd is", "PID")))
    )
    raise typer.Exit(code)


@app.command()
def stop(
    force: Annotated[
        bool, typer.Option("--force", help="SIGKILL instead of SIGTERM (last resort).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Stop the daemon: SIGTERM (graceful), or SIGKILL with --force."""
    cfg = _config(config)
    pid_file = cfg.pid_file
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid) or not is_locked(pid_file):
        if pid_file.exists() and not is_locked(pid_file):
            pid_file.unlink(missing_ok=True)
            typer.echo(f"mozartd is not running (removed stale PID file {pid_file})")
        else:
            typer.echo("mozartd is not running")
        raise typer.Exit(1)
    os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    deadline = time.monotonic() + (5.0 if force else cfg.shutdown_timeout_seconds + 10.0)
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        typer.echo(f"mozartd (PID {pid}) is still stopping; try `mozartd stop --force`", err=True)
        raise typer.Exit(1)
    if force:
        # A killed daemon cannot clean up after itself.
        pid_file.unlink(missing_ok=True)
        if cfg.socket.path.is_socket():
            cfg.socket.path.unlink(missing_ok=True)
    typer.echo(f"mozartd stopped (PID {pid})")


def _uptime(seconds: float) -> str:
    s = int(seconds)
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print daemon.status as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show whether the daemon runs, its readiness, jobs, memory and processes."""
    cfg = _config(config)
    try:
        info = _call(cfg.socket.path, "daemon.status")
    except (OSError, ValueError, RuntimeError):
        if as_json:
            typer.echo(json.dumps({"running": False, "socket": str(cfg.socket.path)}))
        else:
            typer.echo("mozartd is not running")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    ready = info["readiness"] == "ready"
    lines = [
        f"mozartd is running (PID {info['pid']})",
        f"  Uptime: {_uptime(info['uptime_seconds'])}",
        f"  [{'+' if ready else '-'}] Readiness: {info['readiness']}",
    ]
    if not ready and info.get("ready_reasons"):
        lines.append(f"      Reasons: {'; '.join(info['ready_reasons'])}")
    lines += [
        f"  Running jobs: {info['running_jobs']}",
        f"  Memory: {info['memory_mb']:.1f} MB",
        f"  Child processes: {info['child_processes']}",
        f"  Accepting work: {info['accepting_work']}",
        f"  Version: {info['version']}",
    ]
    typer.echo("\n".join(lines))


def main() -> None:
    app()
