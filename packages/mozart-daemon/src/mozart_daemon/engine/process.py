"""Child processes of a sheet: own process group, live output, and no process left behind.

Every child starts in a new session (``start_new_session=True``), so its process group holds
everything it forks. Descendants are also tracked with psutil while the child runs, and each
child carries a unique ``MOZART_RUN_TOKEN`` in its environment: a grandchild that escaped into
a session of its own (``setsid``, a double fork) is still found and stopped. Stopping is
SIGTERM to the group and to every tracked process, a grace period, then SIGKILL. It happens
on timeout, on cancellation, and after a normal exit (leftover background processes of a
finished run are stopped too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from mozart_daemon.engine.errors import BackendStartError
from mozart_daemon.engine.logs import OutputSink

RUN_TOKEN_ENV = "MOZART_RUN_TOKEN"  # noqa: S105 (a variable name, not a secret)
DEFAULT_GRACE_SECONDS = 5.0
# Escaped processes are also found by their token, so tracking need not be eager.
_TRACK_INTERVAL = 1.0
# create_time has clock-tick resolution: compare with a margin.
_CREATE_TIME_SLACK = 0.1
_PROC = "/proc"
# Exit polling starts fast (most sheet commands are short) and backs off to this.
_EXIT_POLL_MAX = 0.02
_READ_CHUNK = 64 * 1024
# After the child exits, how long its pipes may stay open (held by a leftover process)
# before the readers give up.
_DRAIN_SECONDS = 2.0

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None  # None when a signal ended the process
    signal: int | None
    timed_out: bool
    duration_seconds: float


async def finish_even_if_cancelled(aw: Awaitable[T]) -> T:
    """Await ``aw`` to its end even when the caller is cancelled meanwhile, then re-raise.

    For cleanup and checkpoint writes that must not be cut in half.
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller must see
        raise asyncio.CancelledError
    return task.result()


class ProcessTree:
    """The processes a child may have spawned, remembered while it runs."""

    def __init__(self, pid: int, token: str) -> None:
        self.pid = pid
        self.token = token
        self.known: dict[int, psutil.Process] = {}
        # A descendant is never older than the child: older processes need no environ read.
        self.since = 0.0
        with contextlib.suppress(psutil.Error):
            root = self.known[pid] = psutil.Process(pid)
            self.since = root.create_time() - _CREATE_TIME_SLACK
        stat = _proc_stat(pid)
        self.since_ticks = stat[1] if stat is not None else 0

    def refresh(self) -> None:
        root = self.known.get(self.pid)
        if root is None:
            return
        with contextlib.suppress(psutil.Error):
            for child in root.children(recursive=True):
                self.known.setdefault(child.pid, child)

    def find_by_token(self) -> None:
        """Scan for processes carrying this run's token (those that escaped the tree)."""
        me = os.getuid()
        for proc in psutil.process_iter(["uids", "create_time"]):
            try:
                if proc.pid in self.known or proc.info["uids"].real != me:
                    continue
                if proc.info["create_time"] < self.since:
                    continue
                if proc.environ().get(RUN_TOKEN_ENV) == self.token:
                    self.known[proc.pid] = proc
            except (psutil.Error, OSError):
                continue

    def alive(self) -> list[psutil.Process]:
        alive = []
        for proc in self.known.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        return alive

    def signal_all(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for proc in self.alive():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def survey(self) -> None:
        """``refresh`` and ``find_by_token`` in one pass over /proc.

        Reads each process's stat file once (parent and start time) instead of psutil's
        several files per process: this survey runs after every sheet, and psutil made it
        several milliseconds on a host with a hundred processes.
        """
        try:
            pids = [int(name) for name in os.listdir(_PROC) if name.isdigit()]
        except OSError:  # no procfs: psutil knows other ways
            self.refresh()
            self.find_by_token()
            return
        stats = {pid: st for pid in pids if (st := _proc_stat(pid)) is not None}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _start) in stats.items():
            children.setdefault(ppid, []).append(pid)
        found: set[int] = set()
        stack = list(self.known)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in found and child not in self.known:
                    found.add(child)
                    stack.append(child)
        me = os.getuid()
        for pid, (_ppid, start) in stats.items():
            if start < self.since_ticks or pid in found or pid in self.known:
                continue
            if self._carries_token(pid, me):
                found.add(pid)
        for pid in found:
            with contextlib.suppress(psutil.Error):
                self.known[pid] = psutil.Process(pid)

    def _carries_token(self, pid: int, uid: int) -> bool:
        try:
            if os.stat(f"{_PROC}/{pid}").st_uid != uid:
                return False
            with open(f"{_PROC}/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            return False
        return f"{RUN_TOKEN_ENV}={self.token}".encode() in environ.split(b"\0")

    async def track(self) -> None:
        while True:
            await asyncio.sleep(_TRACK_INTERVAL)
            await asyncio.to_thread(self.refresh)


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) from /proc/PID/stat; None if unreadable."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
        # The command name (field 2) may hold spaces and parentheses: split after the last ")".
        fields = data[data.rindex(b")") + 2 :].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


