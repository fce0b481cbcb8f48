"""Per-sheet log files and the in-memory tails of a run's output.

Each sheet appends its attempts to ``<workspace>/logs/sheet-NN.stdout.log`` and
``sheet-NN.stderr.log`` (NN zero-padded to at least two digits), each file created with the
stream's first output (an attempt's marker line goes just before it), so a stream that
never printed anything has no file. Output is written as it arrives, so ``tail -f`` (or
``mozart logs --follow``) sees it live (a program's first output at most 50 ms late: its
pipes are read by the loop once it has run that long, ``engine/process.py``); an optional
callback receives each complete line as well.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal

from mozart_daemon.logging import get_logger

log = get_logger(__name__)
StreamName = Literal["stdout", "stderr"]
TAIL_BYTES = 64 * 1024
# Lines longer than this are handed to the callback in pieces.
MAX_LINE_BYTES = 64 * 1024
# ``keep_all`` keeps at most this much (a JSON reply is far smaller).
MAX_KEPT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class LogLine:
    sheet_num: int
    stream: StreamName
    line: str  # without the trailing newline


LogLineCallback = Callable[[LogLine], None]


def log_dir(workspace: str | os.PathLike[str]) -> Path:
    return Path(workspace) / "logs"


def rotate_logs(workspace: str | os.PathLike[str]) -> Path | None:
    """Start a fresh run's logs: move ``logs/`` to ``logs.previous/`` (replacing an older one).

    A ``--fresh`` run must not append to the last run's files (``mozart logs`` would show
    both), yet the last run's output is kept once. Returns where it went, or None.
    """
    current = log_dir(workspace)
    if not current.is_dir() or current.is_symlink():
        return None
    previous = current.with_name("logs.previous")
    if previous.is_symlink() or previous.is_file():
        previous.unlink()
    elif previous.is_dir():
        shutil.rmtree(previous)
    current.rename(previous)
    return previous


def log_paths(workspace: str | os.PathLike[str], sheet_num: int) -> tuple[Path, Path]:
    """``(stdout_log, stderr_log)`` of a sheet."""
    stdout, stderr = log_files(workspace, sheet_num)
    return Path(stdout), Path(stderr)


def log_files(workspace: str | os.PathLike[str], sheet_num: int) -> tuple[str, str]:
    """``log_paths`` as text (a Path costs a few microseconds to build: a run's sinks take
    the text, and most never open their file)."""
    base = f"{os.fspath(workspace)}/logs/sheet-{sheet_num:02d}"
    return base + ".stdout.log", base + ".stderr.log"


def marker_line(text: str) -> bytes:
    """A marker line of a log file (``OutputSink.header``)."""
    return f"===== {text} =====\n".encode()


class Marker:
    """``marker_line(f"{text} {local time of when}")``, made when first needed: an
    attempt's header (``OutputSink``'s ``header``), which only a stream's first output
    writes, while most runs are silent on one stream at least and many on both. Formatting
    the local time (``datetime.astimezone``) cost more than the rest of both sinks."""

    __slots__ = ("_line", "text", "when")

    def __init__(self, text: str, when: float) -> None:
        self.text = text
        self.when = when  # time.time()
        self._line: bytes | None = None

    def line(self) -> bytes:
        if self._line is None:
            local = datetime.fromtimestamp(self.when).astimezone()
            self._line = marker_line(f"{self.text} {local.isoformat(timespec='seconds')}")
        return self._line


class OutputSink:
    """Collects one output stream: appends it to a file, keeps a tail, reports lines.

    ``keep_all`` keeps the whole output in memory too (a backend that parses its stdout).
    """

    _file: BinaryIO | None = None  # opened with the first output

    def __init__(
        self,
        stream: StreamName,
        *,
        path: str | os.PathLike[str] | None = None,
        sheet_num: int = 0,
        on_line: LogLineCallback | None = None,
        keep_all: bool = False,
        tail_bytes: int = TAIL_BYTES,
        header: bytes | Marker = b"",
    ) -> None:
        """``header``: a ``marker_line`` to begin with (as ``header``, one call less: an
        attempt's two sinks take the same), or a ``Marker`` made into one if written."""
        self.stream = stream
        self.path = os.fspath(path) if path is not None else None
        self._sheet_num = sheet_num
        self._on_line = on_line
        self._tail = bytearray()
        self._tail_bytes = tail_bytes
        self._all: bytearray | None = bytearray() if keep_all else None
        self._partial = bytearray()
        self._header: bytes | Marker = header if self.path is not None else b""

    def header(self, text: str, *, now: bool = False) -> None:
        """A marker line in the log file only (not in the tail, not to the callback),
        written before the stream's first output: a stream that stays silent leaves no file
        (creating a file costs 0.1-0.7 ms on some disks, and most sheets are silent on
        one stream at least). ``now``: written at once (a record of each run)."""
        if self.path is not None:
            self._header = self._pending_header() + marker_line(text)
            if now:
                self._to_file(b"")

    def _pending_header(self) -> bytes:
        header = self._header
        return header if type(header) is bytes else header.line()  # type: ignore[union-attr]

    def _to_file(self, data: bytes) -> None:
        """Append ``data`` (after the pending header) to the log file, opened on first use.
        A file that cannot be written (its directory unusable, the disk full) is given up
        with one error in the daemon's log: the stream is still read to its end and its tail
        kept (a child whose output is not read would block on a full pipe)."""
        assert self.path is not None
        try:
            if self._file is None:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115 (closed in close())
            if self._header:
                self._file.write(self._pending_header())
                self._header = b""
            self._file.write(data)
            self._file.flush()
        except OSError as exc:
            log.error(
                "sheet.log_unwritable",
                sheet_num=self._sheet_num,
                path=self.path,
                error=exc.strerror or str(exc),
            )
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
            self._file, self.path, self._header = None, None, b""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self.path is not None:
            self._to_file(data)
        self._tail += data
        if len(self._tail) > self._tail_bytes:
            del self._tail[: len(self._tail) - self._tail_bytes]
        if self._all is not None and len(self._all) < MAX_KEPT_BYTES:
            self._all += data[: MAX_KEPT_BYTES - len(self._all)]
        if self._on_line is not None:
            self._partial += data
            *lines, rest = self._partial.split(b"\n")
            self._partial = bytearray(rest)
            for line in lines:
                self._emit(bytes(line))
            while len(self._partial) > MAX_LINE_BYTES:
                self._emit(bytes(self._partial[:MAX_LINE_BYTES]))
                del self._partial[:MAX_LINE_BYTES]

    def write_text(self, text: str) -> None:
        self.feed(text.encode("utf-8", "replace"))

    def _emit(self, line: bytes) -> None:
        if self._on_line is None:
            return
        text = line.decode("utf-8", "replace").rstrip("\r")
        try:
            self._on_line(LogLine(self._sheet_num, self.stream, text))
        except Exception:
            # A broken observer must not stop the output being read: the child would
            # block on a full pipe. The file keeps everything.
            log.exception("sheet.log_callback_failed", sheet_num=self._sheet_num)
            self._on_line = None

    def close(self) -> None:
        if self._partial and self._on_line is not None:
            self._emit(bytes(self._partial))
        self._partial.clear()
        self._header = b""
        if self._file is not None:
            with contextlib.suppress(OSError):  # reported with the write that failed
                if self._tail and not self._tail.endswith(b"\n"):
                    self._file.write(b"\n")
                self._file.close()
            self._file = None

    @property
    def tail(self) -> str:
        return self._tail.decode("utf-8", "replace")

    @property
    def text(self) -> str:
        """Everything written (only with ``keep_all``; otherwise the tail)."""
        data = self._all if self._all is not None else self._tail
        return data.decode("utf-8", "replace")
