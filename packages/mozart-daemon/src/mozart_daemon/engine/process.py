"""Child processes of a sheet: own process group, live output, and no process left behind.

Every child starts in a new session (``start_new_session=True``), so its process group holds
everything it forks, and carries a unique ``MOZART_RUN_TOKEN`` in its environment. Stopping
is SIGTERM to the group and to every process of the run, a grace period, then SIGKILL. It
happens on timeout, on cancellation, and after a normal exit (leftover background processes
of a finished run are stopped too).

How a run's processes are found:

- **Subreaper mode** (the daemon: ``enable_subreaper``): the daemon is a child subreaper
  (``PR_SET_CHILD_SUBREAPER``), so a process orphaned anywhere below a run (a ``setsid``
  double fork) is re-parented to the daemon instead of init. A run's processes are then its
  child's tree plus the daemon's children it did not start itself: those carrying the run's
  token, and those with no token at all (``env -i``) that started while this run was the
  only live run that could have made them. Only those few processes are read, never the
  whole process table; the daemon reaps the orphans it adopts.
- Otherwise (a library user, tests): descendants are tracked with psutil while the child
  runs, and after it the whole of /proc is scanned for the run's token.

Children are spawned as ``subprocess.Popen`` spawns them (``spawn_helper.start``: vfork
and exec, the parent's memory is not copied, unlike the fork of uvloop's libuv) and their
exit is seen through a pidfd on the event loop; their output is read through non-blocking
pipes on the loop, and their stdin (``stdin_data``) is an in-memory file holding it, written
before the start. In the daemon (``enable_spawn_helper``), a spawn while other sheets or
submits are in progress goes to the spawn helper process instead (``spawner.py``), which
reports the child's exit; its orphans still come to the daemon, the nearest subreaper
above them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import itertools
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec
import psutil

from mozart_daemon.engine.errors import BackendStartError, FatalSheetError
from mozart_daemon.engine.logs import OutputSink
from mozart_daemon.engine.spawn_helper import (
    encode_env,
    exit_code,
    start,
    stdin_from,
    write_files,
)
from mozart_daemon.engine.spawner import HelperLostError, SpawnHelper, UnwrittenError

RUN_TOKEN_ENV = "MOZART_RUN_TOKEN"  # noqa: S105 (a variable name, not a secret)
DEFAULT_GRACE_SECONDS = 5.0
# Escaped processes are also found by their token, so tracking need not be eager.
_TRACK_INTERVAL = 1.0
_PROC = "/proc"
# Without a pidfd, exit polling starts fast (most sheet commands are short) and backs off.
_EXIT_POLL_MAX = 0.02
_READ_CHUNK = 64 * 1024
# After the child exits, how long its pipes may stay open (held by a leftover process)
# before the readers give up.
_DRAIN_SECONDS = 2.0
# How long a child runs before the loop watches its pipes (``_wait_watching``).
_WATCH_AFTER = 0.05
# Reads done at once after the child's end (what a pipe buffers, 64 KiB, takes one); a
# leftover still writing is then read by the loop as usual.
_DRAIN_READS = 16
_PR_SET_CHILD_SUBREAPER = 36
_TOKEN_PREFIX = f"{RUN_TOKEN_ENV}=".encode()
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_fcntl, _F_SETFL, _O_NONBLOCK = fcntl.fcntl, fcntl.F_SETFL, os.O_NONBLOCK

T = TypeVar("T")


class ProcessResult(msgspec.Struct, frozen=True):
    """How a run ended (a Struct: built in C)."""

    exit_code: int | None  # None when a signal ended the process
    signal: int | None
    timed_out: bool
    duration_seconds: float


async def finish_even_if_cancelled(aw: Awaitable[T]) -> T:
    """Await ``aw`` to its end even when the caller is cancelled meanwhile, then re-raise.

    For cleanup and checkpoint writes that must not be cut in half.
    """
    task = asyncio.ensure_future(aw)
    if await _done_even_if_cancelled(task):
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller must see
        raise asyncio.CancelledError
    return task.result()


async def _done_even_if_cancelled(future: asyncio.Future[T]) -> bool:
    """Wait until ``future`` is done, through any cancellation of the caller; returns
    whether the caller was cancelled meanwhile (its result, or its error, is left in
    ``future`` for the caller to take)."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:  # noqa: S110 (the future's own error: the caller takes it from there)
            pass
    return cancelled


# -- /proc ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stat:
    state: str
    ppid: int
    session: int
    start: int  # clock ticks since boot


