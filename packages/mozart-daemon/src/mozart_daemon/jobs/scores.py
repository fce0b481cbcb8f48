"""Reading a job's score: the daemon loads the file at ``config_path`` itself (a large one
off the event loop) and turns the score API's errors into the daemon's wire errors.

Relative paths inside the score (workspace, template files) resolve against the score's
directory, never the daemon's working directory (``mozart_protocol.score`` does this).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import yaml
from mozart_protocol.score import LoadedScore, ScoreError, ScoreNotReadableError, load_score
from mozart_protocol.score.loaded import resolve_path

from mozart_daemon import errors
from mozart_daemon.peer import require_readable

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _named_files(config_path: str, text: str) -> list[Path]:
    """The other files a score (``text``, read from ``config_path``) makes the daemon read:
    its template and system prompt."""
    # Most scores name no file: then the parse (the loader parses again) is not needed. A
    # YAML key can only be spelt without its letters through an escape in a double-quoted
    # scalar, which needs a backslash. (Three tests, not a generator over the keys: a
    # frame and about 25 bytecodes a submit.)
    if "\\" not in text and "template_file" not in text and "system_prompt_file" not in text:
        return []
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return []  # the loader reports it
    if not isinstance(data, dict):
        return []
    base = Path(os.path.abspath(config_path)).parent
    named = []
    for section, key in (("prompt", "template_file"), ("backend", "system_prompt_file")):
        part = data.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, str) and value:
            named.append(resolve_path(base, value))
    return named


def _load_for_peer(config_path: str, *, inline: bool = False) -> LoadedScore:
    """Load the score, unless the client could not read it, or a file it names, itself
    (``peer.require_readable``): checked before anything is read on its behalf.

    ``inline``: on the event loop, for a score ``_small`` found small and regular; raises
    _NotInline when that no longer holds (the file was replaced meanwhile)."""
    require_readable(config_path)
    text = _read_inline(config_path) if inline else _read(config_path)
    for path in _named_files(config_path, text) if text is not None else ():
        require_readable(path)
    return load_score(config_path, text=text)


def _read(config_path: str) -> str | None:
    try:
        return Path(config_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the loader reads it again and reports why it cannot


class _NotInline(Exception):
    """The score is not (or no longer) a small regular file: load it in a thread."""


def _read_inline(config_path: str) -> str | None:
    """What ``Path.read_text`` gives (universal newlines), without its file objects; the
    open cannot block (O_NONBLOCK) and what was opened must be a small regular file."""
    try:
        fd = os.open(config_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > INLINE_BYTES:
            raise _NotInline
        # One read when it gives the size fstat found (a byte more is asked for: a file
        # that grew since is read to its end, as is one read short).
        data = os.read(fd, st.st_size + 1)
        if len(data) != st.st_size:
            chunks = [data]
            while chunk := os.read(fd, INLINE_BYTES + 1):
                chunks.append(chunk)
            data = b"".join(chunks)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


INLINE_BYTES = 16 * 1024


def _small(config_path: str) -> bool:
    """A regular file small enough to load on the event loop (unreadable: the loader
    reports it, and a FIFO or device is never opened there)."""
    try:
        st = os.stat(config_path)
    except OSError:
        return True
    return stat.S_ISREG(st.st_mode) and st.st_size <= INLINE_BYTES


async def read_score(config_path: str) -> LoadedScore:
    """The loaded, statically valid score; raises SCORE_NOT_READABLE or SCORE_INVALID (with
    every finding in ``data.findings``)."""
    try:
        if _small(config_path):
            # A few kilobytes parse in well under a millisecond: cheaper on the loop than
            # the hop to a worker thread, whose Python code would only contend for the GIL.
            try:
                return _load_for_peer(config_path, inline=True)
            except _NotInline:
                pass
        return await asyncio.to_thread(_load_for_peer, config_path)
    except ScoreNotReadableError as exc:
        detail = exc.findings[0].message if exc.findings else str(exc)
        raise errors.DaemonError(
            errors.SCORE_NOT_READABLE, f"Cannot read the score {config_path}: {detail}"
        ) from exc
    except ScoreError as exc:
        findings: list[dict[str, object]] = [
            {"code": f.code, "severity": f.severity, "message": f.message, "file": f.file,
             "line": f.line, "column": f.column, "path": f.path}
            for f in exc.findings
        ]  # fmt: skip
        raise errors.DaemonError(
            errors.SCORE_INVALID,
            f"The score {config_path} is invalid: {exc}",
            {"findings": findings},
        ) from exc
