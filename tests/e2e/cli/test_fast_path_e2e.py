"""`mozart status JOB --json` and `mozart list --json` against a real mozartd: the start-up
fast path (the `mozart` entry point) and the full Typer command print the same thing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FULL = "from mozart_cli.app import app; app(prog_name='mozart')"


def both(mozart: Any, *args: str) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
    env = {**os.environ, "MOZART_SOCKET": mozart.socket_path, "NO_COLOR": "1"}
    runs = []
    for argv in ([sys.executable, "-m", "mozart_cli"], [sys.executable, "-c", FULL]):
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=env, cwd=mozart.cwd, timeout=60
        )
        runs.append((done.stdout, done.stderr, done.returncode))
    return runs[0], runs[1]


def test_fast_and_full_paths_agree_on_a_real_daemon(
    mozart: Any, daemon: Any, score: Any, tmp_path: Path
) -> None:
    failing = score("fails", "echo boom >&2; exit 3", sheets=2)
    assert mozart("run", str(failing), "--follow").returncode == 1
    done = score("works", "true", sheets=3)
    assert mozart("run", str(done), "--follow").returncode == 0
    for args in (
        ["status", "works", "--json"],
        ["status", "fails", "--json"],
        ["status", "ghost", "--json"],
        ["list", "--json"],
        ["list", "--all", "--json"],
        ["list", "-a", "--json", "--socket", mozart.socket_path],
    ):
        fast, full = both(mozart, *args)
        assert fast == full, args
    fast, _ = both(mozart, "status", "ghost", "--json")
    assert fast[2] == 3 and "Job 'ghost' not found." in fast[1]
    assert "fails" in both(mozart, "list", "--all", "--json")[0][0]


def test_fast_and_full_paths_agree_without_a_daemon(no_daemon: Any) -> None:
    for args in (["status", "x", "--json"], ["list", "--json"]):
        fast, full = both(no_daemon, *args)
        assert fast == full and fast[2] == 1
        assert fast[1].startswith("Error: Mozart daemon is not running.")
