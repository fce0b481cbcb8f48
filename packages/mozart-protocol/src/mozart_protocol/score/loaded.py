"""A loaded score: the typed model plus where it came from (paths resolve against it)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from mozart_protocol.score.findings import Finding
from mozart_protocol.score.model import Score
from mozart_protocol.score.plan import Plan, build_plan


@dataclass(frozen=True)
class LoadedScore:
    score: Score
    path: Path  # absolute path of the score file
    base_dir: Path  # its directory: every relative path of the score resolves against it
    warnings: list[Finding] = field(default_factory=list)

    def resolve(self, value: str) -> Path:
        """``value`` (``~`` expanded) made absolute against the score's directory."""
        return resolve_path(self.base_dir, value)

    # Made once: the static checks need them, and so does whoever runs the score (the
    # daemon's submit). The score is not changed once loaded.

    @functools.cached_property
    def plan(self) -> Plan:
        """``build_plan(score)``: raises PlanError when the sheet section cannot be planned
        (never for a score ``load_score`` returned)."""
        return build_plan(self.score)

    @functools.cached_property
    def workspace(self) -> Path:
        """The score's own workspace, absolute: ``resolve_workspace`` without an override."""
        return resolve_path(self.base_dir, self.score.workspace)


def resolve_path(base_dir: Path, value: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path; relative ones are taken from ``base_dir``.

    Symlinks are not resolved: the user's spelling of the workspace is what logs show.
    """
    return Path(absolute_path_text(base_dir, value))


def absolute_path_text(base_dir: str | os.PathLike[str], value: str | os.PathLike[str]) -> str:
    """:func:`resolve_path` as a string, for callers that need no Path object."""
    # On strings: the same result as with Path objects, which cost more than the rest.
    # (join keeps an absolute ``value`` as it is.)
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(os.fspath(value))))


def resolve_workspace(loaded: LoadedScore, override: str | os.PathLike[str] | None = None) -> Path:
    """The job's workspace as an absolute path.

    ``override`` (``mozart run --workspace``) wins over the score's ``workspace``; both
    resolve against the score's directory when relative, never the daemon's cwd, so the
    CLI should send an absolute override.
    """
    if override is None:
        return loaded.workspace
    return resolve_path(loaded.base_dir, override)


def template_source(loaded: LoadedScore) -> tuple[str, str]:
    """The prompt template text and a name for messages (the file path or ``prompt.template``).

    Raises OSError when ``template_file`` cannot be read.
    """
    prompt = loaded.score.prompt
    if prompt.template_file is not None:
        path = loaded.resolve(prompt.template_file)
        return path.read_text(encoding="utf-8"), str(path)
    return prompt.template or "", "prompt.template"
