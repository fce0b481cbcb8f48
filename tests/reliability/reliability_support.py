"""Helpers shared by the reliability tests (imported by name: conftest puts this directory on
sys.path, since pytest's importlib mode does not make conftest importable).

Sizes: the default run is bounded (CI); ``MOZART_RELIABILITY=large`` (``nox -s reliability``)
selects the large setting. ``SIZES`` holds both; ``size(name)`` picks one. Tests add what they
injected to ``FIGURES`` (faults, inputs, clients, rounds); the session writes them to
``$MOZART_RELIABILITY_REPORT`` (JSON) when that variable is set, for docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

_E2E = Path(__file__).resolve().parents[1] / "e2e" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_mozart_e2e_fixtures", _E2E)
assert _spec is not None and _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
sys.modules["_mozart_e2e_fixtures"] = e2e
_spec.loader.exec_module(e2e)

DaemonHandle = e2e.DaemonHandle
RpcFailure = e2e.RpcFailure
write_score = e2e.write_score
counts = e2e.counts
rpc_lines = e2e.rpc_lines
mozartd_argv = e2e.mozartd_argv

LARGE = os.environ.get("MOZART_RELIABILITY", "").lower() == "large"

SIZES: dict[str, tuple[int | float, int | float]] = {
    # name: (bounded, large)
    "crash_rounds": (3, 60),
    "crash_jobs": (10, 12),
    "crash_sheets": (8, 150),
    "term_rounds": (1, 10),
    "hypothesis_examples": (150, 5000),
    "random_blobs": (150, 10000),
    "churn_connections": (300, 20000),
    "slow_client_bytes": (3, 30),
    "load_clients": (60, 500),
    "load_requests_per_client": (3, 10),
}


def size(name: str) -> int:
    bounded, large = SIZES[name]
    return int(large if LARGE else bounded)


FIGURES: Counter[str] = Counter()


def record(**figures: int) -> None:
    """Add to the run's figures (reported in docs/reliability.md)."""
    FIGURES.update(figures)


def write_figures(exitstatus: int) -> None:
    target = os.environ.get("MOZART_RELIABILITY_REPORT")
    if target and FIGURES:
        Path(target).write_text(
            json.dumps({"large": LARGE, "exitstatus": int(exitstatus), **FIGURES}, indent=2)
        )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what or predicate}")


def integrity_check(db: Path) -> str:
    """``PRAGMA integrity_check`` of the state database (read-only, WAL included)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def completed_sheets(db: Path) -> dict[str, set[int]]:
    """{job_id: sheets marked completed} straight from the state database."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT job_id, sheet_num FROM sheets WHERE status = 'completed'")
        out: dict[str, set[int]] = {}
        for job_id, num in rows:
            out.setdefault(job_id, set()).add(int(num))
        return out
    finally:
        conn.close()


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def processes_with_env(key: str, value: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose environment has ``key=value``: finds the ones that
    escaped the daemon's tree (setsid, double fork)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(key) == value:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_all(procs: list[psutil.Process]) -> None:
    """Clean up after a failed test: only processes this test started."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def score_text(
    name: str,
    command: str,
    *,
    sheets: int = 1,
    timeout: float = 60,
    extra: str = "",
    backend_extra: str = "",
    validations: bool = True,
) -> str:
    """A ``command`` score as YAML (``write_score`` with more knobs)."""
    rules = (
        "validations:\n"
        "  - type: content_contains\n    path: '{workspace}/sheet-{sheet_num}.txt'\n"
        "    pattern: done\n"
        if validations
        else ""
    )
    return (
        f"name: {name}\n"
        f"workspace: ./{name}-ws\n"
        f"backend:\n  type: command\n  command: {json.dumps(command)}\n"
        f"  timeout_seconds: {timeout}\n{backend_extra}"
        f"sheet: {{size: 1, total_items: {sheets}}}\n"
        "prompt: {template: 'Sheet {{ sheet_num }}'}\n"
        f"{rules}"
        "retry: {max_retries: 0, base_delay_seconds: 0.01, jitter: false,"
        " completion_delay_seconds: 0.01, max_completion_attempts: 0}\n"
        f"{extra}"
    )


def connect(handle: Any, timeout: float = 10.0) -> socket.socket:
    """A connected socket to the daemon. A blocking connect waits while the listen backlog is
    full (a non-blocking one would fail at once with EAGAIN), bounded by ``timeout``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            s.connect(str(handle.socket_path))
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                s.close()
                raise
            time.sleep(0.01)
    s.settimeout(timeout)
    return s


def daemon_fds(handle: Any) -> int:
    return int(psutil.Process(handle.pid).num_fds())


def daemon_rss_mb(handle: Any) -> float:
    return float(psutil.Process(handle.pid).memory_info().rss) / (1024 * 1024)
