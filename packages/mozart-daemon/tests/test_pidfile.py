import os
import subprocess
import sys
from pathlib import Path

import pytest
from mozart_daemon.pidfile import PidFile, PidFileError, is_locked, read_pid


def test_publish_is_locked_and_release_removes(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    pf = PidFile(path)
    pf.acquire()
    assert is_locked(path)
    pf.publish()
    assert read_pid(path) == os.getpid()
    assert is_locked(path)
    assert not list(tmp_path.glob(".*.tmp"))
    pf.release()
    assert not path.exists()


def test_second_holder_is_refused_with_running_message(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    first = PidFile(path)
    first.acquire()
    first.publish()
    with pytest.raises(PidFileError, match=f"mozartd is already running \\(PID {os.getpid()}\\)"):
        PidFile(path).acquire()
    first.release()


def test_locked_without_live_pid_is_pid_file_locked(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    first = PidFile(path)
    first.acquire()  # a start in progress: locked, nothing published yet
    with pytest.raises(PidFileError, match="PID file locked"):
        PidFile(path).acquire()
    first.release()
    assert not path.exists()


def test_stale_pid_file_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "d.pid"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(f"{dead.pid}\n")
    pf = PidFile(path)
    pf.acquire()
    pf.publish()
    assert read_pid(path) == os.getpid()
    pf.release()


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "d.pid"
    link.symlink_to(target)
    with pytest.raises(PidFileError, match="symlink"):
        PidFile(link).acquire()
