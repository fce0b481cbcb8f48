"""Validation paths stay inside the workspace (SCORE.md `validations`).

A rule's ``path`` or ``working_directory``, after placeholder substitution, is taken
relative to the workspace when it is relative. It must not leave the workspace: not by
``..``, not by an absolute path elsewhere, and (checked against the real file system when
``follow_symlinks``) not through a symlink.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mozart_protocol.score.placeholders import format_placeholders


class PathEscapeError(ValueError):
    """A validation path or working directory resolves outside the workspace."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_in_workspace(
    value: str | os.PathLike[str],
    workspace: str | os.PathLike[str],
    *,
    follow_symlinks: bool = True,
) -> Path:
    """``value`` as an absolute path inside ``workspace``; raises PathEscapeError otherwise."""
    root = os.path.normpath(os.path.abspath(os.fspath(workspace)))
    joined = os.path.normpath(os.path.join(root, os.fspath(value)))
    if not _inside(joined, root):
        raise PathEscapeError(f"`{value}` resolves to `{joined}`, outside the workspace `{root}`")
    if follow_symlinks:
        real_root = os.path.realpath(root)
        real = os.path.realpath(joined)
        if not _inside(real, real_root):
            raise PathEscapeError(
                f"`{value}` resolves through a symlink to `{real}`, outside the workspace `{root}`"
            )
    return Path(joined)


def rule_path(
    template: str,
    context: Mapping[str, object],
    workspace: str | os.PathLike[str],
    *,
    follow_symlinks: bool = True,
) -> Path:
    """Substitute placeholders in a rule's path, then resolve it inside the workspace.

    Raises PlaceholderError or PathEscapeError (both ValueError).
    """
    return resolve_in_workspace(
        format_placeholders(template, context), workspace, follow_symlinks=follow_symlinks
    )
