"""Logging setup: structlog, console lines in the foreground, JSON in the background.

Event names are ``noun.past_verb`` (``job.started``, ``rpc.failed``). Job and request ids
are bound through contextvars (``bind_job``, ``bind_request``) so every line logged while
handling a job or a request carries them without passing loggers around.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from threading import get_ident
from time import time_ns
from types import MappingProxyType
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

_log_stream: TextIO | None = None
# The level configured last; structlog's defaults (nothing configured) log every level.
_min_level = logging.DEBUG


def debug_enabled() -> bool:
    """Whether ``log.debug`` lines are written: a caller that would build a line's fields
    only for it skips that work when they are not (the usual case: level info)."""
    return _min_level <= logging.DEBUG


def configure_logging(
    *, level: str = "info", json: bool = False, log_file: Path | None = None
) -> None:
    """Configure structlog for the whole process.

    ``log_file`` set: lines are appended there (JSON when ``json``); otherwise they go to
    stderr. Safe to call again (SIGHUP changes the level).
    """
    global _log_stream, _min_level
    stream: TextIO
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        if _log_stream is not None and getattr(_log_stream, "name", None) == str(log_file):
            stream = _log_stream
        else:
            stream = open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            _log_stream = stream
    else:
        stream = sys.stderr
    processors: list[Any] = [_add_context]
    renderer: Any = structlog.processors.JSONRenderer() if json else console_line
    global _writer
    if _writer is not None:
        _writer.flush()
    _writer = LineWriter(stream)
    writer = _writer
    global _direct
    chain = [*processors, renderer]
    _direct = (renderer, writer, chain)
    structlog.configure(
        processors=chain,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *args: writer,
        cache_logger_on_first_use=False,
    )
    _min_level = _LEVELS[level]
    _reconfigured()


# What ``bind_job`` and ``bind_request`` bound: each key's innermost value, the keys bound
# last first (a JSON line's order). Merged once per binding, never changed: a line takes
# it whole, instead of walking the bindings.
_BOUND: ContextVar[Mapping[str, object]] = ContextVar(
    "mozart_log_bound", default=MappingProxyType({})
)
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}
_format_exc_info = structlog.processors.format_exc_info

# The second ``_timestamp`` formatted last: its first and its next nanosecond since the
# epoch, the format of a time within it, and the text of its first microsecond.
_second: tuple[int, int, str, str] = (0, 0, "", "")


def _timestamp() -> str:
    """The time now as ``TimeStamper(fmt="iso", utc=True)`` gives it
    (``2026-11-27T03:28:12.862466Z``, no fraction when it is 0), with the date and time of
    day formatted once a second, into the format of its microseconds:
    ``datetime.now(UTC).isoformat()`` is 16,000 instructions, this 4,000."""
    now = time_ns()
    second = _second
    if not second[0] <= now < second[1]:
        second = _new_second(now)
    micros = (now - second[0]) // 1000
    return second[2] % micros if micros else second[3]


def _new_second(now: int) -> tuple[int, int, str, str]:
    """``_second`` for the second of ``now`` (nanoseconds since the epoch)."""
    global _second  # one tuple, replaced whole: safe from any thread
    seconds = now // 1_000_000_000
    start = seconds * 1_000_000_000
    whole = datetime.fromtimestamp(seconds, UTC).isoformat().removesuffix("+00:00")
    _second = (start, start + 1_000_000_000, f"{whole}.%06dZ", f"{whole}Z")
    return _second


def _add_context(logger: Any, method_name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The bound context, the level and the time, then the exception, if any: structlog's
    ``merge_contextvars``, ``add_log_level``, ``TimeStamper(fmt="iso", utc=True)`` and
    ``format_exc_info`` in one step (the same keys, in the same order, the same text), for
    a third of their cost. For JSON lines, and a console line with an exception (the usual
    console line takes ``_Logger._log``'s shorter way)."""
    for key, value in _BOUND.get().items():
        event.setdefault(key, value)  # a value given to the call wins, then the innermost
    event["level"] = _LEVEL_NAMES.get(method_name, method_name)
    event["timestamp"] = _timestamp()
    if "exc_info" in event:
        return dict(_format_exc_info(logger, method_name, event))
    return event


# A text value with one of these (or an empty one) is quoted, as structlog's renderer does.
_QUOTED = frozenset(" \t=\r\n\"'")
# Texts found plain (written unquoted) lately: the same few (a job's id, a component, a
# method) come in line after line, and a look-up here is a sixth of checking one anew.
_PLAIN: set[str] = set()
_PLAIN_MAX = 1024


