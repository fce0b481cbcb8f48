import pytest
from mozart_daemon.backpressure import BackpressureController, Pressure, level_for_ratio
from mozart_daemon.monitor import ResourceSnapshot


@pytest.mark.parametrize(
    ("ratio", "level"),
    [
        (0.0, Pressure.NONE),
        (0.49, Pressure.NONE),
        (0.5, Pressure.LOW),
        (0.69, Pressure.LOW),
        (0.7, Pressure.MEDIUM),
        (0.85, Pressure.MEDIUM),
        (0.86, Pressure.HIGH),
        (0.95, Pressure.HIGH),
        (0.96, Pressure.CRITICAL),
    ],
)
def test_thresholds(ratio: float, level: Pressure) -> None:
    assert level_for_ratio(ratio) == level


def make(mem: float, procs: int = 0, degraded: bool = False, limited: bool = False):
    snap = ResourceSnapshot(memory_mb=mem, child_processes=procs, taken_at=0, degraded=degraded)
    return BackpressureController(
        max_memory_mb=100, max_processes=10, snapshot=lambda: snap, rate_limited=lambda: limited
    )


def test_levels_and_effects() -> None:
    assert make(10).current_level() == Pressure.NONE
    assert make(10).should_accept_job()
    assert make(60).dispatch_delay() == 2.0
    assert make(75).dispatch_delay() == 10.0
    assert not make(90).should_accept_job()
    assert make(10, procs=9).current_level() == Pressure.HIGH


def test_rate_limit_is_high_and_degraded_is_critical() -> None:
    bp = make(10, limited=True)
    assert bp.current_level() == Pressure.HIGH
    assert not bp.should_accept_job()
    assert bp.dispatch_delay() == 0.0  # a rate limit does not slow other backends
    assert make(10, degraded=True).current_level() == Pressure.CRITICAL


def test_level_follows_each_new_snapshot_and_new_limits() -> None:
    """The level is judged once per snapshot: a new snapshot or new limits judge again."""
    snaps = [ResourceSnapshot(memory_mb=10, child_processes=0, taken_at=0)]
    bp = BackpressureController(max_memory_mb=100, max_processes=10, snapshot=lambda: snaps[-1])
    assert bp.resource_level() == Pressure.NONE
    assert bp.resource_level() == Pressure.NONE  # the same snapshot
    snaps.append(ResourceSnapshot(memory_mb=90, child_processes=0, taken_at=1))
    assert bp.resource_level() == Pressure.HIGH
    bp.set_limits(max_memory_mb=1000, max_processes=10)
    assert bp.resource_level() == Pressure.NONE  # same snapshot, new limits
    snaps.append(ResourceSnapshot(memory_mb=0, child_processes=0, taken_at=2, degraded=True))
    assert bp.resource_level() == Pressure.CRITICAL
