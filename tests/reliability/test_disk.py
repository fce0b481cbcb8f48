"""Disk and database faults: the state database's disk full or read-only (a small tmpfs),
and a corrupted database file at startup.

In every case the daemon must say so clearly (StateUnavailable, -32011, or a refusal to start
that names the file and how to recover) and never lose state silently: no job disappears from
the registry without an error, the file is never replaced, and once the fault is gone the
daemon works again with nothing lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    counts,
    integrity_check,
    mozartd_argv,
    record,
    score_text,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)

CMD = 'echo done > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.txt"'


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _populate(d: Any, n: int = 3) -> list[str]:
    names = []
    for i in range(n):
        name = f"keep{i}"
        (d.dir / f"{name}.yaml").write_text(score_text(name, CMD, sheets=2))
        d.request("job.submit", {"config_path": str(d.dir / f"{name}.yaml")})
        names.append(name)
    for name in names:
        d.wait_job(name, "completed")
    return names


def _start_raw(d: Any) -> subprocess.CompletedProcess[str]:
    """``mozartd start --foreground`` expected to refuse: its output and exit code."""
    return subprocess.run(
        [*mozartd_argv(), "start", "--foreground", "--config", str(d.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=d.dir,
    )


def _corrupt_pages(db: Path) -> None:
    """Scribble over the file past its header: the schema and rows become unreadable."""
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page, len(data), page):
        data[offset + 8 : offset + 200] = os.urandom(192)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_corrupted_database_at_startup_refuses_work_and_says_how_to_recover(
    daemon_factory: Callable[..., Any], damage: str
) -> None:
    d = daemon_factory()
    names = _populate(d)
    assert d.stop() == 0
    db = d.state_db
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(os.urandom(db.stat().st_size))
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    else:
        _corrupt_pages(db)
    before = _digest(db)
    out = _start_raw(d)
    text = out.stdout + out.stderr
    # Refused to start: it names the file, says what is wrong and how to recover.
    assert out.returncode == 1, text
    assert "state database" in text and str(db) in text and "move it aside" in text, text
    assert _digest(db) == before, "the damaged file was changed: evidence lost"
    assert not Path(f"{db}.broken").exists()
    record(db_faults=1)
    # Moved aside as told, the daemon starts again (with an empty registry).
    db.rename(f"{db}.broken")
    d.start()
    assert d.request("job.list", {"all": True})["jobs"] == []
    _ = names


# -- a state database on a small tmpfs ------------------------------------------------------


@pytest.fixture
def small_fs() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs for the state database")
    mount_point = Path(tempfile.mkdtemp(prefix="mzfs", dir="/tmp"))
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        with contextlib.suppress(OSError):
            mount_point.rmdir()


def _fill(directory: Path) -> Path:
    """Fill the filesystem to the last byte; returns the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 10, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_disk_full_refuses_work_clearly_then_recovers(
    small_fs: Path, daemon_factory: Callable[..., Any]
) -> None:
    d = daemon_factory(state_db_path=str(small_fs / "state.db"))
    d.state_db = small_fs / "state.db"
    names = _populate(d, 2)
    busy_cmd = f'sleep 0.2; echo "$MOZART_SHEET_NUM" >> {d.dir}/busy.count; ' + CMD
    (d.dir / "busy.yaml").write_text(score_text("busy", busy_cmd, sheets=8))
    d.request("job.submit", {"config_path": str(d.dir / "busy.yaml")})
    wait_for(lambda: (d.dir / "busy.count").exists(), 10, "busy job running")
    filler = _fill(small_fs)
    refusals = 0
    for i in range(5):
        (d.dir / f"full{i}.yaml").write_text(score_text(f"full{i}", CMD, sheets=3))
        reply = d.call("job.submit", {"config_path": str(d.dir / f"full{i}.yaml")})
        if "error" in reply:
            assert reply["error"]["code"] == -32011, reply
            assert "disk" in reply["error"]["message"].lower(), reply
            refusals += 1
        else:
            # Accepted before the disk filled up: it ends, one way or the other, with a reason.
            status = d.wait_job(f"full{i}", "completed", "failed", timeout=30)
            assert status["status"] == "completed" or status["error"], status
    assert refusals > 0, "nothing was refused on a full disk"
    assert d.request("daemon.health")["status"] == "ok"
    # Free the space: the daemon works again and nothing written before is lost.
    filler.unlink()
    (d.dir / "after.yaml").write_text(score_text("after", CMD, sheets=2))
    wait_for(
        lambda: "result" in d.call("job.submit", {"config_path": str(d.dir / "after.yaml")}),
        20,
        "a submit accepted once space is free",
    )
    assert d.wait_job("after", "completed", "failed")["status"] == "completed"
    for name in names:
        assert d.request("job.status", {"job_id": name})["status"] == "completed"
    # The job that ran while the disk was full ends with a reason, and resumes to completion
    # without running a sheet again that the database holds as completed.

    busy = d.wait_job("busy", "completed", "failed", timeout=30)
    if busy["status"] == "failed":
        assert busy["error"], busy
        done = {s["sheet_num"] for s in busy["sheets"] if s["status"] == "completed"}
        ran_before = counts(d.dir, "busy")
        d.request("job.resume", {"job_id": "busy"})
        busy = d.wait_job("busy", "completed", "failed", timeout=30)
        ran_after = counts(d.dir, "busy")
        for num in done:
            assert ran_after.count(num) == ran_before.count(num), (num, ran_before, ran_after)
    assert busy["status"] == "completed", busy
    assert d.stop() == 0
    assert integrity_check(d.state_db) == "ok"
    record(disk_faults=refusals)


def test_read_only_database_at_startup_is_refused(
    small_fs: Path, daemon_factory: Callable[..., Any]
) -> None:
    d = daemon_factory(state_db_path=str(small_fs / "state.db"))
    _populate(d, 1)
    assert d.stop() == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        out = _start_raw(d)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "state database" in text and str(small_fs / "state.db") in text, text
    # Writable again: the daemon starts with every job it had.
    d.start()
    assert d.request("job.status", {"job_id": "keep0"})["status"] == "completed"
    record(disk_faults=1)