def _plain(value: str) -> bool:
    """Whether a text is written as it is (else its repr); a ``str`` one is remembered."""
    if value and _QUOTED.isdisjoint(value):
        if value.__class__ is str:  # a subclass may compare equal to a text, not print as it
            if len(_PLAIN) >= _PLAIN_MAX:
                _PLAIN.clear()
            _PLAIN.add(value)
        return True
    return False


def console_line(_logger: object, _method: str, event: dict[str, Any]) -> str:
    """``2026-11-27T03:28:12.862466Z [info     ] job.started     job_id=a``: the layout of
    structlog's ConsoleRenderer (no colours), in a fifth of its time."""
    timestamp = event.pop("timestamp", "")
    level = event.pop("level", "")
    name = event.pop("event", "")
    exception = event.pop("exception", None)
    line = _console_text(timestamp, f"[{level:<9}]", name, event)
    return f"{line}\n{exception}" if exception else line


def _console_text(timestamp: str, tag: str, name: object, fields: dict[str, Any]) -> str:
    """A console line: its time, its ``[level    ]`` tag, its event and the other fields."""
    return f"{timestamp} {tag} {name!s:<30} {_fields_text(fields)}".rstrip()


def _fields_text(fields: dict[str, Any]) -> str:
    """A console line's fields, sorted by key, each ``key=value`` (the value's repr when it
    is not a plain text)."""
    return " ".join(
        [
            f"{key}={value}"
            if (value.__class__ is str and value in _PLAIN)
            or (isinstance(value, str) and _plain(value))
            else f"{key}={value!r}"
            for key, value in sorted(fields.items())
        ]
    )


class LineWriter:
    """structlog's logger: writes each rendered line to the stream.

    Lines logged on the event loop's thread are written together, once per turn of the
    loop (one ``write`` for the handful of lines a job's step logs, instead of one each:
    a write to a log file costs 30-80 µs on this disk); lines from other threads, and from
    code without a running loop, are written at once. Everything is written at exit."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._pending: list[str] = []
        # The loop the last batched line was logged in, and its thread: while it runs, a
        # line from that thread is logged in it. Asking asyncio for the running loop costs
        # a ``getpid`` system call each time (CPython 3.11), three times a job.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def msg(self, message: str) -> None:
        loop = self._loop
        if loop is None or get_ident() != self._thread or not loop.is_running():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or loop.is_closed():
                self._write(message + "\n")
                return
            self._loop, self._thread = loop, get_ident()
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.append(message)

    log = debug = info = warn = warning = msg
    err = error = critical = exception = fatal = failure = msg

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self._write("\n".join(lines) + "\n")

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken log stream must not break the daemon


_writer: LineWriter | None = None


@atexit.register
def flush_logs() -> None:
    """Write the lines still waiting for the end of the loop's turn."""
    if _writer is not None:
        _writer.flush()


def set_level(level: str) -> None:
    """Change the level without touching the renderer or the destination."""
    global _min_level
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]))
    _min_level = _LEVELS[level]
    _reconfigured()


def reset_logging() -> None:
    """structlog's defaults again (tests)."""
    global _min_level, _direct
    structlog.reset_defaults()
    _min_level = logging.DEBUG
    _direct = None
    _reconfigured()


# Bumped by every change of the configuration above: a module's logger is built once per
# configuration, not on every call as structlog's lazy proxy does (its ``bind`` on each
# ``log.info`` was 5-10 µs, a few percent of the daemon's CPU per job).
_generation = 0


def _reconfigured() -> None:
    global _generation
    _generation += 1


# What ``configure_logging`` configured: its renderer, its writer and structlog's processor
# chain. A module's logger whose structlog configuration is still that chain renders and
# writes a line itself (``_Logger._log``), as structlog would, without its bound logger's
# calls (a context copy, the processor loop, three frames: a third of a line's cost).
_direct: tuple[Any, LineWriter, list[Any]] | None = None


# The fields a line's processors set or read (an exception among them: its traceback).
_RENDERED = frozenset({"event", "level", "timestamp", "exception", "exc_info"})
# A console line's level tag per _Logger method.
_TAGS = {method: f"[{method:<9}]" for method in ("debug", "info", "warning", "error")}


