"""Instructions the daemon executes per job of the throughput row, counted under valgrind.

    python3 -m uv run python bench/daemon_instructions.py [--jobs 400] [--warm 50]
    python3 -m uv run python bench/daemon_instructions.py --bytecodes [--inclusive] [--top 40]

Timings of the throughput row move by 30-50 % between runs on a shared machine, and so does
the daemon's CPU time per job (cache and core contention); instruction counts do not. This
starts ``mozartd`` under valgrind's cachegrind twice, submits ``--warm`` and then ``--warm``
+ ``--jobs`` one-sheet ``true`` jobs from 8 clients (``bench.rows.throughput``), and prints
the difference divided by ``--jobs``: the daemon's user-space instructions per job, its
event loop and database thread together, start-up and shut-down cancelled out. The spawn
helper and the sheets' processes are not counted (cachegrind does not follow children).

``--bytecodes`` says where they go: the same two runs without valgrind, the daemon tracing
the Python bytecodes it executes (``sys.settrace`` with opcode events, 20-50x slower), per
job by file and by function; with ``--inclusive``, each Mozart function's count includes
the bytecodes of everything it called (a coroutine's own share of each resumption), which
shows what a whole step costs: a submit, a sheet's run, an event's delivery.

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
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.daemon as bench_daemon
from bench.daemon import BenchDaemon, mozartd_argv, wait_idle, write_score
from bench.rows.throughput import submit_all

# Loaded by the traced daemon (PYTHONPATH): counts the bytecodes each function executes.
_TRACER = """
import atexit, collections, os, sys, threading
counts = collections.Counter()
inclusive = os.environ.get("MOZART_BENCH_INCLUSIVE") == "1"
def _key(code, frame):
    if code.co_filename == "<string>" and "self" in frame.f_locals:  # made by dataclasses
        return ("<string>", f"{type(frame.f_locals['self']).__name__}.{code.co_name}")
    return (code.co_filename, code.co_qualname)
def tracer(frame, event, arg):
    if event != "call":
        return None
    frame.f_trace_opcodes, frame.f_trace_lines = True, False
    keys = [_key(frame.f_code, frame)]
    if inclusive:  # also every Mozart function on the stack (once each)
        outer = frame.f_back
        while outer is not None:
            code = outer.f_code
            if "/mozart_" in code.co_filename or code.co_filename == "<string>":
                key = _key(code, outer)
                if key not in keys:
                    keys.append(key)
            outer = outer.f_back
    keys.append(("", "TOTAL"))

    def local(frame, event, arg):
        if event == "opcode":
            for key in keys:
                counts[key] += 1
        return local

    return local
sys.settrace(tracer)
threading.settrace(tracer)
@atexit.register
def dump():
    with open(os.environ["MOZART_BENCH_BYTECODES"], "w") as f:
        for (name, function), n in counts.items():
            f.write(f"{n}\\t{name}\\t{function}\\n")
"""


async def _run(jobs: int) -> None:
    async with BenchDaemon() as daemon:
        scores = [str(write_score(daemon.dir, f"tp-{i:05d}")) for i in range(jobs)]
        await submit_all(daemon.path, scores)
        await wait_idle(daemon.path, timeout=60 + jobs * 0.5)


async def _count(jobs: int, out: Path) -> int:
    """Instructions of one daemon's whole life, ``jobs`` jobs run in it."""
    argv = mozartd_argv()
    if len(argv) == 1:  # the installed script: run by this interpreter, which valgrind runs
        argv = [sys.executable, *argv]
    bench_daemon.mozartd_argv = lambda: [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *argv
    ]  # fmt: skip
    try:
        await _run(jobs)
    finally:
        bench_daemon.mozartd_argv = mozartd_argv
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in {out}")


def _bytecodes(jobs: int, tmp: Path, inclusive: bool) -> Counter[tuple[str, str]]:
    """Bytecodes per function over one daemon's whole life, ``jobs`` jobs run in it;
    ``("", "TOTAL")`` counts them all."""
    (tmp / "sitecustomize.py").write_text(_TRACER)
    out = tmp / f"bytecodes.{jobs}"
    names = ("PYTHONPATH", "MOZART_BENCH_BYTECODES", "MOZART_BENCH_INCLUSIVE")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp), saved["PYTHONPATH"]]))
    os.environ["MOZART_BENCH_BYTECODES"] = str(out)
    os.environ["MOZART_BENCH_INCLUSIVE"] = "1" if inclusive else "0"
    try:
        asyncio.run(_run(jobs))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    counts: Counter[tuple[str, str]] = Counter()
    for line in out.read_text().splitlines():
        n, name, function = line.split("\t")
        counts[(_short(name), function)] += int(n)
    return counts


def _short(name: str) -> str:
    """A file name from the packages' ``src``, site-packages or the standard library."""
    for marker in ("/src/", "/site-packages/"):
        if marker in name:
            return name.split(marker, 1)[1]
    if "/lib/python3" in name:
        return name.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return name


def _print_bytecodes(warm: int, jobs: int, top: int, inclusive: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="mzb-bytecodes") as tmp:
        base = _bytecodes(warm, Path(tmp), inclusive)
        full = _bytecodes(warm + jobs, Path(tmp), inclusive)
    per_job = {key: (full[key] - base.get(key, 0)) / jobs for key in full}
    total = per_job.pop(("", "TOTAL"))
    print(f"{total:,.0f} bytecodes per one-sheet job ({jobs} jobs)\n")
    if not inclusive:  # inclusive counts overlap: no sums by file
        by_file: Counter[str] = Counter()
        for (name, _function), n in per_job.items():
            by_file[name] += round(n)
        for name, n in by_file.most_common(top // 2):
            print(f"{n:8,} {n / total:6.1%}  {name}")
        print()
    for (name, function), n in sorted(per_job.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{n:8,.0f} {n / total:6.1%}  {name}:{function}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument(
        "--bytecodes", action="store_true", help="Python bytecodes per job, by function"
    )
    parser.add_argument(
        "--inclusive",
        action="store_true",
        help="with --bytecodes: each function's count includes what the functions it called ran",
    )
    parser.add_argument("--top", type=int, default=40, help="functions shown by --bytecodes")
    args = parser.parse_args()
    if args.inclusive and not args.bytecodes:
        parser.error("--inclusive goes with --bytecodes")
    if args.bytecodes:
        _print_bytecodes(args.warm, args.jobs, args.top, args.inclusive)
        bench_daemon.remove_dirs()
        return 0
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
