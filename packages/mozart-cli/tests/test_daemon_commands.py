"""The daemon commands against a scripted daemon: outputs, --json, errors by meaning."""

from __future__ import annotations

import json
from typing import Any

import pytest

NOT_RUNNING = "Error: Mozart daemon is not running.\nStart it with: mozartd start\n"


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "demo"],
        ["list"],
        ["pause", "demo"],
        ["resume", "demo"],
        ["cancel", "demo"],
        ["logs", "demo"],
        ["errors", "demo"],
    ],
)
def test_without_daemon_every_command_says_so(cli: Any, no_daemon_env: Any, args: Any) -> None:
    result = cli(*args, env=no_daemon_env)
    assert result.exit_code == 1
    assert result.stderr.startswith(NOT_RUNNING)
    assert no_daemon_env["MOZART_SOCKET"] in result.stderr
    assert result.stdout == ""


def test_run_without_daemon(
    cli: Any, no_daemon_env: Any, score_file: Any, valid_score: Any
) -> None:
    result = cli("run", str(score_file(valid_score)), env=no_daemon_env)
    assert result.exit_code == 1
    assert result.stderr.startswith(NOT_RUNNING)
    assert no_daemon_env["MOZART_SOCKET"] in result.stderr


def test_socket_option_wins_over_environment(
    cli: Any, fake_daemon: Any, no_daemon_env: Any, job_payload: Any
) -> None:
    fake_daemon.on("job.status", job_payload())
    result = cli("status", "demo", "--socket", fake_daemon.socket_path, env=no_daemon_env)
    assert result.exit_code == 0, result.stderr


def _sent_fields(printed: Any, sent: Any) -> Any:
    """``printed`` without the null fields that ``sent`` does not have, recursively."""
    if isinstance(printed, dict) and isinstance(sent, dict):
        extra = set(printed) - set(sent)
        assert all(printed[key] is None for key in extra), extra
        return {key: _sent_fields(printed[key], sent[key]) for key in sent if key in printed}
    if isinstance(printed, list) and isinstance(sent, list) and len(printed) == len(sent):
        return [_sent_fields(p, s) for p, s in zip(printed, sent, strict=True)]
    return printed


