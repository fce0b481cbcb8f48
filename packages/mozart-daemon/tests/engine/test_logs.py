"""An attempt's log header (engine/logs.py): written with a stream's first output, stamped
with the attempt's start, and never made for a stream that stays silent."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from mozart_daemon.engine.logs import Marker, OutputSink, marker_line


def test_the_header_carries_the_time_it_was_made_for_not_the_time_of_the_output(
    tmp_path: Path,
) -> None:
    when = time.time() - 3600.5  # an hour before: the output comes later
    header = Marker("sheet 1 attempt 2 (normal)", when)
    out = OutputSink("stdout", path=tmp_path / "out.log", header=header)
    err = OutputSink("stderr", path=tmp_path / "err.log", header=header)
    out.feed(b"hello\n")
    out.close()
    err.close()
    stamp = datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")
    expected = marker_line(f"sheet 1 attempt 2 (normal) {stamp}")
    assert (tmp_path / "out.log").read_bytes() == expected + b"hello\n"
    assert not (tmp_path / "err.log").exists()  # silent: no file, no header


def test_a_silent_attempt_never_formats_its_header(tmp_path: Path) -> None:
    header = Marker("sheet 1 attempt 1 (normal)", time.time())
    sinks = [OutputSink(name, path=tmp_path / name, header=header) for name in ("a", "b")]
    for sink in sinks:
        sink.close()
    assert header._line is None


def test_a_header_added_to_a_pending_marker_follows_it(tmp_path: Path) -> None:
    header = Marker("sheet 2 attempt 1 (normal)", time.time())
    sink = OutputSink("stdout", path=tmp_path / "out.log", header=header)
    sink.header("a note", now=True)
    sink.close()
    assert (tmp_path / "out.log").read_bytes() == header.line() + marker_line("a note")
