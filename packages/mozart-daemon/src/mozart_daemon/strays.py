"""Sheet processes left running by a previous daemon on the same state database.

``kill -9`` (or a crash) gives a daemon no chance to stop its sheets: they run on in their own
sessions. Before a restarted daemon runs anything, it stops every process that carries a
sheet's run token (``MOZART_RUN_TOKEN``, set by the engine for every child of a sheet and
inherited by theirs) and belongs to a job of its registry (``MOZART_JOB_ID`` and
``MOZART_WORKSPACE`` both match). A resumed job must never race a copy of its own sheet in
the same workspace.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

import psutil

from mozart_daemon.engine.process import RUN_TOKEN_ENV

GRACE_SECONDS = 2.0


def find_strays(workspaces: Mapping[str, str]) -> list[psutil.Process]:
    """Processes of our uid running a sheet of one of ``workspaces`` (job id -> workspace)."""
    me, mine = os.getuid(), os.getpid()
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.pid == mine or proc.info["uids"].real != me:
                continue
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        job_id = env.get("MOZART_JOB_ID")
        ours = job_id is not None and workspaces.get(job_id) == env.get("MOZART_WORKSPACE")
        if RUN_TOKEN_ENV in env and ours:
            found.append(proc)
    return found


def stop_strays(workspaces: Mapping[str, str], grace_seconds: float = GRACE_SECONDS) -> int:
    """SIGTERM the strays, SIGKILL what is left after ``grace_seconds``; returns how many."""
    procs = find_strays(workspaces)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=grace_seconds)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_seconds)
    return len(procs)
