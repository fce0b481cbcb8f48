"""The daemon's side of the spawn helper (``spawn_helper.py``): a process of its own that
starts sheets' processes, so that the event loop does not wait in ``vfork`` while other
jobs need it.

``SpawnHelper.spawn`` sends one request and returns a future of the child's pid (or the
OSError the spawn raised); ``watch`` tells when a child has exited, with its return code.
A request the socket cannot take at once (full, or too large) is refused with ``None``: the
caller then spawns in its own process, as it does when the helper is not running.

If the helper goes away (killed by someone), the children it started can no longer be
reaped or watched by it: each is stopped (SIGKILL to its process group) and reported as
killed by SIGKILL, a spawn it had not answered fails, and the next spawn starts a new
helper (after three losses, none: the daemon spawns in its own process).

A spawn given a ``tag`` (an entry of the child's environment that no other process has,
``NAME=value``) lets the helper hold its answer until the child exits, up to
``HOLD_SECONDS`` (10 ms): a short command's pid and return code then come in one message,
one wake-up of the loop instead of two. A child whose answer was held when the helper
went is found by its tag among this process's children (the helper's are re-parented to
it: tags are for a child subreaper, as the daemon is), and is then as one answered:
stopped, and reported as killed by SIGKILL.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import marshal
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mozart_daemon.engine.spawn_helper import HOLD_SECONDS, MAX_MESSAGE
from mozart_daemon.logging import get_logger

log = get_logger(__name__)

HELPER = str(Path(__file__).with_name("spawn_helper.py"))
_STOP_SECONDS = 2.0


class HelperLostError(Exception):
    """The spawn helper stopped before it said whether the process started."""


class UnwrittenError(OSError):
    """A file the spawn needed (``files``) could not be written; nothing was started."""


class _Answer(asyncio.Future[int]):
    """A spawn's answer, which cannot be cancelled: a caller cancelled while the helper
    starts its process must still learn the pid, to stop what was started. A task awaiting
    it and cancelled meanwhile gets its CancelledError once the answer is in (asyncio's
    task keeps waiting on a future that refuses ``cancel``), when ``result()`` holds it:
    no ``asyncio.shield`` (two futures and their callbacks, about 130 bytecodes a spawn)."""

    def cancel(self, msg: object = None) -> bool:
        return False


class SpawnHelper:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", HELPER, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock: socket.socket | None = ours
        self._next = 0
        self._base: dict[str, str] | None = None  # the last base environment sent
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._watchers: dict[int, Callable[[int], None]] = {}
        self._early: dict[int, int] = {}  # pid -> return code, exited before it was watched
        self._started: set[int] = set()  # children started and not yet seen exit
        self._tags: dict[int, bytes] = {}  # rid -> tag, of the spawns not yet answered
        self.lost = False
        loop.add_reader(ours.fileno(), self._readable)

    @property
    def running(self) -> bool:
        return self._sock is not None

    def spawn(
        self,
        argv: Sequence[str],
        executable: str | None,
        cwd: str,
        env: Mapping[str, str],
        fds: Sequence[int],
        stdin: bytes | None,
        files: Sequence[tuple[str, bytes | None]] = (),
        base: dict[str, str] | None = None,
        tag: bytes | None = None,
        hold_seconds: float = HOLD_SECONDS,
    ) -> asyncio.Future[int] | None:
        """Ask for a spawn, after writing ``files`` (``write_files``: UnwrittenError if one
        cannot be); the child's ends of its stdout and stderr pipes are ``fds``, which the
        caller still closes; it reads ``stdin`` (None: ``/dev/null``); its environment is
        ``env``, or ``base`` then ``env`` (``base``, the daemon's, is sent to the helper
        once, and again when it is another dict: never change one once given). None: not
        sent (do it all yourself). The future cannot be cancelled (``_Answer``). ``tag``:
        the child's own entry of its environment (b"NAME=value"), for a subreaper: its
        answer may be held until its exit, up to ``hold_seconds`` (see above)."""
        sock = self._sock
        if sock is None:
            return None
        if base is not None and base is not self._base:
            data = marshal.dumps(("env", base))
            if len(data) > MAX_MESSAGE:
                return None
            try:
                sock.send(data)
            except OSError:  # full (BlockingIOError), or the helper has gone
                return None
            self._base = base
        self._next += 1
        rid = self._next
        # marshal takes lists and dicts, not any sequence or mapping
        over_base = base is not None
        hold = 0.0 if tag is None else hold_seconds
        request = (rid, list(argv), executable, cwd, dict(env), stdin, list(files), over_base, hold)
        data = marshal.dumps(request)
        if len(data) > MAX_MESSAGE:
            return None
        try:
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        except OSError:  # full (BlockingIOError), or the helper has gone
            return None
        future = _Answer(loop=self._loop)
        self._pending[rid] = future
        if tag is not None and hold:
            self._tags[rid] = tag
        return future

    def watch(self, pid: int, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit(returncode)`` once child ``pid`` (started by this helper) exited."""
        code = self._early.pop(pid, None)
        if code is not None:
            on_exit(code)
        else:
            self._watchers[pid] = on_exit

    def _readable(self) -> None:
        """Take one message. The loop's readers are level-triggered: another message
        waiting calls this again on the loop's next turn, which polls anyway, so nothing
        asks whether another is there (reading on until a ``recv`` failed raised an
        exception at every wake-up; a ``FIONREAD`` ioctl after each message was a system
        call a job). The ``recv`` is what sees the end of the helper (b"")."""
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(MAX_MESSAGE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._lose()
            return
        self._dispatch(marshal.loads(data))  # noqa: S302 (our helper's, on a socket pair)

    def _dispatch(self, message: Any) -> None:
        kind = message[0]
        if kind == "exit":
            _, pid, code = message
            self._started.discard(pid)
            watcher = self._watchers.pop(pid, None)
            if watcher is not None:
                watcher(code)
            else:
                self._early[pid] = code
            return
        rid = message[1]
        future = self._pending.pop(rid, None)
        if self._tags:
            self._tags.pop(rid, None)
        if future is None or future.done():
            return
        if kind == "done":  # started, and exited already: its exit is waiting for watch
            _, _, pid, code = message
            self._early[pid] = code
            future.set_result(pid)
        elif kind == "ok":
            self._started.add(message[2])
            future.set_result(message[2])
        elif kind == "error":
            _, _, errno, strerror, filename = message
            future.set_exception(OSError(errno, strerror, filename))
        elif kind == "unwritten":
            _, _, errno, strerror, filename = message
            future.set_exception(UnwrittenError(errno, strerror, filename))
        else:
            future.set_exception(HelperLostError(message[2]))

    def _lose(self) -> None:
        """The helper has gone: stop what it started, fail what it had not answered."""
        self.lost = True
        if self._tags:
            self._close_socket()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.process.wait(_STOP_SECONDS)  # its end: its children are ours now
            self._answer_held()
        stopped = self._abandon(HelperLostError("the spawn helper stopped"))
        with contextlib.suppress(OSError):
            self.process.poll()
        log.error(
            "spawn_helper.lost",
            returncode=self.process.returncode,
            stopped_processes=stopped,
        )

    def _abandon(self, error: Exception) -> int:
        """No more messages will come: fail the unanswered spawns, SIGKILL the groups of the
        children not seen exit and report them killed. Returns how many were."""
        self._close_socket()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._tags.clear()
        stopped = list(self._started)
        self._started.clear()
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            watcher = self._watchers.pop(pid, None)
            if watcher is not None:
                watcher(-signal.SIGKILL)
            else:
                self._early[pid] = -signal.SIGKILL
        return len(stopped)

    def _answer_held(self) -> None:
        """The helper has ended (reaped) while holding answers: their children, re-parented
        to this process (a subreaper), are found by their tags and answered as started,
        for ``_abandon`` to stop and report. One not found (it ended meanwhile, or never
        started) fails as any spawn not answered."""
        wanted = {tag: rid for rid, tag in self._tags.items()}
        try:
            threads = os.listdir("/proc/self/task")
        except OSError:
            return
        for tid in threads:
            try:
                with open(f"/proc/self/task/{tid}/children", "rb") as f:
                    pids = [int(pid) for pid in f.read().split()]
            except (OSError, ValueError):
                continue
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        environ = f.read().split(b"\0")
                except OSError:
                    continue
                for tag in wanted.keys() & environ:
                    rid = wanted.pop(tag)
                    del self._tags[rid]
                    future = self._pending.pop(rid, None)
                    if future is not None and not future.done():
                        self._started.add(pid)
                        future.set_result(pid)

    def _close_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def stop(self) -> None:
        """Close the socket (the helper then exits) and reap the helper. Its children should
        have ended (the daemon stops its sheets first); any left are stopped."""
        self._close_socket()
        try:
            self.process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._tags:
            self._answer_held()
        self._abandon(HelperLostError("the daemon is stopping"))
