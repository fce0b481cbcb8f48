import asyncio

from mozart_daemon.rate_coordinator import MAX_WAIT_SECONDS, RateLimitCoordinator


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_limit_holds_backend_until_it_clears() -> None:
    clock = Clock()
    c = RateLimitCoordinator(max_api_calls_per_minute=60, clock=clock)
    c.report("claude", 30)
    assert c.is_rate_limited("claude")
    assert not c.is_rate_limited("command")
    clock.t += 29
    assert c.is_rate_limited("claude")
    clock.t += 2
    assert not c.is_rate_limited("claude")


def test_wait_is_clamped_and_never_shortened() -> None:
    clock = Clock()
    c = RateLimitCoordinator(max_api_calls_per_minute=60, clock=clock)
    c.report("b", 10 * MAX_WAIT_SECONDS)
    assert c.remaining("b") == MAX_WAIT_SECONDS
    c.report("b", 5)
    assert c.remaining("b") == MAX_WAIT_SECONDS
    c.report("n", -50)
    assert not c.is_rate_limited("n")


def test_token_bucket_enforces_calls_per_minute() -> None:
    clock = Clock()
    c = RateLimitCoordinator(max_api_calls_per_minute=2, clock=clock)
    assert c.try_acquire("b")
    assert c.can_call("b")  # peeking takes nothing
    assert c.try_acquire("b")
    assert not c.can_call("b")
    assert not c.try_acquire("b")
    assert c.seconds_until_call("b") == 30.0
    clock.t += 30
    assert c.try_acquire("b")
    assert c.try_acquire("other")  # buckets are per backend


def test_command_backends_are_not_metered() -> None:
    clock = Clock()
    c = RateLimitCoordinator(max_api_calls_per_minute=1, clock=clock)
    assert all(c.try_acquire("command") for _ in range(100))
    assert c.can_call("command")
    assert c.seconds_until_call("command") == 0.0
    c.report("command", 5)  # a limit it reports still holds it
    assert not c.can_call("command")


def test_listeners_hear_reports() -> None:
    c = RateLimitCoordinator(max_api_calls_per_minute=1)
    heard: list[int] = []
    c.add_listener(lambda: heard.append(1))
    c.report("b", 1)
    assert heard


async def test_wait_until_clear_returns_when_limit_ends() -> None:
    c = RateLimitCoordinator(max_api_calls_per_minute=60)
    c.report("b", 0.05)
    await asyncio.wait_for(c.wait_until_clear("b"), timeout=2)
    assert not c.is_rate_limited("b")


def test_acquire_soon_takes_a_token_at_once_or_hands_back_the_wait() -> None:
    """Nothing to wait for: None, the token taken. A limit, or a spent budget: acquire's
    coroutine, which waits and then takes it."""
    now = [0.0]
    coordinator = RateLimitCoordinator(max_api_calls_per_minute=1, clock=lambda: now[0])
    assert coordinator.acquire_soon("command") is None  # unmetered, no limit
    assert coordinator.acquire_soon("http@x") is None  # the one token of the minute
    assert not coordinator.can_call("http@x")
    spent = coordinator.acquire_soon("http@x")
    assert spent is not None
    now[0] = 60.0  # a token again
    asyncio.run(spent)  # type: ignore[arg-type]
    assert not coordinator.can_call("http@x")  # taken by the wait
    coordinator.report("command", 5.0)
    limited = coordinator.acquire_soon("command")
    assert limited is not None
    now[0] = 70.0  # the limit lapsed
    asyncio.run(limited)  # type: ignore[arg-type]
    assert coordinator.acquire_soon("command") is None
