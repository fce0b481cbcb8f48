"""Processes: cancel, pause, sheet and job timeouts, and shutdown leave no descendant alive.

Each sheet starts a small zoo: a plain child, a grandchild, and a double fork into a session
of its own (``setsid``), all found by the test's marker variable. Zombies of the daemon must be
reaped too. A double fork that also empties its environment (``env -i``) carries no token:
the daemon, a child subreaper, finds it among the orphans re-parented to it.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from reliability_support import (
    kill_all,
    processes_with_env,
    record,
    score_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


class Zoo:
    """A sheet command that leaves processes behind in every way a shell can."""

    def __init__(self, directory: Path, marker: str, *, no_env: bool = False) -> None:
        self.marker = marker
        self.no_env = no_env
        self.started = directory / f"started-{random.randrange(1 << 30)}"
        self.unique = f"{300 + random.randrange(1, 10**6) / 10**7:.7f}"

    def command(self, then: str) -> str:
        no_env = f"( env -i /usr/bin/setsid /usr/bin/sleep {self.unique} & ) ; "
        return (
            "sleep 300 & "
            "sh -c 'sleep 300 & wait' & "
            "( setsid sh -c 'sleep 300 & sleep 300' & ) ; "
            + (no_env if self.no_env else "")
            + "sleep 0.5; "  # let every fork happen before the sheet reports it started
            + f"touch {self.started}; {then}"
        )

    def alive(self) -> list[psutil.Process]:
        found = processes_with_env("MOZART_REL_MARK", self.marker)
        for proc in psutil.process_iter(["cmdline"]):
            try:
                mine = proc.info["cmdline"] and self.unique in proc.info["cmdline"]
                if mine and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def running(self) -> bool:
        return self.started.exists() and len(self.alive()) >= (7 if self.no_env else 6)

    def assert_gone(self, timeout: float = 15.0) -> None:
        try:
            wait_for(lambda: not self.alive(), timeout, "no process of the sheet left")
        except AssertionError:
            left = [(p.pid, p.cmdline()) for p in self.alive()]
            kill_all(self.alive())
            raise AssertionError(f"left alive: {left}") from None


def zombies(d: Any) -> list[psutil.Process]:
    try:
        children = psutil.Process(d.pid).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.Error:
            continue
    return out


def _submit(d: Any, name: str, command: str, marker: str, **kw: Any) -> None:
    path = d.dir / f"{name}.yaml"
    path.write_text(
        score_text(
            name, command, backend_extra=f"  env: {{MOZART_REL_MARK: {json.dumps(marker)}}}\n", **kw
        )
    )
    d.request("job.submit", {"config_path": str(path)})


@pytest.fixture
def zoo(daemon: Any, marker: str) -> Zoo:
    return Zoo(daemon.dir, marker)


def test_cancel_stops_the_whole_tree(daemon: Any, zoo: Zoo) -> None:
    _submit(daemon, "cancelme", zoo.command("sleep 300"), zoo.marker)
    wait_for(zoo.running, 15, "the sheet's processes")
    assert daemon.request("job.cancel", {"job_id": "cancelme"})["status"] == "cancelled"
    zoo.assert_gone()
    wait_for(lambda: not zombies(daemon), 5, "zombies reaped")
    record(process_trees_stopped=1)


def test_sheet_timeout_stops_the_whole_tree(daemon: Any, zoo: Zoo) -> None:
    _submit(daemon, "slow", zoo.command("sleep 300"), zoo.marker, timeout=2)
    wait_for(zoo.running, 15, "the sheet's processes")
    status = daemon.wait_job("slow", "failed", timeout=30)
    assert "timed out" in (status["sheets"][0]["error"] or "").lower(), status
    zoo.assert_gone()
    wait_for(lambda: not zombies(daemon), 5, "zombies reaped")
    record(process_trees_stopped=1)


def test_job_timeout_stops_the_whole_tree(daemon_factory: Callable[..., Any], marker: str) -> None:
    d = daemon_factory(job_timeout_seconds=3)
    zoo = Zoo(d.dir, marker)
    _submit(d, "longjob", zoo.command("sleep 300"), zoo.marker)
    wait_for(zoo.running, 15, "the sheet's processes")
    status = d.wait_job("longjob", "failed", timeout=30)
    assert "timed out" in (status["error"] or ""), status
    zoo.assert_gone()
    wait_for(lambda: not zombies(d), 5, "zombies reaped")
    record(process_trees_stopped=1)


def test_pause_lets_the_sheet_finish_then_nothing_is_left(daemon: Any, zoo: Zoo) -> None:
    gate = daemon.dir / "gate"
    then = (
        f"while [ ! -e {gate} ]; do sleep 0.05; done; "
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    _submit(daemon, "pauseme", zoo.command(then), zoo.marker, sheets=2)
    wait_for(zoo.running, 15, "the sheet's processes")
    assert daemon.request("job.pause", {"job_id": "pauseme"})["status"] == "paused"
    gate.touch()
    # The running sheet finishes; what it left in the background is stopped with it.
    wait_for(
        lambda: (
            daemon.request("job.status", {"job_id": "pauseme"})["sheets"][0]["status"]
            == "completed"
        ),
        20,
        "sheet 1 completed",
    )
    zoo.assert_gone()
    status = daemon.request("job.status", {"job_id": "pauseme"})
    assert status["status"] == "paused" and status["sheets"][1]["status"] == "pending"
    wait_for(lambda: not zombies(daemon), 5, "zombies reaped")
    record(process_trees_stopped=1)


@pytest.mark.parametrize("how", ["rpc", "sigterm", "force"])
def test_shutdown_stops_every_tree(
    daemon_factory: Callable[..., Any], marker: str, how: str
) -> None:
    d = daemon_factory(shutdown_timeout_seconds=1, max_concurrent_jobs=3)
    zoos = []
    for i in range(3):
        zoo = Zoo(d.dir, marker)
        zoos.append(zoo)
        _submit(d, f"shut{i}", zoo.command("sleep 300"), marker)
    wait_for(lambda: all(z.started.exists() for z in zoos), 20, "three running sheets")
    if how == "sigterm":
        d.proc.send_signal(signal.SIGTERM)
    else:
        d.request("daemon.shutdown", {"force": how == "force"})
    t0 = time.monotonic()
    assert d.wait_exit(timeout=30) == 0
    assert time.monotonic() - t0 < 20
    for zoo in zoos:
        zoo.assert_gone(timeout=5)
    record(process_trees_stopped=3)


def test_kill9_leaves_no_sheet_running_once_restarted(
    daemon: Any, zoo: Zoo, counts: Callable[[Path, str], list[int]]
) -> None:
    """A crashed daemon cannot stop its sheets; the next one must, before it runs them again
    (two copies of a sheet would race on the same workspace)."""
    _submit(daemon, "crashtree", zoo.command("sleep 300"), zoo.marker)
    wait_for(zoo.running, 15, "the sheet's processes")
    daemon.kill9()
    daemon.start()
    zoo.assert_gone(timeout=15)
    record(process_trees_stopped=1)


def test_cancel_finds_a_double_fork_without_environment(daemon: Any, marker: str) -> None:
    zoo = Zoo(daemon.dir, marker, no_env=True)
    _submit(daemon, "noenv", zoo.command("sleep 300"), zoo.marker)
    wait_for(zoo.running, 15, "the sheet's processes")
    daemon.request("job.cancel", {"job_id": "noenv"})
    zoo.assert_gone(timeout=2)


def _helper_of(d: Any) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(d.pid).children()
        if any(part.endswith("spawn_helper.py") for part in p.cmdline())
    ]


def test_sheets_started_by_the_spawn_helper_are_stopped_like_any(
    daemon_factory: Callable[..., Any], marker: str
) -> None:
    """While another sheet runs, a sheet's process is started by the daemon's spawn helper
    (its child, not the daemon's): cancel, zombies and shutdown must not notice."""
    d = daemon_factory(max_concurrent_jobs=3)
    first, second = Zoo(d.dir, f"{marker}-1"), Zoo(d.dir, f"{marker}-2")
    _submit(d, "alone", first.command("sleep 300"), first.marker)
    wait_for(first.running, 15, "the first sheet's processes")
    _submit(d, "starts-helper", "sleep 300", marker)
    wait_for(lambda: _helper_of(d), 15, "the spawn helper")
    _submit(d, "through-helper", second.command("sleep 300"), second.marker)
    wait_for(second.running, 15, "the third sheet's processes")
    helper = _helper_of(d)[0]
    # The third sheet's shell is the helper's child.
    assert any(p.environ().get("MOZART_JOB_ID") == "through-helper" for p in helper.children()), [
        p.cmdline() for p in helper.children()
    ]
    assert d.request("job.cancel", {"job_id": "through-helper"})["status"] == "cancelled"
    second.assert_gone()
    wait_for(lambda: not zombies(d), 5, "zombies reaped")
    assert first.running()  # the others run on
    d.request("daemon.shutdown", {"force": True})
    assert d.wait_exit(timeout=30) == 0
    first.assert_gone(timeout=5)
    assert not helper.is_running()
    record(process_trees_stopped=2)
