"""Notifications: a score's ``notifications`` channels told about its job's events.

``NotificationService.on_event`` is a listener of ``JobEvents``: it maps a job event to a
notification event (``job.completed`` -> ``job_complete`` ...), builds the payload, and
queues one delivery per channel that asked for the event. Deliveries run in background
tasks, one at a time per channel (so a channel sees a job's events in order), never in the
job's way; past ``MAX_PENDING`` queued deliveries new ones are dropped with a log line.

- webhook: POST the payload as JSON (httpx), ``timeout`` per request; a connection error,
  a timeout, HTTP 5xx or 429 is retried ``max_retries`` times after ``retry_delay``,
  doubled each time; another status fails at once.
- desktop: ``notify-send`` when it is on PATH; otherwise skipped, with one log line.

A destination (a webhook URL, the desktop) whose last ``FAILING_AFTER`` deliveries all
failed is a readiness reason (``daemon.ready``) until a delivery to it succeeds, or
``FAILURE_MEMORY_SECONDS`` pass without a new failure (no job may use it any more).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from mozart_protocol.score.model import (
    DesktopNotification,
    Notification,
    WebhookConfig,
    WebhookNotification,
)

from mozart_daemon.jobs.runtime import JobRun
from mozart_daemon.logging import get_logger
from mozart_daemon.store import EventRecord

log = get_logger(__name__)

# Job event type -> the score's notification event name.
EVENT_NAMES: dict[str, str] = {
    "job.started": "job_start",
    "sheet.started": "sheet_start",
    "sheet.completed": "sheet_complete",
    "sheet.failed": "sheet_failed",
    "job.completed": "job_complete",
    "job.failed": "job_failed",
    "job.paused": "job_paused",
}
MAX_PENDING = 1000
FAILING_AFTER = 3
FAILURE_MEMORY_SECONDS = 600.0
DESKTOP_TIMEOUT_SECONDS = 10.0
RETRIED_STATUSES = frozenset({429})
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

JobLookup = Callable[[str], JobRun | None]


@dataclass
class _Channel:
    """The deliveries queued for one channel of one job, and the task sending them."""

    notification: Notification
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


@dataclass
class _Health:
    failures: int = 0
    last_error: str = ""
    last_failure: float = 0.0


def destination(notification: Notification) -> str:
    """How a channel is named in logs and readiness reasons (a URL without its query,
    fragment or credentials: those may hold secrets)."""
    if isinstance(notification, WebhookNotification):
        config = notification.config
        url = config.url if config.url is not None else os.environ.get(config.url_env or "", "")
        if not url:
            return f"webhook ${config.url_env}"
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"webhook {parts.scheme}://{host}{port}{parts.path}"
    return "desktop"


def payload(event: EventRecord, name: str, job: JobRun | None) -> dict[str, Any]:
    return {
        "event": name,
        "job_id": event.job_id,
        "name": job.score.name if job is not None else event.job_id,
        "status": job.state if job is not None else None,
        "sheet_num": event.sheet_num,
        "message": event.message,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "workspace": str(job.workspace) if job is not None else None,
        "total_sheets": job.plan.total_sheets if job is not None else None,
        "source": "mozart",
    }


def _kill(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _expand(value: str) -> str:
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), value)


class NotificationService:
    def __init__(
        self,
        *,
        lookup: JobLookup,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._channels: dict[tuple[str, int], _Channel] = {}
        self._health: dict[str, _Health] = {}
        self._pending = 0
        self._closing = False
        self._desktop_warned = False

    # -- intake -------------------------------------------------------------------------

    def on_event(self, event: EventRecord) -> None:
        """A JobEvents listener: queue the deliveries this event asks for (never blocks)."""
        name = EVENT_NAMES.get(event.type)
        if name is None or self._closing:
            return
        job = self._lookup(event.job_id)
        if job is None or not job.score.notifications:
            return
        body: dict[str, Any] | None = None
        for index, notification in enumerate(job.score.notifications):
            if not isinstance(notification, WebhookNotification | DesktopNotification):
                continue  # slack, email: accepted by the score format, not implemented
            if name not in notification.on_events:
                continue
            if self._pending >= MAX_PENDING:
                log.warning("notify.dropped", job_id=event.job_id, notification=name,
                            channel=destination(notification), pending=self._pending)  # fmt: skip
                continue
            body = body if body is not None else payload(event, name, job)
            key = (event.job_id, index)
            channel = self._channels.get(key)
            if channel is None or channel.notification is not notification:
                channel = self._channels[key] = _Channel(notification)
            channel.queue.append(body)
            self._pending += 1
            if channel.task is None:
                channel.task = asyncio.get_running_loop().create_task(
                    self._drain(key, channel), name=f"notify:{event.job_id}:{index}"
                )

    async def _drain(self, key: tuple[str, int], channel: _Channel) -> None:
        try:
            while channel.queue:
                body = channel.queue.popleft()
                try:
                    await self._deliver(channel.notification, body)
                except Exception:  # a broken channel must never stop the others' deliveries
                    log.exception("notify.crashed", channel=destination(channel.notification))
                finally:
                    self._pending -= 1
        finally:
            channel.task = None
            if not channel.queue and self._channels.get(key) is channel:
                del self._channels[key]

    async def _deliver(self, notification: Notification, body: dict[str, Any]) -> None:
        where = destination(notification)
        try:
            if isinstance(notification, WebhookNotification):
                error = await self._post(notification.config, body)
            elif isinstance(notification, DesktopNotification):
                error = await self._desktop(notification, body)
            else:  # pragma: no cover - filtered in on_event
                return
        except Exception as exc:  # counts as a failed delivery; the traceback is logged
            log.exception("notify.crashed", channel=where)
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self._succeeded(where)
        elif error != "":
            self._failed(where, error, body)

    # -- channels -----------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        return self._client

    async def _post(self, config: WebhookConfig, body: dict[str, Any]) -> str | None:
        """None when delivered; else why not (after the retries)."""
        url = config.url if config.url is not None else os.environ.get(config.url_env or "")
        if not url:
            return f"the environment variable {config.url_env} (url_env) is not set"
        headers = {k: _expand(v) for k, v in config.headers.items()}
        delay = config.retry_delay
        error = ""
        for attempt in range(config.max_retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                response = await self._http().post(
                    url, json=body, headers=headers, timeout=config.timeout
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if 200 <= response.status_code < 300:
                return None
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in RETRIED_STATUSES:
                return error
        return f"{error} (after {config.max_retries + 1} attempts)"

    async def _desktop(self, notification: DesktopNotification, body: dict[str, Any]) -> str | None:
        """None when shown; "" when skipped (no notify-send); else why it failed."""
        executable = shutil.which("notify-send")
        if executable is None:
            if not self._desktop_warned:
                self._desktop_warned = True
                log.info("notify.desktop_unavailable", reason="notify-send is not on PATH")
            return ""
        config = notification.config
        title = f"Mozart: {body['job_id']} {body['event'].replace('_', ' ')}"
        text = body["message"] or (f"sheet {body['sheet_num']}" if body["sheet_num"] else "")
        argv = [executable, "-a", config.app_name]
        if config.timeout:
            argv += ["-t", str(config.timeout * 1000)]
        argv += ["--", title, text]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), DESKTOP_TIMEOUT_SECONDS)
        except TimeoutError:
            _kill(proc.pid)
            await proc.wait()
            return f"notify-send did not finish within {DESKTOP_TIMEOUT_SECONDS:g} s"
        except asyncio.CancelledError:
            _kill(proc.pid)
            await proc.wait()
            raise
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return f"notify-send exited with status {proc.returncode}: {reason[0]}".rstrip(": ")
        return None

    # -- health -------------------------------------------------------------------------

    def _succeeded(self, where: str) -> None:
        health = self._health.pop(where, None)
        if health is not None and health.failures >= FAILING_AFTER:
            log.info("notify.recovered", channel=where)

    def _failed(self, where: str, error: str, body: dict[str, Any]) -> None:
        health = self._health.setdefault(where, _Health())
        health.failures += 1
        health.last_error = error
        health.last_failure = self._clock()
        log.warning(
            "notify.failed", channel=where, job_id=body["job_id"], notification=body["event"],
            error=error, consecutive_failures=health.failures,
        )  # fmt: skip

    def readiness(self) -> list[str]:
        """One reason per destination whose last deliveries all failed."""
        now = self._clock()
        reasons = []
        for where, health in sorted(self._health.items()):
            if health.failures < FAILING_AFTER:
                continue
            if now - health.last_failure > FAILURE_MEMORY_SECONDS:
                continue
            reasons.append(
                f"notifier failing: {where} ({health.failures} deliveries in a row failed;"
                f" last: {health.last_error})"
            )
        return reasons

    @property
    def pending(self) -> int:
        return self._pending

    async def wait_idle(self) -> None:
        """Wait until every queued delivery is done (bound it with ``asyncio.timeout``)."""
        while tasks := [c.task for c in self._channels.values() if c.task is not None]:
            await asyncio.wait(tasks)

    async def aclose(self, grace_seconds: float) -> None:
        """Let queued deliveries finish for ``grace_seconds`` (the shutdown's own events),
        then cancel the rest and close the HTTP client."""
        self._closing = True
        tasks = [c.task for c in self._channels.values() if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("notify.abandoned", deliveries=self._pending)
                await asyncio.gather(*pending, return_exceptions=True)
        self._channels.clear()
        self._pending = 0
        if self._client is not None:
            await self._client.aclose()
            self._client = None