async def wait_exit(proc: asyncio.subprocess.Process) -> int:
    """Wait for the child itself to exit.

    ``Process.wait()`` also waits for the pipes to close, which a leftover grandchild holding
    them would delay forever; the return code is set as soon as the child is reaped.
    """
    delay = 0.0005
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, _EXIT_POLL_MAX)
    return proc.returncode


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def stop_tree(
    proc: asyncio.subprocess.Process, tree: ProcessTree, grace_seconds: float
) -> None:
    """SIGTERM the group and every known descendant, wait ``grace_seconds``, then SIGKILL."""
    await asyncio.to_thread(tree.survey)
    if proc.returncode is not None and not tree.alive() and not _group_exists(proc.pid):
        # The usual end of a run: the child exited and left nothing behind (no process
        # in its group, none carrying its token), so there is nothing to signal or re-survey.
        return
    tree.signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if proc.returncode is not None and not tree.alive():
            break
        await asyncio.sleep(0.02)
    await asyncio.to_thread(tree.survey)
    if tree.alive() or proc.returncode is None:
        tree.signal_all(signal.SIGKILL)
    await wait_exit(proc)
    # SIGKILLed processes vanish at once unless a parent has yet to reap them.
    for _ in range(50):
        if not tree.alive():
            break
        await asyncio.sleep(0.02)


async def _pump(stream: asyncio.StreamReader, sink: OutputSink) -> None:
    while True:
        data = await stream.read(_READ_CHUNK)
        if not data:
            return
        sink.feed(data)


async def _feed_stdin(writer: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        writer.close()
        await writer.wait_closed()


async def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], with_stdin: bool
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise _start_error(exc, argv, cwd) from None


def _start_error(exc: OSError, argv: Sequence[str], cwd: Path) -> BackendStartError:
    if isinstance(exc, FileNotFoundError):
        if not cwd.is_dir():
            return BackendStartError(f"working directory `{cwd}` does not exist")
        return BackendStartError(f"cannot start `{argv[0]}`: executable not found")
    if isinstance(exc, PermissionError):
        return BackendStartError(f"cannot start `{argv[0]}`: permission denied")
    return BackendStartError(f"cannot start `{argv[0]}`: {exc.strerror or exc}")


async def _stop_spawned(
    spawn: asyncio.Future[asyncio.subprocess.Process], token: str, grace_seconds: float
) -> None:
    try:
        proc = await spawn
    except BackendStartError:
        return
    await stop_tree(proc, ProcessTree(proc.pid, token), grace_seconds)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: OutputSink,
    stderr: OutputSink,
    timeout_seconds: float,
    stdin_data: bytes | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> ProcessResult:
    """Run ``argv`` to its end or its timeout; raises BackendStartError if it cannot start.

    Cancelling the call stops the whole process tree before the CancelledError propagates.
    """
    token = uuid.uuid4().hex
    started = time.monotonic()
    spawn = asyncio.ensure_future(
        _spawn(argv, cwd, {**env, RUN_TOKEN_ENV: token}, stdin_data is not None)
    )
    try:
        # Shielded: a cancelled spawn makes asyncio kill the child alone and then wait for
        # its pipes, which its own children may hold open forever.
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await finish_even_if_cancelled(_stop_spawned(spawn, token, grace_seconds))
        raise
    tree = ProcessTree(proc.pid, token)
    assert proc.stdout is not None and proc.stderr is not None
    helpers = [
        asyncio.create_task(_pump(proc.stdout, stdout)),
        asyncio.create_task(_pump(proc.stderr, stderr)),
    ]
    tracker = asyncio.create_task(tree.track())
    if stdin_data is not None:
        assert proc.stdin is not None
        helpers.append(asyncio.create_task(_feed_stdin(proc.stdin, stdin_data)))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(wait_exit(proc), timeout_seconds)
        except TimeoutError:
            timed_out = True
        await finish_even_if_cancelled(stop_tree(proc, tree, grace_seconds))
        await asyncio.wait(helpers, timeout=_DRAIN_SECONDS)
    except BaseException:
        await finish_even_if_cancelled(stop_tree(proc, tree, grace_seconds))
        raise
    finally:
        tracker.cancel()
        for task in helpers:
            task.cancel()
        await asyncio.gather(tracker, *helpers, return_exceptions=True)
    code = proc.returncode
    assert code is not None
    return ProcessResult(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
    )
