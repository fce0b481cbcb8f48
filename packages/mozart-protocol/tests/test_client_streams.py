"""Streaming calls: notifications as an async iterator, then the final result."""

from __future__ import annotations

import asyncio

import pytest
from mozart_protocol import errors, models
from mozart_protocol.client import AsyncDaemonClient

from .conftest import EVENT, LOG, RESULTS, FakeDaemon, Script  # type: ignore[import-not-found]


async def test_follow_yields_events_then_the_final_status(fake_daemon: FakeDaemon) -> None:
    done = {**EVENT, "type": "job.completed", "sheet_num": None, "attempt": None}
    fake_daemon.scripts["job.follow"] = Script(
        result=RESULTS["job.follow"], notifications=[("job.event", EVENT), ("job.event", done)]
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        stream = c.follow_job("hello")
        with pytest.raises(RuntimeError, match="not finished"):
            _ = stream.result
        events = [event async for event in stream]
    assert [type(e) for e in events] == [models.JobEvent, models.JobEvent]
    assert [e.type for e in events] == [
        models.JobEventType.SHEET_STARTED,
        models.JobEventType.JOB_COMPLETED,
    ]
    assert isinstance(stream.result, models.JobStatus) and stream.done
    assert fake_daemon.requests[-1]["method"] == "job.follow"
    assert fake_daemon.requests[-1]["params"] == {"job_id": "hello"}


async def test_logs_collect(fake_daemon: FakeDaemon) -> None:
    err = {**LOG, "stream": "stderr", "line": "oops"}
    fake_daemon.scripts["job.logs"] = Script(
        result=RESULTS["job.logs"], notifications=[("job.log", LOG), ("job.log", err)]
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        lines, result = await c.job_logs("hello", sheet_num=1, tail=10).collect()
    assert [(line.stream, line.line) for line in lines] == [
        (models.LogStream.STDOUT, "hi"),
        (models.LogStream.STDERR, "oops"),
    ]
    assert result == models.JobLogsResult(job_id="hello", lines=2)
    assert fake_daemon.requests[-1]["params"] == {
        "job_id": "hello",
        "sheet_num": 1,
        "follow": False,
        "tail": 10,
    }


async def test_unknown_notifications_are_skipped(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.follow"] = Script(
        result=RESULTS["job.follow"],
        notifications=[("job.something_new", {"x": 1}), ("job.event", EVENT)],
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        events, _ = await c.follow_job("hello").collect()
    assert len(events) == 1


async def test_stream_error_is_raised_from_iteration(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.follow"] = Script(
        error={"code": -32001, "message": "No job 'nope'.", "data": {"job_id": "nope"}}
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        stream = c.follow_job("nope")
        with pytest.raises(errors.JobNotFoundError):
            async for _ in stream:
                pass
        with pytest.raises(RuntimeError):
            _ = stream.result


async def test_invalid_notification_is_a_protocol_error(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.follow"] = Script(
        result=RESULTS["job.follow"], notifications=[("job.event", {**EVENT, "type": "bogus"})]
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        with pytest.raises(errors.ProtocolError, match="type"):
            await c.follow_job("hello").collect()


async def test_stream_uses_its_own_connection(fake_daemon: FakeDaemon) -> None:
    gate = asyncio.Event()
    fake_daemon.scripts["job.follow"] = Script(
        result=RESULTS["job.follow"], notifications=[("job.event", EVENT)], gate=gate
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        stream = c.follow_job("hello")
        first = await stream.__anext__()
        # While the stream waits for the job, the same client still answers requests.
        assert (await c.job_status("hello")).job_id == first.job_id
        gate.set()
        assert [e async for e in stream] == []
        assert stream.result.status is models.JobState.COMPLETED
    assert fake_daemon.connections == 2


async def test_idle_timeout(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.follow"] = Script(notifications=[("job.event", EVENT)], hang=True)
    async with AsyncDaemonClient(fake_daemon.path) as c:
        stream = c.follow_job("hello", idle_timeout=0.2)
        await stream.__anext__()
        with pytest.raises(errors.RpcTimeout):
            await stream.__anext__()


async def test_logs_without_follow_are_bounded_by_the_call_timeout(
    fake_daemon: FakeDaemon,
) -> None:
    fake_daemon.scripts["job.logs"] = Script(hang=True)
    async with AsyncDaemonClient(fake_daemon.path, timeout=0.2) as c:
        with pytest.raises(errors.RpcTimeout):
            await c.job_logs("hello").collect()


async def test_closing_early_closes_the_connection(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.follow"] = Script(notifications=[("job.event", EVENT)], hang=True)
    async with AsyncDaemonClient(fake_daemon.path) as c, c.follow_job("hello") as stream:
        async for _ in stream:
            break
    # The daemon sees the connection go away: that is how it stops streaming.
    await asyncio.wait_for(fake_daemon.closed_by_client.wait(), 5)


async def test_generic_stream(fake_daemon: FakeDaemon) -> None:
    fake_daemon.scripts["job.logs"] = Script(
        result=RESULTS["job.logs"], notifications=[("job.log", LOG)]
    )
    async with AsyncDaemonClient(fake_daemon.path) as c:
        items, result = await c.stream("job.logs", {"job_id": "hello"}).collect()
    assert items == [models.LogLine(**{**LOG, "stream": models.LogStream.STDOUT})]
    assert isinstance(result, models.JobLogsResult)


async def test_stream_on_missing_socket(short_dir: object) -> None:
    c = AsyncDaemonClient("/tmp/definitely-not-here-mozart.sock")
    with pytest.raises(errors.DaemonNotRunning, match="definitely-not-here"):
        await c.follow_job("x").collect()
