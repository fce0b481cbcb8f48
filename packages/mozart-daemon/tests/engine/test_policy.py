"""Reset-time hints, rate-limit patterns, backoff arithmetic and log sinks."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from mozart_daemon.engine import LogLine, log_paths, reset_hint_seconds, retry_delay
from mozart_daemon.engine.logs import OutputSink
from mozart_daemon.engine.ratelimit import compile_patterns, is_rate_limited
from mozart_protocol.score import RateLimitConfig, RetryConfig

NOW = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Usage limit reached. Resets in 3 hours.", 3 * 3600),
        ("Too many requests: try again in 20 seconds", 20),
        ("please retry after 120 seconds", 120),
        ("Retry-After: 30", 30),
        ("limit resets in 2h 30m", 9000),
        ("resets in 1 hour and 5 minutes", 3900),
        ("please wait in 90s", 90),
        ("You've hit your limit · resets 5pm (Europe/Berlin)", 5 * 3600),
        ("resets at 5:30pm", 5.5 * 3600),
        ("resets at 17:00", 5 * 3600),
        ("resets at 11am", 23 * 3600),
        ("rate limit exceeded", None),
        ("resets 5", None),
    ],
)
def test_reset_hints(text: str, seconds: float | None) -> None:
    assert reset_hint_seconds(text, NOW) == seconds


def test_epoch_hint() -> None:
    assert (
        reset_hint_seconds(f"Claude AI usage limit reached|{int(NOW.timestamp()) + 600}", NOW)
        == 600
    )


@pytest.mark.parametrize(
    ("text", "limited"),
    [
        ("Error: Rate Limit exceeded", True),
        ("HTTP 429", True),
        ("API is OVERLOADED", True),
        ("quota exhausted", True),
        ("please try again later", True),
        ("took 4290 ms", False),
        ("all good", False),
    ],
)
def test_default_patterns_are_case_insensitive(text: str, limited: bool) -> None:
    patterns = compile_patterns(RateLimitConfig().detection_patterns)
    assert is_rate_limited(text, patterns) is limited


def test_retry_delay_grows_and_is_capped() -> None:
    retry = RetryConfig(
        base_delay_seconds=10, exponential_base=2, max_delay_seconds=35, jitter=False
    )
    assert [retry_delay(retry, k, lambda: 0.0) for k in (1, 2, 3, 4)] == [10, 20, 35, 35]
    jittered = RetryConfig(base_delay_seconds=10, exponential_base=3, jitter=True)
    assert retry_delay(jittered, 2, lambda: 0.0) == 15.0  # 30 * 0.5
    assert retry_delay(jittered, 2, lambda: 0.999) == pytest.approx(30 * 1.499)


def test_sink_writes_keeps_a_tail_and_reports_lines(tmp_path: Path) -> None:
    lines: list[LogLine] = []
    path = log_paths(tmp_path, 7)[0]
    assert path == tmp_path / "logs" / "sheet-07.stdout.log"
    assert log_paths(tmp_path, 123)[1].name == "sheet-123.stderr.log"
    sink = OutputSink("stdout", path=path, sheet_num=7, on_line=lines.append, tail_bytes=10)
    sink.header("attempt 1")
    sink.feed(b"first li")
    sink.feed(b"ne\nsecond\r\nthird")
    sink.close()
    assert [line.line for line in lines] == ["first line", "second", "third"]
    assert sink.tail == "ond\r\nthird"
    assert path.read_bytes() == b"===== attempt 1 =====\nfirst line\nsecond\r\nthird\n"


def test_a_silent_stream_leaves_no_file_and_a_later_attempt_keeps_its_marker(
    tmp_path: Path,
) -> None:
    path = log_paths(tmp_path, 1)[1]
    silent = OutputSink("stderr", path=path, sheet_num=1)
    silent.header("attempt 1")
    silent.close()
    assert not path.exists() and not path.parent.exists()
    second = OutputSink("stderr", path=path, sheet_num=1)
    second.header("attempt 2")
    second.feed(b"oops\n")
    second.close()
    assert path.read_bytes() == b"===== attempt 2 =====\noops\n"


def test_a_log_file_that_cannot_be_written_is_given_up_not_the_stream(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where logs/ should be")
    lines: list[LogLine] = []
    sink = OutputSink("stdout", path=log_paths(tmp_path, 1)[0], sheet_num=1, on_line=lines.append)
    sink.header("attempt 1", now=True)  # the first write fails: no exception, no file
    sink.feed(b"still\nread\n")
    sink.close()
    assert sink.path is None
    assert sink.tail == "still\nread\n"
    assert [line.line for line in lines] == ["still", "read"]


def test_a_failing_line_callback_does_not_stop_the_output(tmp_path: Path) -> None:
    def broken(line: LogLine) -> None:
        raise RuntimeError("observer bug")

    sink = OutputSink("stderr", path=tmp_path / "err.log", on_line=broken)
    sink.feed(b"a\nb\n")
    sink.close()
    assert (tmp_path / "err.log").read_text() == "a\nb\n"


def test_the_daemon_environment_copy_follows_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from mozart_daemon.engine.backends.base import daemon_environ

    monkeypatch.setenv("MOZART_TEST_VAR", "one")
    first = daemon_environ()
    assert first["MOZART_TEST_VAR"] == "one"
    first["MOZART_TEST_VAR"] = "changed by a caller"  # a copy: the next caller is unaffected
    monkeypatch.setenv("MOZART_TEST_VAR", "two")
    assert daemon_environ()["MOZART_TEST_VAR"] == "two"
    monkeypatch.delenv("MOZART_TEST_VAR")
    assert "MOZART_TEST_VAR" not in daemon_environ()
    assert daemon_environ() == dict(os.environ)