def test_status_json_is_the_job_status_result(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    payload = job_payload()
    fake_daemon.on("job.status", payload)
    result = cli("status", "demo", "--json", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    # Optional fields the daemon left out are printed with their default, null.
    assert _sent_fields(json.loads(result.stdout), payload) == payload
    assert fake_daemon.calls == [("job.status", {"job_id": "demo"})]


def test_status_shows_job_and_sheets_table(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    fake_daemon.on("job.status", job_payload())
    result = cli("status", "demo", env=fake_daemon.env)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "demo" in lines[0] and "running" in lines[0]
    header = next(line for line in lines if line.startswith("SHEET"))
    for column in ("STATE", "ATTEMPTS", "DURATION", "EXIT", "LAST ERROR"):
        assert column in header
    sheet2 = next(line for line in lines if line.startswith("2 "))
    assert "running" in sheet2 and "validation failed" in sheet2
    assert sheet2.split()[2] == "2"  # attempts
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_list_json_is_the_job_list_result(cli: Any, fake_daemon: Any) -> None:
    summary = {
        "job_id": "demo",
        "name": "demo",
        "status": "completed",
        "description": None,
        "priority": 5,
        "total_sheets": 3,
        "completed_sheets": 3,
        "error": None,
        "created_at": "2026-11-26T20:00:00Z",
        "updated_at": "2026-11-26T20:00:01Z",
    }
    fake_daemon.on("job.list", {"jobs": [summary], "next_cursor": None})
    result = cli("list", "--all", "--limit", "5", "--json", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"jobs": [summary], "next_cursor": None}
    method, params = fake_daemon.calls[0]
    assert method == "job.list"
    assert params["all"] is True and params["limit"] == 5


def test_list_text_and_empty(cli: Any, fake_daemon: Any) -> None:
    fake_daemon.on("job.list", {"jobs": [], "next_cursor": None})
    result = cli("list", env=fake_daemon.env)
    assert result.exit_code == 0
    assert "No active jobs" in result.stdout


def test_unknown_job_is_not_found_not_daemon_down(
    cli: Any, fake_daemon: Any, rpc_failure: Any
) -> None:
    def missing(params: object) -> None:
        raise rpc_failure(-32001, "Job not found: ghost", {"job_id": "ghost"})

    fake_daemon.on("job.status", missing)
    result = cli("status", "ghost", env=fake_daemon.env)
    assert result.exit_code == 3
    assert "Job 'ghost' not found." in result.stderr
    assert "not running" not in result.stderr


def test_wrong_state_is_explained(cli: Any, fake_daemon: Any, rpc_failure: Any) -> None:
    def refuse(params: object) -> None:
        raise rpc_failure(
            -32003, "Cannot resume a running job", {"state": "running", "action": "resume"}
        )

    fake_daemon.on("job.resume", refuse)
    result = cli("resume", "demo", env=fake_daemon.env)
    assert result.exit_code == 4
    assert "Cannot resume job 'demo': it is running." in result.stderr


@pytest.mark.parametrize(
    ("code", "message", "exit_code", "expected"),
    [
        (-32005, "System under high pressure — try again later.", 5, "try again later"),
        (-32004, "Daemon is shutting down", 5, "shutting down"),
        (-32007, "peer uid 1001 is not allowed", 6, "Permission denied"),
        (-32008, "Too many connections", 5, "connection limit"),
        (-32011, "State database unavailable: restore it", 1, "restore it"),
        (-32603, "Internal error", 1, "daemon log"),
    ],
)
def test_submit_errors_by_meaning(
    cli: Any,
    fake_daemon: Any,
    rpc_failure: Any,
    score_file: Any,
    valid_score: Any,
    code: Any,
    message: Any,
    exit_code: Any,
    expected: Any,
) -> None:
    def refuse(params: object) -> None:
        raise rpc_failure(code, message)

    fake_daemon.on("job.submit", refuse)
    result = cli("run", str(score_file(valid_score)), env=fake_daemon.env)
    assert result.exit_code == exit_code
    assert expected in result.stderr
    assert "not running" not in result.stderr


def test_invalid_score_from_daemon_prints_findings(
    cli: Any, fake_daemon: Any, rpc_failure: Any, score_file: Any, valid_score: Any
) -> None:
    finding = {
        "code": "E104",
        "severity": "error",
        "message": "must be >= 1, got 0",
        "file": "/x/score.yaml",
        "line": 6,
        "column": 9,
        "path": "sheet.size",
    }

    def refuse(params: object) -> None:
        raise rpc_failure(-32006, "Score is invalid", {"findings": [finding]})

    fake_daemon.on("job.submit", refuse)
    result = cli("run", str(score_file(valid_score)), env=fake_daemon.env)
    assert result.exit_code == 1
    assert "/x/score.yaml:6:9: error E104 sheet.size: must be >= 1, got 0" in result.stderr


def test_run_submits_absolute_path_and_json_is_submit_result(
    cli: Any, fake_daemon: Any, score_file: Any, valid_score: Any
) -> None:
    path = score_file(valid_score)
    fake_daemon.on("job.submit", {"job_id": "demo", "status": "queued"})
    result = cli(
        "run", str(path), "--fresh", "--priority", "7", "--start-sheet", "2", "--json",
        env=fake_daemon.env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"job_id": "demo", "status": "queued"}
    method, params = fake_daemon.calls[0]
    assert method == "job.submit"
    assert params["config_path"] == str(path)
    assert params["fresh"] is True and params["priority"] == 7 and params["start_sheet"] == 2


def test_pause_waits_until_paused(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    states = iter(["running", "running", "paused"])
    fake_daemon.on("job.pause", {"job_id": "demo", "status": "running"})
    fake_daemon.on("job.status", lambda params: job_payload(status=next(states)))
    result = cli("pause", "demo", "--json", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"job_id": "demo", "status": "paused"}
    assert [m for m, _ in fake_daemon.calls].count("job.status") == 3


def test_pause_times_out_with_clear_message(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    fake_daemon.on("job.pause", {"job_id": "demo", "status": "running"})
    fake_daemon.on("job.status", job_payload(status="running"))
    result = cli("pause", "demo", "--timeout", "0.3", env=fake_daemon.env)
    assert result.exit_code == 7
    assert "Timed out after 0.3s" in result.stderr and "still running" in result.stderr


def test_cancel_confirmed_immediately(cli: Any, fake_daemon: Any) -> None:
    fake_daemon.on("job.cancel", {"job_id": "demo", "status": "cancelled"})
    result = cli("cancel", "demo", env=fake_daemon.env)
    assert result.exit_code == 0
    assert "cancelled" in result.stdout
    assert [m for m, _ in fake_daemon.calls] == ["job.cancel"]


def test_pause_of_a_job_that_completes_meanwhile(
    cli: Any, fake_daemon: Any, job_payload: Any
) -> None:
    fake_daemon.on("job.pause", {"job_id": "demo", "status": "running"})
    fake_daemon.on("job.status", job_payload(status="completed"))
    result = cli("pause", "demo", env=fake_daemon.env)
    assert result.exit_code == 4
    assert "ended as completed" in result.stderr


def test_logs_routes_streams_and_prefixes_sheets(cli: Any, fake_daemon: Any, stream: Any) -> None:
    lines = [
        {"job_id": "demo", "sheet_num": 1, "stream": "stdout", "line": "hello"},
        {"job_id": "demo", "sheet_num": 2, "stream": "stderr", "line": "oops"},
    ]
    fake_daemon.on("job.logs", stream("job.log", lines, {"job_id": "demo", "lines": 2}))
    result = cli("logs", "demo", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[1] hello\n"
    assert result.stderr == "[2] oops\n"
    json_result = cli("logs", "demo", "--json", "--sheet", "1", env=fake_daemon.env)
    assert [json.loads(line) for line in json_result.stdout.splitlines()] == lines
    method, params = fake_daemon.calls[-1]
    assert method == "job.logs" and params["sheet_num"] == 1


def test_run_follow_exit_code_follows_the_outcome(
    cli: Any, fake_daemon: Any, stream: Any, job_payload: Any, score_file: Any, valid_score: Any
) -> None:
    final = job_payload(status="failed", error="sheet 2 failed", failed_sheets=1)
    events = [
        {"job_id": "demo", "type": "sheet.started", "sheet_num": 2, "attempt": 1,
         "message": None, "time": "2026-11-26T20:00:00Z"},
        {"job_id": "demo", "type": "sheet.failed", "sheet_num": 2, "attempt": 1,
         "message": "validation failed", "time": "2026-11-26T20:00:01Z"},
        {"job_id": "demo", "type": "job.failed", "sheet_num": None, "attempt": None,
         "message": None, "time": "2026-11-26T20:00:01Z"},
    ]  # fmt: skip
    fake_daemon.on("job.submit", {"job_id": "demo", "status": "queued"})
    fake_daemon.on("job.follow", stream("job.event", events, final))
    fake_daemon.on("job.status", final)
    result = cli("run", str(score_file(valid_score)), "--follow", env=fake_daemon.env)
    assert result.exit_code == 1, result.stderr
    assert "sheet 2 failed: validation failed" in result.stdout
    assert "Job demo failed: sheet 2 failed" in result.stdout

    done = job_payload(status="completed", completed_sheets=2)
    fake_daemon.on("job.follow", stream("job.event", [], done))
    fake_daemon.on("job.status", done)
    result = cli("run", str(score_file(valid_score)), "-f", "--json", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"


def test_status_watch_ends_with_the_job(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    states = iter(["running", "running", "completed"])
    fake_daemon.on(
        "job.status", lambda params: job_payload(status=next(states), completed_sheets=2)
    )
    result = cli("status", "demo", "--watch", "--interval", "0.05", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert "2/2 sheets" in result.stdout
    assert "completed" in result.stdout.splitlines()[-1]


def test_errors_lists_failed_sheets(cli: Any, fake_daemon: Any, job_payload: Any) -> None:
    fake_daemon.on("job.status", job_payload(status="failed", error="sheet 2 failed"))
    result = cli("errors", "demo", env=fake_daemon.env)
    assert result.exit_code == 0
    assert "Sheet 2" in result.stdout and "validation failed: file missing" in result.stdout
    assert "mozart logs demo --sheet 2" in result.stdout


def test_logs_into_a_closed_pipe_stops_quietly(fake_daemon: Any, stream: Any) -> None:
    import subprocess
    import sys

    lines = [
        {"job_id": "demo", "sheet_num": 1, "stream": "stdout", "line": f"line {n}"}
        for n in range(5000)
    ]
    fake_daemon.on("job.logs", stream("job.log", lines, {"job_id": "demo", "lines": 5000}))
    pipeline = subprocess.run(
        f"{sys.executable} -m mozart_cli logs demo | head -n 1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env={"MOZART_SOCKET": fake_daemon.socket_path, "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert pipeline.stdout == "[1] line 0\n"
    assert pipeline.returncode == 0
    assert "Error" not in pipeline.stderr and "Traceback" not in pipeline.stderr


def test_list_pages_with_the_cursor(cli: Any, fake_daemon: Any) -> None:
    summary = {
        "job_id": "a",
        "name": "a",
        "status": "running",
        "description": "first",
        "priority": 5,
        "total_sheets": 2,
        "completed_sheets": 1,
        "error": None,
        "created_at": "2026-11-26T20:00:00Z",
        "updated_at": "2026-11-26T20:00:01Z",
    }
    fake_daemon.on("job.list", {"jobs": [summary], "next_cursor": "c1"})
    result = cli("list", "--limit", "1", env=fake_daemon.env)
    assert result.exit_code == 0
    row = result.stdout.splitlines()[1].split()
    assert row[:4] == ["a", "running", "1/2", "5"]
    assert "mozart list --after c1" in result.stderr
    cli("list", "--after", "c1", env=fake_daemon.env)
    assert fake_daemon.calls[-1][1]["after"] == "c1"