def _level_method(level: int, method: str) -> Callable[..., None]:
    """``_Logger.info`` and its kin. A console line is rendered here, in one step: what
    ``_add_context`` and ``console_line`` make of it (the same fields: the call's values
    win, then the logger's, then the innermost bound ones; the same text), without a call
    for each part of it (a third of a line's cost, three lines a job)."""
    tag = _TAGS[method]

    def log(self: _Logger, event: str, **kw: Any) -> None:
        if self._built != _generation:
            self._current()
        console = self._console
        if console is None:  # not console lines of our chain: structlog's way, or JSON
            if self._direct is None or level >= _min_level:  # (structlog filters its own)
                self._log(method, event, kw)
            return
        if level < _min_level:
            return
        fields = {**_BOUND.get(), **self._values, **kw}
        if not _RENDERED.isdisjoint(fields):  # the long way, which handles them
            self._log(method, event, kw)
            return
        now = time_ns()
        second = _second
        if not second[0] <= now < second[1]:
            second = _new_second(now)
        micros = (now - second[0]) // 1000
        text = _fields_text(fields)
        console.msg(
            f"{second[2] % micros if micros else second[3]} {tag} {event!s:<30} {text}".rstrip()
        )

    log.__name__ = log.__qualname__ = method
    return log


class _Logger:
    """A module's logger: structlog's, rebuilt when the configuration changed."""

    __slots__ = ("_bound", "_built", "_console", "_direct", "_values")

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self._bound: Any = None
        self._built = -1
        self._direct: tuple[Any, LineWriter, list[Any]] | None = None
        # The writer, when the lines are console lines of our chain (rendered in one step).
        self._console: LineWriter | None = None

    def _current(self) -> Any:
        if self._built != _generation:
            # Initial values go through get_logger, not .bind() on the proxy: the logger is
            # built with the configuration of now.
            self._bound = structlog.get_logger(**self._values).bind()
            ours = _direct is not None and structlog.get_config()["processors"] is _direct[2]
            self._direct = _direct if ours else None
            direct = self._direct
            self._console = direct[1] if direct is not None and direct[0] is console_line else None
            self._built = _generation
        return self._bound

    def _log(self, method: str, event: str, kw: dict[str, Any]) -> None:
        """A line the level lets through, the long way: structlog's bound logger (when
        configured by someone else), or our processor chain (JSON lines, and console lines
        with a field the chain sets or reads)."""
        direct = self._direct
        if direct is None:  # configured by someone else (structlog's defaults, a test)
            getattr(self._bound, method)(event, **kw)
            return
        renderer, writer, _chain = direct
        # structlog's _process_event with our chain: the context, the call's values, the event.
        line = {**self._values, **kw, "event": event}
        writer.msg(renderer(writer, method, _add_context(writer, method, line)))

    debug = _level_method(logging.DEBUG, "debug")
    info = _level_method(logging.INFO, "info")
    warning = warn = _level_method(logging.WARNING, "warning")
    error = _level_method(logging.ERROR, "error")

    def exception(self, event: str, **kw: Any) -> None:
        kw.setdefault("exc_info", True)  # as structlog's: an error line with the traceback
        self.error(event, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` (the module) is added to each line as ``component``.
    Built on first use with the configuration of then, and again after each change of it
    (``configure_logging``, ``set_level``, ``reset_logging``)."""
    return _Logger({"component": name} if name else {})


class _Bound:
    """Binds fields for the lines logged inside: a context object over one ContextVar,
    a fifth of the cost of structlog's ``bind_contextvars`` in a generator-based context
    manager (twice a job, and once per request). Merged with what is bound already once,
    here, not on each line."""

    __slots__ = ("_token", "_values")

    def __init__(self, values: dict[str, object]) -> None:
        self._values = values  # in the order structlog adds them: the last bound first

    def __enter__(self) -> None:
        outer = _BOUND.get()
        if outer:
            bound = {**self._values, **outer}  # these keys first,
            bound.update(self._values)  # with these values
        else:
            bound = self._values
        self._token = _BOUND.set(bound)

    def __exit__(self, *_exc: object) -> None:
        _BOUND.reset(self._token)


def bind_job(job_id: str) -> _Bound:
    """Every line logged inside carries ``job_id``."""
    return _Bound({"job_id": job_id})


def bind_request(request_id: object, method: str) -> _Bound:
    """Every line logged inside carries the JSON-RPC ``request_id`` and ``method``."""
    return _Bound({"method": method, "request_id": request_id})
