"""daemon.status, daemon.shutdown, daemon.health, daemon.ready, rpc.discover."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mozart_protocol import (
    DaemonHealth,
    DaemonReady,
    DaemonShutdownParams,
    DaemonShutdownResult,
    DaemonStatus,
    EmptyParams,
    PressureLevel,
    Readiness,
)

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon
    from mozart_daemon.handlers.table import Call


async def status(daemon: Daemon, params: EmptyParams, call: Call) -> DaemonStatus:
    reasons = daemon.health.readiness()
    snap = daemon.monitor.latest
    return DaemonStatus(
        pid=daemon.pid,
        uptime_seconds=daemon.uptime_seconds(),
        readiness=Readiness.NOT_READY if reasons else Readiness.READY,
        ready_reasons=reasons,
        running_jobs=daemon.manager.running_jobs,
        queued_jobs=daemon.manager.queued_jobs,
        memory_mb=round(snap.memory_mb, 1),
        child_processes=snap.child_processes,
        accepting_work=not daemon.shutting_down and daemon.backpressure.should_accept_job(),
        version=daemon.version,
        pressure_level=PressureLevel(daemon.backpressure.current_level().wire),
    )


async def shutdown(
    daemon: Daemon, params: DaemonShutdownParams, call: Call
) -> DaemonShutdownResult:
    daemon.request_shutdown(force=params.force, reason="daemon.shutdown")
    return DaemonShutdownResult(status="shutting_down")


async def health(daemon: Daemon, params: EmptyParams, call: Call) -> DaemonHealth:
    # Liveness: no I/O, no locks. If this runs, the loop runs.
    return DaemonHealth(status="ok", pid=daemon.pid, uptime_seconds=daemon.uptime_seconds())


async def ready(daemon: Daemon, params: EmptyParams, call: Call) -> DaemonReady:
    reasons = daemon.health.readiness()
    return DaemonReady(status=Readiness.NOT_READY if reasons else Readiness.READY, reasons=reasons)


@cache
def schema_document() -> dict[str, Any]:
    """The RPC schema: shipped inside mozart_protocol, or the repository's schema/ file."""
    packaged = resources.files("mozart_protocol").joinpath("_generated", "rpc.schema.json")
    if packaged.is_file():
        return dict(json.loads(packaged.read_text(encoding="utf-8")))
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "schema" / "rpc.schema.json"
        if candidate.is_file():
            return dict(json.loads(candidate.read_text(encoding="utf-8")))
    raise FileNotFoundError("rpc.schema.json is not installed with mozart_protocol")


async def discover(daemon: Daemon, params: EmptyParams, call: Call) -> dict[str, Any]:
    return schema_document()
