"""The streaming methods: job.follow (events) and job.logs (sheet output lines).

Both send JSON-RPC notifications on the request's connection, then the final reply.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from mozart_protocol import (
    JobEvent,
    JobEventType,
    JobFollowParams,
    JobLogsParams,
    JobLogsResult,
    JobStatus,
    LogLine,
    LogStream,
)

from mozart_daemon import errors
from mozart_daemon.handlers.job_methods import job_status
from mozart_daemon.jobs.runtime import TERMINAL_EVENTS
from mozart_daemon.store import EventRecord

if TYPE_CHECKING:
    from mozart_daemon.app import Daemon
    from mozart_daemon.handlers.table import Call

LOG_POLL_SECONDS = 0.2
HOOK_POLL_SECONDS = 0.1


def to_event(e: EventRecord) -> JobEvent | None:
    """The wire form of a logged event; None for an event type the schema does not know."""
    try:
        kind = JobEventType(e.type)
    except ValueError:
        return None
    return JobEvent(
        job_id=e.job_id,
        type=kind,
        sheet_num=e.sheet_num,
        attempt=e.attempt,
        message=e.message,
        time=e.time,
    )


async def _send(call: Call, event: EventRecord) -> None:
    wire = to_event(event)
    if wire is not None:
        await call.notify("job.event", wire)


async def follow(daemon: Daemon, params: JobFollowParams, call: Call) -> JobStatus:
    job_id = params.job_id
    if await daemon.store.jobs.get(job_id) is None:
        raise errors.job_not_found(job_id)
    with daemon.events.subscribe(job_id) as queue:
        last = 0
        for event in await daemon.store.events.since(job_id):
            await _send(call, event)
            last = event.id
        ended = daemon.manager.active(job_id) is None
        # After the job ends, its success hooks may still run: their events follow.
        while not ended or daemon.hooks.busy(job_id):
            try:
                event = await asyncio.wait_for(queue.get(), HOOK_POLL_SECONDS if ended else None)
            except TimeoutError:
                continue
            # An event already sent from the log may still end the wait: the job can end
            # between the log read and the active check above.
            ended = ended or event.type in TERMINAL_EVENTS
            if event.id <= last:
                continue
            await _send(call, event)
            last = event.id
        # Events that arrived while the last one was being sent (the hooks' last ones).
        while not queue.empty():
            event = queue.get_nowait()
            if event.id > last:
                await _send(call, event)
                last = event.id
    return await job_status(daemon, job_id)


def log_path(workspace: Path, sheet_num: int, stream: str) -> Path:
    return workspace / "logs" / f"sheet-{sheet_num:02d}.{stream}.log"


def _read_from(path: Path, offset: int) -> tuple[list[str], int]:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1  # hold back a partial last line
    text = data[:end].decode("utf-8", errors="replace")
    return text.splitlines(), offset + end


async def logs(daemon: Daemon, params: JobLogsParams, call: Call) -> JobLogsResult:
    record = await daemon.store.jobs.get(params.job_id)
    if record is None:
        raise errors.job_not_found(params.job_id)
    workspace = Path(record.workspace)
    sheets = (
        [params.sheet_num] if params.sheet_num is not None else range(1, record.total_sheets + 1)
    )
    offsets: dict[tuple[int, str], int] = {}
    sent = 0

    async def drain(first: bool) -> None:
        nonlocal sent
        for num in sheets:
            for stream in ("stdout", "stderr"):
                key = (num, stream)
                lines, offsets[key] = await asyncio.to_thread(
                    _read_from, log_path(workspace, num, stream), offsets.get(key, 0)
                )
                if first and params.tail is not None:
                    lines = lines[-params.tail :] if params.tail > 0 else []
                for line in lines:
                    await call.notify(
                        "job.log",
                        LogLine(
                            job_id=params.job_id,
                            sheet_num=num,
                            stream=LogStream(stream),
                            line=line,
                        ),
                    )
                    sent += 1

    await drain(first=True)
    if params.follow:
        while daemon.manager.active(params.job_id) is not None:
            await asyncio.sleep(LOG_POLL_SECONDS)
            await drain(first=False)
        await drain(first=False)
    return JobLogsResult(job_id=params.job_id, lines=sent)
