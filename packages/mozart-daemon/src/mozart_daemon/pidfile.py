"""The PID file: written atomically, held under ``fcntl.flock`` for the daemon's life.

``acquire`` locks the file at its path (refusing a symlink) before anything else starts;
``publish`` writes the final PID into a new file, locks that one too, and renames it over
the path while the first lock is still held, so at no moment can a second ``mozartd
start`` find the path unlocked. ``release`` removes the file if it is still ours.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

import psutil


class PidFileError(Exception):
    """Another daemon holds the PID file, or the path cannot be used."""


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int) -> bool:
    try:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_locked(path: Path) -> bool:
    """True when some process holds the PID file's lock (a daemon, or a start in progress)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._ino: int | None = None

    def acquire(self) -> None:
        """Lock the PID file path; raises PidFileError naming what holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink():
            raise PidFileError(f"Refusing PID file {self.path}: it is a symlink.")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PidFileError(f"Refusing PID file {self.path}: it is a symlink.") from exc
            raise PidFileError(f"Cannot open PID file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.path)
            if pid is not None and pid_alive(pid):
                raise PidFileError(f"mozartd is already running (PID {pid})") from None
            raise PidFileError(
                f"PID file locked: another mozartd start is in progress ({self.path})"
            ) from None
        self._fd = fd
        self._ino = os.fstat(fd).st_ino

    def publish(self) -> None:
        """Write this process's PID into the path atomically, keeping it locked."""
        assert self._fd is not None, "acquire() first"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        os.close(self._fd)
        self._fd = fd
        self._ino = os.fstat(fd).st_ino

    def release(self) -> None:
        """Remove the file if it is still ours, then drop the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path, follow_symlinks=False).st_ino == self._ino:
                self.path.unlink()
        os.close(self._fd)
        self._fd = None
        self._ino = None
