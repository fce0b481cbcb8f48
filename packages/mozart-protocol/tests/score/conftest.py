from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_score(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML into tmp_path (or a subpath of it) and return its path."""

    def write(text: str, name: str = "score.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
