"""Live progress: ``run --follow`` (the job's event stream) and ``status --watch`` (polling).

Both end when the job reaches a terminal state and exit 0 only if it completed. Ctrl-C
stops watching, never the job.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import (
    OutputClosed,
    err,
    guard_pipe,
    print_json,
    silence_stdout,
    state_text,
    style,
)
from mozart_cli.progress import TERMINAL_STATES, ProgressView, state_of

EVENT_STYLES = {
    "sheet.completed": "green",
    "sheet.failed": "red",
    "sheet.retrying": "yellow",
    "sheet.rate_limited": "yellow",
    "job.completed": "green",
    "job.failed": "red",
    "job.cancelled": "magenta",
    "job.paused": "yellow",
    "hook.completed": "green",
    "hook.failed": "red",
}
# Events after which the counts of the bar change: fetch the job's status again.
REFRESH_ON = frozenset(
    {
        "sheet.completed",
        "sheet.failed",
        "sheet.skipped",
        "job.started",
        "job.paused",
        "job.resumed",
        "job.completed",
        "job.failed",
        "job.cancelled",
    }
)


def outcome(status: Any) -> int:
    return exit_codes.OK if state_of(status) == "completed" else exit_codes.FAILURE


def describe_event(event: Any, *, stream: Any) -> str:
    kind = str(getattr(event.type, "value", event.type))
    family, _, verb = kind.partition(".")
    verb = verb.replace("_", " ")
    if family == "hook":  # a success hook's outcome: its message names the hook
        subject = "hook"
    else:
        subject = f"sheet {event.sheet_num}" if event.sheet_num is not None else "job"
    text = f"{subject} {verb}"
    if event.attempt is not None and event.attempt > 1:
        text += f" (attempt {event.attempt})"
    if event.message:
        # The daemon's message often restates the event ("completed after 1 attempt(s)").
        message = event.message
        text = f"{subject} {message}" if message.startswith(verb) else f"{text}: {message}"
    colour = EVENT_STYLES.get(kind)
    return style(text, colour, stream=stream) if colour else text


def _finish(view: ProgressView, status: Any, *, json_output: bool) -> int:
    view.update(status)
    view.close()
    state = state_of(status)
    if json_output:
        print_json(status)
    else:
        stream = view.stream
        line = f"Job {status.job_id} {state_text(state, stream=stream)}"
        if status.error:
            line += f": {status.error}"
        view.line(line)
        if state != "completed":
            view.line(f"See why with: mozart errors {status.job_id}")
    return outcome(status)


def follow(job_id: str, *, socket: str | None, json_output: bool) -> int:
    """Print the job's events and a progress bar until it ends (``run --follow``)."""
    view = ProgressView(sys.stderr if json_output else sys.stdout)
    try:
        with session(socket, job=job_id):
            final = asyncio.run(_follow(job_id, socket, view))
        with guard_pipe():
            return _finish(view, final, json_output=json_output)
    except KeyboardInterrupt:
        return _interrupted(view, job_id)
    except OutputClosed:
        silence_stdout()
        return exit_codes.FAILURE


async def _follow(job_id: str, socket: str | None, view: ProgressView) -> Any:
    # One client: its requests share a connection, the stream opens its own.
    async with rpc.async_client(socket) as client:
        view.update(await client.job_status(job_id))
        ticker = asyncio.create_task(_tick(view))
        try:
            events = rpc.follow_events(client, job_id)
            async for event in events:
                view.line(describe_event(event, stream=view.stream))
                kind = str(getattr(event.type, "value", event.type))
                if kind in REFRESH_ON:
                    view.update(await client.job_status(job_id))
        finally:
            ticker.cancel()
        # The stream ends when the job does; its final reply is the job's status.
        return events.result


async def _tick(view: ProgressView) -> None:
    while True:
        await asyncio.sleep(1.0)
        view.tick()


def watch(job_id: str, *, socket: str | None, interval: float, json_output: bool) -> int:
    """Redraw the job's progress bar every ``interval`` seconds until it ends."""
    import time

    view = ProgressView(sys.stderr if json_output else sys.stdout)
    try:
        with session(socket, job=job_id):
            status = rpc.job_status(socket, job_id)
            while state_of(status) not in TERMINAL_STATES:
                view.update(status)
                time.sleep(interval)
                status = rpc.job_status(socket, job_id)
        with guard_pipe():
            return _finish(view, status, json_output=json_output)
    except KeyboardInterrupt:
        return _interrupted(view, job_id)
    except OutputClosed:
        silence_stdout()
        return exit_codes.FAILURE


def _interrupted(view: ProgressView, job_id: str) -> int:
    view.close()
    err(f"Stopped watching; job {job_id} keeps running. Watch again: mozart status {job_id} -w")
    return exit_codes.INTERRUPTED
