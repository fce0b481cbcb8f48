"""Planning: `mozart validate` and `mozart run --dry-run` of a 10,000-sheet fan-out score
(stage 1 -> 9,998 parallel instances -> stage 3). Needs no daemon."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from bench import refs
from bench.result import Row
from bench.rows.cli import mozart_argv
from bench.rows.context import Context

TARGET_S = 1.0


def fan_out_score(directory: Path, sheets: int) -> Path:
    path = directory / "fan-out.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "fan-out-bench",
                "workspace": "./ws",
                "backend": {"type": "command", "command": ["true"]},
                "sheet": {
                    "size": 1,
                    "total_items": 3,
                    "fan_out": {2: sheets - 2},
                    "dependencies": {2: [1], 3: [2]},
                },
                "parallel": {"enabled": True, "max_concurrent": 10},
                "prompt": {
                    "template": "stage {{ stage }} instance {{ instance }} of {{ fan_count }}"
                },
                "validations": [{"type": "file_exists", "path": "{workspace}/out-{sheet_num}.txt"}],
            },
            sort_keys=False,
        )
    )
    return path


def _output_bytes(argv: list[str]) -> int:
    """How much the command prints (counted as it streams, not kept)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    total = 0
    while chunk := proc.stdout.read(1 << 20):
        total += len(chunk)
    proc.wait()
    return total


async def run(ctx: Context) -> list[Row]:
    runs = ctx.pick(5, 3)
    sheets = 10_000
    tmp = Path(tempfile.mkdtemp(prefix="mzb", dir="/tmp"))
    try:
        score = fan_out_score(tmp, sheets)
        mozart = mozart_argv()
        python = await asyncio.to_thread(refs.python_startup, runs)
        rows = []
        for key, what, argv in (
            ("planning.validate", "mozart validate", [*mozart, "validate", str(score)]),
            ("planning.dry_run", "mozart run --dry-run", [*mozart, "run", "--dry-run", str(score)]),
        ):
            figure = await asyncio.to_thread(refs.command_time, argv, runs)
            size = await asyncio.to_thread(_output_bytes, argv)
            rows.append(
                Row(
                    key=key,
                    what=f"`{what}` of a {sheets:,}-sheet fan-out score",
                    figure=figure * 1000,
                    unit="ms",
                    reference=python * 1000,
                    reference_what="ms python -c pass",
                    ratio=figure / python,
                    target=f"<= {TARGET_S * 1000:g} ms",
                    passed=figure <= TARGET_S,
                    note=f"prints {size:,} bytes",
                    extra={"runs": runs, "sheets": sheets, "stdout_bytes": size},
                )
            )
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
