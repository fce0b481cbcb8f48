"""mozartd's spawn helper: a small process of the daemon's that starts sheets' processes.

Starting a process blocks its parent until the child has called ``execve`` (``vfork``):
about half a millisecond a sheet, which the daemon's event loop spends doing nothing while
other jobs wait. When the loop is busy, the daemon (``engine/spawner.py``) hands the spawn
to this process instead, on the other CPU.

Run as ``python -I -S spawn_helper.py FD`` (the standard library only, so that it starts in
a few milliseconds), FD being its end of a ``SOCK_SEQPACKET`` socket pair. Messages are
``marshal``-ed tuples:

- ``("env", base)``: the environment (a dict) that the requests marked ``over_base`` add
  their ``env`` to: the daemon's own, sent once (and again when it changes) instead of
  with every request, and encoded here once (``encode_env``): with 45 variables, encoding
  them for each child was two thirds of this process's Python, and marshalling them a
  tenth of a percent of the daemon's instructions a job;
- request ``(rid, argv, executable, cwd, env, stdin, files, over_base, hold)`` with the
  child's ends of its stdout and stderr pipes as SCM_RIGHTS; ``env``: the child's environment,
  or with ``over_base`` what it adds to (or changes in) the last ``base``; ``stdin``: the
  bytes the child reads on its stdin (``stdin_from``), or None for ``/dev/null``;
  ``files``: ``(path, data)`` pairs written (``write_files``) before the spawn (the
  sheet's prompt file, and for a job's first sheet its workspace and ``logs/``, given
  first as ``(path, None)``: about 0.2 ms of the daemon's loop a job, spent here
  instead); ``hold``: how long the answer may wait for the child's exit, in seconds
  (0: not at all; the daemon's: ``HOLD_SECONDS``);
- reply ``("ok", rid, pid)``; with ``hold``, ``("done", rid, pid, returncode)`` instead of
  it and the ``exit`` when the child exited within ``hold`` of its start (most sheets'
  commands are short): one message a run, and one wake-up of the daemon's loop, instead
  of two; ``("unwritten", rid, errno, strerror, filename)`` when a
  file could not be written (nothing was started); ``("error", rid, errno, strerror,
  filename)`` when the spawn failed with an OSError; ``("fail", rid, text)`` for anything
  else;
- ``("exit", pid, returncode)`` once the child has exited and been reaped (``returncode``
  as ``subprocess``: negative for a signal).

The child starts as the daemon's own would (``start``: what ``subprocess.Popen`` does,
without its Python), in a new session, all other descriptors closed, default signal
handling. The helper exits when the daemon's end of the socket closes (the daemon stopped
or died); children still running are left to their process groups, as the daemon's own
would be.
"""

from __future__ import annotations

import _posixsubprocess
import array
import bisect
import builtins
import codecs
import contextlib
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_MESSAGE = 64 * 1024
MAX_FDS = 2
# How long the daemon lets an answer wait for the child's exit (``hold``).
HOLD_SECONDS = 0.01


def _ignore(_signum: int, _frame: object) -> None:
    """SIGINT and SIGTERM are for the daemon (a terminal's Ctrl-C or a service manager
    signals the whole group): the helper ends when the daemon does. A Python handler, not
    SIG_IGN, so that children start with the default disposition."""


