"""Logging setup: structlog, console lines in the foreground, JSON in the background.

Event names are ``noun.past_verb`` (``job.started``, ``rpc.failed``). Job and request ids
are bound through contextvars (``bind_job``, ``bind_request``) so every line logged while
handling a job or a request carries them without passing loggers around.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

_log_stream: TextIO | None = None


def configure_logging(
    *, level: str = "info", json: bool = False, log_file: Path | None = None
) -> None:
    """Configure structlog for the whole process.

    ``log_file`` set: lines are appended there (JSON when ``json``); otherwise they go to
    stderr. Safe to call again (SIGHUP changes the level).
    """
    global _log_stream
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
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if json:
        processors.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def set_level(level: str) -> None:
    """Change the level without touching the renderer or the destination."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` (the module) is added to each line as ``component``."""
    # Initial values go through get_logger, not .bind(): bind() would build the logger now,
    # with whatever configuration exists at import time, instead of at each call.
    return structlog.get_logger(component=name) if name else structlog.get_logger()


# Bound by setting structlog's context variables and resetting them with their tokens:
# structlog's ``bound_contextvars`` copies the whole context on each entry, which was a
# fifth of the daemon's CPU time per `daemon.health` request.


@contextmanager
def bind_job(job_id: str) -> Iterator[None]:
    """Every line logged inside carries ``job_id``."""
    tokens = bind_contextvars(job_id=job_id)
    try:
        yield
    finally:
        reset_contextvars(**tokens)


@contextmanager
def bind_request(request_id: object, method: str) -> Iterator[None]:
    """Every line logged inside carries the JSON-RPC ``request_id`` and ``method``."""
    tokens = bind_contextvars(request_id=request_id, method=method)
    try:
        yield
    finally:
        reset_contextvars(**tokens)
