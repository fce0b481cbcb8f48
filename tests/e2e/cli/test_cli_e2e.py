"""Every `mozart` command against a real mozartd on a temporary socket, errors included."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

NOT_RUNNING = "Error: Mozart daemon is not running.\nStart it with: mozartd start\n"
SLOW = 'sleep 0.3; echo "sheet $MOZART_SHEET_NUM"'


def wait_for_state(mozart: Any, job: str, wanted: set[str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = mozart("status", job, "--json").json()
        if status["status"] in wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_no_daemon_run_prints_the_guide_message(no_daemon: Any, hello: Any) -> None:
    result = no_daemon("run", str(hello))
    assert result.returncode == 1
    assert result.stderr.startswith(NOT_RUNNING)
    assert no_daemon.socket_path in result.stderr
    for args in (["status"], ["list"], ["status", "x"], ["logs", "x"], ["cancel", "x"]):
        other = no_daemon(*args)
        assert other.returncode == 1 and other.stderr.startswith(NOT_RUNNING)


def test_no_daemon_needed_for_validate_and_dry_run(no_daemon: Any, hello: Any) -> None:
    assert no_daemon("validate", str(hello)).returncode == 0
    plan = no_daemon("run", "--dry-run", "--json", str(hello))
    assert plan.returncode == 0
    assert plan.json()["total_sheets"] == 3


def test_hello_runs_to_completion_and_every_view_agrees(
    mozart: Any, daemon: Any, hello: Any, tmp_path: Path
) -> None:
    run = mozart("run", str(hello), "--follow")
    assert run.returncode == 0, run.stderr
    assert "Job hello completed" in run.stdout
    outputs = sorted((tmp_path / "hello-workspace").glob("*.md"))
    assert [p.name for p in outputs] == ["sheet-1.md", "sheet-2.md", "sheet-3.md"]
    assert "Hello from Mozart" in outputs[0].read_text()

    status = mozart("status", "hello", "--json")
    assert status.returncode == 0 and status.stderr == ""
    job = status.json()
    assert job["job_id"] == "hello" and job["status"] == "completed"
    assert job["total_sheets"] == 3 and job["completed_sheets"] == 3
    assert [s["status"] for s in job["sheets"]] == ["completed"] * 3
    assert job["config_path"] == str(hello)
    # --json is the method's result object itself, field for field.
    assert job == daemon.request("job.status", {"job_id": "hello"})

    table = mozart("status", "hello")
    assert table.returncode == 0
    assert sum(1 for line in table.stdout.splitlines() if " completed " in line) == 3

    listing = mozart("list", "--all", "--json")
    assert listing.returncode == 0
    assert "hello" in {j["job_id"] for j in listing.json()["jobs"]}
    assert listing.json() == daemon.request("job.list", {"all": True})
    active = mozart("list", "--json").json()
    assert "hello" not in {j["job_id"] for j in active["jobs"]}
    completed = mozart("list", "--status", "completed").stdout
    assert "hello" in completed

    logs = mozart("logs", "hello")
    assert logs.returncode == 0, logs.stderr
    assert any(line.startswith("[2] wrote ") for line in logs.stdout.splitlines())
    one = mozart("logs", "hello", "--sheet", "3")
    assert one.returncode == 0
    assert "sheet-3.md" in one.stdout and "sheet-1.md" not in one.stdout

    assert "no errors" in mozart("errors", "hello").stdout
    summary = mozart("status", "--json")
    assert summary.returncode == 0
    assert "pid" in summary.json()["daemon"]


def test_run_json_is_the_submit_result(mozart: Any, score: Any) -> None:
    path = score("quick", "true", sheets=1)
    result = mozart("run", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert result.json()["job_id"] == "quick"
    assert result.json()["status"] in {"queued", "running", "completed"}
    final = wait_for_state(mozart, "quick", {"completed"})
    assert final["status"] == "completed"


def test_failed_job_exits_1_and_errors_explain(mozart: Any, score: Any) -> None:
    path = score("broken", "echo boom >&2; exit 3", sheets=2)
    run = mozart("run", str(path), "-f")
    assert run.returncode == 1
    assert "failed" in run.stdout
    status = mozart("status", "broken", "--json").json()
    assert status["status"] == "failed"
    assert status["sheets"][0]["exit_code"] == 3
    errors = mozart("errors", "broken")
    assert errors.returncode == 0
    assert "Sheet 1" in errors.stdout
    logs = mozart("logs", "broken", "--sheet", "1")
    assert "boom" in logs.stderr


def test_unknown_job_is_reported_as_such(mozart: Any) -> None:
    for args in (["status", "ghost"], ["pause", "ghost"], ["resume", "ghost"],
                 ["cancel", "ghost"], ["logs", "ghost"], ["errors", "ghost"]):  # fmt: skip
        result = mozart(*args)
        assert result.returncode == 3, (args, result.stderr)
        assert "Job 'ghost' not found." in result.stderr
        assert "not running" not in result.stderr


def test_invalid_and_unreadable_scores(mozart: Any, tmp_path: Path, score: Any) -> None:
    bad = score("bad", "true")
    bad.write_text(bad.read_text().replace("size: 1", "size: 0"))
    result = mozart("run", str(bad))
    assert result.returncode == 1
    assert "E104" in result.stderr and "sheet.size" in result.stderr
    assert mozart("validate", str(bad)).returncode == 1
    missing = mozart("run", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2, missing.stderr
    assert "not running" not in missing.stderr


def test_pause_resume_cancel_and_wrong_states(mozart: Any, score: Any) -> None:
    path = score("slow", SLOW, sheets=20)
    assert mozart("run", str(path)).returncode == 0
    wait_for_state(mozart, "slow", {"running"})

    wrong = mozart("resume", "slow")
    assert wrong.returncode == 4
    assert "Cannot resume job 'slow'" in wrong.stderr

    paused = mozart("pause", "slow", "--json", "--timeout", "20")
    assert paused.returncode == 0, paused.stderr
    assert paused.json() == {"job_id": "slow", "status": "paused"}
    assert mozart("status", "slow", "--json").json()["status"] == "paused"
    assert mozart("list", "--status", "paused", "--json").json()["jobs"][0]["job_id"] == "slow"

    resumed = mozart("resume", "slow", "--timeout", "20")
    assert resumed.returncode == 0, resumed.stderr
    assert mozart("status", "slow", "--json").json()["status"] in {"running", "queued"}

    cancelled = mozart("cancel", "slow", "--json", "--timeout", "20")
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.json()["status"] == "cancelled"
    again = mozart("pause", "slow")
    assert again.returncode == 4


def test_status_watch_and_follow_logs_until_the_end(mozart: Any, score: Any) -> None:
    path = score("watched", 'sleep 0.2; echo "line $MOZART_SHEET_NUM"', sheets=3)
    assert mozart("run", str(path)).returncode == 0
    watch = mozart("status", "watched", "--watch", "--interval", "0.1")
    assert watch.returncode == 0, watch.stderr
    assert "3/3 sheets" in watch.stdout
    logs = mozart("logs", "watched", "--follow", timeout=30)
    assert logs.returncode == 0
    assert "[3] line 3" in logs.stdout


def test_resubmitting_a_finished_job_needs_fresh(mozart: Any, score: Any) -> None:
    path = score("again", "true", sheets=1)
    assert mozart("run", str(path), "-f").returncode == 0
    second = mozart("run", str(path), "-f", "--fresh", "--json")
    assert second.returncode == 0, second.stderr
    assert second.json()["status"] == "completed"


def test_init_score_runs(mozart: Any, tmp_path: Path) -> None:
    assert mozart("init", "starter.yaml").returncode == 0
    run = mozart("run", "starter.yaml", "--follow")
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "starter-workspace").glob("sheet-*.md"))) == 3


def test_ctrl_c_stops_following_not_the_job(mozart: Any, score: Any) -> None:
    import os
    import signal
    import subprocess
    import sys

    path = score("interrupted", SLOW, sheets=20)
    env = {**os.environ, "MOZART_SOCKET": mozart.socket_path, "NO_COLOR": "1"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "mozart_cli", "run", str(path), "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert follower.stdout is not None
        for line in follower.stdout:  # wait until the job is really under way
            if "sheet 1 started" in line:
                break
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=20)
    finally:
        follower.kill()
    assert follower.returncode == 130
    assert "keeps running" in err
    assert mozart("status", "interrupted", "--json").json()["status"] == "running"
    assert mozart("cancel", "interrupted").returncode == 0


def test_daemon_under_pressure_refuses_new_work(
    mozart_for: Any, daemon_factory: Any, score: Any
) -> None:
    # A memory limit no daemon can meet: backpressure goes CRITICAL and new jobs are refused.
    busy = mozart_for(daemon_factory(resource_limits={"max_memory_mb": 1}))
    deadline = time.monotonic() + 10
    for attempt in range(1000):  # a job may get in before the monitor's first check
        result = busy("run", str(score(f"refused{attempt}", "true", sheets=1)))
        if result.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert result.returncode == 5, result.stderr
    assert "try again later" in result.stderr
    assert "not running" not in result.stderr
