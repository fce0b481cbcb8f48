"""NotificationService with httpx's MockTransport: which events go where, retries,
timeouts, failures in readiness, the bound on queued deliveries, desktop via notify-send."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from mozart_daemon import notify
from mozart_daemon.jobs import JobRun
from mozart_daemon.notify import NotificationService
from mozart_daemon.store import EventRecord
from mozart_protocol.score import LoadedScore, build_plan
from mozart_protocol.score.model import decode_score

URL = "http://127.0.0.1:9/hook"


def job(notifications: list[dict[str, Any]], tmp_path: Path, state: str = "running") -> JobRun:
    score = decode_score(
        {
            "name": "n",
            "sheet": {"size": 1, "total_items": 2},
            "prompt": {"template": "x"},
            "notifications": notifications,
        }
    )
    loaded = LoadedScore(score=score, path=tmp_path / "n.yaml", base_dir=tmp_path)
    run = JobRun(
        job_id="n", loaded=loaded, plan=build_plan(score), workspace=tmp_path / "ws",
        priority=5, done=set(),
    )  # fmt: skip
    run.state = state
    return run


def event(type: str, sheet_num: int | None = None, message: str | None = None) -> EventRecord:
    return EventRecord(
        id=1, job_id="n", type=type, sheet_num=sheet_num, attempt=None, message=message,
        time=datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC),
    )  # fmt: skip


def webhook(**config: Any) -> dict[str, Any]:
    on_events = config.pop("on_events", ["job_start", "sheet_failed", "job_complete"])
    return {"type": "webhook", "on_events": on_events, "config": {"url": URL, **config}}


class Endpoint:
    """A mock transport: answers with the next of ``replies`` (status or exception)."""

    def __init__(self, *replies: int | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return httpx.Response(reply)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def service(
    run: JobRun, endpoint: Endpoint, clock: list[float] | None = None
) -> NotificationService:
    now = clock if clock is not None else [0.0]
    return NotificationService(
        lookup=lambda job_id: run if job_id == run.job_id else None,
        transport=httpx.MockTransport(endpoint),
        clock=lambda: now[0],
    )


async def settle(svc: NotificationService) -> None:
    async with asyncio.timeout(5):
        await svc.wait_idle()


async def test_subscribed_events_are_posted_in_order_with_the_payload(tmp_path: Path) -> None:
    run = job([webhook(headers={"X-Token": "t-${MZ_TEST_TOKEN}"})], tmp_path)
    endpoint = Endpoint(200)
    svc = service(run, endpoint)
    os.environ["MZ_TEST_TOKEN"] = "abc"
    try:
        for e in (
            event("job.queued"),
            event("job.started"),
            event("sheet.started", 1),
            event("sheet.failed", 1, "validation failed"),
            event("job.completed"),
        ):
            svc.on_event(e)
        await settle(svc)
    finally:
        del os.environ["MZ_TEST_TOKEN"]
    bodies = endpoint.bodies()
    assert [b["event"] for b in bodies] == ["job_start", "sheet_failed", "job_complete"]
    assert bodies[1] == {
        "event": "sheet_failed",
        "job_id": "n",
        "name": "n",
        "status": "running",
        "sheet_num": 1,
        "message": "validation failed",
        "time": "2026-11-27T01:02:03Z",
        "workspace": str(tmp_path / "ws"),
        "total_sheets": 2,
        "source": "mozart",
    }
    assert endpoint.requests[0].headers["X-Token"] == "t-abc"
    assert svc.readiness() == [] and svc.pending == 0
    await svc.aclose(1)


async def test_default_events_and_unknown_jobs(tmp_path: Path) -> None:
    run = job([{"type": "webhook", "config": {"url": URL}}], tmp_path)
    endpoint = Endpoint(200)
    svc = service(run, endpoint)
    svc.on_event(event("job.started"))  # not in the default [job_complete, job_failed]
    svc.on_event(msgspec.structs.replace(event("job.failed"), job_id="other"))  # no such job
    svc.on_event(event("job.failed", message="Sheet 2 failed"))
    await settle(svc)
    assert [b["event"] for b in endpoint.bodies()] == ["job_failed"]
    await svc.aclose(1)


async def test_server_errors_and_timeouts_are_retried(tmp_path: Path) -> None:
    run = job([webhook(max_retries=3, retry_delay=0.001)], tmp_path)
    endpoint = Endpoint(500, httpx.ReadTimeout("slow"), 429, 200)
    svc = service(run, endpoint)
    svc.on_event(event("job.completed"))
    await settle(svc)
    assert len(endpoint.requests) == 4
    assert svc.readiness() == []
    await svc.aclose(1)


async def test_client_errors_are_not_retried(tmp_path: Path) -> None:
    run = job([webhook(max_retries=3, retry_delay=0.001)], tmp_path)
    endpoint = Endpoint(404)
    svc = service(run, endpoint)
    svc.on_event(event("job.completed"))
    await settle(svc)
    assert len(endpoint.requests) == 1
    await svc.aclose(1)


async def test_a_failing_destination_is_a_readiness_reason_until_it_works(
    tmp_path: Path,
) -> None:
    run = job([webhook(max_retries=1, retry_delay=0.001)], tmp_path)
    endpoint = Endpoint(httpx.ConnectError("refused"))
    clock = [100.0]
    svc = service(run, endpoint, clock)
    for _ in range(notify.FAILING_AFTER - 1):
        svc.on_event(event("job.started"))
    await settle(svc)
    assert svc.readiness() == []  # not yet: two failures
    svc.on_event(event("job.started"))
    await settle(svc)
    assert len(endpoint.requests) == 2 * notify.FAILING_AFTER  # each tried twice
    [reason] = svc.readiness()
    assert reason == (
        "notifier failing: webhook http://127.0.0.1:9/hook (3 deliveries in a row failed;"
        " last: ConnectError: refused (after 2 attempts))"
    )
    clock[0] += notify.FAILURE_MEMORY_SECONDS + 1
    assert svc.readiness() == []  # nobody has used it for a long time
    clock[0] -= notify.FAILURE_MEMORY_SECONDS + 1
    endpoint.replies = [204]
    svc.on_event(event("job.completed"))
    await settle(svc)
    assert svc.readiness() == []
    await svc.aclose(1)


async def test_url_env_and_its_absence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"url_env": "MZ_TEST_HOOK_URL", "max_retries": 0}
    run = job([{"type": "webhook", "on_events": ["job_start"], "config": config}], tmp_path)
    endpoint = Endpoint(200)
    svc = service(run, endpoint)
    svc.on_event(event("job.started"))
    await settle(svc)
    assert endpoint.requests == []
    monkeypatch.setenv("MZ_TEST_HOOK_URL", "http://127.0.0.1:9/from-env?key=secret")
    svc.on_event(event("job.started"))
    await settle(svc)
    assert str(endpoint.requests[0].url) == "http://127.0.0.1:9/from-env?key=secret"
    await svc.aclose(1)


async def test_delivery_never_blocks_and_shutdown_abandons_it(tmp_path: Path) -> None:
    run = job([webhook()], tmp_path)
    release = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    svc = NotificationService(lookup=lambda _: run, transport=httpx.MockTransport(hang))
    svc.on_event(event("job.started"))  # returns at once: the POST runs in the background
    svc.on_event(event("job.completed"))
    await asyncio.sleep(0.01)
    assert svc.pending == 2
    await svc.aclose(0.05)
    assert svc.pending == 0
    svc.on_event(event("job.started"))  # closed: ignored
    assert svc.pending == 0


async def test_queued_deliveries_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "MAX_PENDING", 3)
    run = job([webhook()], tmp_path)
    endpoint = Endpoint(200)
    svc = service(run, endpoint)
    for _ in range(5):
        svc.on_event(event("job.started"))
    assert svc.pending == 3
    await settle(svc)
    assert len(endpoint.requests) == 3
    await svc.aclose(1)


def fake_notify_send(directory: Path, status: int = 0) -> Path:
    script = directory / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{directory}/args"\nexit {status}\n')
    script.chmod(0o755)
    return directory / "args"


async def test_desktop_runs_notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    args = fake_notify_send(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    desktop = {"type": "desktop", "on_events": ["job_failed"], "config": {"app_name": "MZ"}}
    run = job([desktop], tmp_path)
    svc = service(run, Endpoint(200))
    svc.on_event(event("job.failed", message="Sheet 1 failed: boom"))
    await settle(svc)
    assert args.read_text().splitlines() == [
        "-a", "MZ", "-t", "10000", "--", "Mozart: n job failed", "Sheet 1 failed: boom",
    ]  # fmt: skip
    assert svc.readiness() == []
    await svc.aclose(1)


async def test_desktop_failures_count_and_a_missing_notify_send_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_notify_send(bin_dir, status=1)
    monkeypatch.setenv("PATH", str(bin_dir))
    run = job([{"type": "desktop", "on_events": ["job_start"]}], tmp_path)
    svc = service(run, Endpoint(200))
    for _ in range(notify.FAILING_AFTER):
        svc.on_event(event("job.started"))
    await settle(svc)
    [reason] = svc.readiness()
    assert reason.startswith("notifier failing: desktop (3 deliveries in a row failed;")
    assert "notify-send exited with status 1" in reason
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    svc2 = service(run, Endpoint(200))
    svc2.on_event(event("job.started"))
    await settle(svc2)
    assert svc2.readiness() == []  # skipped, not failed
    await svc.aclose(1)
    await svc2.aclose(1)
