"""How dear creating files is on the disk right now, and waiting until it is back to normal.

Each one-sheet job of the throughput row creates three inodes (its workspace, ``logs/`` and
the prompt file). On an ext4 file system without a journal, as on this machine, the kernel
will not reuse an inode deleted in about the last half minute (``recently_deleted`` in
``fs/ext4/ialloc.c``) and scans past every such inode each time it allocates one: after a
test suite or an earlier benchmark run has deleted thousands of files, creating a file
costs several times its usual system time for a minute or two, and that cost lands on the
spawn helper, which starts the jobs' processes one at a time. task-spooler creates no file.

``settle`` measures the cost of creating a job's three inodes and waits, up to a limit,
until it is back to what the disk costs when nothing was deleted recently, so that the row
measures the daemon rather than what ran before it; the row's note says how long it waited
and what the probe cost. The probe's own files are kept until the run ends (``keep``):
deleting them would start the same slowdown again.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# CPU microseconds for a job's three inodes: 60-100 on this disk when nothing was deleted in
# the last minutes, 200-1,200 after a test suite's or a benchmark's deletions; 15-20 on tmpfs.
SETTLED_US = 150.0
# As many jobs as a round of the throughput row: ext4 spreads a parent's new directories over
# more block groups as the first fills up, and a probe of 50 jobs stayed in a group with no
# recent deletions while the row's 1,000 workspaces met them (the probe said 53 us a job, the
# spawn helper then used 0.5-0.9 ms of system time a job instead of 0.1).
PROBE_JOBS = 1000


@dataclass(frozen=True)
class Settle:
    waited: float  # seconds spent waiting for the disk
    cost_us: float  # the last probe: CPU microseconds per job's three inodes
    settled: bool  # the last probe was within SETTLED_US


def inode_cost(directory: Path, jobs: int = PROBE_JOBS) -> float:
    """CPU microseconds (this thread's, ``CLOCK_THREAD_CPUTIME_ID``) to create ``jobs`` times what a
    job creates: a directory, a ``logs/`` directory in it and a file in that, in a directory
    of its own under ``directory``, laid out as a daemon's workspaces are (``ws/NAME``)."""
    base = tempfile.mkdtemp(prefix="probe", dir=directory)
    os.mkdir(f"{base}/ws")
    before = time.thread_time()
    for i in range(jobs):
        os.mkdir(f"{base}/ws/w{i}")
        os.mkdir(f"{base}/ws/w{i}/logs")
        os.close(os.open(f"{base}/ws/w{i}/logs/p", os.O_CREAT | os.O_WRONLY, 0o644))
    return (time.thread_time() - before) / jobs * 1e6


def settle(
    directory: Path,
    keep: Callable[[Path], None],
    limit: float = 180.0,
    interval: float = 10.0,
) -> Settle:
    """Probe file creation under ``directory`` until it costs at most SETTLED_US a job or
    ``limit`` seconds have passed; ``keep`` is given the probe's directory to delete later."""
    probes = Path(tempfile.mkdtemp(prefix="mzb-probe", dir=directory))
    keep(probes)
    start = time.monotonic()
    while True:
        cost = inode_cost(probes)
        waited = time.monotonic() - start
        if cost <= SETTLED_US:
            return Settle(waited, cost, True)
        if waited + interval > limit:
            return Settle(waited, cost, False)
        time.sleep(interval)
