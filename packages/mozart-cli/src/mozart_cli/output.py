"""Terminal output without Rich: colour rules, plain tables, durations, JSON on stdout.

Colour is used only when the stream is a terminal, ``NO_COLOR`` is unset (any value, even
empty, disables it: https://no-color.org) and ``TERM`` is not ``dumb``. ``--json`` output
goes through :func:`print_json` to stdout and nothing else does in that mode; every
warning, progress line and error goes to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}

# How each job or sheet state is coloured (unknown states stay plain).
STATE_STYLES: dict[str, str] = {
    "queued": "dim",
    "pending": "dim",
    "running": "cyan",
    "paused": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "skipped": "dim",
}


def colour_enabled(stream: TextIO) -> bool:
    if "NO_COLOR" in os.environ:
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def style(text: str, *names: str, stream: TextIO | None = None) -> str:
    """``text`` wrapped in ANSI codes for ``names`` when ``stream`` (stdout) takes colour."""
    target = stream if stream is not None else sys.stdout
    if not names or not colour_enabled(target):
        return text
    codes = ";".join(_CODES[name] for name in names)
    return f"\x1b[{codes}m{text}\x1b[0m"


def state_text(state: str, *, stream: TextIO | None = None) -> str:
    name = STATE_STYLES.get(state)
    return style(state, name, stream=stream) if name else state


class OutputClosed(Exception):
    """The reader of our output went away (``mozart logs JOB | head``): stop quietly.

    Distinct from BrokenPipeError, which is a ConnectionError and would otherwise read as
    "lost the connection to the daemon".
    """


@contextmanager
def guard_pipe() -> Iterator[None]:
    """Turn a broken pipe on our own output into :class:`OutputClosed`."""
    try:
        yield
    except BrokenPipeError:
        raise OutputClosed from None


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str = "") -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def error(message: str, *details: str) -> None:
    """``Error: message`` on stderr, then each detail line as is."""
    err(f"{style('Error:', 'bold', 'red', stream=sys.stderr)} {message}")
    for line in details:
        err(line)


def warning(message: str) -> None:
    err(f"{style('Warning:', 'bold', 'yellow', stream=sys.stderr)} {message}")


def print_json(value: object) -> None:
    """``value`` (msgspec Structs, dicts, lists, datetimes) as indented JSON on stdout."""
    import msgspec

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")
    sys.stdout.flush()


def _visible_len(text: str) -> int:
    # Cells may carry ANSI colour codes: measure only what the terminal shows.
    length, escape = 0, False
    for char in text:
        if escape:
            escape = char != "m"
        elif char == "\x1b":
            escape = True
        else:
            length += 1
    return length


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; the header row is bold on a terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], _visible_len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell + " " * (widths[i] - _visible_len(cell)) for i, cell in enumerate(cells[:-1])
        ]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return [style(line(headers), "bold"), *(line(row) for row in rows)]


def format_duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``2h 15m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def truncate(text: str | None, width: int) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    if not text:
        return "-"
    first = text.strip().splitlines()[0] if text.strip() else "-"
    return first if len(first) <= width else first[: width - 1] + "…"
