"""Instructions the daemon executes per job of the throughput row, counted under valgrind.

    python3 -m uv run python bench/daemon_instructions.py [--jobs 400] [--warm 50]

Timings of the throughput row move by 30-50 % between runs on a shared machine, and so does
the daemon's CPU time per job (cache and core contention); instruction counts do not. This
starts ``mozartd`` under valgrind's cachegrind twice, submits ``--warm`` and then ``--warm``
+ ``--jobs`` one-sheet ``true`` jobs from 8 clients (``bench.rows.throughput``), and prints
the difference divided by ``--jobs``: the daemon's user-space instructions per job, its
event loop and database thread together, start-up and shut-down cancelled out. The spawn
helper and the sheets' processes are not counted (cachegrind does not follow children).

Repeatable to within 2-3 %: the batching of writes and of log lines, and which sheets the
spawn helper starts, still depend on timing. Not a row of ``python -m bench`` (it has no
reference to compare with, and takes about a minute); it is what issue 7's optimisations of
the daemon's per-job work are measured with. To compare two trees, run it with
``PYTHONPATH`` set to the other tree's package ``src`` folders (they come before the
editable installs); it prints where it imported from.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.daemon as bench_daemon
from bench.daemon import BenchDaemon, mozartd_argv, wait_idle, write_score
from bench.rows.throughput import submit_all


async def _count(jobs: int, out: Path) -> int:
    """Instructions of one daemon's whole life, ``jobs`` jobs run in it."""
    argv = mozartd_argv()
    if len(argv) == 1:  # the installed script: run by this interpreter, which valgrind runs
        argv = [sys.executable, *argv]
    bench_daemon.mozartd_argv = lambda: [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *argv
    ]  # fmt: skip
    try:
        async with BenchDaemon() as daemon:
            scores = [str(write_score(daemon.dir, f"tp-{i:05d}")) for i in range(jobs)]
            await submit_all(daemon.path, scores)
            await wait_idle(daemon.path, timeout=60 + jobs * 0.5)
    finally:
        bench_daemon.mozartd_argv = mozartd_argv
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--warm", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    import mozart_daemon

    print(f"mozart_daemon from {Path(mozart_daemon.__file__).parent}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mzb-instr") as tmp:
        base = asyncio.run(_count(args.warm, Path(tmp) / "warm.out"))
        total = asyncio.run(_count(args.warm + args.jobs, Path(tmp) / "full.out"))
    bench_daemon.remove_dirs()
    per_job = (total - base) / args.jobs
    print(f"{per_job:,.0f} instructions per one-sheet job ({args.jobs} jobs; start-up and "
          f"{args.warm} jobs: {base:,})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
