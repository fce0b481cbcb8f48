"""``spawn_helper.start``: a child started as ``subprocess.Popen`` starts it (the options the
daemon uses), without Popen's Python: the same environment in the same order, working
directory, descriptors, signals and session, and the same exception when it cannot start.
Each case is run three ways: by ``start`` itself, by ``start`` falling back to Popen (any
Python whose private ``fork_exec`` it does not know), and by Popen, the reference."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from mozart_daemon.engine import spawn_helper
from mozart_daemon.engine.spawn_helper import encode_env, exit_code, start, stdin_from

PROBE = (
    'echo "cwd=$(pwd)"; ls /proc/self/fd | sort -n | tr "\\n" " "; echo; '
    "grep -E '^(SigIgn|SigBlk)' /proc/self/status; "
    '[ "$(ps -o sid= -p $$ | tr -d " ")" = "$$" ] && echo own-session; '
    "cat; echo; echo read-done; tr '\\0' '\\n' < /proc/$$/environ"
)


@pytest.fixture(params=["start", "start-by-popen", "popen"])
def how(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "start-by-popen":
        monkeypatch.setattr(spawn_helper, "_fork_exec", None)
    yield request.param


def _wait(pid: int) -> int:
    for _ in range(1000):
        code = exit_code(pid)
        if code is not None:
            return code
        time.sleep(0.01)
    raise AssertionError(f"child {pid} did not exit")


def _start(
    how: str,
    argv: list[str],
    executable: str | None,
    cwd: str | Path,
    env: Mapping[str, str],
    base: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, str]:
    """Run the child to its end: its return code and its output (stdout and stderr)."""
    read_end, write_end = os.pipe()
    stdin_fd = stdin_from(stdin) if stdin is not None else None
    try:
        if how == "popen":
            child = subprocess.Popen(
                argv,
                executable=executable,
                stdin=subprocess.DEVNULL if stdin_fd is None else stdin_fd,
                stdout=write_end,
                stderr=write_end,
                cwd=cwd,
                env=env if base is None else {**base, **env},
                start_new_session=True,
            )
            wait = child.wait
        else:
            encoded = None if base is None else encode_env(base)
            pid = start(argv, executable, cwd, env, stdin_fd, write_end, write_end, base, encoded)

            def wait() -> int:
                return _wait(pid)
    finally:
        os.close(write_end)
        if stdin_fd is not None:
            os.close(stdin_fd)
    with os.fdopen(read_end, "rb") as out:
        text = out.read().decode()
    return wait(), text


def test_the_child_sees_what_a_popen_child_sees(how: str, tmp_path: Path) -> None:
    base = {"PATH": os.defpath, "WHO": "daemon", "LANG": "C", "KEPT": "base \u00e9"}
    env = {"WHO": "sheet", "MOZART_SHEET_NUM": "3"}
    code, text = _start(how, ["sh", "-c", PROBE], "/bin/sh", tmp_path, env, base, b"the prompt")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == f"cwd={tmp_path}"
    assert lines[1].split() == ["0", "1", "2", "3"]  # its stdio, and ls's own
    assert lines[2:4] == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"]
    assert lines[4:7] == ["own-session", "the prompt", "read-done"]
    # What execve gave it: the base's variables in their order (one the sheet changes stays
    # in its place), then the sheet's.
    assert lines[7:] == [
        f"PATH={os.defpath}",
        "WHO=sheet",
        "LANG=C",
        "KEPT=base \u00e9",
        "MOZART_SHEET_NUM=3",
    ]


def test_a_sheets_own_variables_come_after_the_base(how: str) -> None:
    """No name in both (the usual): the base's variables, then the sheet's, in order."""
    base = {"PATH": os.defpath, "WHO": "daemon", "KEPT": "base \u00e9"}
    env = {"MOZART_SHEET_NUM": "3", "MOZART_JOB_ID": "j"}
    code, text = _start(how, ["env"], None, "/", env, base)
    assert code == 0
    assert text.splitlines() == [f"{k}={v}" for k, v in {**base, **env}.items()]


def test_a_whole_environment_and_a_program_found_on_its_path(how: str, tmp_path: Path) -> None:
    env = {"PATH": f"{tmp_path}/nowhere:{os.defpath}", "ONLY": "this"}
    code, text = _start(how, ["env"], None, "/", env)
    assert code == 0
    assert text.splitlines() == [f"{k}={v}" for k, v in env.items()]
    code, text = _start(how, ["sh", "-c", "exit 7"], None, "/", {}, {"PATH": os.defpath})
    assert (code, text) == (7, "")


def test_stdin_is_dev_null_when_none_is_given(how: str) -> None:
    code, text = _start(how, ["sh", "-c", "cat; readlink /proc/self/fd/0"], None, "/",
                        {"PATH": os.defpath})  # fmt: skip
    assert (code, text) == (0, "/dev/null\n")


def test_a_signal_is_a_negative_return_code(how: str) -> None:
    code, _ = _start(how, ["sh", "-c", "kill -TERM $$"], "/bin/sh", "/", {})
    assert code == -signal.SIGTERM


def _error(how: str, argv: list[str], executable: str | None, cwd: str | Path,
           env: Mapping[str, str]) -> BaseException:  # fmt: skip
    with pytest.raises((OSError, ValueError, subprocess.SubprocessError)) as caught:
        _start(how, argv, executable, cwd, env)
    return caught.value


def _cases(tmp_path: Path) -> list[tuple[list[str], str | None, str | Path, dict[str, str]]]:
    script = tmp_path / "not-executable"
    script.write_text("echo hi\n")
    binary = tmp_path / "not-a-program"
    binary.write_bytes(b"\x7fELF\x02\x01\x01garbage")
    binary.chmod(0o755)
    path = {"PATH": f"{tmp_path}:{os.defpath}"}
    return [
        (["no-such-program-xyz"], None, "/", path),  # searched on PATH: not found
        (["x"], str(tmp_path / "missing"), "/", path),  # by path: not found
        (["true"], "/bin/true", tmp_path / "gone", path),  # the working directory
        (["true"], None, str(tmp_path / "gone"), path),
        ([str(script)], None, "/", path),  # permission denied
        (["not-executable"], None, "/", path),
        ([str(binary)], None, "/", path),  # exec format error
        (["true"], None, "/", {**path, "A=B": "x"}),  # ValueError, as Popen
        (["true"], None, "/", {**path, "NUL": "a\0b"}),
    ]


def test_what_cannot_start_raises_what_popen_raises(tmp_path: Path) -> None:
    for argv, executable, cwd, env in _cases(tmp_path):
        expected = _error("popen", argv, executable, cwd, env)
        for how in ("start", "start-by-popen"):
            with pytest.MonkeyPatch.context() as patch:
                if how == "start-by-popen":
                    patch.setattr(spawn_helper, "_fork_exec", None)
                got = _error(how, argv, executable, cwd, env)
            assert type(got) is type(expected), (argv, how)
            assert str(got) == str(expected), (argv, how)
            if isinstance(expected, OSError):
                assert isinstance(got, OSError)
                assert (got.errno, got.strerror, got.filename) == (
                    expected.errno,
                    expected.strerror,
                    expected.filename,
                ), (argv, how)


def test_a_child_reaped_by_someone_else_reads_as_popen_says() -> None:
    pid = start(["true"], "/bin/true", "/", {}, None, 1, 2)
    os.waitpid(pid, 0)
    assert exit_code(pid) == 0  # Popen's answer when the status is lost (ECHILD)


def _one_by_one(env: Mapping[str, object]) -> dict[str, bytes]:
    """Each variable encoded alone: what ``encode_env`` must give (or raise)."""
    fs, errors = spawn_helper._FS_ENCODING, spawn_helper._FS_ERRORS
    out = {}
    for name, value in env.items():
        out[name] = name.encode(fs, errors) + b"=" + value.encode(fs, errors)  # type: ignore[attr-defined]
    return out


def test_an_environment_of_names_seen_before_is_encoded_as_each_variable_alone() -> None:
    """With every name seen before, ``encode_env`` encodes the values joined, and gives
    each variable's own encoding, in order; a value it cannot take so (a NUL in it, not
    text, not encodable) gives what the variable alone gives, or raises the same error."""
    envs: list[dict[str, object]] = [
        {"ENC_A": "1", "ENC_B": "", "ENC_C": "x"},
        {"ENC_C": "é ü €", "ENC_A": "surrogate-escaped \udcff", "ENC_B": "="},
        {"ENC_A": "a\0b", "ENC_B": "c"},  # kept whole: fork_exec then refuses it, as Popen
        {},
    ]
    for env in envs:
        spawn_helper.encode_env(env)  # type: ignore[arg-type]  # (the names seen)
        got = spawn_helper.encode_env(env)  # type: ignore[arg-type]
        assert list(got.items()) == list(_one_by_one(env).items())
    for env in ({"ENC_A": "1", "ENC_B": None}, {"ENC_A": "\ud800", "ENC_B": "1"}):
        with pytest.raises((AttributeError, UnicodeError)) as expected:
            _one_by_one(env)
        with pytest.raises(expected.type) as caught:
            spawn_helper.encode_env(env)  # type: ignore[arg-type]
        assert str(caught.value) == str(expected.value)
