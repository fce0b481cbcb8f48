"""A loaded score: the typed model plus where it came from (paths resolve against it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from mozart_protocol.score.findings import Finding
from mozart_protocol.score.model import Score
from mozart_protocol.score.plan import Plan, build_plan

_T = TypeVar("_T")


class _made_once(Generic[_T]):
    """``functools.cached_property`` without its lock: Python 3.11's takes one on every
    first access, which cost as much as making a small score's plan. What is made here
    depends only on the score, which does not change: two threads making it at once make
    equal values, and either may be kept."""

    def __init__(self, make: Callable[[Any], _T]) -> None:
        self._make = make
        self._name = make.__name__
        self.__doc__ = make.__doc__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _made_once[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object, owner: type | None = None) -> _T | _made_once[_T]:
        if instance is None:
            return self
        # Kept in the instance's __dict__, which is looked up first from then on (this
        # descriptor has no __set__).
        value = instance.__dict__[self._name] = self._make(instance)
        return value


class LoadedScore:
    """A score and where it came from: ``path``, the absolute path of the score file, and
    ``base_dir``, its directory, against which every relative path of the score resolves.

    Both are kept as text (``path_text``, ``base_dir_text``) and made into Path objects
    when first asked for: building a Path costs more than the rest of a small score's
    checks, and the daemon's submit needs only the text. ``plan`` and ``workspace`` are
    made once, for the static checks and whoever runs the score (the daemon's submit).
    The score is not changed once loaded.
    """

    def __init__(
        self,
        score: Score,
        path: str | os.PathLike[str],
        base_dir: str | os.PathLike[str] | None = None,
        warnings: list[Finding] | None = None,
    ) -> None:
        self.score = score
        self.path_text = os.fspath(path)
        self.base_dir_text = (
            os.path.dirname(self.path_text) if base_dir is None else os.fspath(base_dir)
        )
        self.warnings: list[Finding] = [] if warnings is None else warnings

    def __repr__(self) -> str:
        return f"LoadedScore(name={self.score.name!r}, path={self.path_text!r})"

    @_made_once
    def path(self) -> Path:
        """The score file's absolute path."""
        return Path(self.path_text)

    @_made_once
    def base_dir(self) -> Path:
        """The score's directory: every relative path of the score resolves against it."""
        return directory_path(self.base_dir_text)

    def resolve(self, value: str) -> Path:
        """``value`` (``~`` expanded) made absolute against the score's directory."""
        return Path(absolute_path_text(self.base_dir_text, value))

    @_made_once
    def plan(self) -> Plan:
        """``build_plan(score)``: raises PlanError when the sheet section cannot be planned
        (never for a score ``load_score`` returned)."""
        return build_plan(self.score)

    @_made_once
    def workspace_text(self) -> str:
        """The score's own workspace, absolute, as text."""
        return absolute_path_text(self.base_dir_text, self.score.workspace)

    @_made_once
    def workspace(self) -> Path:
        """The score's own workspace, absolute: ``resolve_workspace`` without an override."""
        return Path(self.workspace_text)


# The directories of the scores loaded lately, as Path objects: a daemon loads its scores
# from a few directories, and each job's runs ask for its score's.
_DIRECTORIES: dict[str, Path] = {}
_DIRECTORIES_KEPT = 64


def directory_path(text: str) -> Path:
    """``Path(text)``, shared with the scores loaded before from the same directory (a Path
    is immutable)."""
    path = _DIRECTORIES.get(text)
    if path is None:
        if len(_DIRECTORIES) >= _DIRECTORIES_KEPT:
            _DIRECTORIES.clear()
        path = _DIRECTORIES[text] = Path(text)
    return path


def resolve_path(base_dir: str | os.PathLike[str], value: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path; relative ones are taken from ``base_dir``.

    Symlinks are not resolved: the user's spelling of the workspace is what logs show.
    """
    return Path(absolute_path_text(base_dir, value))


def absolute_path_text(base_dir: str | os.PathLike[str], value: str | os.PathLike[str]) -> str:
    """:func:`resolve_path` as a string, for callers that need no Path object."""
    # On strings: the same result as with Path objects, which cost more than the rest.
    # os.path's expanduser, join and normpath without their Python where they change
    # nothing: expanduser of a value not starting with `~`, normpath of a normal path. (The
    # join's rule: an absolute value as it is, else after the base and one slash.)
    text = os.fspath(value)
    if text[:1] == "~":
        text = os.path.expanduser(text)
    if text[:1] != "/":
        if text[:2] == "./":  # `./ws`, as scores often write it: normal without its `./`
            text = text[2:]
        base = os.fspath(base_dir)
        text = f"{base}/{text}" if base and base[-1:] != "/" else base + text
    return normal_path(text)


def normal_path(path: str) -> str:
    """``os.path.normpath(path)``, without its Python for a path that is normal already
    (most): absolute, without an empty, `.` or `..` part, without a slash at its end."""
    if path[:1] == "/" and "//" not in path and "/." not in path and path[-1:] != "/":
        return path
    return os.path.normpath(path)


def parent_text(path: str) -> str:
    """``os.path.dirname(path)`` of a normal path (``normal_path``), without its Python
    but for a path at the root, of one part, or starting with two slashes."""
    cut = path.rfind("/")
    if cut > 0 and path[1:2] != "/":
        return path[:cut]
    return os.path.dirname(path)


def resolve_workspace(loaded: LoadedScore, override: str | os.PathLike[str] | None = None) -> Path:
    """The job's workspace as an absolute path.

    ``override`` (``mozart run --workspace``) wins over the score's ``workspace``; both
    resolve against the score's directory when relative, never the daemon's cwd, so the
    CLI should send an absolute override.
    """
    if override is None:
        return loaded.workspace
    return Path(absolute_path_text(loaded.base_dir_text, override))


def workspace_text(loaded: LoadedScore, override: str | os.PathLike[str] | None = None) -> str:
    """:func:`resolve_workspace` as text."""
    if override is None:
        return loaded.workspace_text
    return absolute_path_text(loaded.base_dir_text, override)


def template_source(loaded: LoadedScore) -> tuple[str, str]:
    """The prompt template text and a name for messages (the file path or ``prompt.template``).

    Raises OSError when ``template_file`` cannot be read.
    """
    prompt = loaded.score.prompt
    if prompt.template_file is not None:
        path = loaded.resolve(prompt.template_file)
        return path.read_text(encoding="utf-8"), str(path)
    return prompt.template or "", "prompt.template"
