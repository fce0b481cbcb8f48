"""The daemon's log lines: layout, levels, and when they reach the stream."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import structlog
from mozart_daemon.logging import LineWriter, bind_job, configure_logging, get_logger


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
    structlog.reset_defaults()
