"""``mozart logs JOB``: sheet output streamed by the daemon (``job.logs``).

The CLI never reads the workspace itself: the daemon may run as another user or on
files the CLI cannot see. A sheet's stdout goes to stdout and its stderr to stderr (as
``docker logs`` does); without ``--sheet`` each line is prefixed with its sheet number.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import msgspec

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import OutputClosed, guard_pipe, silence_stdout, style


def main(
    job: str,
    *,
    sheet: int | None,
    follow: bool,
    tail: int | None,
    json_output: bool,
    socket: str | None,
) -> int:
    try:
        with session(socket, job=job):
            asyncio.run(_stream(job, socket, sheet, follow, tail, json_output))
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    except OutputClosed:  # `mozart logs JOB | head`
        silence_stdout()
    return exit_codes.OK


async def _stream(
    job: str, socket: str | None, sheet: int | None, follow: bool, tail: int | None, raw: bool
) -> None:
    encoder = msgspec.json.Encoder()
    async with rpc.async_client(socket) as client:
        async for line in rpc.log_lines(client, job, sheet_num=sheet, follow=follow, tail=tail):
            with guard_pipe():
                _write(line, encoder, raw=raw, prefixed=sheet is None, flush=follow)
    with guard_pipe():
        sys.stdout.flush()


def _write(
    line: Any, encoder: msgspec.json.Encoder, *, raw: bool, prefixed: bool, flush: bool
) -> None:
    if raw:
        sys.stdout.write(encoder.encode(line).decode() + "\n")
        sys.stdout.flush()
        return
    stream_name = str(getattr(line.stream, "value", line.stream))
    target = sys.stderr if stream_name == "stderr" else sys.stdout
    prefix = style(f"[{line.sheet_num}] ", "dim", stream=target) if prefixed else ""
    target.write(prefix + line.line.rstrip("\n") + "\n")
    if flush:
        target.flush()
