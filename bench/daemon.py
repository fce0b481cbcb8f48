"""A real ``mozartd start --foreground`` in a temp dir under /tmp, for one benchmark row.

Socket, PID file, database and log live in that dir (never the defaults); ``stop`` ends the
process it started (SIGTERM, then SIGKILL) and removes the dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import rpc

START_TIMEOUT = 30.0


def mozartd_argv() -> list[str]:
    script = Path(sys.executable).parent / "mozartd"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mozart_daemon"]


class BenchDaemon:
    def __init__(self, directory: Path | None = None, **config: Any) -> None:
        self.dir = directory or Path(tempfile.mkdtemp(prefix="mzb", dir="/tmp"))
        self.socket = self.dir / "d.sock"
        self.pid_file = self.dir / "d.pid"
        self.state_db = self.dir / "state.db"
        self.config_path = self.dir / "mozartd.yaml"
        self.log_path = self.dir / "mozartd.log"
        base: dict[str, Any] = {
            "socket": {"path": str(self.socket)},
            "pid_file": str(self.pid_file),
            "state_db_path": str(self.state_db),
        }
        base.update(config)
        self.config_path.write_text(yaml.safe_dump(base))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> str:
        return str(self.socket)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*mozartd_argv(), "start", "--foreground", "--config", str(self.config_path)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mozartd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.socket.exists():
                with contextlib.suppress(OSError, rpc.RpcError):
                    await rpc.call(self.path, "daemon.health")
                    return
            await asyncio.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mozartd did not start within {START_TIMEOUT}s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def rss_mb(self) -> float:
        """Resident set size of the daemon process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> tuple[float, float]:
        """(user, system) CPU seconds the daemon has used so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        """Stop the daemon; its directory is removed when the whole run ends
        (``remove_dirs``), not now: deleting a row's thousands of files makes creating files
        on this ext4 disk slower for the next half minute or so (the allocator skips
        recently deleted inodes), which would be charged to the next row."""
        self.stop()
        remove_at_end(self.dir)

    async def __aenter__(self) -> BenchDaemon:
        try:
            await self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.cleanup)


_LEFT: list[Path] = []


def remove_at_end(path: Path) -> None:
    """Remove ``path`` when the whole run ends (``remove_dirs``), not before."""
    _LEFT.append(path)


def remove_dirs() -> None:
    """Remove the directories of every daemon this run started (at the end of the run)."""
    while _LEFT:
        shutil.rmtree(_LEFT.pop(), ignore_errors=True)


async def wait_idle(
    path: str, timeout: float, interval: float = 0.02, tail_interval: float | None = None
) -> None:
    """Until the daemon has no running or queued job.

    Asked every ``interval``; with ``tail_interval``, that often once no job is queued (the
    last ones run): a rate of many short jobs is then timed to within about a millisecond
    of the last one's end, as task-spooler's is (``tsp -w`` is told when its last task
    ends), not up to ``interval`` late (20 ms is 2 % of the throughput row's 1,000 jobs).
    Not for one long job, which would be asked all along."""
    tail = interval if tail_interval is None else tail_interval
    deadline = time.monotonic() + timeout
    conn = await rpc.Connection.open(path)
    try:
        while time.monotonic() < deadline:
            st = await conn.call("daemon.status")
            if st["running_jobs"] == 0 and st["queued_jobs"] == 0:
                return
            await asyncio.sleep(tail if st["queued_jobs"] == 0 else interval)
    finally:
        await conn.close()
    raise TimeoutError(f"jobs still active after {timeout}s")


def write_score(
    directory: Path, name: str, *, sheets: int = 1, command: list[str] | None = None
) -> Path:
    """A ``command``-backend score without validations (the bare dispatch path)."""
    (directory / "ws").mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "workspace": f"./ws/{name}",
                "backend": {"type": "command", "command": command or ["true"]},
                "sheet": {"size": 1, "total_items": sheets},
                "prompt": {"template": "sheet {{ sheet_num }}"},
            },
            sort_keys=False,
        )
    )
    return path


def environ_with_socket(path: str) -> dict[str, str]:
    return {**os.environ, "MOZART_SOCKET": path}
