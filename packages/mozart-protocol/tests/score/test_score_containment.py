"""Validation paths stay inside the workspace: no `..`, no absolute escape, no symlink escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from mozart_protocol.score import (
    PathEscapeError,
    PlaceholderError,
    resolve_in_workspace,
    rule_path,
)


def test_relative_paths_are_inside_the_workspace(tmp_path: Path) -> None:
    assert resolve_in_workspace("out/a.md", tmp_path) == tmp_path / "out" / "a.md"
    assert resolve_in_workspace(".", tmp_path) == tmp_path
    assert resolve_in_workspace("a/../b", tmp_path) == tmp_path / "b"


def test_absolute_paths_inside_are_fine(tmp_path: Path) -> None:
    assert resolve_in_workspace(str(tmp_path / "x"), tmp_path) == tmp_path / "x"


@pytest.mark.parametrize("value", ["..", "../x", "a/../../x", "/etc/passwd"])
def test_escapes_are_errors(tmp_path: Path, value: str) -> None:
    with pytest.raises(PathEscapeError, match="outside the workspace"):
        resolve_in_workspace(value, tmp_path / "ws")


def test_a_sibling_with_a_common_prefix_is_outside(tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(str(tmp_path / "ws-other" / "x"), tmp_path / "ws")


def test_symlink_escape(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (tmp_path / "secret").write_text("x")
    (workspace / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(PathEscapeError, match="symlink"):
        resolve_in_workspace("link", workspace)
    # Lexically it is inside: static validation cannot know better.
    assert resolve_in_workspace("link", workspace, follow_symlinks=False) == workspace / "link"


def test_symlinked_workspace_itself_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert resolve_in_workspace("a.md", tmp_path / "alias") == tmp_path / "alias" / "a.md"


def test_rule_path_substitutes_then_contains(tmp_path: Path) -> None:
    context = {"workspace": str(tmp_path), "sheet_num": 3}
    assert rule_path("{workspace}/s-{sheet_num:02d}.md", context, tmp_path) == tmp_path / "s-03.md"
    assert rule_path("s-{sheet_num}.md", context, tmp_path) == tmp_path / "s-3.md"
    with pytest.raises(PathEscapeError):
        rule_path("{workspace}/../s-{sheet_num}.md", context, tmp_path)
    with pytest.raises(PlaceholderError):
        rule_path("{nope}", context, tmp_path)
