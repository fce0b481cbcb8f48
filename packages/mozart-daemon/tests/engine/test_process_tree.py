"""ProcessTree's survey (engine/process.py): which processes it takes for a run's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess

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
