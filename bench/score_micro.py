"""In-process cost of the daemon's load of the throughput bench's score (issue 7).

    python3 -m uv run python bench/score_micro.py [--rounds 7] [--number 2000]
    python3 -m uv run python bench/score_micro.py --instructions [--number 500]

The cases: the daemon's on-loop load (``_load_for_peer(inline=True)``, as ``read_score``
calls it for a small score), the same on behalf of a non-root client (the peer permission
check walks the path), ``load_score`` with the text given, and the loader's steps. Each
call loads the next of 5,000 scores that differ in name and workspace, as the throughput
row's do, so that what is memoised by value (the tags of scalars) is missed as there.

By default it prints the best and median µs of this thread's CPU time per call over
``--rounds`` rounds of ``--number`` calls. On a machine shared with other work those
move by 30% and more between runs; ``--instructions`` instead counts the instructions a
call executes, under valgrind's cachegrind (two runs of each case, ``--number`` and twice
as many calls, so that start-up cancels out): repeatable to within a few thousand.

To compare two trees, run it with ``PYTHONPATH`` set to the other tree's package ``src``
folders (they come before the editable installs); it prints where it imported from.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.daemon import write_score

SCORES = 5000  # more than the memos of scalars' tags keep (4,096 values)


def cases(directory: Path) -> dict[str, Callable[[], object]]:
    from mozart_daemon import peer
    from mozart_daemon.jobs import scores
    from mozart_protocol.score import load_score
    from mozart_protocol.score.checks import check_loaded
    from mozart_protocol.score.loaded import LoadedScore
    from mozart_protocol.score.model import decode_score
    from mozart_protocol.score.yamlsource import parse_yaml

    # The bench's score, renamed (as write_score would write it, without its 5,000 dumps).
    first = write_score(directory, "tp-00000")
    paths = [first.with_name(f"tp-{i:05d}.yaml") for i in range(SCORES)]
    texts = [(str(path), first.read_text().replace("tp-00000", path.stem)) for path in paths]
    for (_, text), path in zip(texts, paths, strict=True):
        path.write_text(text)
    turn = itertools.cycle(texts)
    document = parse_yaml(texts[0][1])
    score = decode_score(document.data)

    def checked() -> object:
        # A new LoadedScore each time: it keeps the plan and workspace the checks make.
        return check_loaded(LoadedScore(score, paths[0], paths[0].parent))

    def as_peer() -> object:
        token = peer.PEER.set(peer.Peer(pid=1, uid=65534, gid=65534))
        try:
            return scores._load_for_peer(next(turn)[0], inline=True)
        finally:
            peer.PEER.reset(token)

    def with_text() -> object:
        config_path, text = next(turn)
        return load_score(config_path, text=text)

    return {
        "_load_for_peer(inline) no peer": lambda: scores._load_for_peer(next(turn)[0], inline=True),
        "_load_for_peer(inline) uid 65534": as_peer,
        "load_score(text=...)": with_text,
        "parse_yaml": lambda: parse_yaml(next(turn)[1]),
        "decode_score": lambda: decode_score(document.data),
        "check_loaded": checked,
    }


def time_cases(chosen: dict[str, Callable[[], object]], rounds: int, number: int) -> None:
    for name, call in chosen.items():
        call()
        times = timeit.repeat(call, number=number, repeat=rounds, timer=time.thread_time)
        per_call = [t / number * 1e6 for t in times]
        print(
            f"{name:34} best {min(per_call):7.1f} us   median {statistics.median(per_call):7.1f} us"
        )


def count_instructions(names: list[str], number: int) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    for name in names:
        counts = []
        for calls in (number, 2 * number):
            run = subprocess.run(
                [valgrind, "--tool=cachegrind", "--cache-sim=no",
                 "--cachegrind-out-file=/dev/null", sys.executable,
                 __file__, "--run", name, "--number", str(calls)],
                capture_output=True, text=True, check=False,
                env={**os.environ, "PYTHONHASHSEED": "0"},  # the same setup in both runs
            )  # fmt: skip
            if run.returncode != 0:
                sys.exit(f"{name}: the run under valgrind failed:\n{run.stderr[-3000:]}")
            found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
            assert found is not None, run.stderr
            counts.append(int(found.group(1).replace(",", "")))
        print(f"{name:34} {(counts[1] - counts[0]) / number:10,.0f} instructions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--only", default="", help="only the cases whose name contains this")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one case, untimed (under valgrind)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        every = cases(Path(tmp))
        # What setup made is never collected: a full collection walking it would land in
        # one run of a case and not in the other.
        gc.collect()
        gc.freeze()
        if args.run:
            call = every[args.run]
            for _ in range(args.number):
                call()
            return
        import mozart_daemon.jobs.scores
        import mozart_protocol.score

        for module in (mozart_protocol.score, mozart_daemon.jobs.scores):
            print(f"{module.__name__} from {Path(str(module.__file__)).parent}")
        chosen = {name: call for name, call in every.items() if args.only in name}
        if args.instructions:
            count_instructions(list(chosen), args.number)
        else:
            time_cases(chosen, args.rounds, args.number)


if __name__ == "__main__":
    main()
