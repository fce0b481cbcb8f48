"""``python -m bench [--quick] [--only ROW ...] [--json PATH]``: issue 7's benchmark table.

Every figure is compared with a reference measured in the same run. Prints the table and
writes JSON (default bench/results/latest.json). Benchmarks, not tests: nothing here fails a
build; a row that does not meet its target says FAIL in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.daemon import remove_dirs
from bench.result import Row, machine, table, write_json
from bench.rows.context import Context

ROWS = ("rpc", "dispatch", "throughput", "cli", "registry", "memory", "planning")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and shorter runs (a smoke run)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ROWS,
        metavar="ROW",
        help=f"run only these rows: {', '.join(ROWS)}",
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write the results"
    )
    args = parser.parse_args(argv)
    ctx = Context(quick=args.quick)
    selected = [r for r in ROWS if not args.only or r in args.only]
    rows: list[Row] = []
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}
    meta = {
        "machine": machine(),
        "command": " ".join(["python -m bench", *(argv or sys.argv[1:])]),
        "quick": args.quick,
    }
    print(f"machine: {meta['machine']}", flush=True)
    try:
        for name in selected:
            module = importlib.import_module(f"bench.rows.{name}")
            t0 = time.perf_counter()
            print(f"-- {name} ...", flush=True)
            try:
                got = asyncio.run(module.run(ctx))
            except Exception as exc:  # one broken row must not hide the others
                traceback.print_exc()
                errors[name] = f"{type(exc).__name__}: {exc}"
                got = []
            durations[name] = time.perf_counter() - t0
            for row in got:
                print(
                    f"   {row.key}: {row.figure:.3f} {row.unit}"
                    + (f" ({row.ratio:.2f}x)" if row.ratio is not None else ""),
                    flush=True,
                )
            rows += got
    finally:
        remove_dirs()  # also when the run is interrupted (Ctrl-C, a timeout)
    print()
    print(table(rows))
    for name, error in errors.items():
        print(f"ERROR in {name}: {error}")
    write_json(args.json, rows, {**meta, "errors": errors, "durations_seconds": durations})
    print(f"\nwritten: {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
