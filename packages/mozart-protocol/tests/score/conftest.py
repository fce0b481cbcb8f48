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


def value_types(value: object) -> object:
    """The types inside a parsed YAML value, nested (what ``==`` misses: ``1 == True``)."""
    if isinstance(value, dict):
        return [(type(k).__name__, value_types(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [value_types(v) for v in value]
    return type(value).__name__
