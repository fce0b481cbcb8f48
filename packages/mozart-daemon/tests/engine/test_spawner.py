"""The spawn helper (engine/spawner.py, engine/spawn_helper.py): a real helper process
starting real children, and run_process going through it while another run is live."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from mozart_daemon.engine import process, spawn_helper
from mozart_daemon.engine.errors import BackendStartError, FatalSheetError
from mozart_daemon.engine.logs import OutputSink
from mozart_daemon.engine.process import run_process
from mozart_daemon.engine.spawn_helper import stdin_from
from mozart_daemon.engine.spawner import HelperLostError, SpawnHelper, UnwrittenError


@pytest.fixture
async def helper() -> AsyncIterator[SpawnHelper]:
    started = SpawnHelper(asyncio.get_running_loop())
    try:
        yield started
    finally:
        started.stop()
    assert started.process.returncode is not None  # reaped


class Pipes:
    """Pipes for a child's stdout and stderr: the child's ends go to the helper."""

    def __init__(self) -> None:
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()

    @property
    def child_ends(self) -> list[int]:
        return [self.out_w, self.err_w]

    def close_child_ends(self) -> None:
        os.close(self.out_w)
        os.close(self.err_w)

    def read_out(self) -> bytes:
        with os.fdopen(self.out_r, "rb") as f:
            return f.read()

    def close(self) -> None:
        for fd in (self.out_r, self.err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


async def _spawn(
    helper: SpawnHelper,
    argv: list[str],
    cwd: str = "/",
    env: dict[str, str] | None = None,
    *,
    by_path: bool = True,
) -> tuple[int, asyncio.Future[int], Pipes]:
    """Spawn by path, as the daemon does for a program it found on PATH (or by name)."""
    pipes = Pipes()
    executable = shutil.which(argv[0]) if by_path else None
    future = helper.spawn(argv, executable, cwd, env or {"PATH": os.defpath}, pipes.child_ends,
                          None)  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    pid = await future
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(pid, exited.set_result)
    return pid, exited, pipes


async def test_the_helper_starts_a_child_with_its_pipes_cwd_and_environment(
    helper: SpawnHelper, tmp_path: Path
) -> None:
    pid, exited, pipes = await _spawn(
        helper,
        ["sh", "-c", 'echo "$WHO in $(pwd)"; exit 3'],
        cwd=str(tmp_path),
        env={"PATH": os.defpath, "WHO": "sheet"},
    )
    assert await asyncio.wait_for(exited, 10) == 3
    assert pipes.read_out().decode() == f"sheet in {tmp_path}\n"
    pipes.close()
    assert pid != helper.process.pid
    # It ran in a session of its own, as the daemon's own children do.
    assert pid not in (os.getpid(), os.getsid(0))


PROBE = (
    'echo "cwd=$(pwd) who=$WHO"; ls /proc/self/fd | sort -n | tr "\\n" " "; echo; '
    "grep -E '^(SigIgn|SigBlk)' /proc/self/status; ps -o sid= -p $$; cat; echo read-done"
)


@pytest.mark.parametrize("by_path", [True, False], ids=["by-path", "by-name"])
async def test_the_child_gets_only_its_pipes_default_signals_and_a_session_of_its_own(
    helper: SpawnHelper, tmp_path: Path, by_path: bool
) -> None:
    """As the daemon's own children: nothing of the helper's is inherited (its socket,
    the pipes of other runs), no signal ignored or blocked, a session of its own; for a
    program given by path (the daemon resolves bare names on PATH) or by name."""
    env = {"PATH": os.defpath, "WHO": "sheet"}
    pid, exited, pipes = await _spawn(helper, ["sh", "-c", PROBE], str(tmp_path), env,
                                      by_path=by_path)  # fmt: skip
    assert await asyncio.wait_for(exited, 10) == 0
    lines = pipes.read_out().decode().splitlines()
    pipes.close()
    assert lines[0] == f"cwd={tmp_path} who=sheet"
    # 0-2, and the one `ls` opens to list the directory: nothing of the helper's.
    assert lines[1].split() == ["0", "1", "2", "3"]
    assert lines[2:4] == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"]
    assert int(lines[4]) == pid  # its own session
    assert lines[5] == "read-done"  # stdin is /dev/null: cat ends at once


async def test_a_relative_path_is_the_daemons_whatever_ran_before(
    helper: SpawnHelper, tmp_path: Path
) -> None:
    here = Path.cwd()
    for cwd in (str(tmp_path), "."):
        _pid, exited, pipes = await _spawn(helper, ["pwd"], cwd=cwd)
        assert await asyncio.wait_for(exited, 10) == 0
        expected = tmp_path if cwd != "." else here
        assert pipes.read_out().decode().strip() == str(expected)
        pipes.close()


async def test_a_missing_working_directory_fails_the_spawn(
    helper: SpawnHelper, tmp_path: Path
) -> None:
    for executable in ("/bin/true", None):
        pipes = Pipes()
        future = helper.spawn(["true"], executable, str(tmp_path / "gone"),
                              {"PATH": os.defpath}, pipes.child_ends, None)  # fmt: skip
        pipes.close_child_ends()
        assert future is not None
        with pytest.raises(FileNotFoundError):
            await future
        pipes.close()


async def test_the_child_reads_its_stdin_then_end_of_file(helper: SpawnHelper) -> None:
    pipes = Pipes()
    future = helper.spawn(["sh", "-c", "cat; echo end"], None, "/", {"PATH": os.defpath},
                          pipes.child_ends, "the prompt \u00e9\n".encode())  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(await future, exited.set_result)
    assert await asyncio.wait_for(exited, 10) == 0
    assert pipes.read_out().decode() == "the prompt \u00e9\nend\n"
    pipes.close()


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "no-memfd"])
def test_stdin_from_reads_the_data_then_end_of_file(
    monkeypatch: pytest.MonkeyPatch, memfd: bool
) -> None:
    if not memfd:  # another system: an unlinked temporary file instead
        monkeypatch.delattr(os, "memfd_create", raising=False)
    fd = stdin_from(b"x" * 100_000)
    try:
        assert os.get_inheritable(fd) is False
        assert len(os.read(fd, 200_000)) == 100_000
        assert os.read(fd, 10) == b""
    finally:
        os.close(fd)


async def test_a_child_killed_by_a_signal_is_reported_as_subprocess_does(
    helper: SpawnHelper,
) -> None:
    _pid, exited, pipes = await _spawn(helper, ["sh", "-c", "kill -TERM $$"])
    assert await asyncio.wait_for(exited, 10) == -signal.SIGTERM
    pipes.close()


async def test_a_spawn_that_fails_raises_the_os_error(helper: SpawnHelper, tmp_path: Path) -> None:
    pipes = Pipes()
    future = helper.spawn(["no-such-program-xyz"], None, "/", {"PATH": str(tmp_path)},
                          pipes.child_ends, None)  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    with pytest.raises(FileNotFoundError):
        await future
    pipes.close()
    # The helper still serves the next one.
    _pid, exited, pipes = await _spawn(helper, ["true"])
    assert await asyncio.wait_for(exited, 10) == 0
    pipes.close()


async def test_the_helper_writes_the_files_before_the_child_starts(
    helper: SpawnHelper, tmp_path: Path
) -> None:
    prompt = tmp_path / "ws" / "logs" / "sheet-01.prompt.md"  # no ws/ yet
    pipes = Pipes()
    files = [(str(prompt), "the prompt \u00e9".encode())]
    future = helper.spawn(["sh", "-c", f"cat {prompt}"], None, "/", {"PATH": os.defpath},
                          pipes.child_ends, None, files)  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(await future, exited.set_result)
    assert await asyncio.wait_for(exited, 10) == 0
    assert pipes.read_out().decode() == "the prompt \u00e9"
    pipes.close()


async def test_a_file_the_helper_cannot_write_is_reported_and_nothing_starts(
    helper: SpawnHelper, tmp_path: Path
) -> None:
    (tmp_path / "logs").write_text("a file where the directory should be")
    marker = tmp_path / "ran"
    pipes = Pipes()
    files = [(str(tmp_path / "logs" / "p.md"), b"x")]
    future = helper.spawn(["touch", str(marker)], None, "/", {"PATH": os.defpath},
                          pipes.child_ends, None, files)  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    with pytest.raises(UnwrittenError) as caught:
        await future
    assert caught.value.filename == str(tmp_path / "logs" / "p.md")
    assert caught.value.strerror == os.strerror(errno.ENOTDIR)
    pipes.close()
    _pid, exited, pipes = await _spawn(helper, ["true"])  # it still serves the next one
    assert await asyncio.wait_for(exited, 10) == 0
    pipes.close()
    assert not marker.exists()


async def test_a_request_too_large_for_one_message_is_refused(helper: SpawnHelper) -> None:
    pipes = Pipes()
    huge = {"PATH": os.defpath, "BIG": "x" * 200_000}
    assert helper.spawn(["true"], None, "/", huge, pipes.child_ends, None) is None
    # A base environment too: nothing sent, and the next base is.
    assert helper.spawn(["true"], None, "/", {}, pipes.child_ends, None, (), huge) is None
    pipes.close_child_ends()
    pipes.close()
    _pid, exited, pipes = await _spawn(helper, ["true"])
    assert await asyncio.wait_for(exited, 10) == 0
    pipes.close()


async def _environment(
    helper: SpawnHelper, env: dict[str, str], base: dict[str, str] | None
) -> str:
    pipes = Pipes()
    future = helper.spawn(["sh", "-c", "tr '\\0' '\\n' < /proc/$$/environ"], "/bin/sh", "/",
                          env, pipes.child_ends, None, (), base)  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(await future, exited.set_result)
    assert await asyncio.wait_for(exited, 10) == 0
    text = pipes.read_out().decode()
    pipes.close()
    return text


async def test_a_base_environment_is_sent_once_and_each_child_adds_its_own(
    helper: SpawnHelper,
) -> None:
    """The daemon's environment goes to the helper once (again when it is another dict);
    each request carries only what its child adds or changes: the child gets the base's
    variables in their order, then its own."""
    base = {"PATH": os.defpath, "WHO": "daemon", "KEPT": "\u00e9"}
    sent: list[bytes] = []
    helper._sock = _Recording(helper._sock, sent)  # type: ignore[arg-type,assignment]
    first = await _environment(helper, {"WHO": "sheet 1", "MOZART_SHEET_NUM": "1"}, base)
    assert first == f"PATH={os.defpath}\nWHO=sheet 1\nKEPT=\u00e9\nMOZART_SHEET_NUM=1\n"
    second = await _environment(helper, {"MOZART_SHEET_NUM": "2"}, base)
    assert second == f"PATH={os.defpath}\nWHO=daemon\nKEPT=\u00e9\nMOZART_SHEET_NUM=2\n"
    assert len(sent) == 1  # the base, once
    changed = {**base, "KEPT": "new"}
    third = await _environment(helper, {}, changed)
    assert third == f"PATH={os.defpath}\nWHO=daemon\nKEPT=new\n"
    assert len(sent) == 2
    # A request with its whole environment leaves the base as it is for the next ones.
    assert await _environment(helper, {"ALONE": "1"}, None) == "ALONE=1\n"
    assert await _environment(helper, {}, changed) == third
    assert len(sent) == 2


class _Recording:
    """A socket whose plain ``send``s (the base environment's messages) are recorded."""

    def __init__(self, sock: object, sent: list[bytes]) -> None:
        self._sock = sock
        self._sent = sent

    def send(self, data: bytes) -> int:
        self._sent.append(data)
        return self._sock.send(data)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


async def test_losing_the_helper_stops_its_children_and_fails_what_it_had_not_answered(
    helper: SpawnHelper,
) -> None:
    pid, exited, pipes = await _spawn(helper, ["sleep", "60"])
    helper.process.kill()
    assert await asyncio.wait_for(exited, 10) == -signal.SIGKILL
    assert not helper.running and helper.lost
    # The child's group was killed with it (its zombie belongs to init now, not to us).
    for _ in range(200):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the lost helper's child still runs")
    assert helper.spawn(["true"], None, "/", {}, [], None) is None
    pipes.close()


def test_the_helper_fails_an_unanswered_spawn_when_it_goes() -> None:
    async def main() -> None:
        helper = SpawnHelper(asyncio.get_running_loop())
        os.kill(helper.process.pid, signal.SIGSTOP)  # it cannot answer
        try:
            pipes = Pipes()
            future = helper.spawn(["true"], None, "/", {}, pipes.child_ends, None)
            pipes.close_child_ends()
            assert future is not None
            helper.process.kill()
            with pytest.raises(HelperLostError):
                await asyncio.wait_for(future, 10)
            pipes.close()
        finally:
            helper.stop()

    asyncio.run(main())


# -- run_process through the helper ------------------------------------------------------


@pytest.fixture
def helper_enabled() -> Iterator[None]:
    assert process.enable_spawn_helper()
    try:
        yield
    finally:
        process.stop_spawn_helper()
        process._RUNS.helper_losses = 0


def _started_by(helper: SpawnHelper) -> list[int]:
    """The pids the helper starts from now on (each is watched once)."""
    seen: list[int] = []
    real_watch = helper.watch

    def watch(pid: int, on_exit: Callable[[int], None]) -> None:
        seen.append(pid)
        real_watch(pid, on_exit)

    helper.watch = watch  # type: ignore[method-assign]
    return seen


async def _run(
    argv: list[str],
    cwd: Path,
    timeout: float = 30,
    files: list[tuple[str, bytes]] | None = None,
    stdin: bytes | None = None,
) -> tuple[process.ProcessResult, str]:
    out, err = OutputSink("stdout", keep_all=True), OutputSink("stderr")
    result = await run_process(
        argv,
        cwd=cwd,
        env={"PATH": os.defpath},
        stdout=out,
        stderr=err,
        timeout_seconds=timeout,
        stdin_data=stdin,
        files=files or (),
    )
    return result, out.text


@pytest.mark.usefixtures("helper_enabled")
async def test_run_process_uses_the_helper_while_another_run_is_live(tmp_path: Path) -> None:
    # Alone: started here (no helper yet).
    result, text = await _run(["sh", "-c", "echo alone"], tmp_path)
    assert (result.exit_code, text) == (0, "alone\n")
    assert process._RUNS.helper is None

    long_run = asyncio.create_task(_run(["sleep", "2"], tmp_path))
    while not process._RUNS.live:
        await asyncio.sleep(0.01)
    # The first spawn while another run is live starts the helper (and is done here).
    first = await _run(["sh", "-c", "echo first"], tmp_path)
    assert first[1] == "first\n"
    helper = process._RUNS.helper
    assert helper is not None and helper.running
    # The next ones go through it: their pid is the helper's child.
    seen = _started_by(helper)
    result, text = await _run(["sh", "-c", "echo through; pwd; exit 4"], tmp_path)
    assert (result.exit_code, text) == (4, f"through\n{tmp_path}\n")
    assert len(seen) == 1
    timed_out = await _run(["sleep", "30"], tmp_path, timeout=0.3)
    assert timed_out[0].timed_out and len(seen) == 2
    missing = tmp_path / "missing"
    with pytest.raises(BackendStartError, match="does not exist"):
        await _run(["true"], missing)
    long_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_run


@pytest.mark.usefixtures("helper_enabled")
async def test_run_process_cancelled_while_the_helper_starts_it_stops_it(tmp_path: Path) -> None:
    long_run = asyncio.create_task(_run(["sleep", "5"], tmp_path))
    while not process._RUNS.live:
        await asyncio.sleep(0.01)
    await _run(["true"], tmp_path)  # starts the helper
    helper = process._RUNS.helper
    assert helper is not None
    seen = _started_by(helper)
    task = asyncio.create_task(_run(["sleep", "60"], tmp_path))
    await asyncio.sleep(0)  # the request is sent; its answer has not been read
    assert not seen
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # It started, and was stopped before the cancellation returned.
    assert len(seen) == 1
    with pytest.raises(ProcessLookupError):
        os.killpg(seen[0], 0)
    assert len(process._RUNS.live) == 1
    long_run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_run
    assert not process._RUNS.live


def test_the_helper_runs_on_the_standard_library_alone() -> None:
    # Started with -I -S: nothing of the daemon's packages may be imported there.
    source = Path(process.__file__).with_name("spawn_helper.py").read_text()
    imports = [line.split()[1] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and "__future__" not in line]  # fmt: skip
    assert imports and all(name in sys.stdlib_module_names for name in imports)


@pytest.mark.usefixtures("helper_enabled")
async def test_run_process_uses_the_helper_while_another_sheet_is_in_progress(
    tmp_path: Path,
) -> None:
    """Another sheet in any step (rendering, writing its checkpoint ...) keeps the loop busy
    even when no other process is alive: most of the time under load, with short sheets."""
    with process.work_in_progress():
        await _run(["true"], tmp_path)
        assert process._RUNS.helper is None  # one sheet alone: spawned here
        with process.work_in_progress():
            await _run(["true"], tmp_path)  # starts the helper, spawned here
            helper = process._RUNS.helper
            assert helper is not None
            seen = _started_by(helper)
            result, text = await _run(["sh", "-c", "echo via helper"], tmp_path)
            assert (result.exit_code, text, len(seen)) == (0, "via helper\n", 1)
    assert process._RUNS.work == 0


async def _files_written_by_run_process(tmp_path: Path) -> None:
    """run_process writes its files (and their directories) before the child starts, and
    fails with a FatalSheetError naming the file it cannot write, starting nothing."""
    workspace = tmp_path / "ws"  # does not exist yet: the files' directories are created
    prompt = workspace / "logs" / "sheet-01.prompt.md"
    result, text = await _run(
        ["sh", "-c", "cat logs/sheet-01.prompt.md"], workspace, files=[(str(prompt), b"go")]
    )
    assert (result.exit_code, text) == (0, "go")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "logs").write_text("not a directory")
    blocked = tmp_path / "flat" / "logs" / "p.md"
    marker = tmp_path / "ran"
    with pytest.raises(FatalSheetError, match=f"cannot write `{blocked}`: Not a directory"):
        await _run(["touch", str(marker)], tmp_path, files=[(str(blocked), b"x")])
    assert not marker.exists()
    # Directories given first (a new job's workspace and logs/): made, or the same errors.
    fresh = tmp_path / "new" / "deeper"  # its parent missing too: made as without them
    for where in (tmp_path / "ws2", fresh):
        files = [(str(where), None), (f"{where}/logs", None), (f"{where}/logs/p.md", b"go")]
        result, text = await _run(["sh", "-c", "cat logs/p.md"], where, files=files)
        assert (result.exit_code, text) == (0, "go")
    flat = [(str(tmp_path / "flat"), None), (str(tmp_path / "flat" / "logs"), None)]
    with pytest.raises(FatalSheetError, match=f"cannot write `{blocked}`: Not a directory"):
        await _run(["touch", str(marker)], tmp_path, files=[*flat, (str(blocked), b"x")])
    assert not marker.exists()