def _read(path: str) -> bytes:
    """A small file's bytes (procfs): ``os.open``/``os.read``, four system calls, where
    ``open()`` adds an ``fstat``, an ``isatty`` ioctl and two ``lseek``s (the survey reads
    one to three such files a sheet)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        return data
    finally:
        os.close(fd)


def _proc_stat(pid: int) -> _Stat | None:
    """From /proc/PID/stat; None if unreadable (gone)."""
    try:
        data = _read(f"{_PROC}/{pid}/stat")
        # The command name (field 2) may hold spaces and parentheses: split after the last ")".
        fields = data[data.rindex(b")") + 2 :].split()
        return _Stat(fields[0].decode(), int(fields[1]), int(fields[3]), int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's), from /proc/PID/task/*/children."""
    try:
        tids = os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return []
    return _threads_children(str(pid), tids)


def _threads_children(pid: str, tids: Iterable[object]) -> list[int]:
    """The children of threads ``tids`` of process ``pid`` (or "self"); a thread that has
    gone is skipped."""
    out: list[int] = []
    for tid in tids:
        try:
            out.extend(int(c) for c in _read(f"{_PROC}/{pid}/task/{tid}/children").split())
        except (OSError, ValueError):
            continue
    return out


def _token_of(pid: int, uid: int) -> bytes | None:
    """The run token in the process's environment: b"" when it has none, None when
    unreadable (gone, or another user's)."""
    try:
        if os.stat(f"{_PROC}/{pid}").st_uid != uid:
            return None
        environ = _read(f"{_PROC}/{pid}/environ")
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(_TOKEN_PREFIX):
            return entry[len(_TOKEN_PREFIX) :]
    return b""


# -- subreaper mode ---------------------------------------------------------------------


class _Runs:
    """The runs of this process that are alive: root pid -> (token, start ticks)."""

    def __init__(self) -> None:
        self.subreaper = False
        self.live: dict[int, tuple[str, int]] = {}
        # The kernel keeps children per thread, and gives an orphan to the first live thread
        # of the subreaper (its main thread), while a run's child belongs to the thread that
        # started it: only those threads' children lists need reading, not every thread's.
        # ``spawners``: the threads other than the main one that started runs (none in the
        # daemon, whose loop runs on its main thread).
        self.spawners: set[int] = set()
        # The main thread's children list, open (``own_children``), and its id: this
        # process's pid, read once (``os.getpid`` is a system call).
        self.main: tuple[int, int] | None = None
        self.helper_enabled = False
        self.helper: SpawnHelper | None = None
        self.helper_losses = 0
        # The loop's pieces of work in progress (``work_in_progress``: sheets being run, in
        # any step, and submits being handled): with two or more, the loop is busy with
        # others even if no other process is alive at this moment.
        self.work = 0

    def orphans(self) -> list[int]:
        """This process's children (every thread's that may have any)."""
        out = self.own_children()
        if self.spawners:
            out += _threads_children("self", self.spawners)
        return out

    def own_children(self) -> list[int]:
        """The main thread's children, with one ``pread`` of its children list kept open
        (opening, reading to the end and closing it were four system calls a run). The
        kernel fills a read of that list until its buffer, a page at least, would
        overflow: a read shorter than half a page is the whole list; a longer one is read
        on to its end."""
        if self.main is None:
            pid = os.getpid()
            try:
                fd = os.open(f"{_PROC}/self/task/{pid}/children", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return []
            self.main = (pid, fd)
        fd = self.main[1]
        try:
            data = os.pread(fd, 65536, 0)
            if len(data) >= 2048:
                while part := os.pread(fd, 65536, len(data)):
                    data += part
            return [int(c) for c in data.split()]
        except (OSError, ValueError):
            return []

    def main_thread(self) -> int:
        """The id of this process's main thread (its pid)."""
        if self.main is None:
            return os.getpid()
        return self.main[0]

    def forget_main(self) -> None:
        """After a fork: the child's main thread is another."""
        if self.main is not None:
            with contextlib.suppress(OSError):
                os.close(self.main[1])
            self.main = None


_RUNS = _Runs()
os.register_at_fork(after_in_child=_RUNS.forget_main)

# A run's token: 16 random hex digits of this process's, then its runs' count in 16 more:
# unique among its runs (and, by chance, any other process's), without a ``getrandom``
# system call and ``secrets``' Python a run. A forked child draws its own random part.
_TOKEN_BASE = [secrets.token_hex(8)]
_TOKEN_COUNT = itertools.count()


def _new_token_base() -> None:
    _TOKEN_BASE[0] = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_token_base)
# Set in a thread once it has started a run (``run_process``).
_THREAD = threading.local()


class _Work:
    __slots__ = ()

    def __enter__(self) -> None:
        _RUNS.work += 1

    def __exit__(self, *_exc: object) -> None:
        _RUNS.work -= 1


