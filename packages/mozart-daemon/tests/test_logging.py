"""The daemon's log lines: layout, levels, and when they reach the stream."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from mozart_daemon import logging as logging_module
from mozart_daemon.jobs.runtime import JobEvents
from mozart_daemon.logging import (
    LineWriter,
    bind_job,
    bind_request,
    configure_logging,
    debug_enabled,
    flush_logs,
    get_logger,
    reset_logging,
    set_level,
)
from mozart_daemon.store import EventRecord


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_of_one_loop_turn_are_written_together_and_others_at_once() -> None:
    stream = CountingStream()
    writer = LineWriter(stream)
    writer.msg("outside a loop")
    assert (stream.getvalue(), stream.writes) == ("outside a loop\n", 1)

    async def turn() -> str:
        writer.msg("one")
        writer.msg("two")
        seen = stream.getvalue()  # nothing yet: the loop's turn is not over
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(turn()) == "outside a loop\n"
    assert stream.getvalue() == "outside a loop\none\ntwo\n" and stream.writes == 2

    async def pending_at_exit() -> None:
        writer.msg("three")

    asyncio.run(pending_at_exit())
    writer.flush()  # what the atexit hook does
    assert stream.getvalue().endswith("two\nthree\n")


def test_a_line_from_another_thread_is_written_at_once_while_the_loop_batches() -> None:
    stream = CountingStream()
    writer = LineWriter(stream)

    async def turn() -> str:
        writer.msg("loop")  # the writer knows the loop and its thread from now on
        worker = threading.Thread(target=writer.msg, args=("thread",))
        worker.start()
        worker.join()
        seen = stream.getvalue()  # the thread's line, not yet the loop's
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(turn()) == "thread\n"
    assert asyncio.run(turn()) == "thread\nloop\nthread\n"  # a new loop, the same thread
    writer.msg("outside")  # no loop runs: at once
    assert stream.getvalue() == "thread\nloop\nthread\nloop\noutside\n"


def test_console_and_json_lines_carry_the_job_and_the_exception(tmp_path: Path) -> None:
    for as_json in (False, True):
        path = tmp_path / f"{as_json}.log"
        configure_logging(level="info", json=as_json, log_file=path)

        async def emit() -> None:
            log = get_logger("mozart_daemon.test")
            with bind_job("job-1"):
                log.info("job.started", detail="two words", count=3)
                log.debug("sheet.started", sheet_num=1)  # below the level: dropped
                try:
                    raise ValueError("broken")
                except ValueError:
                    log.exception("job.crashed")

        asyncio.run(emit())
        lines = path.read_text().splitlines()
        if as_json:
            first, second = (json.loads(line) for line in lines[:2])
            assert first["event"] == "job.started" and first["job_id"] == "job-1"
            assert first["detail"] == "two words" and first["level"] == "info"
            assert "ValueError: broken" in second["exception"]
        else:
            assert lines[0].endswith(
                "[info     ] job.started                    component=mozart_daemon.test"
                " count=3 detail='two words' job_id=job-1"
            )
            assert "[error    ] job.crashed" in lines[1] and lines[-1] == "ValueError: broken"
        assert not any("sheet.started" in line for line in lines)
    reset_logging()


def test_a_logger_made_before_a_configuration_change_follows_it(tmp_path: Path) -> None:
    log = get_logger("mozart_daemon.test")  # as a module does at import
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    try:
        configure_logging(level="info", log_file=first)
        log.debug("hidden.at_info")
        log.info("shown.first")
        set_level("debug")
        log.debug("shown.at_debug")
        configure_logging(level="warning", log_file=second)
        log.info("hidden.at_warning")
        log.warning("shown.second")
    finally:
        reset_logging()
    text = first.read_text()
    assert "shown.first" in text and "shown.at_debug" in text and "hidden" not in text
    assert "shown.second" in second.read_text() and "hidden" not in second.read_text()
    assert "shown.second" not in text


def test_the_bound_context_level_and_time_are_structlogs_own(tmp_path: Path) -> None:
    """The fused processor gives the lines structlog's merge_contextvars, add_log_level,
    TimeStamper(iso, utc) and format_exc_info gave: the same keys in the same order."""
    import structlog
    from structlog.contextvars import bind_contextvars, reset_contextvars

    def lines(ours: bool) -> list[dict[str, object]]:
        path = tmp_path / f"{ours}.log"
        configure_logging(level="debug", json=True, log_file=path)
        if not ours:
            structlog.configure(
                processors=[
                    structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ]
            )

        def outer() -> object:
            return bind_job("outer") if ours else bind_contextvars(job_id="outer")

        log = get_logger("mozart_daemon.test")
        tokens = outer()
        with tokens if ours else contextlib.nullcontext():  # type: ignore[attr-defined]
            log.info("a.line", detail="x")
            log.warn("a.warning", job_id="given")  # the call's own value wins
            try:
                raise ValueError("broken")
            except ValueError:
                log.exception("a.failure")
        if not ours:
            reset_contextvars(**tokens)  # type: ignore[arg-type]
        asyncio.run(asyncio.sleep(0))
        flush_logs()
        return [json.loads(line) for line in path.read_text().splitlines()]

    try:
        theirs, mine = lines(ours=False), lines(ours=True)
    finally:
        reset_logging()
    assert len(mine) == len(theirs) == 3
    for a, b in zip(mine, theirs, strict=True):
        assert list(a) == list(b)
        assert {k: v for k, v in a.items() if k != "timestamp"} == {
            k: v for k, v in b.items() if k != "timestamp"
        }
        assert str(a["timestamp"]).endswith("Z") and len(str(a["timestamp"])) == 27
    assert [line["level"] for line in mine] == ["info", "warning", "error"]
    assert [line["job_id"] for line in mine] == ["outer", "given", "outer"]


def test_an_inner_binding_wins_until_it_ends() -> None:
    seen: list[dict[str, object]] = []
    with bind_request(7, "job.submit"), bind_job("outer"):
        with bind_job("inner"):
            seen.append(logging_module._add_context(None, "info", {"event": "x"}))
        seen.append(logging_module._add_context(None, "info", {"event": "y"}))
    seen.append(logging_module._add_context(None, "info", {"event": "z"}))
    assert [line.get("job_id") for line in seen] == ["inner", "outer", None]
    assert seen[0]["request_id"] == 7 and seen[0]["method"] == "job.submit"
    assert "request_id" not in seen[2]


def test_debug_enabled_follows_the_configured_level(tmp_path: Path) -> None:
    try:
        assert debug_enabled()  # structlog's defaults: every level
        configure_logging(level="info", log_file=tmp_path / "a.log")
        assert not debug_enabled()
        set_level("debug")
        assert debug_enabled()
        set_level("warning")
        assert not debug_enabled()
    finally:
        reset_logging()
    assert debug_enabled()


def test_a_progress_event_is_logged_at_debug_only_and_always_delivered(tmp_path: Path) -> None:
    events = JobEvents(store=None)  # type: ignore[arg-type]  # deliver does not write
    seen: list[EventRecord] = []
    events.add_listener(seen.append)

    def record(type: str) -> EventRecord:
        return EventRecord(id=1, job_id="j1", type=type, sheet_num=1, attempt=1,
                           message="m", time=datetime.now(UTC))  # fmt: skip

    log_file = tmp_path / "mozartd.log"
    try:
        configure_logging(level="info", log_file=log_file)
        events.deliver(record("sheet.started"))
        events.deliver(record("sheet.failed"))
        set_level("debug")
        events.deliver(record("sheet.completed"))
        flush_logs()
    finally:
        reset_logging()
    text = log_file.read_text()
    assert "sheet.started" not in text
    assert "sheet.failed" in text and "[warning" in text
    assert "sheet.completed" in text and "job_id=j1 sheet_num=1" in text and "detail=m" in text
    assert [e.type for e in seen] == ["sheet.started", "sheet.failed", "sheet.completed"]


def test_a_line_written_directly_is_the_one_structlogs_bound_logger_writes(tmp_path: Path) -> None:
    """With configure_logging's chain, a module's logger renders and writes a line itself;
    structlog's own bound logger, on the same configuration, writes the same text."""
    import structlog

    path = tmp_path / "mozartd.log"
    try:
        configure_logging(level="info", log_file=path)
        ours = get_logger("mozart_daemon.test")
        theirs = structlog.get_logger(component="mozart_daemon.test").bind()
        with bind_job("j1"):
            for log in (ours, theirs):
                log.info("a.line", detail="two words", count=3)
                log.warn("a.warning", job_id="given")
                log.debug("a.hidden")
                try:
                    raise ValueError("broken")
                except ValueError:
                    log.exception("a.failure", sheet_num=2)
        assert ours._direct is not None  # the direct path was taken
        flush_logs()
    finally:
        reset_logging()
    text = path.read_text()
    lines = [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith("20")]
    assert "a.hidden" not in text and text.count("ValueError: broken") == 2
    assert len(lines) == 6 and lines[:3] == lines[3:]
    assert "detail='two words'" in lines[0] and "job_id=given" in lines[1]


