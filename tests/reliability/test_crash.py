"""Crashes: kill -9 (and SIGTERM) while many multi-sheet jobs run; nothing completed is lost
or run again, the database stays intact and every interrupted job resumes to completion.

A sheet's command appends its number to ``<job>.count`` before the sheet is marked completed,
so the count files are the ground truth of what ran. Once the database says a sheet is
completed, its count may never grow again.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    completed_sheets,
    counts,
    integrity_check,
    processes_with_env,
    record,
    size,
    wait_for,
)

pytestmark = pytest.mark.timeout(1500)


def _write_jobs(d: Any, n_jobs: int, n_sheets: int, marker: str) -> list[str]:
    names = []
    for i in range(n_jobs):
        name = f"job{i:02d}"
        sleep = 0.1 + 0.05 * (i % 5)
        command = (
            f"sleep {sleep}; "
            f'echo "$MOZART_SHEET_NUM" >> {d.dir}/{name}.count; '
            'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
        )
        # write_score's shape, plus the marker that lets the test find strays.
        path = d.dir / f"{name}.yaml"
        path.write_text(
            f"name: {name}\n"
            f"workspace: ./{name}-ws\n"
            f"backend:\n  type: command\n  command: {command!r}\n  timeout_seconds: 60\n"
            f"  env: {{MOZART_REL_MARK: {marker!r}}}\n"
            f"sheet: {{size: 1, total_items: {n_sheets}}}\n"
            "prompt: {template: 'Sheet {{ sheet_num }}'}\n"
            "validations:\n"
            "  - type: content_contains\n    path: '{workspace}/sheet-{sheet_num}.txt'\n"
            "    pattern: done\n"
            "retry: {max_retries: 2, base_delay_seconds: 0.01, jitter: false}\n"
        )
        names.append(name)
    return names


def _running_sheets(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM sheets WHERE status = 'running'").fetchone()[0]
        )
    finally:
        conn.close()


class Ledger:
    """What the database said was completed, and how often each sheet had run by then."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.frozen: dict[tuple[str, int], int] = {}

    def observe(self, done: dict[str, set[int]]) -> None:
        for job, sheets in done.items():
            ran = Counter(counts(self.dir, job))
            for num in sheets:
                key = (job, num)
                if key in self.frozen:
                    assert ran[num] == self.frozen[key], f"{job} sheet {num} ran again: {ran}"
                else:
                    assert ran[num] >= 1, f"{job} sheet {num} completed without running"
                    self.frozen[key] = ran[num]

    def check_final(self) -> None:
        for (job, num), times in self.frozen.items():
            ran = Counter(counts(self.dir, job))[num]
            assert ran == times, f"{job} sheet {num} ran {ran} times, {times} when completed"


def _check_after_restart(d: Any, names: list[str], before: dict[str, set[int]]) -> list[str]:
    """Every completed sheet is still completed; returns the jobs to resume."""
    to_resume = []
    for name in names:
        status = d.request("job.status", {"job_id": name})
        done = {s["sheet_num"] for s in status["sheets"] if s["status"] == "completed"}
        assert before.get(name, set()) <= done, f"{name} lost completed sheets"
        assert "running" not in {s["status"] for s in status["sheets"]}
        if status["status"] != "completed":
            assert status["status"] == "failed", status
            to_resume.append(name)
    return to_resume


def _resume(d: Any, names: list[str]) -> None:
    for name in names:
        result = d.request("job.resume", {"job_id": name})
        assert result["status"] in ("queued", "running")


def _finish(d: Any, names: list[str], n_sheets: int, ledger: Ledger) -> None:
    for name in names:
        status = d.wait_job(name, "completed", "failed", timeout=120)
        assert status["status"] == "completed", status
        assert status["completed_sheets"] == n_sheets
        assert set(counts(d.dir, name)) == set(range(1, n_sheets + 1))
    ledger.observe(completed_sheets(d.state_db))
    ledger.check_final()


def test_kill9_at_random_moments_loses_nothing(
    daemon_factory: Callable[..., Any], marker: str
) -> None:
    n_jobs, n_sheets, rounds = size("crash_jobs"), size("crash_sheets"), size("crash_rounds")
    seed = int(os.environ.get("MOZART_RELIABILITY_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    print(f"seed={seed} jobs={n_jobs} sheets={n_sheets} rounds={rounds}")
    d = daemon_factory(max_concurrent_jobs=n_jobs, max_concurrent_sheets=2 * n_jobs)
    names = _write_jobs(d, n_jobs, n_sheets, marker)
    ledger = Ledger(d.dir)
    for name in names:
        d.request("job.submit", {"config_path": str(d.dir / f"{name}.yaml")})
    kills = interrupted_jobs = interrupted_sheets = 0
    for _round in range(rounds):
        time.sleep(rng.uniform(0.05, 0.5))
        d.kill9()
        kills += 1
        assert integrity_check(d.state_db) == "ok"
        before = completed_sheets(d.state_db)
        interrupted_sheets += _running_sheets(d.state_db)
        ledger.observe(before)
        d.start()
        assert integrity_check(d.state_db) == "ok"
        to_resume = _check_after_restart(d, names, before)
        interrupted_jobs += len(to_resume)
        ledger.observe(completed_sheets(d.state_db))
        if not to_resume:
            break
        _resume(d, to_resume)
    assert kills == rounds, f"the jobs finished after {kills} of {rounds} rounds: make them longer"
    _finish(d, names, n_sheets, ledger)
    assert integrity_check(d.state_db) == "ok"
    record(
        crash_kill9_rounds=kills,
        crash_jobs_interrupted=interrupted_jobs,
        crash_sheets_running_at_kill=interrupted_sheets,
        crash_sheets_checked=len(ledger.frozen),
    )
    # The sheets the killed daemons had left running are gone once the job completes.
    wait_for(lambda: not processes_with_env("MOZART_REL_MARK", marker), 10, "stray sheets")


def test_sigterm_with_running_sheets_is_graceful(
    daemon_factory: Callable[..., Any], marker: str
) -> None:
    n_jobs, n_sheets, rounds = size("crash_jobs"), size("crash_sheets"), size("term_rounds")
    d = daemon_factory(max_concurrent_jobs=n_jobs, max_concurrent_sheets=2 * n_jobs)
    names = _write_jobs(d, n_jobs, n_sheets, marker)
    ledger = Ledger(d.dir)
    for name in names:
        d.request("job.submit", {"config_path": str(d.dir / f"{name}.yaml")})
    terms = 0
    for _round in range(rounds):
        # Stop while sheets run: wait until at least one sheet is running.
        wait_for(
            lambda: any(
                s["status"] == "running"
                for n in names
                for s in d.request("job.status", {"job_id": n})["sheets"]
            ),
            20,
            "a running sheet",
        )
        assert d.stop(signal.SIGTERM, timeout=30) == 0, d.log_text()[-2000:]
        terms += 1
        # Graceful: nothing of ours outlives the daemon, the socket and PID file are gone.
        assert not processes_with_env("MOZART_REL_MARK", marker)
        assert not d.socket_path.exists() and not d.pid_file.exists()
        assert integrity_check(d.state_db) == "ok"
        before = completed_sheets(d.state_db)
        ledger.observe(before)
        d.start()
        to_resume = _check_after_restart(d, names, before)
        if not to_resume:
            break
        for name in to_resume:
            assert "shut down" in (d.request("job.status", {"job_id": name})["error"] or "")
        _resume(d, to_resume)
    _finish(d, names, n_sheets, ledger)
    record(crash_sigterm_rounds=terms)