async def test_run_process_writes_its_files_before_starting_the_child(tmp_path: Path) -> None:
    await _files_written_by_run_process(tmp_path)


def test_a_new_workspaces_directories_given_first_are_made_without_a_failing_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's first sheet gives its workspace and logs/ first: each call succeeds (trying
    the prompt file, then logs/, before the workspace exists failed twice a job)."""
    failed: list[str] = []

    def counted(call: Callable[..., object]) -> Callable[..., object]:
        def wrapper(path: str, *args: object) -> object:
            try:
                return call(path, *args)
            except OSError:
                failed.append(path)
                raise

        return wrapper

    monkeypatch.setattr(spawn_helper.os, "mkdir", counted(os.mkdir))
    monkeypatch.setattr(spawn_helper.os, "open", counted(os.open))
    ws = tmp_path / "ws"
    prompt = ws / "logs" / "sheet-01.prompt.md"
    spawn_helper.write_files([(str(ws), None), (str(ws / "logs"), None), (str(prompt), b"go")])
    assert (prompt.read_bytes(), failed) == (b"go", [])


@contextlib.asynccontextmanager
async def _through_the_helper(tmp_path: Path) -> AsyncIterator[list[int]]:
    """Runs inside go through the spawn helper (a first run here starts it): the pids it
    starts from then on."""
    with process.work_in_progress(), process.work_in_progress():
        await _run(["true"], tmp_path)  # starts the helper
        helper = process._RUNS.helper
        assert helper is not None
        yield _started_by(helper)


@pytest.mark.usefixtures("helper_enabled")
async def test_through_the_helper_run_process_writes_its_files_the_same_way(
    tmp_path: Path,
) -> None:
    async with _through_the_helper(tmp_path) as seen:
        await _files_written_by_run_process(tmp_path)
        assert len(seen) == 3  # the runs that started; the others were refused before


async def _stdin_given_by_run_process(tmp_path: Path) -> None:
    """The child reads ``stdin_data`` then end of file, as often as it likes; one that does
    not read it (more than a pipe holds) ends all the same."""
    prompt = "the prompt \u00e9\n".encode()
    result, text = await _run(["sh", "-c", "cat; cat; echo end"], tmp_path, stdin=prompt)
    assert (result.exit_code, text) == (0, "the prompt \u00e9\nend\n")
    result, text = await _run(["sh", "-c", "echo unread"], tmp_path, stdin=b"x" * 4_000_000)
    assert (result.exit_code, text) == (0, "unread\n")


async def test_run_process_gives_the_child_its_stdin(tmp_path: Path) -> None:
    await _stdin_given_by_run_process(tmp_path)
    result, text = await _run(["wc", "-c"], tmp_path, stdin=b"x" * 4_000_000)
    assert (result.exit_code, text.strip()) == (0, "4000000")


@pytest.mark.usefixtures("helper_enabled")
async def test_through_the_helper_run_process_gives_the_stdin_the_same_way(
    tmp_path: Path,
) -> None:
    async with _through_the_helper(tmp_path) as seen:
        await _stdin_given_by_run_process(tmp_path)
        assert len(seen) == 1  # the small one (the large one is too large for a request)


@pytest.mark.usefixtures("helper_enabled")
async def test_short_commands_through_the_helper_keep_all_their_output(tmp_path: Path) -> None:
    """A command that prints and exits at once often has exited when the helper's answer
    comes (its pipes are then read to their end, never watched): nothing is lost."""
    long_run = asyncio.create_task(_run(["sleep", "5"], tmp_path))
    while not process._RUNS.live:
        await asyncio.sleep(0.01)
    try:
        for n in range(20):
            result, text = await _run(["sh", "-c", f"echo out{n}; echo more{n}"], tmp_path)
            assert (result.exit_code, text) == (0, f"out{n}\nmore{n}\n")
        assert process._RUNS.helper is not None and process._RUNS.helper.running
    finally:
        long_run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await long_run


class _CountingRecv(_Recording):
    """A socket whose ``recv``s that find nothing (BlockingIOError) are counted."""

    def __init__(self, sock: object) -> None:
        super().__init__(sock, [])
        self.failed = 0

    def recv(self, size: int) -> bytes:
        try:
            return self._sock.recv(size)  # type: ignore[attr-defined, no-any-return]
        except BlockingIOError:
            self.failed += 1
            raise


async def test_the_helpers_messages_are_taken_without_a_failing_recv(
    helper: SpawnHelper,
) -> None:
    """Each wake-up takes one message (the loop's readers are level-triggered: another
    waiting wakes it again) instead of reading until a recv fails (an exception each
    time)."""
    counting = _CountingRecv(helper._sock)
    helper._sock = counting  # type: ignore[assignment]
    for _ in range(3):
        _pid, exited, pipes = await _spawn(helper, ["true"])
        assert await asyncio.wait_for(exited, 10) == 0
        pipes.close()
    # Several at once: the answers and exits of three children, read in one go or not.
    spawned = [await _spawn(helper, ["true"]) for _ in range(3)]
    for _pid, exited, pipes in spawned:
        assert await asyncio.wait_for(exited, 10) == 0
        pipes.close()
    assert counting.failed == 0


# -- answers held until the exit (a tag) --------------------------------------------------


async def _spawn_tagged(
    helper: SpawnHelper, argv: list[str], tag: bytes, hold_seconds: float
) -> tuple[asyncio.Future[int], Pipes]:
    pipes = Pipes()
    name, _, value = tag.decode().partition("=")
    env = {"PATH": os.defpath, name: value}
    future = helper.spawn(
        argv, shutil.which(argv[0]), "/", env, pipes.child_ends, None, tag=tag,
        hold_seconds=hold_seconds,
    )  # fmt: skip
    pipes.close_child_ends()
    assert future is not None
    return future, pipes


async def test_a_held_answer_comes_with_the_exit_of_a_short_child(helper: SpawnHelper) -> None:
    """One message: the pid, and the return code waiting for ``watch``."""
    real_dispatch = helper._dispatch
    kinds: list[str] = []

    def dispatch(message: tuple[object, ...]) -> None:
        kinds.append(str(message[0]))
        real_dispatch(message)

    helper._dispatch = dispatch  # type: ignore[method-assign]
    future, pipes = await _spawn_tagged(helper, ["sh", "-c", "exit 3"], b"TAG=short", 30.0)
    pid = await asyncio.wait_for(future, 10)
    codes: list[int] = []
    helper.watch(pid, codes.append)
    assert codes == [3]  # at once: it had exited
    assert kinds == ["done"]
    assert pid not in helper._started and not helper._tags
    pipes.close()


async def test_a_held_answer_of_a_child_still_running_comes_after_the_hold(
    helper: SpawnHelper,
) -> None:
    future, pipes = await _spawn_tagged(helper, ["sleep", "60"], b"TAG=long", 0.05)
    pid = await asyncio.wait_for(future, 10)
    os.killpg(pid, 0)  # it runs
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(pid, exited.set_result)
    os.killpg(pid, signal.SIGTERM)
    assert await asyncio.wait_for(exited, 10) == -signal.SIGTERM
    pipes.close()


async def test_held_answers_each_come_once_by_exit_or_by_deadline(helper: SpawnHelper) -> None:
    """Several answers held at once: a child that exits first is answered with its exit
    (its deadline dropped), the others at their deadlines, in order, each once."""
    kinds: list[tuple[str, object]] = []
    real_dispatch = helper._dispatch

    def dispatch(message: tuple[object, ...]) -> None:
        kinds.append((str(message[0]), message[1]))
        real_dispatch(message)

    helper._dispatch = dispatch  # type: ignore[method-assign]
    long_1, pipes_1 = await _spawn_tagged(helper, ["sleep", "60"], b"TAG=first", 0.05)
    short, pipes_2 = await _spawn_tagged(helper, ["sh", "-c", "exit 4"], b"TAG=short", 30.0)
    long_2, pipes_3 = await _spawn_tagged(helper, ["sleep", "60"], b"TAG=second", 0.1)
    pids = [await asyncio.wait_for(future, 10) for future in (long_1, short, long_2)]
    codes: list[int] = []
    helper.watch(pids[1], codes.append)
    assert codes == [4]
    # By request (rids count up): the first and third at their deadlines (in that order),
    # the second with its exit, each once.
    by_rid = sorted(kinds, key=lambda kind_rid: str(kind_rid[1]).zfill(20))
    assert [kind for kind, _ in by_rid] == ["ok", "done", "ok"]
    assert [rid for kind, rid in kinds if kind == "ok"] == [by_rid[0][1], by_rid[2][1]]
    for pid in (pids[0], pids[2]):
        exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        helper.watch(pid, exited.set_result)
        os.killpg(pid, signal.SIGTERM)
        assert await asyncio.wait_for(exited, 10) == -signal.SIGTERM
    assert not helper._tags
    for pipes in (pipes_1, pipes_2, pipes_3):
        pipes.close()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This process a child subreaper for the test (the daemon is one)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        pytest.skip("cannot be a child subreaper")
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)
        with contextlib.suppress(ChildProcessError):  # the orphans it adopted
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


@pytest.mark.usefixtures("subreaper")
async def test_losing_the_helper_while_it_holds_an_answer_stops_that_child(
    helper: SpawnHelper,
) -> None:
    """No answer came: the child is found by its tag among the helper's orphans,
    re-parented to this process, and answered as one started then killed (SIGKILL to
    its group), as the children whose answer had come."""
    tag = b"MOZART_TEST_TAG=%d" % os.getpid()
    future, pipes = await _spawn_tagged(helper, ["sleep", "60"], tag, 60.0)
    child = None
    for _ in range(500):  # until the helper has started it (its exec done: its environ)
        with open(f"/proc/{helper.process.pid}/task/{helper.process.pid}/children") as f:
            started = f.read().split()
        if started:
            with open(f"/proc/{started[0]}/environ", "rb") as f:
                if tag in f.read().split(b"\0"):
                    child = int(started[0])
                    break
        await asyncio.sleep(0.01)
    assert child is not None
    helper.process.kill()
    assert await asyncio.wait_for(future, 10) == child
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    helper.watch(child, exited.set_result)
    assert await asyncio.wait_for(exited, 10) == -signal.SIGKILL
    assert not helper._tags and helper.lost
    for _ in range(200):  # it is ours now: reaped here
        try:
            done, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            done, status = 0, 0
        if done:
            assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the held child still runs")
    pipes.close()


@pytest.mark.usefixtures("subreaper", "helper_enabled")
async def test_a_run_whose_answer_is_held_is_live_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the helper holds its answer, the run counts among the live ones (with its
    token and start), so that another run's survey does not take its token-less orphans
    for its own; then under its pid."""
    monkeypatch.setattr(process._RUNS, "subreaper", True)
    long_run = asyncio.create_task(_run(["sleep", "5"], tmp_path))
    while not process._RUNS.live:
        await asyncio.sleep(0.01)
    await _run(["true"], tmp_path)  # starts the helper
    task = asyncio.create_task(_run(["sleep", "60"], tmp_path))
    await asyncio.sleep(0)  # the request is sent; its answer is held
    held = [key for key in process._RUNS.live if key < 0]
    assert len(held) == 1
    token, since = process._RUNS.live[held[0]]
    assert len(token) == 32 and since <= process._ticks_now()
    while sum(key > 0 for key in process._RUNS.live) < 2:  # the long run's, and its
        await asyncio.sleep(0.005)  # once the answer came (after the hold): by its pid
    assert not [key for key in process._RUNS.live if key < 0]
    assert token in [t for t, _ in process._RUNS.live.values()]
    for run in (task, long_run):
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert not process._RUNS.live
