"""Jobs through a real mozartd: submit, status, list, pause, resume, cancel, limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)
Handle = Any  # tests/e2e/conftest.py::Handle


def test_submit_status_list_and_resubmit_rules(
    daemon: Handle, write_score: Any, counts: Any
) -> None:
    command = (
        f'echo "$MOZART_SHEET_NUM" >> {daemon.dir / "hello.count"}; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"; echo "sheet ran"'
    )
    score = write_score(daemon.dir, "hello", sheets=3, command=command)
    result = daemon.request("job.submit", {"config_path": str(score)})
    assert result == {"job_id": "hello", "status": "running"}
    status = daemon.wait_job("hello", "completed")
    assert status["completed_sheets"] == 3 and status["total_sheets"] == 3
    assert [s["status"] for s in status["sheets"]] == ["completed"] * 3
    assert all(s["attempts"] == 1 for s in status["sheets"])
    assert status["workspace"] == str(daemon.dir / "hello-ws")  # relative to the score
    assert (daemon.dir / "hello-ws" / "sheet-3.txt").exists()
    assert counts(daemon.dir, "hello") == [1, 2, 3]
    # At debug level (these tests' daemons) the engine's attempt boundaries are logged too.
    text = daemon.log_text()
    assert "sheet.attempt_started" in text and "sheet.attempt_finished" in text

    assert daemon.request("job.list", {})["jobs"] == []  # only active jobs by default
    listed = daemon.request("job.list", {"all": True})
    assert [j["job_id"] for j in listed["jobs"]] == ["hello"]
    assert listed["jobs"][0]["completed_sheets"] == 3

    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.submit", {"config_path": str(score)})
    assert info.value.code == -32002
    assert "--fresh" in info.value.message and "mozart resume" in info.value.message
    assert info.value.data["state"] == "completed"
    logs = daemon.dir / "hello-ws" / "logs"
    first_run = (logs / "sheet-01.stdout.log").read_text()
    assert first_run.count("attempt 1") == 1 and "sheet ran" in first_run
    assert not (logs / "sheet-01.stderr.log").exists()  # nothing printed there
    daemon.request("job.submit", {"config_path": str(score), "fresh": True})
    daemon.wait_job("hello", "completed")
    assert counts(daemon.dir, "hello") == [1, 2, 3, 1, 2, 3]
    # A fresh run starts its own logs; the last run's are kept once, aside.
    assert (logs / "sheet-01.stdout.log").read_text().count("attempt 1") == 1
    assert (logs.with_name("logs.previous") / "sheet-01.stdout.log").read_text() == first_run


def test_unknown_job_and_invalid_score(daemon: Handle) -> None:
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.status", {"job_id": "nope"})
    assert info.value.code == -32001
    bad = daemon.dir / "bad.yaml"
    bad.write_text("name: bad\nsheet: {size: 0, total_items: 1}\nprompt: {template: x}\n")
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.submit", {"config_path": str(bad)})
    assert info.value.code == -32006 and info.value.data["findings"]
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.submit", {"config_path": str(daemon.dir / "missing.yaml")})
    assert info.value.code == -32010


def test_pause_resume_cancel(daemon: Handle, write_score: Any, counts: Any) -> None:
    gate = daemon.dir / "gate"
    cmd = (
        f'echo "$MOZART_SHEET_NUM" >> {daemon.dir}/slow.count; '
        f"while [ ! -e {gate} ]; do sleep 0.05; done; "
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    score = write_score(daemon.dir, "slow", sheets=3, command=cmd)
    daemon.request("job.submit", {"config_path": str(score)})
    _wait(lambda: counts(daemon.dir, "slow") == [1])
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.submit", {"config_path": str(score)})
    assert info.value.code == -32002 and info.value.data["state"] == "running"

    assert daemon.request("job.pause", {"job_id": "slow"})["status"] == "paused"
    gate.touch()  # the running sheet finishes; no new sheet starts while paused
    _wait(lambda: daemon.request("job.status", {"job_id": "slow"})["completed_sheets"] == 1)
    time.sleep(0.3)  # give a wrongly dispatched sheet the chance to show up
    assert counts(daemon.dir, "slow") == [1]
    gate.unlink()

    assert daemon.request("job.resume", {"job_id": "slow"})["status"] == "running"
    _wait(lambda: counts(daemon.dir, "slow") == [1, 2])
    assert daemon.request("job.cancel", {"job_id": "slow"})["status"] == "cancelled"
    status = daemon.wait_job("slow", "cancelled")
    assert status["sheets"][1]["status"] == "pending"  # interrupted, so it runs on resume
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.cancel", {"job_id": "slow"})
    assert info.value.code == -32003 and info.value.data["state"] == "cancelled"

    gate.touch()
    daemon.request("job.resume", {"job_id": "slow"})
    daemon.wait_job("slow", "completed")
    assert counts(daemon.dir, "slow") == [1, 2, 2, 3]


def test_max_concurrent_jobs_queues(
    daemon_factory: Callable[..., Handle], write_score: Any
) -> None:
    d = daemon_factory(max_concurrent_jobs=1)
    gate = d.dir / "gate"
    cmd = (
        f"while [ ! -e {gate} ]; do sleep 0.05; done; "
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    a = write_score(d.dir, "a", sheets=1, command=cmd)
    b = write_score(d.dir, "b", sheets=1, command=cmd)
    assert d.request("job.submit", {"config_path": str(a)})["status"] == "running"
    assert d.request("job.submit", {"config_path": str(b)})["status"] == "queued"
    assert d.request("daemon.status")["queued_jobs"] == 1
    gate.touch()
    d.wait_job("a", "completed")
    d.wait_job("b", "completed")


def test_sheets_of_two_jobs_interleave(
    daemon_factory: Callable[..., Handle], write_score: Any
) -> None:
    d = daemon_factory(max_concurrent_sheets=2)
    trace = d.dir / "trace"
    cmd = (
        f'echo "$MOZART_JOB_ID start" >> {trace}; sleep 0.3; '
        f'echo "$MOZART_JOB_ID end" >> {trace}; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    for name in ("a", "b"):
        d.request(
            "job.submit", {"config_path": str(write_score(d.dir, name, sheets=2, command=cmd))}
        )
    d.wait_job("a", "completed")
    d.wait_job("b", "completed")
    lines = trace.read_text().split("\n")
    # Both jobs had a sheet running at the same time: a start of one between the other's
    # start and end.
    assert lines[:2] in (["a start", "b start"], ["b start", "a start"])


def test_max_concurrent_sheets_caps_parallel_sheets(
    daemon_factory: Callable[..., Handle], write_score: Any
) -> None:
    d = daemon_factory(max_concurrent_sheets=2)
    trace = d.dir / "trace"
    cmd = (
        f'echo "+" >> {trace}; sleep 0.2; echo "-" >> {trace}; '
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    score = write_score(d.dir, "wide", sheets=6, command=cmd, parallel=5)
    # An empty dependency map: every sheet is free to run at once.
    text = score.read_text().replace("total_items: 6}", "total_items: 6, dependencies: {}}")
    score.write_text(text)
    d.request("job.submit", {"config_path": str(score)})
    d.wait_job("wide", "completed")
    running = peak = 0
    for mark in trace.read_text().split():
        running += 1 if mark == "+" else -1
        peak = max(peak, running)
    assert peak == 2


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_prompt_files_are_those_of_the_sheets_that_ran(daemon: Handle, write_score: Any) -> None:
    """The next sheet's prompt file is created ahead, while a sheet runs; when the job ends
    before that sheet, the empty file does not stay behind."""
    done = 'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    ok = write_score(daemon.dir, "ran", sheets=3, command=done)
    daemon.request("job.submit", {"config_path": str(ok)})
    daemon.wait_job("ran", "completed")
    logs = daemon.dir / "ran-ws" / "logs"
    prompts = sorted(p.name for p in logs.glob("*.prompt.md"))
    assert prompts == ["sheet-01.prompt.md", "sheet-02.prompt.md", "sheet-03.prompt.md"]
    assert all((logs / name).read_text().startswith("Sheet ") for name in prompts)

    failing = write_score(
        daemon.dir, "stops", sheets=4, command=f'test "$MOZART_SHEET_NUM" != 2 && {done}'
    )
    daemon.request("job.submit", {"config_path": str(failing)})
    assert daemon.wait_job("stops", "completed", "failed")["status"] == "failed"
    logs = daemon.dir / "stops-ws" / "logs"
    prompts = sorted(p.name for p in logs.glob("*.prompt.md"))
    assert prompts == ["sheet-01.prompt.md", "sheet-02.prompt.md"]
