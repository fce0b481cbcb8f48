"""mozartd's spawn helper: a small process of the daemon's that starts sheets' processes.

Starting a process blocks its parent until the child has called ``execve`` (``vfork``):
about half a millisecond a sheet, which the daemon's event loop spends doing nothing while
other jobs wait. When the loop is busy, the daemon (``engine/spawner.py``) hands the spawn
to this process instead, on the other CPU.

Run as ``python -I -S spawn_helper.py FD`` (the standard library only, so that it starts in
a few milliseconds), FD being its end of a ``SOCK_SEQPACKET`` socket pair. Messages are
``marshal``-ed tuples:

- request ``(rid, argv, executable, cwd, env, stdin, files)`` with the child's ends of
  its stdout and stderr pipes as SCM_RIGHTS; ``stdin``: the bytes the child reads on its
  stdin (``stdin_from``), or None for ``/dev/null``; ``files``: ``(path, data)`` pairs
  written (``write_files``) before the spawn (the sheet's prompt file, and for a job's
  first sheet its workspace and ``logs/``: about 0.2 ms of the daemon's loop a job, spent
  here instead);
- reply ``("ok", rid, pid)``; ``("unwritten", rid, errno, strerror, filename)`` when a
  file could not be written (nothing was started); ``("error", rid, errno, strerror,
  filename)`` when the spawn failed with an OSError; ``("fail", rid, text)`` for anything
  else;
- ``("exit", pid, returncode)`` once the child has exited and been reaped (``returncode``
  as ``subprocess``: negative for a signal).

The child starts as the daemon's own would: ``subprocess.Popen`` in a new session, all
other descriptors closed, default signal handling. The helper exits when the daemon's end
of the socket closes (the daemon stopped or died); children still running are left to
their process groups, as the daemon's own would be.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
from typing import Any

MAX_MESSAGE = 64 * 1024
MAX_FDS = 2


def _ignore(_signum: int, _frame: object) -> None:
    """SIGINT and SIGTERM are for the daemon (a terminal's Ctrl-C or a service manager
    signals the whole group): the helper ends when the daemon does. A Python handler, not
    SIG_IGN, so that children start with the default disposition."""


def write_files(files: list[tuple[str, bytes]]) -> None:
    """Write each ``(path, data)``, replacing the file, creating its missing directories
    (the daemon writes the same way when it starts a process itself)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for path, data in files:
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:  # a job's first sheet: no workspace or logs/ yet
            _make_dirs(os.path.dirname(path))
            fd = os.open(path, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def _make_dirs(path: str) -> None:
    """Create directory ``path`` and its missing parents, deepest first: its parent only
    when that is missing too (a job's workspace, then its ``logs/``). Fewer calls than
    ``os.makedirs``, which looks at every parent before creating anything. One that
    exists already is fine (one that is a file: the ``open`` that follows says so)."""
    try:
        os.mkdir(path)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent in (path, ""):
            raise
        _make_dirs(parent)
        try:  # noqa: SIM105 (contextlib.suppress costs a third of this: each job's first sheet)
            os.mkdir(path)
        except FileExistsError:
            pass
    except FileExistsError:
        pass


def stdin_from(data: bytes) -> int:
    """A descriptor that reads ``data`` then end of file, for a child's stdin: an anonymous
    file in memory (``memfd``; an unlinked temporary file where there is none). A pipe
    would need a writer alive while the child reads (on the daemon's loop: a third pipe,
    its writes and its closes a run); this is written once, before the child starts, and
    is the child's own copy (its rewriting the prompt file changes nothing it reads)."""
    try:
        fd = os.memfd_create("mozart-stdin", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        import tempfile  # here only: importing it adds 25 ms to the helper's start

        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _spawn(request: Any, fds: list[int]) -> subprocess.Popen[bytes]:
    _rid, argv, executable, cwd, env, stdin, _files = request
    stdin_fd = stdin_from(stdin) if stdin is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            argv,
            executable=executable,
            stdin=stdin_fd,
            stdout=fds[0],
            stderr=fds[1],
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    finally:
        if stdin is not None:
            os.close(stdin_fd)


def serve(sock: socket.socket) -> None:
    # epoll itself, not ``selectors`` (whose keys and lookups were a tenth of the helper's
    # Python a spawn): the socket, and a pidfd for each child not yet seen exit.
    poller = select.epoll()
    poller.register(sock.fileno(), select.EPOLLIN)
    children: dict[int, subprocess.Popen[bytes]] = {}  # pidfd -> child

    def send(message: tuple[Any, ...]) -> None:
        sock.sendall(marshal.dumps(message))

    while True:
        for fd, _events in poller.poll():
            child = children.get(fd)
            if child is None:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
                except ConnectionError:
                    return
                if not data:
                    return  # the daemon has gone
                try:
                    request = marshal.loads(data)  # noqa: S302 (the daemon's, on a socket pair)
                    rid = request[0]
                    try:
                        write_files(request[6])
                    except OSError as exc:
                        send(("unwritten", rid, exc.errno, exc.strerror, exc.filename))
                        continue
                    try:
                        child = _spawn(request, fds)
                    except OSError as exc:
                        send(("error", rid, exc.errno, exc.strerror, exc.filename))
                        continue
                    except Exception as exc:
                        send(("fail", rid, f"{type(exc).__name__}: {exc}"))
                        continue
                    pidfd = os.pidfd_open(child.pid)
                    children[pidfd] = child
                    poller.register(pidfd, select.EPOLLIN)
                    send(("ok", rid, child.pid))
                finally:
                    for fd in fds:
                        os.close(fd)
            elif child.poll() is not None:
                del children[fd]
                poller.unregister(fd)
                os.close(fd)
                send(("exit", child.pid, child.returncode))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    sock = socket.socket(fileno=int(argv[1]))
    with contextlib.suppress(BrokenPipeError):  # the daemon has gone
        serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
