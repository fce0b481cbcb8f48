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
