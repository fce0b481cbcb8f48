"""Shared helpers for the CLI unit tests (no daemon involved)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mozart_cli.main import app
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples" / "hello.yaml"

VALID_SCORE = """\
name: demo
workspace: ./ws
backend:
  type: command
  command: "true"
sheet: {size: 1, total_items: 3}
prompt:
  template: "Sheet {{ sheet_num }}"
validations:
  - type: file_exists
    path: "{workspace}/out-{sheet_num}.txt"
  - type: file_exists
    path: "{workspace}/final.txt"
    condition: "sheet_num == 3"
"""


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def hello() -> Path:
    return HELLO


@pytest.fixture
def valid_score() -> str:
    return VALID_SCORE


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def score_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "score.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
