"""Fixtures for the CLI's end-to-end tests: `mozart` as a subprocess against a real mozartd.

The daemon itself comes from the `daemon` fixture of tests/e2e/conftest.py (a real mozartd on
a temporary socket); these tests only need its socket path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Mozart:
    """Runs `python -m mozart_cli ...` with MOZART_SOCKET pointing at one daemon."""

    def __init__(self, socket_path: str, cwd: Path) -> None:
        self.socket_path = socket_path
        self.cwd = cwd

    def __call__(self, *args: str, timeout: float = 60, **env: str) -> Result:
        environment = {
            **os.environ,
            "MOZART_SOCKET": self.socket_path,
            "NO_COLOR": "1",
            **env,
        }
        done = subprocess.run(
            [sys.executable, "-m", "mozart_cli", *args],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=environment,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)


def _socket_of(daemon: Any) -> str:
    for name in ("socket_path", "socket"):
        value = getattr(daemon, name, None)
        if value is not None:
            return str(value)
    raise AttributeError("the daemon fixture exposes no socket path")


@pytest.fixture
def mozart(daemon: Any, tmp_path: Path) -> Mozart:
    return Mozart(_socket_of(daemon), tmp_path)


@pytest.fixture
def mozart_for(tmp_path: Path) -> Callable[[Any], Mozart]:
    """A `mozart` runner for another daemon (from ``daemon_factory``)."""

    def make(daemon: Any) -> Mozart:
        return Mozart(_socket_of(daemon), tmp_path)

    return make


@pytest.fixture
def no_daemon(tmp_path: Path) -> Iterator[Mozart]:
    directory = tempfile.mkdtemp(dir="/tmp", prefix="mzn-")
    yield Mozart(os.path.join(directory, "absent.sock"), tmp_path)
    shutil.rmtree(directory, ignore_errors=True)


def write_score(
    directory: Path,
    name: str,
    command: str,
    *,
    sheets: int = 3,
    validations: str = "",
    max_retries: int = 0,
) -> Path:
    """A score on the command backend, with fast retries."""
    path = directory / f"{name}.yaml"
    text = f"""\
name: {name}
description: e2e score {name}
workspace: ./{name}-ws
backend:
  type: command
  timeout_seconds: 30
  command: {json.dumps(command)}
sheet: {{size: 1, total_items: {sheets}}}
prompt:
  template: "Sheet {{{{ sheet_num }}}}"
retry:
  max_retries: {max_retries}
  base_delay_seconds: 0.01
  jitter: false
  completion_delay_seconds: 0.01
{validations}"""
    path.write_text(text)
    return path


@pytest.fixture
def score(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(name: str, command: str, **options: Any) -> Path:
        return write_score(tmp_path, name, command, **options)

    return make


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """The README's example, copied so that its workspace lands in tmp_path."""
    target = tmp_path / "hello.yaml"
    shutil.copy(REPO / "examples" / "hello.yaml", target)
    return target
