"""Talk to mozartd: an async client, a sync wrapper and a fail-safe availability probe.

::

    async with AsyncDaemonClient() as client:          # socket: arg > $MOZART_SOCKET > default
        job = await client.submit_job("/abs/score.yaml")
        events = client.follow_job(job.job_id)         # an RpcStream, iterated asynchronously
        async for event in events:
            print(event.type, event.message)
        final = events.result                          # the job's status once it has ended

    DaemonClient().job_status("hello")                 # the same calls, blocking

Every call has a timeout (``RpcTimeout``). Results are decoded into the generated types; an
error answered by the daemon is raised as its ``RpcError`` subclass, and only a socket that
nothing serves gives ``DaemonNotRunning``. Request calls share one connection per client;
a stream (``follow_job``, ``job_logs``) opens its own, so the client stays usable meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from mozart_protocol import framing
from mozart_protocol._generated.methods import METHODS, NOTIFICATIONS, Method
from mozart_protocol._generated.models import (
    DaemonHealth,
    DaemonReady,
    DaemonShutdownParams,
    DaemonShutdownResult,
    DaemonStatus,
    EmptyParams,
    JobActionResult,
    JobEvent,
    JobFollowParams,
    JobHistory,
    JobIdParams,
    JobListParams,
    JobListResult,
    JobLogsParams,
    JobLogsResult,
    JobState,
    JobStatus,
    JobSubmitParams,
    JobSubmitResult,
    LearningPatternsParams,
    LearningPatternsResult,
    LogLine,
    PatternKind,
    SchemaDocument,
)
from mozart_protocol._probe import is_daemon_available
from mozart_protocol._transport import (
    DEFAULT_SOCKET_PATH,
    SOCKET_ENV,
    Connection,
    decode_as,
    resolve_socket_path,
)
from mozart_protocol.errors import RpcError, RpcTimeout
from mozart_protocol.streams import RpcStream, SyncRpcStream

DEFAULT_TIMEOUT = 30.0
"""Seconds a request call may take, connect included."""

T = TypeVar("T")
Params = msgspec.Struct | Mapping[str, Any] | None

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "DEFAULT_TIMEOUT",
    "SOCKET_ENV",
    "AsyncDaemonClient",
    "DaemonClient",
    "RpcStream",
    "SyncRpcStream",
    "is_daemon_available",
    "resolve_socket_path",
]


class _Options:
    """What both clients share: where the daemon is and how to talk to it."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None,
        timeout: float,
        max_message_size: int,
        verify_peer: bool,
    ) -> None:
        self.socket_path = str(resolve_socket_path(socket_path))
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.verify_peer = verify_peer