_WORK = _Work()


def work_in_progress() -> _Work:
    """A context that counts a piece of the event loop's work as in progress: a sheet being
    run (the engine's ``run_sheet``), a submit being handled (loading a score is the loop's
    largest single step). A sheet's process started while another piece is in progress is
    started by the spawn helper, when it is enabled."""
    return _WORK


def enable_subreaper() -> bool:
    """Make this process a child subreaper (Linux), so that processes orphaned below its
    runs are re-parented to it, where the post-run survey finds them cheaply. Returns whether
    it is on. Call once, from the daemon (a subreaper must reap the orphans it receives)."""
    if _RUNS.subreaper:
        return True
    if not os.path.exists(f"{_PROC}/self/task/{os.getpid()}/children"):
        return False  # no children lists in procfs: the full survey is needed anyway
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    _RUNS.subreaper = True
    return True


class ProcessTree:
    """The processes of one run: its child, and every descendant found (``known``)."""

    def __init__(self, child: _Child, token: str, since_ticks: int) -> None:
        self.child = child
        self.pid = child.pid
        self.token = token
        # Descendants (not the child: it is the child's owner who knows when it is gone).
        self.known: dict[int, psutil.Process] = {}
        self._root: psutil.Process | None = None
        # A descendant is never older than the child: older processes need no environ read.
        self.since_ticks = since_ticks

    def refresh(self) -> None:
        if self.child.returncode is not None:
            return
        with contextlib.suppress(psutil.Error):
            # Not at spawn: reading a process's /proc files waits for its exec to finish.
            if self._root is None:
                self._root = psutil.Process(self.pid)
            for child in self._root.children(recursive=True):
                self.known.setdefault(child.pid, child)

    def alive(self) -> list[psutil.Process]:
        """The descendants still running (zombies are not)."""
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
        if self.child.returncode is None:  # not reaped: its pid is still its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)
        for proc in self.alive():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def survey(self) -> None:
        """Find every process of the run that is not known yet."""
        if _RUNS.subreaper:
            self._survey_orphans()
        else:
            self._survey_proc()

    def _adopt(self, pids: set[int]) -> None:
        for pid in pids:
            if pid != self.pid and pid not in self.known:
                with contextlib.suppress(psutil.Error):
                    self.known[pid] = psutil.Process(pid)

    def _roots(self) -> list[int]:
        """Where the run's tree is walked from: its known descendants, and its child until
        the child is reaped (its pid may then be another process's, whose children are not
        the run's; the child's own were re-parented, to the daemon in subreaper mode)."""
        if self.child.returncode is None:
            return [self.pid, *self.known]
        return list(self.known)

    def _descendants(self, roots: list[int]) -> set[int]:
        found: set[int] = set()
        stack = list(roots)
        while stack:
            for child in _children(stack.pop()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def _survey_orphans(self) -> None:
        """Subreaper mode: the run's tree, plus the daemon's children that are orphans of
        this run. Also reaps orphans (of any run) that have exited."""
        found = self._descendants(self._roots())
        helper = _RUNS.helper.process.pid if _RUNS.helper is not None else None
        candidates = [
            pid
            for pid in _RUNS.orphans()
            # The spawn helper is the daemon's own, never an orphan.
            if pid not in (self.pid, helper)
            and pid not in _RUNS.live
            and pid not in self.known
            and pid not in found
        ]
        if candidates:  # most surveys have none: nothing more to look up
            self._adopt_orphans(candidates, found)
        self._adopt(found)

    def _adopt_orphans(self, candidates: list[int], found: set[int]) -> None:
        """Add to ``found`` the ``candidates`` (the daemon's children not known to be any
        run's root or of this run) that are this run's orphans, and their descendants."""
        uid = os.getuid()
        my_session = os.getsid(0)
        others = [start for root, (_, start) in _RUNS.live.items() if root != self.pid]
        adopted: list[int] = []
        for pid in candidates:
            stat = _proc_stat(pid)
            if stat is None or stat.session == my_session:
                continue  # gone, or started by the daemon itself (not through a run)
            if stat.state == "Z":
                _reap(pid)
                continue
            token = _token_of(pid, uid)
            if token is None:
                continue
            if token == self.token.encode():
                adopted.append(pid)
            elif (
                not token
                and stat.start >= self.since_ticks
                and not any(start <= stat.start for start in others)
            ):
                # No token (``env -i``): started while this run lived, and no other live
                # run could have started it.
                adopted.append(pid)
        found.update(adopted)
        found.update(self._descendants(adopted))

    def _survey_proc(self) -> None:
        """One pass over /proc: the tree by parent pids, and the token of every process
        newer than the child. Reads each process's stat file once instead of psutil's
        several files per process."""
        try:
            pids = [int(name) for name in os.listdir(_PROC) if name.isdigit()]
        except OSError:  # no procfs: psutil knows other ways
            self.refresh()
            return
        stats = {pid: st for pid in pids if (st := _proc_stat(pid)) is not None}
        children: dict[int, list[int]] = {}
        for pid, st in stats.items():
            children.setdefault(st.ppid, []).append(pid)
        found: set[int] = set()
        stack = self._roots()
        while stack:
            for child in children.get(stack.pop(), ()):
                if child != self.pid and child not in found and child not in self.known:
                    found.add(child)
                    stack.append(child)
        uid, token = os.getuid(), self.token.encode()
        for pid, st in stats.items():
            if st.start < self.since_ticks or pid in found or pid in self.known or pid == self.pid:
                continue
            if _token_of(pid, uid) == token:
                found.add(pid)
        self._adopt(found)

    def reap(self) -> None:
        """Subreaper mode: collect the exit of the run's orphans that were re-parented to
        this process (never a run's own child: its owner reaps it)."""
        if not _RUNS.subreaper or not self.known:  # (most runs: no getpid system call)
            return
        me = _RUNS.main_thread()
        for pid in self.known:
            if pid == self.pid or pid in _RUNS.live:
                continue
            stat = _proc_stat(pid)
            if stat is not None and stat.ppid == me and stat.state == "Z":
                _reap(pid)

    async def track(self) -> None:
        while True:
            await asyncio.sleep(_TRACK_INTERVAL)
            await asyncio.to_thread(self.refresh)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# -- the child --------------------------------------------------------------------------


class _Child:
    """A run's child process; its exit is settled on the loop (``_settle``): by a pidfd when
    the daemon started it itself (``_LocalChild``), by the spawn helper's message otherwise."""

    # Class defaults until set: most runs' children never need a future of their exit
    # (``wait`` makes it), nor a waiter or a pidfd.
    _exited: asyncio.Future[int] | None = None
    _waiter: asyncio.Future[bool] | None = None  # wait_exit's, while it waits
    _pidfd: int | None = None
    returncode: int | None = None

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = pid
        self._loop = loop

    def _settle(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        exited = self._exited
        if exited is not None and not exited.done():
            exited.set_result(code)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _polled(self) -> bool:
        """Without a pidfd: whether the exit is known (polled here)."""
        return True

    async def wait_exit(self, timeout_seconds: float) -> bool:
        """Until the child exited (True) or ``timeout_seconds`` passed (False): one future,
        which ``_settle`` or a timer completes, not ``wait_for``'s task around ``wait`` (nor
        a callback of ``wait``'s future: one more turn of the loop before the caller's). One
        caller at a time (``run_process``)."""
        if not self._polled():
            try:
                await asyncio.wait_for(self.wait(), timeout_seconds)
            except TimeoutError:
                return False
            return True
        if self.returncode is not None:
            return True
        assert self._waiter is None, "one wait_exit at a time"
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(timeout_seconds, _time_up, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def wait(self) -> int:
        """Until the child itself exited (not its pipes, which a leftover may hold)."""
        exited = self._exited
        if exited is None:
            self._exited = exited = self._loop.create_future()
            if self.returncode is not None:
                exited.set_result(self.returncode)
        return await asyncio.shield(exited)

    def close(self) -> None:
        self._close_pidfd()


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class _LocalChild(_Child):
    """Started here (``spawn_helper.start``: vfork); its exit seen through a pidfd on the
    loop, or polled where there is none."""

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(pid, loop)
        try:
            self._pidfd = os.pidfd_open(pid)
            loop.add_reader(self._pidfd, self._poll)
        except (OSError, AttributeError, NotImplementedError):
            self._close_pidfd()

    def _poll(self) -> None:
        code = exit_code(self.pid)
        if code is not None:
            self._close_pidfd()
            self._settle(code)

    def _polled(self) -> bool:
        return self._pidfd is not None or self.returncode is not None

    async def wait(self) -> int:
        if self._polled():
            return await super().wait()
        delay = 0.0005
        while (code := exit_code(self.pid)) is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _EXIT_POLL_MAX)
        self._settle(code)
        return code


def _read_buffered(fd: int, sink: OutputSink) -> bool:
    """Read what pipe ``fd`` (non-blocking) holds now into ``sink``; True when its end of
    file was reached (every writer has gone: the usual end of a run)."""
    for _ in range(_DRAIN_READS):
        try:
            data = os.read(fd, _READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            return True
        sink.feed(data)
    return False


def _drain(fd: int, sink: OutputSink) -> int:
    """``_read_buffered`` of a plain descriptor: at its end of file ``fd`` is closed and -1
    returned, else ``fd`` (a writer is still alive). Most runs' pipes are read so, without
    a ``_Reader``."""
    if _read_buffered(fd, sink):
        os.close(fd)
        return -1
    return fd


class _Reader:
    """The daemon's end of the child's stdout or stderr pipe (non-blocking), read into its
    sink by the event loop once ``watch``-ed (``_wait_watching``: a child that runs for
    more than ``_WATCH_AFTER``, or a leftover holding the pipe), and at the run's end
    (``drain``)."""

    __slots__ = ("_closed", "fd", "loop", "sink", "watched")

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, sink: OutputSink) -> None:
        self.fd: int | None = fd
        self.loop = loop
        self.sink = sink
        self.watched = False
        # Made when someone waits for the close (a leftover still holds the pipe): most
        # runs read their pipes to the end without waiting.
        self._closed: asyncio.Future[None] | None = None

    def watch(self) -> None:
        """Read what comes as it comes (the loop calls ``read``)."""
        if self.fd is not None and not self.watched:
            self.loop.add_reader(self.fd, self.read)
            self.watched = True

    def closed(self) -> asyncio.Future[None]:
        """Done once the pipe is closed (its end of file read, or ``close``)."""
        if self._closed is None:
            self._closed = self.loop.create_future()
            if self.fd is None:
                self._closed.set_result(None)
        return self._closed

    def close(self) -> None:
        if self.fd is not None:
            if self.watched:
                try:  # noqa: SIM105 (a third of contextlib.suppress's cost: two pipes a run)
                    self.loop.remove_reader(self.fd)
                except (ValueError, OSError, RuntimeError):
                    pass
            os.close(self.fd)
            self.fd = None
            if self._closed is not None and not self._closed.done():
                self._closed.set_result(None)

    def drain(self) -> None:
        """Read what is buffered now, to the end of file if every writer has gone (no need
        to wait for the loop to report it)."""
        fd = self.fd
        if fd is not None and _read_buffered(fd, self.sink):
            self.close()

    def read(self) -> bool:
        """One read; False when there is nothing more to read now (a writer is still alive,
        or the end of file was reached and the pipe closed)."""
        if self.fd is None:
            return False
        try:
            data = os.read(self.fd, _READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            self.close()
            return False
        self.sink.feed(data)
        return True


async def _start(
    argv: Sequence[str],
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    base: dict[str, str] | None,
    stdin_data: bytes | None,
    files: Sequence[tuple[str, bytes | None]],
    since: int,
) -> tuple[_Child, int, int, bool]:
    """Write ``files`` and start the child, here (vfork: synchronous, nothing can cancel it
    half-way) or through the spawn helper. Returns it, its stdout's and stderr's pipes (the
    read ends, non-blocking), and whether the caller was
    cancelled while the helper started it (the caller then stops it: it runs). ``since``:
    the run's start (``_ticks_now``), for ``_RUNS.live`` while the helper holds the answer."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe()
    try:
        err_r, err_w = os.pipe()
    except BaseException:
        os.close(out_r)
        os.close(out_w)
        raise
    cancelled = False
    try:
        try:
            search = env.get("PATH", None if base is None else base.get("PATH"))
            resolved = _resolve(argv[0], os.defpath if search is None else search)
            helper = _helper_for(loop)
            pending = tag = None
            if helper is not None:
                # A subreaper finds the child by its token if the helper is lost while it
                # holds the answer (``spawner.py``): the answer may then wait for the exit.
                tag = _TOKEN_PREFIX + env[RUN_TOKEN_ENV].encode() if _RUNS.subreaper else None
                pending = helper.spawn(
                    argv, resolved, os.fspath(cwd), env, (out_w, err_w), stdin_data, files, base,
                    tag,
                )  # fmt: skip
                if pending is not None and tag is not None:
                    # Live meanwhile (under a key no pid has), as a run whose pid is known:
                    # another run's survey must not take its token-less orphans for its own.
                    _RUNS.live[-id(pending)] = (env[RUN_TOKEN_ENV], since)
            if pending is None:
                write_files_or_fail(files)
                child = _start_here(argv, resolved, cwd, env, base, out_w, err_w, stdin_data)
            else:
                try:
                    try:
                        pid = await pending
                    except asyncio.CancelledError:
                        # Delivered once the answer is in: ``pending`` cannot be cancelled.
                        cancelled = True
                        pid = pending.result()
                except UnwrittenError as exc:
                    if cancelled:
                        raise asyncio.CancelledError from None
                    raise _unwritten(exc) from None
                except FileNotFoundError:
                    if resolved is None:
                        raise
                    _RESOLVED.clear()  # a program moved since it was found: search PATH again
                    child = _start_here(argv, None, cwd, env, base, out_w, err_w, stdin_data)
                else:
                    assert helper is not None
                    child = _Child(pid, loop)
                    helper.watch(pid, child._settle)
                finally:
                    if tag is not None:
                        del _RUNS.live[-id(pending)]
        except (OSError, HelperLostError) as exc:
            if cancelled:
                raise asyncio.CancelledError from None
            if isinstance(exc, HelperLostError):
                raise BackendStartError(f"cannot start `{argv[0]}`: {exc}") from None
            raise _start_error(exc, argv, cwd) from None
        finally:
            os.close(out_w)
            os.close(err_w)
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    # os.set_blocking's F_GETFL is not needed: a new pipe has no other status flag.
    _fcntl(out_r, _F_SETFL, _O_NONBLOCK)
    _fcntl(err_r, _F_SETFL, _O_NONBLOCK)
    return child, out_r, err_r, cancelled


def _start_here(
    argv: Sequence[str],
    executable: str | None,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    base: dict[str, str] | None,
    out_w: int,
    err_w: int,
    stdin_data: bytes | None,
) -> _Child:
    """Start the child in this process; a program found on PATH before (``executable``)
    that is not there any more is searched for again."""
    stdin = stdin_from(stdin_data) if stdin_data is not None else None
    encoded = None if base is None else _encoded(base)
    try:
        try:
            pid = start(argv, executable, cwd, env, stdin, out_w, err_w, base, encoded)
        except FileNotFoundError:
            if executable is None:
                raise
            _RESOLVED.clear()  # a program moved since it was found: search PATH again
            pid = start(argv, None, cwd, env, stdin, out_w, err_w, base, encoded)
    finally:
        if stdin is not None:
            os.close(stdin)
    return _LocalChild(pid, asyncio.get_running_loop())


# The base environment last encoded for a child started here, and its encoding.
_ENCODED: tuple[object, dict[str, bytes]] = (None, {})


def _encoded(base: dict[str, str]) -> dict[str, bytes]:
    """``encode_env(base)``, once for each base (the daemon's environment: one dict until
    it changes)."""
    global _ENCODED
    if _ENCODED[0] is not base:
        _ENCODED = (base, encode_env(base))
    return _ENCODED[1]


def enable_spawn_helper() -> bool:
    """Let runs be started by a spawn helper process (``engine/spawner.py``) while other
    sheets are in progress. For the daemon; needs pidfds (Linux 5.3). Returns whether it is on."""
    _RUNS.helper_enabled = hasattr(os, "pidfd_open")
    return _RUNS.helper_enabled


def stop_spawn_helper() -> None:
    """Stop the spawn helper, if one runs (the daemon's end)."""
    _RUNS.helper_enabled = False
    helper, _RUNS.helper = _RUNS.helper, None
    if helper is not None:
        helper.stop()


_HELPER_LOSSES = 3


def _helper_for(loop: asyncio.AbstractEventLoop) -> SpawnHelper | None:
    """The spawn helper, when this spawn should go through it: it is enabled and another
    sheet or submit is in progress or another run is live (the loop has more to do than
    wait in vfork; alone, a spawn here is sooner). The first such spawn starts the helper
    and is done here meanwhile."""
    if not _RUNS.helper_enabled or (_RUNS.work < 2 and not _RUNS.live):
        return None
    helper = _RUNS.helper
    if helper is not None:
        if helper.running:
            return helper
        _RUNS.helper_losses += 1
        with contextlib.suppress(OSError):
            helper.process.poll()  # reap it
        _RUNS.helper = None
    if _RUNS.helper_losses >= _HELPER_LOSSES:
        return None
    try:
        _RUNS.helper = SpawnHelper(loop)
    except OSError:
        _RUNS.helper_enabled = False  # cannot start one: spawn here
    return None


# Where a bare program name was found on PATH, by (name, PATH), and when. ``subprocess``
# would otherwise try every PATH entry in the vforked child while the daemon's loop waits:
# eight failed ``execve`` before ``true`` is found in /usr/bin here. argv[0] stays as
# written. An entry is searched again after a few seconds (a program installed earlier on
# PATH is picked up) or when it has gone; relative PATH entries are left to the child.
_RESOLVED: dict[tuple[str, str], tuple[str, float]] = {}
_RESOLVED_SECONDS = 5.0


def _resolve(program: str, search: str) -> str | None:
    """Where ``program`` is on ``search`` (a PATH), when it is a bare name found there."""
    if not program or "/" in program:
        return None
    key = (program, search)
    now = time.monotonic()
    cached = _RESOLVED.get(key)
    if cached is not None and now - cached[1] < _RESOLVED_SECONDS:
        return cached[0]
    found = shutil.which(program, path=search)
    if found is None or not os.path.isabs(found):
        return None  # not found (subprocess says so) or relative to the child's cwd
    if len(_RESOLVED) > 256:
        _RESOLVED.clear()
    _RESOLVED[key] = (found, now)
    return found


def _ticks_now() -> int:
    """Clock ticks since boot, the unit of a process's start time in /proc/PID/stat (rounded
    down: a process started after this call has a start time at least this)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLK_TCK)


def write_files_or_fail(files: Sequence[tuple[str, bytes | None]]) -> None:
    """``write_files`` here; FatalSheetError names the file or directory it cannot write."""
    try:
        write_files(files)
    except OSError as exc:
        raise _unwritten(exc) from None


def _unwritten(exc: OSError) -> FatalSheetError:
    return FatalSheetError(f"cannot write `{exc.filename}`: {exc.strerror or exc}")


def _start_error(
    exc: OSError, argv: Sequence[str], cwd: str | os.PathLike[str]
) -> BackendStartError:
    if isinstance(exc, FileNotFoundError):
        if not os.path.isdir(cwd):
            return BackendStartError(f"working directory `{cwd}` does not exist")
        return BackendStartError(f"cannot start `{argv[0]}`: executable not found")
    if isinstance(exc, PermissionError):
        return BackendStartError(f"cannot start `{argv[0]}`: permission denied")
    return BackendStartError(f"cannot start `{argv[0]}`: {exc.strerror or exc}")


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _in_thread_unless_cheap(fn: Callable[[], None]) -> None:
    # The subreaper survey reads a handful of small procfs files: cheaper than a thread hop.
    if _RUNS.subreaper:
        fn()
    else:
        await asyncio.to_thread(fn)


def _ended_clean(child: _Child, tree: ProcessTree) -> bool:
    """The usual end of a run: the child exited and left nothing behind (no process in its
    group, none carrying its token), so there is nothing to signal or re-survey. Reaps."""
    if child.returncode is not None and not tree.alive() and not _group_exists(child.pid):
        tree.reap()
        return True
    return False


async def stop_tree(child: _Child, tree: ProcessTree, grace_seconds: float) -> None:
    """SIGTERM the group and every known descendant, wait ``grace_seconds``, then SIGKILL."""
    await _in_thread_unless_cheap(tree.survey)
    if _ended_clean(child, tree):
        return
    tree.signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if child.returncode is not None and not tree.alive():
            break
        await asyncio.sleep(0.02)
    await _in_thread_unless_cheap(tree.survey)
    if tree.alive() or child.returncode is None:
        tree.signal_all(signal.SIGKILL)
    await child.wait()
    # SIGKILLed processes vanish at once unless a parent has yet to reap them.
    for _ in range(50):
        tree.reap()
        if not tree.alive():
            break
        await asyncio.sleep(0.02)
    tree.reap()


def _survey_clean(child: _Child, tree: ProcessTree) -> bool:
    tree.survey()
    return _ended_clean(child, tree)


def _ended_quietly(child: _Child) -> bool:
    """Subreaper mode, after the child's end, before any survey: whether the run ended
    clean with nothing to survey, adopt or reap (the usual run, with no ``ProcessTree``
    made). Its child reaped, it has no tree to walk; unless the daemon has a child that is
    no live run's root (a candidate orphan of this run), it ended clean when its group is
    empty. False: the survey decides (``_survey_clean``)."""
    if child.returncode is None:
        return False
    pid = child.pid
    live = _RUNS.live
    helper = _RUNS.helper.process.pid if _RUNS.helper is not None else None
    for orphan in _RUNS.orphans():
        if orphan not in live and orphan != helper and orphan != pid:
            return False  # a candidate: the whole survey looks at it
    return not _group_exists(pid)


async def _wait_watching(
    child: _Child, pipes: list[_Reader], timeout_seconds: float, started: float
) -> bool:
    """Whether the child exited within ``timeout_seconds``. Its pipes are watched by the
    loop once ``_WATCH_AFTER`` has passed since the run ``started`` (``time.monotonic``;
    the spawn helper may hold its answer a little, ``spawner.py``): most sheets' programs
    end sooner, and are read to their end without the loop (registering a pipe with
    uvloop, and taking it off, is about eight system calls, and its end of file a loop
    callback); a longer one's output reaches the log and the callbacks as it comes, the
    first at most that late (and a program with more than a pipe's 64 KiB to write waits
    as long)."""
    first = min(max(0.0, _WATCH_AFTER - (time.monotonic() - started)), timeout_seconds)
    if await child.wait_exit(first):
        return True
    for pipe in pipes:
        pipe.watch()
    return timeout_seconds > first and await child.wait_exit(timeout_seconds - first)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    stdout: OutputSink,
    stderr: OutputSink,
    timeout_seconds: float,
    stdin_data: bytes | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    files: Sequence[tuple[str, bytes | None]] = (),
    env_base: dict[str, str] | None = None,
) -> ProcessResult:
    """Run ``argv`` to its end or its timeout; raises BackendStartError if it cannot start.

    The child's environment is ``env`` or, given ``env_base``, that base's variables then
    ``env``'s: for the daemon's own environment (``backends.base.environ_snapshot``: one
    dict until it changes, never modified), which is then encoded once, and sent to the
    spawn helper once, instead of for every child.
    The child reads ``stdin_data`` on its stdin, then end of file (None: ``/dev/null``).
    ``files`` (``(path, data)``: the sheet's prompt file; ``(path, None)``: a directory
    most likely missing, made first) are written first, with their missing directories,
    by whoever starts the process (the spawn helper, off the loop, when it does);
    FatalSheetError names the one that cannot be.

    Cancelling the call stops the whole process tree before the CancelledError propagates.
    """
    token = f"{_TOKEN_BASE[0]}{next(_TOKEN_COUNT):016x}"
    started = time.monotonic()
    since = _ticks_now()
    if not hasattr(_THREAD, "spawner"):  # once a thread: get_native_id is a system call
        _THREAD.spawner = True
        tid = threading.get_native_id()
        if tid != _RUNS.main_thread():
            _RUNS.spawners.add(tid)
    child, out_r, err_r, cancelled = await _start(
        argv, cwd, {**env, RUN_TOKEN_ENV: token}, env_base, stdin_data, files, since
    )
    _RUNS.live[child.pid] = (token, since)
    # In subreaper mode the tree is made when it is needed (it knows nothing until a
    # survey, and most runs end quietly: ``_ended_quietly``); otherwise it tracks the run.
    tree = None if _RUNS.subreaper else ProcessTree(child, token, since)
    tracker = None if tree is None else asyncio.create_task(tree.track())
    timed_out = False
    # The pipes' readers, made once the loop is to read them (a child still running, or a
    # leftover holding a pipe); until then the pipes are plain descriptors, -1 once closed
    # or handed to a reader: most runs' are read to their end at once (``_drain``).
    pipes: list[_Reader] = []
    try:
        try:
            if cancelled:
                raise asyncio.CancelledError
            if child.returncode is None:  # (an exit the helper's answer brought: no wait)
                pipes = [_Reader(out_r, child._loop, stdout), _Reader(err_r, child._loop, stderr)]
                out_r = err_r = -1
                timed_out = not await _wait_watching(child, pipes, timeout_seconds, started)
            # Subreaper mode surveys without a thread: the usual clean end needs no await
            # (and no task to shield it from a cancellation).
            if timed_out or tree is not None or not _ended_quietly(child):
                if tree is None:
                    tree = ProcessTree(child, token, since)
                if timed_out or not _RUNS.subreaper or not _survey_clean(child, tree):
                    await finish_even_if_cancelled(stop_tree(child, tree, grace_seconds))
            if pipes:
                for pipe in pipes:
                    pipe.drain()
                pipes = [pipe for pipe in pipes if pipe.fd is not None]
            else:
                out_r = _drain(out_r, stdout)
                err_r = _drain(err_r, stderr)
                if out_r >= 0:
                    pipes.append(_Reader(out_r, child._loop, stdout))
                if err_r >= 0:
                    pipes.append(_Reader(err_r, child._loop, stderr))
                out_r = err_r = -1
            if pipes:
                # A writer is still alive (a leftover): wait a little for the rest.
                pending = [pipe.closed() for pipe in pipes]
                for pipe in pipes:
                    pipe.watch()
                await asyncio.wait(pending, timeout=_DRAIN_SECONDS)
        except BaseException:
            if tree is None:
                tree = ProcessTree(child, token, since)
            await finish_even_if_cancelled(stop_tree(child, tree, grace_seconds))
            raise
    finally:
        if tracker is not None:
            tracker.cancel()
            await asyncio.gather(tracker, return_exceptions=True)
        for pipe in pipes:
            if pipe.fd is not None:
                pipe.close()
        if out_r >= 0:
            os.close(out_r)
        if err_r >= 0:
            os.close(err_r)
        child.close()
        _RUNS.live.pop(child.pid, None)
    code = child.returncode
    assert code is not None
    return ProcessResult(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
    )
