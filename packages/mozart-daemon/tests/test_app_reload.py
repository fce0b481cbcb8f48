"""Daemon.reload: live fields applied, fields bound to resources kept, bad files ignored."""

import asyncio
import shutil
import tempfile
from pathlib import Path

import yaml
from mozart_daemon.app import Daemon
from mozart_daemon.config import load_config


async def test_reload_applies_live_fields_only() -> None:
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))
    path = tmp / "mozartd.yaml"
    base = {"socket": {"path": str(tmp / "s.sock")}, "state_db_path": str(tmp / "db"),
            "pid_file": str(tmp / "pid")}  # fmt: skip
    path.write_text(yaml.safe_dump(base))
    daemon = Daemon(load_config(path))
    await daemon.start()
    try:
        path.write_text(yaml.safe_dump({
            **base, "max_concurrent_sheets": 3, "log_level": "debug",
            "socket": {"path": str(tmp / "other.sock"), "max_connections": 7},
            "resource_limits": {"max_memory_mb": 100, "max_api_calls_per_minute": 5},
        }))  # fmt: skip
        changed = daemon.reload()
        assert set(changed) == {
            "max_concurrent_sheets", "log_level", "socket.max_connections",
            "resource_limits.max_memory_mb", "resource_limits.max_api_calls_per_minute",
        }  # fmt: skip
        assert daemon.scheduler.max_concurrent_sheets == 3
        assert daemon.manager.config.max_concurrent_sheets == 3
        assert daemon.backpressure.max_memory_mb == 100
        assert daemon.server.max_connections == 7
        assert daemon.config.socket.path == tmp / "s.sock"  # needs a restart: kept
        path.write_text("max_concurrent_jobs: 0\n")
        assert daemon.reload() == {}
        assert daemon.config.max_concurrent_sheets == 3
    finally:
        daemon.request_shutdown()
        await asyncio.wait_for(daemon.stopped.wait(), 10)
        shutil.rmtree(tmp, ignore_errors=True)