class AsyncDaemonClient(_Options):
    """One typed coroutine per RPC method, plus :meth:`call` and :meth:`stream`."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_message_size: int = framing.DEFAULT_MAX_MESSAGE_SIZE,
        verify_peer: bool = True,
    ) -> None:
        super().__init__(socket_path, timeout, max_message_size, verify_peer)
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncDaemonClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> Connection:
        """A new connection to the daemon, peer checked (streams each take their own)."""
        return await Connection.open(
            self.socket_path, self.max_message_size, verify_peer=self.verify_peer
        )

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # -- generic calls -----------------------------------------------------------------

    async def call(
        self,
        method: Method | str,
        params: Params = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109  (per-call timeouts are the API)
    ) -> Any:
        """Call any request method; the result is decoded into its generated type if known."""
        return await self._request(str(method), params, _result_type(method), timeout)

    def stream(
        self, method: Method | str, params: Params = None, *, idle_timeout: float | None = None
    ) -> RpcStream[Any, Any]:
        """Call any stream method: iterate its notifications' params, then read ``.result``."""
        known = METHODS[Method(method)] if method in Method._value2member_map_ else None
        # An unknown method's notifications are passed on as plain JSON values.
        kinds = {n: NOTIFICATIONS[n] for n in known.notifications} if known else None
        return RpcStream(self, str(method), params, kinds, _result_type(method), idle_timeout)

    async def _request(
        self, method: str, params: Params, result: type[T], limit: float | None
    ) -> T:
        limit = self.timeout if limit is None else limit
        async with self._lock:
            try:
                async with asyncio.timeout(limit):
                    if self._conn is None or self._conn.closed:
                        self._conn = await self.connect()
                    request_id = await self._conn.send(method, _wire(params))
                    message = await self._conn.receive(request_id, method)
                    while message.is_notification:  # not ours to show: a request method's reply
                        message = await self._conn.receive(request_id, method)
            except RpcError:
                raise  # a complete error reply: the connection is still in step
            except TimeoutError:
                await self.close()
                raise RpcTimeout(method, limit, self.socket_path) from None
            except BaseException:
                await self.close()  # the connection may be mid-reply: never reuse it
                raise
        assert isinstance(message.result, msgspec.Raw)
        value: T = decode_as(message.result, result, f"result of {method}")
        return value

    # -- one call per method -----------------------------------------------------------

    async def submit_job(
        self,
        config_path: str | os.PathLike[str],
        *,
        fresh: bool = False,
        start_sheet: int | None = None,
        priority: int | None = None,
        workspace: str | None = None,
    ) -> JobSubmitResult:
        # The daemon runs elsewhere: a path relative to *our* directory means nothing to it.
        params = JobSubmitParams(
            config_path=_absolute(config_path),
            fresh=fresh,
            start_sheet=start_sheet,
            priority=priority,
            workspace=workspace,
        )
        return await self._request(Method.JOB_SUBMIT, params, JobSubmitResult, None)

    async def job_status(self, job_id: str) -> JobStatus:
        return await self._request(Method.JOB_STATUS, JobIdParams(job_id=job_id), JobStatus, None)

    async def pause_job(self, job_id: str) -> JobActionResult:
        return await self._job_action(Method.JOB_PAUSE, job_id)

    async def resume_job(self, job_id: str) -> JobActionResult:
        return await self._job_action(Method.JOB_RESUME, job_id)

    async def cancel_job(self, job_id: str) -> JobActionResult:
        return await self._job_action(Method.JOB_CANCEL, job_id)

    async def _job_action(self, method: Method, job_id: str) -> JobActionResult:
        return await self._request(method, JobIdParams(job_id=job_id), JobActionResult, None)

    async def list_jobs(
        self,
        *,
        status: JobState | str | None = None,
        all: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> JobListResult:
        state = JobState(status) if status is not None else None
        params = JobListParams(status=state, all=all, limit=limit, after=after)
        return await self._request(Method.JOB_LIST, params, JobListResult, None)

    def follow_job(
        self, job_id: str, *, idle_timeout: float | None = None
    ) -> RpcStream[JobEvent, JobStatus]:
        """The job's events until it ends; ``.result`` is then its final status.

        No timeout between events by default: a sheet may run quietly for hours.
        """
        params = JobFollowParams(job_id=job_id)
        kinds = {"job.event": JobEvent}
        return RpcStream(self, Method.JOB_FOLLOW, params, kinds, JobStatus, idle_timeout)

    def job_logs(
        self,
        job_id: str,
        *,
        sheet_num: int | None = None,
        follow: bool = False,
        tail: int | None = None,
        idle_timeout: float | None = None,
    ) -> RpcStream[LogLine, JobLogsResult]:
        """Sheet output lines; ``.result`` counts them. Without ``follow`` the call's
        timeout bounds the wait between lines; with it, lines may be far apart."""
        params = JobLogsParams(job_id=job_id, sheet_num=sheet_num, follow=follow, tail=tail)
        if idle_timeout is None and not follow:
            idle_timeout = self.timeout
        kinds = {"job.log": LogLine}
        return RpcStream(self, Method.JOB_LOGS, params, kinds, JobLogsResult, idle_timeout)

    async def job_history(self, job_id: str) -> JobHistory:
        return await self._request(Method.JOB_HISTORY, JobIdParams(job_id=job_id), JobHistory, None)

    async def learning_patterns(
        self, *, kind: PatternKind | str | None = None, limit: int = 100
    ) -> LearningPatternsResult:
        chosen = PatternKind(kind) if kind is not None else None
        params = LearningPatternsParams(kind=chosen, limit=limit)
        return await self._request(Method.LEARNING_PATTERNS, params, LearningPatternsResult, None)

    async def daemon_status(self) -> DaemonStatus:
        return await self._request(Method.DAEMON_STATUS, EmptyParams(), DaemonStatus, None)

    async def shutdown(self, *, force: bool = False) -> DaemonShutdownResult:
        params = DaemonShutdownParams(force=force)
        return await self._request(Method.DAEMON_SHUTDOWN, params, DaemonShutdownResult, None)

    async def health(self) -> DaemonHealth:
        return await self._request(Method.DAEMON_HEALTH, EmptyParams(), DaemonHealth, None)

    async def ready(self) -> DaemonReady:
        return await self._request(Method.DAEMON_READY, EmptyParams(), DaemonReady, None)

    async def discover(self) -> SchemaDocument:
        return await self._request(Method.RPC_DISCOVER, EmptyParams(), SchemaDocument, None)


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(path)  # getcwd only: no filesystem access that could block


def _result_type(method: Method | str) -> Any:
    if method in Method._value2member_map_:
        return METHODS[Method(method)].result
    return Any  # a method this version does not know: plain JSON values


def _wire(params: Params) -> Any:
    return {} if params is None else params


class DaemonClient(_Options):
    """The blocking twin of :class:`AsyncDaemonClient`: one connection per call.

    Meant for scripts and the CLI's one-shot commands; do not call it from a running loop.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_message_size: int = framing.DEFAULT_MAX_MESSAGE_SIZE,
        verify_peer: bool = True,
    ) -> None:
        super().__init__(socket_path, timeout, max_message_size, verify_peer)

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def _async(self) -> AsyncDaemonClient:
        return AsyncDaemonClient(
            self.socket_path,
            self.timeout,
            max_message_size=self.max_message_size,
            verify_peer=self.verify_peer,
        )

    def _run(self, call: Callable[[AsyncDaemonClient], Awaitable[T]]) -> T:
        async def once() -> T:
            async with self._async() as client:
                return await call(client)

        return asyncio.run(once())

    def call(
        self, method: Method | str, params: Params = None, *, timeout: float | None = None
    ) -> Any:
        return self._run(lambda c: c.call(method, params, timeout=timeout))

    def submit_job(
        self,
        config_path: str | os.PathLike[str],
        *,
        fresh: bool = False,
        start_sheet: int | None = None,
        priority: int | None = None,
        workspace: str | None = None,
    ) -> JobSubmitResult:
        return self._run(
            lambda c: c.submit_job(
                config_path, fresh=fresh, start_sheet=start_sheet, priority=priority,
                workspace=workspace,
            )
        )  # fmt: skip

    def job_status(self, job_id: str) -> JobStatus:
        return self._run(lambda c: c.job_status(job_id))

    def pause_job(self, job_id: str) -> JobActionResult:
        return self._run(lambda c: c.pause_job(job_id))

    def resume_job(self, job_id: str) -> JobActionResult:
        return self._run(lambda c: c.resume_job(job_id))

    def cancel_job(self, job_id: str) -> JobActionResult:
        return self._run(lambda c: c.cancel_job(job_id))

    def list_jobs(
        self,
        *,
        status: JobState | str | None = None,
        all: bool = False,
        limit: int = 50,
        after: str | None = None,
    ) -> JobListResult:
        return self._run(lambda c: c.list_jobs(status=status, all=all, limit=limit, after=after))

    def follow_job(
        self, job_id: str, *, idle_timeout: float | None = None
    ) -> SyncRpcStream[JobEvent, JobStatus]:
        return SyncRpcStream(lambda: self._async().follow_job(job_id, idle_timeout=idle_timeout))

    def job_logs(
        self,
        job_id: str,
        *,
        sheet_num: int | None = None,
        follow: bool = False,
        tail: int | None = None,
        idle_timeout: float | None = None,
    ) -> SyncRpcStream[LogLine, JobLogsResult]:
        return SyncRpcStream(
            lambda: self._async().job_logs(
                job_id, sheet_num=sheet_num, follow=follow, tail=tail, idle_timeout=idle_timeout
            )
        )

    def job_history(self, job_id: str) -> JobHistory:
        return self._run(lambda c: c.job_history(job_id))

    def learning_patterns(
        self, *, kind: PatternKind | str | None = None, limit: int = 100
    ) -> LearningPatternsResult:
        return self._run(lambda c: c.learning_patterns(kind=kind, limit=limit))

    def daemon_status(self) -> DaemonStatus:
        return self._run(lambda c: c.daemon_status())

    def shutdown(self, *, force: bool = False) -> DaemonShutdownResult:
        return self._run(lambda c: c.shutdown(force=force))

    def health(self) -> DaemonHealth:
        return self._run(lambda c: c.health())

    def ready(self) -> DaemonReady:
        return self._run(lambda c: c.ready())

    def discover(self) -> SchemaDocument:
        return self._run(lambda c: c.discover())
