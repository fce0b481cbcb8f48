"""Pressure: a sheet allocates memory until the daemon's pressure is HIGH, then CRITICAL.

At HIGH submissions are refused with the guide's message and readiness says why; at CRITICAL
the lowest-priority running job is paused; once the memory is freed the daemon is ready again,
accepts work, and the paused job resumes to completion.

The limit is set relative to the daemon's own footprint (measured first), and the hog grows
under the test's control until the daemon reports the wanted level.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import record, score_text, wait_for

pytestmark = pytest.mark.timeout(180)

MESSAGE = "System under high pressure — try again later."

HOG = r"""
import os, sys, time
d = sys.argv[1]
held = bytearray()
have = -1
want_file, have_file = os.path.join(d, "want"), os.path.join(d, "have")
while not os.path.exists(os.path.join(d, "exit")):
    try:
        want = int(open(want_file).read() or 0)
    except (OSError, ValueError):
        want = 0
    if want != have:
        held = bytearray()
        held = bytearray(b"\x01") * (want * 2**20)
        have = want
        tmp = have_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(want))
        os.replace(tmp, have_file)
    time.sleep(0.05)
ws = os.environ["MOZART_WORKSPACE"]
open(os.path.join(ws, "sheet-%s.txt" % os.environ["MOZART_SHEET_NUM"]), "w").write("done")
"""


class Hog:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.script = directory / "hog.py"
        self.script.write_text(HOG)
        self.mb = 0

    def set(self, mb: int) -> None:
        self.mb = max(0, mb)
        (self.dir / "want").write_text(str(self.mb))
        have = self.dir / "have"
        wait_for(lambda: have.exists() and have.read_text() == str(self.mb), 20, f"hog at {mb}")


def _level(d: Any) -> str:
    return str(d.request("daemon.status")["pressure_level"])


def _drive(d: Any, hog: Hog, limit_mb: int, ratio: float, level: str) -> None:
    """Grow the hog until the daemon reports ``level`` (aiming at ``ratio`` of the limit)."""
    interval = d.config["monitor_interval_seconds"]
    for _ in range(40):
        time.sleep(3 * interval)
        if _level(d) == level:
            return
        used = d.request("daemon.status")["memory_mb"]
        hog.set(hog.mb + max(2, int(ratio * limit_mb - used)))
    raise AssertionError(f"pressure never reached {level}: {d.request('daemon.status')}")


def test_memory_pressure_high_then_critical_then_recovery(
    daemon_factory: Callable[..., Any], marker: str
) -> None:
    probe = daemon_factory()
    baseline = probe.request("daemon.status")["memory_mb"]
    probe.stop()
    limit = int(baseline * 2.5) + 20
    d = daemon_factory(max_concurrent_jobs=4, resource_limits={"max_memory_mb": limit})
    assert _level(d) == "none", d.request("daemon.status")
    env = f"  env: {{MOZART_REL_MARK: {json.dumps(marker)}}}\n"
    gate = d.dir / "gate"
    low_cmd = (
        f"while [ ! -e {gate} ]; do sleep 0.05; done; "
        'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'
    )
    (d.dir / "low.yaml").write_text(
        score_text("low", low_cmd, sheets=2, backend_extra=env, extra="priority: 1\n")
    )
    hog = Hog(d.dir)
    (d.dir / "hog.yaml").write_text(
        score_text(
            "hog",
            f"{sys.executable} {hog.script} {d.dir}",
            backend_extra=env,
            extra="priority: 9\n",
        )
    )
    d.request("job.submit", {"config_path": str(d.dir / "low.yaml")})
    d.request("job.submit", {"config_path": str(d.dir / "hog.yaml")})
    hog.set(0)
    d.wait_job("low", "running")

    # HIGH: new work refused with the guide's message; readiness says why; nothing paused.
    _drive(d, hog, limit, 0.90, "high")
    with pytest.raises(d.RpcFailure) as refused:
        d.request("job.submit", {"config_path": str(d.dir / "late.yaml")})
    assert refused.value.code == -32005 and refused.value.message == MESSAGE
    ready = d.request("daemon.ready")
    assert ready["status"] == "not_ready" and "pressure high" in ready["reasons"], ready
    status = d.request("daemon.status")
    assert status["accepting_work"] is False and status["readiness"] == "not_ready"
    assert d.request("job.status", {"job_id": "low"})["status"] == "running"

    # CRITICAL: the lowest-priority running job is paused (and says why).
    _drive(d, hog, limit, 1.05, "critical")
    low = d.wait_job("low", "paused", timeout=10)
    assert "pressure" in (low["error"] or ""), low
    ready = d.request("daemon.ready")
    assert ready["status"] == "not_ready" and "pressure critical" in ready["reasons"], ready
    hog_status = d.request("job.status", {"job_id": "hog"})
    if hog_status["status"] == "paused":  # paused later, never before the lower priority
        assert hog_status["updated_at"] >= low["updated_at"]
    assert "backpressure.job_paused" in d.log_text()

    # Recovery: the memory is freed, the daemon is ready and accepts work again.
    hog.set(0)
    wait_for(lambda: d.request("daemon.ready")["status"] == "ready", 20, "ready again")
    (d.dir / "late.yaml").write_text(score_text("late", low_cmd, backend_extra=env))
    assert d.request("job.submit", {"config_path": str(d.dir / "late.yaml")})["status"] in (
        "queued", "running",
    )  # fmt: skip
    gate.touch()
    (d.dir / "exit").touch()
    assert d.request("job.resume", {"job_id": "low"})["status"] in ("queued", "running")
    if d.request("job.status", {"job_id": "hog"})["status"] == "paused":
        try:
            d.request("job.resume", {"job_id": "hog"})
        except d.RpcFailure as exc:  # its running sheet may end meanwhile: it completed
            assert exc.code == -32003 and "completed" in exc.message, exc
    for name in ("low", "hog", "late"):
        assert d.wait_job(name, "completed", "failed", timeout=60)["status"] == "completed"
    record(pressure_cycles=1)
