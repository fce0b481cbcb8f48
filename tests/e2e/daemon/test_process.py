"""The daemon process: single instance, kill -9 recovery, graceful shutdown, SIGHUP."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.timeout(90)
Handle = Any  # tests/e2e/conftest.py::DaemonHandle


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def run_mozartd(
    handle: Handle, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "mozartd"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mozart_daemon"]
    return subprocess.run(
        [*argv, *args, "--config", str(handle.config_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_second_daemon_is_refused_and_status_and_stop(daemon: Handle) -> None:
    second = run_mozartd(daemon, "start", "--foreground")
    assert second.returncode == 1
    assert f"mozartd is already running (PID {daemon.pid})" in second.stdout + second.stderr
    status = run_mozartd(daemon, "status")
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines[0] == f"mozartd is running (PID {daemon.pid})"
    assert lines[1].startswith("  Uptime: ")
    assert lines[2] == "  [+] Readiness: ready"
    assert "  Accepting work: True" in lines
    as_json = run_mozartd(daemon, "status", "--json")
    assert '"pressure_level": "none"' in as_json.stdout
    stop = run_mozartd(daemon, "stop")
    assert stop.returncode == 0, stop.stderr
    assert daemon.wait_exit() == 0
    assert not daemon.socket_path.exists() and not daemon.pid_file.exists()
    assert run_mozartd(daemon, "status").returncode == 1


def test_kill9_orphan_recovery_then_resume_skips_completed(
    daemon: Handle, write_score: Any, counts: Any
) -> None:
    gate = daemon.dir / "gate"
    cmd = (
        f'echo "$MOZART_SHEET_NUM" >> {daemon.dir}/crash.count; '
        f'if [ "$MOZART_SHEET_NUM" = 2 ]; then while [ ! -e {gate} ]; do sleep 0.05; done; fi; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    score = write_score(daemon.dir, "crash", sheets=3, command=cmd)
    daemon.request("job.submit", {"config_path": str(score)})
    _wait(lambda: counts(daemon.dir, "crash") == [1, 2])
    daemon.kill9()
    assert daemon.socket_path.exists()  # nobody cleaned up: the next start must cope
    daemon.start()
    status = daemon.request("job.status", {"job_id": "crash"})
    assert status["status"] == "failed"
    assert status["error"] == "Daemon restarted while job was active"
    assert [s["status"] for s in status["sheets"]] == ["completed", "pending", "pending"]
    assert "manager.orphans_recovered" in daemon.log_text()
    assert "count=1" in daemon.log_text() or '"count": 1' in daemon.log_text()
    # The sheet the killed daemon left running (in its own session) was stopped.
    assert "manager.strays_stopped" in daemon.log_text(), daemon.log_text()[-4000:]
    gate.touch()
    assert daemon.request("job.resume", {"job_id": "crash"})["status"] == "running"
    daemon.wait_job("crash", "completed")
    assert counts(daemon.dir, "crash") == [1, 2, 2, 3]  # sheet 1 never ran again


def test_graceful_shutdown_lets_running_sheet_finish(
    daemon: Handle, write_score: Any, counts: Any
) -> None:
    started = daemon.dir / "started"
    cmd = (
        f"touch {started}; sleep 0.5; "
        f'echo "$MOZART_SHEET_NUM" >> {daemon.dir}/grace.count; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    score = write_score(daemon.dir, "grace", sheets=2, command=cmd)
    daemon.request("job.submit", {"config_path": str(score)})
    _wait(started.exists)
    assert daemon.stop(signal.SIGTERM) == 0
    assert counts(daemon.dir, "grace") == [1]  # sheet 1 finished, sheet 2 never started
    assert not daemon.socket_path.exists() and not daemon.pid_file.exists()
    daemon.start()
    status = daemon.request("job.status", {"job_id": "grace"})
    assert status["status"] == "failed" and "shut down" in status["error"]
    assert status["sheets"][0]["status"] == "completed"


def test_second_signal_stops_running_sheets_at_once(daemon: Handle, write_score: Any) -> None:
    started = daemon.dir / "started"
    score = write_score(daemon.dir, "long", sheets=1, command=f"touch {started}; sleep 30")
    daemon.request("job.submit", {"config_path": str(score)})
    _wait(started.exists)
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.wait_exit(timeout=20) == 0
    assert time.monotonic() - t0 < 15
    assert not daemon.socket_path.exists() and not daemon.pid_file.exists()
    daemon.start()
    status = daemon.request("job.status", {"job_id": "long"})
    assert status["sheets"][0]["status"] == "pending"


def test_sighup_reloads_live_settings(daemon: Handle) -> None:
    assert daemon.request("daemon.status")["readiness"] == "ready"
    daemon.write_config(max_concurrent_jobs=2, resource_limits={"max_memory_mb": 1})
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    _wait(lambda: "config.reloaded" in daemon.log_text())
    _wait(lambda: daemon.request("daemon.status")["pressure_level"] == "critical")
    text = daemon.log_text()
    assert "max_concurrent_jobs" in text and "max_memory_mb" in text
    assert daemon.request("daemon.ready")["status"] == "not_ready"
    config = yaml.safe_load(daemon.config_path.read_text())
    assert config["max_concurrent_jobs"] == 2


def test_background_start_status_stop(tmp_path: Path) -> None:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="mzbg", dir="/tmp"))
    config = directory / "mozartd.yaml"
    log_file = directory / "mozartd.log"
    config.write_text(
        f"socket: {{path: {directory}/d.sock}}\npid_file: {directory}/d.pid\n"
        f"state_db_path: {directory}/state.db\nlog_file: {log_file}\n"
    )
    script = Path(sys.executable).parent / "mozartd"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mozart_daemon"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, *args, "--config", str(config)], capture_output=True, text=True, timeout=30
        )

    started = run("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.startswith("mozartd started (PID ")
        pid = int((directory / "d.pid").read_text())
        assert f"(PID {pid})" in started.stdout
        status = run("status")
        assert status.stdout.splitlines()[0] == f"mozartd is running (PID {pid})"
        again = run("start")
        assert again.returncode == 1 and "already running" in again.stdout + again.stderr
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not (directory / "d.sock").exists() and not (directory / "d.pid").exists()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(line["event"] == "daemon.started" for line in lines)  # JSON logs in background
    assert run("stop").returncode == 1  # not running any more
    shutil.rmtree(directory, ignore_errors=True)


def test_config_errors_are_named(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mozartd"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mozart_daemon"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_concurrent_jobs: 3\nsocket: {pathh: /tmp/x.sock}\n")
    done = subprocess.run(
        [*argv, "start", "--foreground", "--config", str(bad)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pathh" in done.stderr and "socket" in done.stderr


def test_stop_cleans_a_stale_pid_file(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mozartd"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "mozart_daemon"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file = tmp_path / "d.pid"
    pid_file.write_text(f"{dead.pid}\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"pid_file: {pid_file}\nsocket: {{path: {tmp_path}/absent.sock}}\n")
    done = subprocess.run(
        [*argv, "stop", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "mozartd is not running (removed stale PID file" in done.stdout
    assert not pid_file.exists()
