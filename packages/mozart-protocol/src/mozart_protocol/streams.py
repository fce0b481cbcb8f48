"""Streaming calls: notifications as an (async) iterator, then the final reply as ``.result``.

A stream owns its own connection: it is opened on the first ``__anext__`` and closed when
the final reply arrives, when iteration fails, or on :meth:`RpcStream.aclose` (stopping
early: the daemon notices the closed connection and stops sending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from mozart_protocol._transport import Connection, decode_as
from mozart_protocol.errors import ProtocolError, RpcTimeout

if TYPE_CHECKING:
    from mozart_protocol.client import AsyncDaemonClient

N = TypeVar("N")
R = TypeVar("R")

_PENDING: Any = object()


class RpcStream(Generic[N, R]):
    """``async for item in stream`` yields each notification's params; then ``stream.result``."""

    def __init__(
        self,
        client: AsyncDaemonClient,
        method: str,
        params: Any,
        notifications: dict[str, Any] | None,
        result_type: type[R],
        idle_timeout: float | None,
    ) -> None:
        self._client = client
        self.method = str(method)
        self._params = {} if params is None else params
        self._kinds = notifications
        self._result_type = result_type
        self.idle_timeout = idle_timeout
        self._conn: Connection | None = None
        self._request_id = 0
        self._result: R = _PENDING
        self._closed = False

    @property
    def result(self) -> R:
        """The final reply, once iteration has ended normally."""
        if self._result is _PENDING:
            raise RuntimeError(f"{self.method} has not finished: iterate the stream first")
        return self._result

    @property
    def done(self) -> bool:
        return self._result is not _PENDING

    def __aiter__(self) -> RpcStream[N, R]:
        return self

    async def __anext__(self) -> N:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._next()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def _next(self) -> N:
        if self._conn is None:
            try:
                async with asyncio.timeout(self._client.timeout):
                    self._conn = await self._client.connect()
                    self._request_id = await self._conn.send(self.method, self._params)
            except TimeoutError:
                raise RpcTimeout(
                    self.method, self._client.timeout, self._client.socket_path
                ) from None
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    message = await self._conn.receive(self._request_id, self.method)
            except TimeoutError:
                raise RpcTimeout(self.method, self.idle_timeout or 0.0, self._conn.path) from None
            if not message.is_notification:
                assert isinstance(message.result, msgspec.Raw)
                what = f"result of {self.method}"
                self._result = decode_as(message.result, self._result_type, what)
                raise StopAsyncIteration
            name = str(message.method)
            if self._kinds is not None and name not in self._kinds:
                continue  # a notification this version does not know: skip, stay compatible
            if not isinstance(message.params, msgspec.Raw):
                raise ProtocolError(f"notification {name} has no params")
            kind = self._kinds[name] if self._kinds is not None else Any
            item: N = decode_as(message.params, kind, f"{name} notification")
            return item

    async def aclose(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> RpcStream[N, R]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def collect(self) -> tuple[list[N], R]:
        """Every notification, then the result (for short streams such as logs without follow)."""
        items = [item async for item in self]
        return items, self.result


class SyncRpcStream(Generic[N, R]):
    """The blocking form: a plain iterator driving its own event loop; then ``.result``."""

    def __init__(self, make: Callable[[], RpcStream[N, R]]) -> None:
        self._make = make
        self._runner: asyncio.Runner | None = None
        self._stream: RpcStream[N, R] | None = None

    def __iter__(self) -> SyncRpcStream[N, R]:
        return self

    def __next__(self) -> N:
        if self._runner is None:
            if self._stream is not None:
                raise StopIteration  # finished or closed
            self._runner = asyncio.Runner()
            self._stream = self._make()
        stream = self._stream
        assert stream is not None

        async def step() -> tuple[bool, N | None]:
            try:
                return True, await stream.__anext__()
            except StopAsyncIteration:
                return False, None

        try:
            more, item = self._runner.run(step())
        except BaseException:
            self.close()
            raise
        if not more:
            self.close()
            raise StopIteration
        return item  # type: ignore[return-value]  # `more` guarantees an item

    @property
    def result(self) -> R:
        if self._stream is None:
            raise RuntimeError("the stream has not started: iterate it first")
        return self._stream.result

    def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            if self._stream is not None:
                runner.run(self._stream.aclose())
            runner.close()

    def __enter__(self) -> SyncRpcStream[N, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
