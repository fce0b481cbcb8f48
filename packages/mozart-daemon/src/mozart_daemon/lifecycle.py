"""DaemonProcess: the process that carries the daemon.

``start`` in the background: the PID file is locked first (so a second start fails fast),
then a classic double fork (``setsid`` between the forks, stdio to /dev/null, cwd ``/``)
detaches the daemon; the original process waits on a pipe until the daemon reports that it
serves the socket, or why it could not start, and exits accordingly. In the foreground the
same steps run without the forks.

Signals: SIGTERM and SIGINT start a graceful shutdown (a second one stops running sheets
at once; nothing is left half-written because every write is a committed transaction);
SIGHUP reloads the config. Sheets run in their own sessions, so a terminal's Ctrl-C or a
job's own signals never reach the daemon and a child cannot take over its handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable

import uvloop

from mozart_daemon.app import Daemon, RunnerFactory
from mozart_daemon.config import DaemonConfig
from mozart_daemon.engine.process import (
    enable_spawn_helper,
    enable_subreaper,
    stop_spawn_helper,
)
from mozart_daemon.logging import configure_logging, get_logger
from mozart_daemon.pidfile import PidFile, PidFileError
from mozart_daemon.server import ServerError
from mozart_daemon.store import StateError

log = get_logger(__name__)


class StartError(Exception):
    """The daemon could not start; the message is for the operator."""


class DaemonProcess:
    def __init__(
        self,
        config: DaemonConfig,
        *,
        foreground: bool,
        runner_factory: RunnerFactory | None = None,
    ) -> None:
        self.config = config
        self.foreground = foreground
        self._runner_factory = runner_factory
        self.pidfile = PidFile(config.pid_file)

    def run(self, report: Callable[[str], None] = print) -> int:
        """Start the daemon; returns the process exit code (0 ok, 1 refused or failed)."""
        try:
            self.pidfile.acquire()
        except PidFileError as exc:
            report(str(exc))
            return 1
        try:
            # Open the log file before detaching, so that a bad path is reported here.
            configure_logging(
                level=self.config.log_level, json=not self.foreground,
                log_file=self.config.log_file,
            )  # fmt: skip
        except OSError as exc:
            report(f"Cannot open log_file {self.config.log_file}: {exc.strerror or exc}")
            self.pidfile.release()
            return 1
        if self.foreground:
            return self._serve(notify=None, report=report)
        return self._daemonize(report)

    def _daemonize(self, report: Callable[[str], None]) -> int:
        read_fd, write_fd = os.pipe()
        first = os.fork()
        if first > 0:
            os.close(write_fd)
            os.waitpid(first, 0)
            with os.fdopen(read_fd, "rb") as pipe:
                message = pipe.read().decode(errors="replace").strip()
            if message.startswith("ok "):
                report(f"mozartd started (PID {message[3:]})")
                return 0
            report(message or "mozartd failed to start (see its log file)")
            return 1
        # First child: new session, then fork again so the daemon can never regain a tty.
        os.close(read_fd)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        os.chdir("/")
        os.umask(0o022)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)

        def notify(message: str) -> None:
            os.write(write_fd, message.encode())
            os.close(write_fd)

        code = self._serve(notify=notify, report=lambda _m: None)
        os._exit(code)

    def _serve(self, *, notify: Callable[[str], None] | None, report: Callable[[str], None]) -> int:
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(self._main(notify))
        except StartError as exc:
            log.error("daemon.start_failed", error=str(exc))
            report(str(exc))
            if notify is not None:
                notify(str(exc))
            return 1
        except Exception as exc:
            log.exception("daemon.crashed")
            message = f"mozartd stopped on an unexpected error: {type(exc).__name__}: {exc}"
            report(message)
            if notify is not None:
                with contextlib.suppress(OSError):
                    notify(message)
            return 1
        finally:
            # The loop and its handlers are gone: a late signal must not cut the cleanup.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.pidfile.release()
        return 0

    async def _main(self, notify: Callable[[str], None] | None) -> None:
        # Orphans of sheets are re-parented to the daemon, where the engine finds them
        # cheaply (engine/process.py); only the daemon process itself, never a library user.
        enable_subreaper()
        # While other sheets run, a sheet's process is started by a helper process, so that
        # the loop does not wait in vfork (engine/spawner.py).
        enable_spawn_helper()
        try:
            await self._run_daemon(notify)
        finally:
            stop_spawn_helper()

    async def _run_daemon(self, notify: Callable[[str], None] | None) -> None:
        daemon = Daemon(self.config, runner_factory=self._runner_factory)
        try:
            await daemon.start()
        except (ServerError, StateError, OSError) as exc:
            raise StartError(str(exc)) from exc
        _settle_garbage_collector()
        loop = asyncio.get_running_loop()
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(
                sig,
                lambda n=name: daemon.request_shutdown(reason=n),  # type: ignore[misc]
            )
        loop.add_signal_handler(signal.SIGHUP, daemon.reload)
        self.pidfile.publish()
        log.info("pid_file.written", pid=os.getpid(), path=str(self.config.pid_file))
        if notify is not None:
            notify(f"ok {os.getpid()}")
        await daemon.stopped.wait()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


# Allocations of container objects between two young collections of the cyclic garbage
# collector (Python's default: 700).
GC_YOUNG_THRESHOLD = 7000


def _settle_garbage_collector() -> None:
    """Once the daemon has started: the objects alive now (modules, classes, the
    configuration: about 60,000) are moved out of the collector's sight (``gc.freeze``),
    and young collections run ten times less often. Each job allocates a few thousand
    short-lived objects; with the defaults the collector took 40-110 ms per 1,000 one-sheet
    jobs on the event loop, in pauses of up to 60 ms (a full collection walking every
    object of the process), and about 8 ms with these settings."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