def write_files(files: Sequence[tuple[str, bytes | None]]) -> None:
    """Write each ``(path, data)``, replacing the file, creating its missing directories
    (the daemon writes the same way when it starts a process itself).

    An entry whose ``data`` is None is a directory that is most likely missing (a job's
    first sheet: its workspace, then ``logs/``), made with one ``mkdir`` before the files,
    any error ignored: a file's write says what is wrong as it would without it. Trying
    the file first, then ``logs/``, then the workspace failed twice for each new job."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for path, data in files:
        if data is None:
            try:  # noqa: SIM105 (contextlib.suppress costs more: each job's first sheet)
                os.mkdir(path)
            except OSError:
                pass
            continue
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
        offset = 0
        while offset < len(data):  # pwrite: the offset stays at 0, no lseek back
            offset += os.pwrite(fd, view[offset:], offset)
    except BaseException:
        os.close(fd)
        raise
    return fd


# -- starting a child ----------------------------------------------------------------

# ``subprocess.Popen`` spends about 4,000 bytecodes a child (2,000 of them encoding an
# environment of 45 variables, the rest its many options) before the one call that
# matters, ``_posixsubprocess.fork_exec``; ``start`` makes that call itself, with the
# arguments Popen passes for the options used here, from an environment encoded once. The
# call is private: its arguments are those of CPython 3.11 to 3.13 (the same in the
# three); on any other version ``start`` uses Popen.
_fork_exec: Any = None
if (3, 11) <= sys.version_info[:2] <= (3, 13):
    _fork_exec = getattr(_posixsubprocess, "fork_exec", None)
_USE_VFORK = getattr(subprocess, "_USE_VFORK", True)
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()
# Whether encoding texts joined by NULs gives each text's encoding, joined by NULs (a
# codec that encodes each character alone, as these do): ``encode_env``.
_JOINABLE = codecs.lookup(_FS_ENCODING).name in ("utf-8", "ascii")
# Children started by Popen (``_fork_exec`` is None), by pid: kept until reaped, so that
# Popen's own clean-up of dropped objects never reaps one behind ``exit_code``'s back.
_POPENS: dict[int, subprocess.Popen[bytes]] = {}
_DEVNULL: list[int] = []


def encode_env(env: Mapping[str, str]) -> dict[str, bytes]:
    """Each variable as ``execve`` takes it, ``b"NAME=value"``, by name, in ``env``'s order
    (encoded and checked as Popen does).

    When every name has been seen before (``_PREFIXES``: a sheet's ``MOZART_*``), the
    values are encoded as one text joined by NULs and split again, and each entry made in
    C: a request's nine variables cost the helper 184 bytecodes one by one. Anything
    else (a new name, a value that is not text, cannot be encoded, or holds a NUL itself)
    takes the way one by one, which raises what it raised."""
    if _JOINABLE:
        prefixes = list(map(_PREFIXES.get, env))
        if None not in prefixes:
            try:
                values = "\0".join(env.values()).encode(_FS_ENCODING, _FS_ERRORS).split(b"\0")
            except (TypeError, UnicodeError):
                values = []
            if len(values) == len(prefixes):
                entries = map(bytes.__add__, prefixes, values)  # type: ignore[arg-type]
                return dict(zip(env, entries, strict=True))
    prefixes_by_name, fs_encoding, fs_errors = _PREFIXES, _FS_ENCODING, _FS_ERRORS
    return {
        name: (prefixes_by_name.get(name) or _prefix(name)) + value.encode(fs_encoding, fs_errors)
        for name, value in env.items()
    }


# b"NAME=" by name: the same few names (MOZART_*) come with every child.
_PREFIXES: dict[str, bytes] = {}


def _prefix(name: str) -> bytes:
    key = name.encode(_FS_ENCODING, _FS_ERRORS)
    if b"=" in key:
        raise ValueError("illegal environment variable name")
    if len(_PREFIXES) >= 1024:
        _PREFIXES.clear()
    _PREFIXES[name] = prefix = key + b"="
    return prefix


def _devnull() -> int:
    """A descriptor of ``/dev/null`` for children's stdin, opened once (Popen opens and
    closes one for each child)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
    return _DEVNULL[0]


