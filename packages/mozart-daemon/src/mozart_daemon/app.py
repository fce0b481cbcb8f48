"""Daemon: the assembled daemon inside one event loop.

Builds every part from the config (store, monitor, backpressure, rate coordinator,
scheduler, learning hub, job manager, notifications, success hooks, health, server), starts
them in order, reloads what can change live on SIGHUP, and shuts down gracefully.
``lifecycle.DaemonProcess`` owns the process around it (fork, PID file, signals).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

from mozart_daemon import __version__
from mozart_daemon.backpressure import BackpressureController, Pressure
from mozart_daemon.config import RELOADABLE, ConfigError, DaemonConfig, diff, load_config
from mozart_daemon.health import HealthChecker
from mozart_daemon.hooks import SuccessHooks
from mozart_daemon.jobs import JobEvents, JobManager, SheetRunner
from mozart_daemon.learning import LearningHub
from mozart_daemon.logging import get_logger, set_level
from mozart_daemon.monitor import ResourceMonitor, ResourceSnapshot
from mozart_daemon.notify import NotificationService
from mozart_daemon.rate_coordinator import RateLimitCoordinator
from mozart_daemon.scheduler import GlobalSheetScheduler
from mozart_daemon.server import DaemonServer
from mozart_daemon.store import Store

log = get_logger(__name__)

RunnerFactory = Callable[["Daemon"], SheetRunner]
NOTIFY_GRACE_SECONDS = 3.0


def _default_runner(daemon: Daemon) -> SheetRunner:
    from mozart_daemon.jobs.runner import EngineSheetRunner

    return EngineSheetRunner(
        store=daemon.store,
        events=daemon.events,
        coordinator=daemon.coordinator,
        learning=daemon.learning,
    )


class Daemon:
    version = __version__

    def __init__(self, config: DaemonConfig, *, runner_factory: RunnerFactory | None = None):
        self.config = config
        self._runner_factory = runner_factory or _default_runner
        self.started_monotonic = time.monotonic()
        self.pid = os.getpid()
        self.shutting_down = False
        self.stopped = asyncio.Event()
        self._shutdown_task: asyncio.Task[None] | None = None
        self._force = False
        self._level = Pressure.NONE

    async def start(self) -> None:
        """Open the store, recover orphans, take a first sample, then serve the socket."""
        from mozart_daemon.handlers import Dispatcher

        config = self.config
        self.store = await Store.open(config.state_db_path)
        self.events = JobEvents(self.store)
        self.learning = LearningHub(self.store.db)
        await self.learning.load()
        self.monitor = ResourceMonitor(interval=config.monitor_interval_seconds)
        self.coordinator = RateLimitCoordinator(
            max_api_calls_per_minute=config.resource_limits.max_api_calls_per_minute
        )
        self.backpressure = BackpressureController(
            max_memory_mb=config.resource_limits.max_memory_mb,
            max_processes=config.resource_limits.max_processes,
            snapshot=lambda: self.monitor.latest,
            rate_limited=self.coordinator.any_active,
        )
        self.scheduler = GlobalSheetScheduler(
            max_concurrent_sheets=config.max_concurrent_sheets,
            is_rate_limited=self.coordinator.is_rate_limited,
            has_capacity=self.coordinator.can_call,
        )
        self.manager = JobManager(
            config=config,
            store=self.store,
            scheduler=self.scheduler,
            coordinator=self.coordinator,
            backpressure=self.backpressure,
            events=self.events,
            runner=self._runner_factory(self),
        )
        self.notifications = NotificationService(lookup=self.manager.notifiable)
        self.events.add_listener(self.notifications.on_event)
        self.hooks = SuccessHooks(manager=self.manager, events=self.events, store=self.store)
        self.manager.hooks = self.hooks
        self.health = HealthChecker(
            backpressure=self.backpressure,
            monitor=self.monitor,
            shutting_down=lambda: self.shutting_down,
            failure_rate=self.learning.recent_failure_rate,
            started_at=self.started_monotonic,
            notifier_reasons=self.notifications.readiness,
        )
        self.server = DaemonServer(config=config.socket, dispatch=Dispatcher(self).dispatch)
        try:
            await self._stop_strays()
            await self.manager.recover_orphans()
            self.monitor.add_listener(self._on_sample)
            await self.monitor.sample()
            self.monitor.start()
            self.manager.start()
            await self.server.start()
        except BaseException:
            await self._close_resources()
            raise
        log.info(
            "daemon.started", pid=self.pid, socket=str(config.socket.path), version=__version__
        )

    async def _stop_strays(self) -> None:
        """Stop the sheets a previous daemon on this database left running (see strays.py)."""
        from mozart_daemon.strays import stop_strays

        rows = await self.store.db.fetchall("SELECT job_id, workspace FROM jobs")
        stopped = await asyncio.to_thread(stop_strays, {r[0]: r[1] for r in rows})
        if stopped:
            log.warning("manager.strays_stopped", count=stopped)

    async def _on_sample(self, snap: ResourceSnapshot) -> None:
        level = self.backpressure.current_level()
        if level != self._level:
            log.info(
                "monitor.pressure_changed", level=level.wire, previous=self._level.wire,
                memory_mb=round(snap.memory_mb, 1), child_processes=snap.child_processes,
            )  # fmt: skip
            self._level = level
        await self.manager.on_pressure(self.backpressure.resource_level())

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    # -- shutdown -----------------------------------------------------------------------

    def request_shutdown(self, *, force: bool = False, reason: str = "request") -> None:
        """Begin a graceful shutdown (idempotent); ``force`` or a second request skips the
        grace period and stops running sheets at once."""
        if self._shutdown_task is not None:
            if not self._force:
                self._force = True
                log.warning("daemon.shutdown_forced", reason=reason)
                self.manager.force_stop()
            return
        self.shutting_down = True
        self._force = force
        log.info("daemon.shutdown_requested", reason=reason, force=force)
        self._shutdown_task = asyncio.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            await self.server.stop_listening()
            grace = 0.0 if self._force else self.config.shutdown_timeout_seconds
            await self.manager.shutdown(grace)
            await self.hooks.aclose()
            # The shutdown's own events (jobs failed by it) still go out, briefly.
            await self.notifications.aclose(min(grace, NOTIFY_GRACE_SECONDS))
        except Exception:
            log.exception("daemon.shutdown_failed")
        finally:
            await self._close_resources()
            log.info("daemon.stopped")
            self.stopped.set()

    async def _close_resources(self) -> None:
        with contextlib.suppress(Exception):
            await self.monitor.stop()
        with contextlib.suppress(Exception):
            await self.server.close()
        with contextlib.suppress(Exception):
            await self.store.close()

    # -- reload -------------------------------------------------------------------------

    def reload(self) -> dict[str, tuple[object, object]]:
        """Re-read ``config_file`` and apply what can change live; returns what changed."""
        path = self.config.config_file
        if path is None:
            log.warning("config.reload_skipped", reason="mozartd was started without --config")
            return {}
        try:
            new = load_config(path)
        except ConfigError as exc:
            log.error("config.reload_failed", error=str(exc))
            return {}
        changes = diff(self.config, new)
        live = {k: v for k, v in changes.items() if k in RELOADABLE}
        fixed = sorted(k for k in changes if k not in RELOADABLE and k != "config_file")
        config = new
        if fixed:
            # Keep the values bound to open resources; they apply at the next start.
            config = _keep(self.config, new)
            log.warning("config.fields_deferred", fields=fixed)
        self.config = config
        limits = config.resource_limits
        self.backpressure.set_limits(
            max_memory_mb=limits.max_memory_mb, max_processes=limits.max_processes
        )
        self.coordinator.set_rate(limits.max_api_calls_per_minute)
        self.monitor.set_interval(config.monitor_interval_seconds)
        self.server.max_connections = config.socket.max_connections
        set_level(config.log_level)
        self.manager.apply_config(config)
        log.info(
            "config.reloaded",
            changed={k: [_plain(a), _plain(b)] for k, (a, b) in live.items()},
            path=str(path),
        )
        return live


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def _keep(old: DaemonConfig, new: DaemonConfig) -> DaemonConfig:
    import msgspec

    return msgspec.structs.replace(
        new,
        socket=msgspec.structs.replace(old.socket, max_connections=new.socket.max_connections),
        pid_file=old.pid_file,
        log_file=old.log_file,
        state_db_path=old.state_db_path,
        state_backend_type=old.state_backend_type,
        config_file=old.config_file,
    )
