"""ProcessTree's survey (engine/process.py): which processes it takes for a run's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from mozart_daemon.engine import process


@pytest.mark.parametrize("survey", ["_survey_orphans", "_survey_proc"])
async def test_a_reaped_childs_pid_is_not_walked_for_its_children(survey: str) -> None:
    """Once a run's child is reaped, its pid may be another process's at once: that
    process's children are not the run's, and must not be stopped with it."""
    reused = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        for _ in range(500):  # until its sleep has started
            if process._children(reused.pid):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the sleep did not start")
        child = process._Child(reused.pid, asyncio.get_running_loop())
        child._settle(0)  # the run's child exited and was reaped; its pid is `reused`'s now
        tree = process.ProcessTree(child, "the-runs-token", process._ticks_now())
        getattr(tree, survey)()
        assert tree.known == {}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(reused.pid, signal.SIGKILL)
        reused.wait()


async def test_a_pipe_whose_writers_are_gone_is_read_to_its_end_without_the_loop() -> None:
    """A child that exited before its pipes were watched (its exit came with the spawn
    helper's answer): its output is read at the run's end, the pipe never registered."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"first line\nsecond")
    os.close(write_end)
    sink = process.OutputSink("stdout", keep_all=True)
    reader = process._Reader(read_end, asyncio.get_running_loop(), sink)
    reader.drain()
    assert reader.closed().done() and reader.fd is None and not reader.watched
    assert sink.tail == "first line\nsecond"


async def test_a_pipe_still_held_is_watched_for_the_rest() -> None:
    """A leftover holds the pipe: drain takes what is there, watch reads what follows."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)  # as _start gives a run's pipes
    os.write(write_end, b"before\n")
    sink = process.OutputSink("stdout", keep_all=True)
    reader = process._Reader(read_end, asyncio.get_running_loop(), sink)
    reader.drain()
    assert not reader.closed().done()
    reader.watch()
    os.write(write_end, b"after\n")
    os.close(write_end)
    await asyncio.wait_for(reader.closed(), timeout=10)
    assert sink.tail == "before\nafter\n" and reader.fd is None


def _watched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pipes registered with the loop from now on."""
    seen: list[int] = []
    real_watch = process._Reader.watch

    def watch(self: process._Reader) -> None:
        if self.fd is not None and not self.watched:
            seen.append(self.fd)
        real_watch(self)

    monkeypatch.setattr(process._Reader, "watch", watch)
    return seen


async def _run(argv: list[str], lines: list[str], timeout: float = 30) -> process.ProcessResult:
    out = process.OutputSink("stdout", on_line=lambda line: lines.append(line.line), keep_all=True)
    return await process.run_process(
        argv,
        cwd="/",
        env={"PATH": os.defpath},
        stdout=out,
        stderr=process.OutputSink("stderr"),
        timeout_seconds=timeout,
    )


async def test_a_short_programs_pipes_are_read_without_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A program that ends within _WATCH_AFTER (most sheets') is read to its end at the
    run's end: its pipes never registered with the loop."""
    monkeypatch.setattr(process, "_WATCH_AFTER", 5.0)
    watched = _watched(monkeypatch)
    lines: list[str] = []
    result = await _run(["sh", "-c", "echo one; echo two"], lines)
    assert (result.exit_code, lines, watched) == (0, ["one", "two"], [])


async def test_a_longer_programs_output_comes_as_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past _WATCH_AFTER the loop reads its pipes: a line comes while it still runs, and
    one writing more than a pipe holds is not held up."""
    monkeypatch.setattr(process, "_WATCH_AFTER", 0.01)
    watched = _watched(monkeypatch)
    lines: list[str] = []
    run = asyncio.create_task(_run(["sh", "-c", "echo early; sleep 30"], lines, timeout=60))
    for _ in range(1000):
        if lines:
            break
        await asyncio.sleep(0.01)
    assert lines == ["early"] and not run.done() and len(watched) == 2
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    lines.clear()
    result = await _run(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo"], lines)
    assert result.exit_code == 0 and "".join(lines) == "x" * 1_000_000  # in 64 KiB pieces


async def test_a_timeout_shorter_than_the_watch_delay_still_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "_WATCH_AFTER", 5.0)
    result = await _run(["sleep", "30"], [], timeout=0.2)
    assert result.timed_out and result.signal is not None


def test_the_main_threads_children_are_all_read_however_many() -> None:
    """``own_children`` reads the list with one ``pread`` when it is short, and reads on
    when it is longer than one read of the kernel gives (a page: about 700 pids), each
    time as it is now (the descriptor is kept open between reads)."""
    assert process._RUNS.main_thread() == os.getpid()
    before = set(process._RUNS.own_children())
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(subprocess.Popen(["sleep", "60"]))
        assert set(process._RUNS.own_children()) - before == {children[0].pid}
        size = len(" ".join(map(str, before)))
        while size <= 4096 + 512:  # more than 4 KiB of pids (800 to 1,100 children)
            children.append(subprocess.Popen(["sleep", "60"]))
            size += len(str(children[-1].pid)) + 1
        listed = process._RUNS.own_children()
        assert len(" ".join(map(str, listed))) > 4096
        assert set(listed) - before == {child.pid for child in children}
        assert len(listed) == len(set(listed))
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
    assert set(process._RUNS.own_children()) - before == set()


async def test_each_run_has_a_token_of_its_own(tmp_path: Path) -> None:
    """32 hex digits, another for each run (a count after this process's random part)."""
    tokens = []
    for _ in range(3):
        out = process.OutputSink("stdout", keep_all=True)
        result = await process.run_process(
            ["sh", "-c", f'echo "${process.RUN_TOKEN_ENV}"'],
            cwd=tmp_path,
            env={"PATH": os.defpath},
            stdout=out,
            stderr=process.OutputSink("stderr"),
            timeout_seconds=30,
        )
        assert result.exit_code == 0
        tokens.append(out.text.strip())
    assert len(set(tokens)) == 3
    assert all(len(token) == 32 and int(token, 16) >= 0 for token in tokens)


def test_a_forked_child_draws_its_own_tokens() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.write(write_end, process._TOKEN_BASE[0].encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        childs = f.read().decode()
    os.waitpid(pid, 0)
    assert len(childs) == 16 and childs != process._TOKEN_BASE[0]