def start(
    argv: Sequence[str],
    executable: str | None,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    stdin: int | None,
    stdout: int,
    stderr: int,
    base: Mapping[str, str] | None = None,
    base_encoded: Mapping[str, bytes] | None = None,
) -> int:
    """Start ``argv`` as ``subprocess.Popen(argv, executable=executable, cwd=cwd, env=...,
    stdin=stdin or DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)`` does,
    and raise what it raises; returns the child's pid (its exit: ``exit_code``). Its
    environment is ``env``, or with ``base`` (``base_encoded``: ``encode_env(base)``) the
    base's variables then ``env``'s, in that order."""
    if _fork_exec is None:  # pragma: no cover (exercised by a test that forces it)
        child = subprocess.Popen(
            list(argv),
            executable=executable,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=env if base is None else {**base, **env},
            start_new_session=True,
        )
        _POPENS[child.pid] = child
        return child.pid
    if base is None:
        env_list = list(encode_env(env).values())
    else:
        if base_encoded is None:
            base_encoded = encode_env(base)
        env_list = list({**base_encoded, **encode_env(env)}.values())
    program = argv[0] if executable is None else executable
    exe = program.encode(_FS_ENCODING, _FS_ERRORS) if type(program) is str else os.fsencode(program)
    if b"/" in exe:  # os.path.dirname(exe), as Popen asks
        executables: tuple[bytes, ...] = (exe,)
    else:  # as Popen (and os._execvpe): every directory of the child's PATH
        search = env.get("PATH", None if base is None else base.get("PATH"))
        paths = os.get_exec_path({} if search is None else {"PATH": search})
        executables = tuple(os.path.join(os.fsencode(d), exe) for d in paths)
    # How the child tells an exec that failed: "exception name:hex errno:description".
    errpipe_read, errpipe_write = os.pipe()
    low = []
    while errpipe_write < 3:  # not where the child's stdio goes
        low.append(errpipe_write)
        errpipe_write = os.dup(errpipe_write)
    for fd in low:
        os.close(fd)
    try:
        try:
            pid: int = _fork_exec(
                argv, executables,
                True, (errpipe_write,),  # close_fds, pass_fds
                cwd, env_list,
                _devnull() if stdin is None else stdin, -1, -1, stdout, -1, stderr,
                errpipe_read, errpipe_write,
                True, True, -1,  # restore_signals, start_new_session, process_group
                None, None, None, -1, None,  # gid, extra_groups, uid, umask, preexec_fn
                _USE_VFORK,
            )  # fmt: skip
        finally:
            os.close(errpipe_write)
        data = b""
        while part := os.read(errpipe_read, 50000):
            data += part
            if len(data) > 50000:
                break
    finally:
        os.close(errpipe_read)
    if data:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        _raise_child_error(data, program, cwd)
    return pid


def _raise_child_error(data: bytes, program: str, cwd: str | os.PathLike[str]) -> None:
    """The exception the child reported, made as Popen makes it."""
    try:
        name, hex_errno, raw = data.split(b":", 2)
        message = raw.decode()
    except ValueError:
        name, hex_errno = b"SubprocessError", b"0"
        message = f"Bad exception data from child: {data!r}"
    kind = getattr(builtins, name.decode("ascii"), subprocess.SubprocessError)
    if issubclass(kind, OSError) and hex_errno:
        number = int(hex_errno, 16)
        filename: object = program
        if message == "noexec":  # the exec was never tried: the chdir failed
            message, filename = "", cwd
        if number != 0:
            message = os.strerror(number)
        raise kind(number, message, filename)
    raise kind(message)


def exit_code(pid: int) -> int | None:
    """Child ``pid``'s return code once it has exited (as ``subprocess``'s: negative for a
    signal), reaping it; None while it runs."""
    popen = _POPENS.get(pid)
    if popen is not None:  # pragma: no cover (with Popen only)
        code = popen.poll()
        if code is not None:
            del _POPENS[pid]
        return code
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # as Popen: reaped by someone else, its status unknown
        return 0
    return os.waitstatus_to_exitcode(status) if done else None