def test_console_lines_are_structlogs_console_renderer_without_colours() -> None:
    import enum

    import structlog

    class State(enum.StrEnum):
        DONE = "done"

    renderer = structlog.dev.ConsoleRenderer(colors=False)
    values: list[object] = [
        "plain", "two words", "a=b", 'say "hi"', "it's", "tab\there", "line\nbreak", 7, 1.5,
        None, True, State.DONE, ["x", 1], {"k": "v"},
    ]  # fmt: skip
    for value in values * 2:  # the second time, the plain texts are known ones
        event = {"timestamp": "2026-11-27T10:00:00.000000Z", "level": "info",
                 "event": "a.line", "job_id": "j1", "value": value}  # fmt: skip
        expected = renderer(None, "info", dict(event))
        assert logging_module.console_line(None, "info", dict(event)) == expected, value
    empty = {"event": "a.line", "value": ""}  # ours quotes an empty text: `value=''`
    assert logging_module.console_line(None, "info", empty).endswith("value=''")


def test_console_lines_written_directly_are_those_of_the_processor_chain(tmp_path: Path) -> None:
    """A module's logger renders a console line in one step; the processor chain
    (_add_context, then console_line) gives the same text: nested bindings, a call's value
    over a bound one, and the fields the chain sets or reads given to the call."""
    import structlog

    calls: list[tuple[str, dict[str, object]]] = [
        ("a.line", {"detail": "two words", "count": 3}),
        ("a.override", {"job_id": "given", "method": None}),
        ("a.reserved", {"level": "custom", "timestamp": "then", "sheet_num": 1}),
        ("an.exception_field", {"exception": "text after the line"}),
        ("a.long_event_name_longer_than_thirty", {}),
    ]
    path = tmp_path / "mozartd.log"
    try:
        configure_logging(level="info", log_file=path)
        ours = get_logger("mozart_daemon.test")
        theirs = structlog.get_logger(component="mozart_daemon.test").bind()
        with bind_request(7, "job.submit"), bind_job("outer"), bind_job("inner"):
            for log in (ours, theirs):
                for event, kw in calls:
                    log.info(event, **kw)
                    log.warning(event, **kw)
        with bind_job("alone"):
            ours.error("a.line", count=1)
            theirs.error("a.line", count=1)
        ours.info("unbound")
        theirs.info("unbound")
        flush_logs()
    finally:
        reset_logging()
    lines = [
        line.split(" ", 1)[1] if line.startswith("20") else line
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == 28  # per logger: 5 calls at 2 levels, 2 exceptions, 2 more lines
    assert lines[:12] == lines[12:24] and lines[24] == lines[25] and lines[26] == lines[27]
    assert lines[0] == (
        "[info     ] a.line                         component=mozart_daemon.test count=3"
        " detail='two words' job_id=inner method=job.submit request_id=7"
    )
    assert lines[1].startswith("[warning  ] a.line ")
    assert "job_id=given method=None request_id=7" in lines[2]
    assert "then" not in lines[4] and "custom" not in lines[4] and "[info     ]" in lines[4]
    assert lines[7] == "text after the line"
    assert lines[10].startswith("[info     ] a.long_event_name_longer_than_thirty component=")
    assert lines[24] == (
        "[error    ] a.line                         component=mozart_daemon.test count=1"
        " job_id=alone"
    )
    assert lines[26] == "[info     ] unbound                        component=mozart_daemon.test"


def test_nested_bindings_come_innermost_first_in_a_json_line(tmp_path: Path) -> None:
    path = tmp_path / "mozartd.log"
    try:
        configure_logging(level="info", json=True, log_file=path)
        log = get_logger("mozart_daemon.test")
        with bind_request(7, "job.submit"), bind_job("outer"):
            with bind_job("inner"):
                log.info("a.line", detail="x")
            log.info("b.line")
        log.info("c.line")
        flush_logs()
    finally:
        reset_logging()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [list(line) for line in lines] == [
        ["component", "detail", "event", "job_id", "method", "request_id", "level", "timestamp"],
        ["component", "event", "job_id", "method", "request_id", "level", "timestamp"],
        ["component", "event", "level", "timestamp"],
    ]
    assert [line.get("job_id") for line in lines] == ["inner", "outer", None]


def test_the_timestamp_is_structlogs_iso_utc_time(monkeypatch: object) -> None:
    """Formatted once a second, the rest added: the text datetime's isoformat gives, with
    no fraction when it is 0 (as TimeStamper's)."""
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    base = 1_795_000_000 * 10**9
    for ns in (base, base + 1_000, base + 999_999_999, base + 10**9, base + 10**9 + 123_456_789,
               base + 10**9 + 123_456_789, base + 86_400 * 10**9 + 5_000, base + 999):  # fmt: skip
        monkeypatch.setattr(logging_module, "time_ns", lambda ns=ns: ns)
        when = datetime.fromtimestamp(ns // 1000 / 1_000_000, UTC)
        assert when.microsecond == ns // 1000 % 1_000_000
        assert logging_module._timestamp() == when.isoformat().replace("+00:00", "Z"), ns


def test_the_plain_texts_remembered_are_a_few() -> None:
    class Shown(str):
        def __format__(self, spec: str) -> str:
            return "shown"

    for n in range(logging_module._PLAIN_MAX + 10):
        logging_module.console_line(None, "info", {"event": "a.line", "n": f"text-{n}"})
        assert len(logging_module._PLAIN) <= logging_module._PLAIN_MAX
    assert "text-0" not in logging_module._PLAIN  # forgotten: it was the first
    # A subclass equal to a plain text is written as it formats, remembered or not.
    line = logging_module.console_line(None, "info", {"event": "a.line", "n": Shown("plain")})
    assert line.endswith(" n=shown")
    logging_module.console_line(None, "info", {"event": "a.line", "n": "plain"})
    line = logging_module.console_line(None, "info", {"event": "a.line", "n": Shown("plain")})
    assert line.endswith(" n=shown") and Shown("plain") in logging_module._PLAIN


def test_a_console_line_written_directly_starts_with_the_timestamp(
    tmp_path: Path, monkeypatch: object
) -> None:
    """A module's logger formats a console line's time itself: the text ``_timestamp``
    gives, with and without a fraction, across a second's change."""
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    path = tmp_path / "mozartd.log"
    base = 1_795_000_000 * 10**9
    moments = (base + 123_456_789, base + 10**9, base + 10**9 + 999, base + 10**9 + 5_000)
    expected = []
    try:
        configure_logging(level="info", log_file=path)
        log = get_logger("mozart_daemon.test")
        for ns in moments:
            monkeypatch.setattr(logging_module, "time_ns", lambda ns=ns: ns)
            log.info("a.line", n=1)
            expected.append(logging_module._timestamp())
        flush_logs()
    finally:
        reset_logging()
    stamps = [line.split(" ", 1)[0] for line in path.read_text().splitlines()]
    assert stamps == expected
    assert expected[1].endswith(":41Z") and expected[3].endswith(":41.000005Z")
