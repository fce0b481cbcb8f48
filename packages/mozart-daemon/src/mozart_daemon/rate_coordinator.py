"""RateLimitCoordinator: rate limits shared by every job of the daemon, per backend.

A limit hit by one job holds every job on the same backend until it clears: the engine
reports it (``report``) and waits on ``wait_until_clear``; the scheduler skips backends that
``is_rate_limited``. A reported wait is clamped to [0, 3600] s so a misparsed reset time
cannot block a backend forever, and a new report only ever extends a limit, never shortens
it. ``max_api_calls_per_minute`` is a token bucket per backend (``try_acquire``) that
meters the backends calling a model API; ``command`` backends make no API call, so their
sheets are never held by it (rate limits they report still hold them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from mozart_daemon.logging import get_logger

log = get_logger(__name__)

MAX_WAIT_SECONDS = 3600.0
# Backend keys (``jobs.runtime.backend_key``) outside the API-call budget.
UNMETERED_BACKENDS = frozenset({"command"})


class TokenBucket:
    """``rate_per_minute`` tokens per minute, bursting up to the same number."""

    def __init__(self, rate_per_minute: int, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.capacity = float(rate_per_minute)
        self.tokens = float(rate_per_minute)
        self._stamp = clock()

    def set_rate(self, rate_per_minute: int) -> None:
        self._refill()
        self.capacity = float(rate_per_minute)
        self.tokens = min(self.tokens, self.capacity)

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.capacity / 60.0)
        self._stamp = now

    def try_acquire(self) -> bool:
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def available(self) -> bool:
        self._refill()
        return self.tokens >= 1.0

    def seconds_until_token(self) -> float:
        self._refill()
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) * 60.0 / self.capacity


class RateLimitCoordinator:
    def __init__(
        self, *, max_api_calls_per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._calls_per_minute = max_api_calls_per_minute
        self._until: dict[str, float] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called whenever a limit is reported or cleared (the scheduler re-evaluates)."""
        self._listeners.append(listener)

    def set_rate(self, max_api_calls_per_minute: int) -> None:
        self._calls_per_minute = max_api_calls_per_minute
        for bucket in self._buckets.values():
            bucket.set_rate(max_api_calls_per_minute)

    def report(self, backend: str, wait_seconds: float, *, job_id: str | None = None) -> float:
        """Record a limit on ``backend`` for ``wait_seconds``; returns the effective end time
        (monotonic) after clamping and never-shorten."""
        wait = min(max(float(wait_seconds), 0.0), MAX_WAIT_SECONDS)
        until = self._clock() + wait
        previous = self._until.get(backend, 0.0)
        if until > previous:
            self._until[backend] = until
            log.warning(
                "rate_limit.reported", backend=backend, wait_seconds=round(wait, 3), job_id=job_id
            )
        self._notify()
        return self._until[backend]

    def is_rate_limited(self, backend: str) -> bool:
        until = self._until.get(backend)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[backend]
            log.info("rate_limit.cleared", backend=backend)
            self._notify()
            return False
        return True

    def any_active(self) -> bool:
        if not self._until:  # asked with every submit (the backpressure level)
            return False
        return any(self.is_rate_limited(b) for b in list(self._until))

    def remaining(self, backend: str) -> float:
        until = self._until.get(backend)
        return max(0.0, until - self._clock()) if until is not None else 0.0

    def active(self) -> dict[str, float]:
        """Backends under a limit and the seconds left."""
        return {b: self.remaining(b) for b in list(self._until) if self.is_rate_limited(b)}

    async def wait_until_clear(self, backend: str) -> None:
        """Sleep until no limit holds ``backend`` (limits may be extended meanwhile)."""
        # Polls (at most each second) rather than awaiting an event: the end time is a
        # moving target that only the clock resolves.
        while self.is_rate_limited(backend):  # noqa: ASYNC110
            await asyncio.sleep(min(self.remaining(backend), 1.0) or 0.01)

    def _bucket(self, backend: str) -> TokenBucket:
        bucket = self._buckets.get(backend)
        if bucket is None:
            bucket = self._buckets[backend] = TokenBucket(self._calls_per_minute, self._clock)
        return bucket

    def try_acquire(self, backend: str) -> bool:
        """Take one API call from ``backend``'s bucket; False when the minute's budget is used."""
        return backend in UNMETERED_BACKENDS or self._bucket(backend).try_acquire()

    def can_call(self, backend: str) -> bool:
        """No limit holds ``backend`` and its bucket has a token (none is taken)."""
        if self.is_rate_limited(backend):
            return False
        return backend in UNMETERED_BACKENDS or self._bucket(backend).available()

    def seconds_until_call(self, backend: str) -> float:
        """How long until ``backend`` may make a call (rate limit and bucket both)."""
        if backend in UNMETERED_BACKENDS:
            return self.remaining(backend)
        return max(self.remaining(backend), self._bucket(backend).seconds_until_token())

    async def acquire(self, backend: str) -> None:
        """Wait for the limit to clear and for a token, then take it."""
        while True:
            if backend in self._until:  # else nothing to wait for (no coroutine for it)
                await self.wait_until_clear(backend)
            if self.try_acquire(backend):
                return
            await asyncio.sleep(max(self._bucket(backend).seconds_until_token(), 0.01))

    def acquire_soon(self, backend: str) -> Awaitable[None] | None:
        """``acquire`` without a coroutine when there is nothing to wait for (no limit
        holds ``backend`` and a token is there: the usual case, before each attempt): None
        once the token is taken; else ``acquire``'s coroutine, to await."""
        if backend not in self._until and self.try_acquire(backend):
            return None
        return self.acquire(backend)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