def _spawn(
    request: Any, fds: list[int], base: dict[str, str], encoded: dict[str, bytes] | None
) -> int:
    _rid, argv, executable, cwd, env, stdin, _files, over_base, _hold = request
    stdin_fd = stdin_from(stdin) if stdin is not None else None
    try:
        if over_base:
            return start(argv, executable, cwd, env, stdin_fd, fds[0], fds[1], base, encoded)
        return start(argv, executable, cwd, env, stdin_fd, fds[0], fds[1])
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """A message and the descriptors that came with it (``socket.recv_fds``, less its
    Python)."""
    data, ancillary, _flags, _addr = sock.recvmsg(MAX_MESSAGE, _FDS_SPACE)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", payload[: len(payload) - len(payload) % 4])
    return data, fds


_FDS_SPACE = socket.CMSG_LEN(MAX_FDS * 4)


def serve(sock: socket.socket) -> None:
    # epoll itself, not ``selectors`` (whose keys and lookups were a tenth of the helper's
    # Python a spawn): the socket, and a pidfd for each child not yet seen exit.
    poller = select.epoll()
    poller.register(sock.fileno(), select.EPOLLIN)
    children: dict[int, int] = {}  # pidfd -> pid
    # pid -> (rid, its entry of ``deadlines``): an answer held (``hold``) until its exit or
    # its deadline, whichever comes first (the other's entry is then removed: no stale
    # deadline for each loop's turn to look at, most children exiting within the hold).
    held: dict[int, tuple[int, tuple[float, int]]] = {}
    deadlines: list[tuple[float, int]] = []  # (when, pid), sorted
    base: dict[str, str] = {}
    encoded: dict[str, bytes] | None = None  # encode_env(base), once needed

    def send(message: tuple[Any, ...]) -> None:
        sock.sendall(marshal.dumps(message))

    while True:
        timeout = -1.0
        if deadlines:
            timeout = max(0.0, deadlines[0][0] - time.monotonic())
        for fd, _events in poller.poll(timeout):
            pid = children.get(fd)
            if pid is None:
                try:
                    data, fds = _receive(sock)
                except ConnectionError:
                    return
                if not data:
                    return  # the daemon has gone
                try:
                    request = marshal.loads(data)  # noqa: S302 (the daemon's, on a socket pair)
                    rid = request[0]
                    if rid == "env":
                        base, encoded = request[1], None
                        continue
                    try:
                        write_files(request[6])
                    except OSError as exc:
                        send(("unwritten", rid, exc.errno, exc.strerror, exc.filename))
                        continue
                    try:
                        if request[7] and encoded is None:
                            encoded = encode_env(base)
                        pid = _spawn(request, fds, base, encoded)
                    except OSError as exc:
                        send(("error", rid, exc.errno, exc.strerror, exc.filename))
                        continue
                    except Exception as exc:
                        send(("fail", rid, f"{type(exc).__name__}: {exc}"))
                        continue
                    pidfd = os.pidfd_open(pid)
                    children[pidfd] = pid
                    poller.register(pidfd, select.EPOLLIN)
                    if request[8]:
                        deadline = (time.monotonic() + request[8], pid)
                        held[pid] = (rid, deadline)
                        bisect.insort(deadlines, deadline)
                    else:
                        send(("ok", rid, pid))
                finally:
                    for fd in fds:
                        os.close(fd)
            else:
                code = exit_code(pid)
                if code is not None:
                    del children[fd]
                    # Closing it takes it off the epoll set (its only descriptor: pidfds
                    # are close-on-exec, the children's copies are gone): no epoll_ctl.
                    os.close(fd)
                    answer = held.pop(pid, None)
                    if answer is None:
                        send(("exit", pid, code))
                    else:
                        deadlines.remove(answer[1])
                        send(("done", answer[0], pid, code))
        if deadlines:
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                pid = deadlines.pop(0)[1]
                send(("ok", held.pop(pid)[0], pid))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    sock = socket.socket(fileno=int(argv[1]))
    with contextlib.suppress(BrokenPipeError):  # the daemon has gone
        serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
