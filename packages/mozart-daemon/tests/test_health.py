from mozart_daemon.backpressure import BackpressureController
from mozart_daemon.health import HealthChecker
from mozart_daemon.monitor import ResourceMonitor, ResourceSnapshot


def make(*, degraded: bool = False, memory: float = 1, shutting: bool = False,
          rate: float | None = None) -> HealthChecker:  # fmt: skip
    monitor = ResourceMonitor(interval=60)
    monitor.latest = ResourceSnapshot(
        memory_mb=memory, child_processes=0, taken_at=1, degraded=degraded,
        error="probe broke" if degraded else None,
    )  # fmt: skip
    bp = BackpressureController(
        max_memory_mb=100, max_processes=10, snapshot=lambda: monitor.latest
    )
    return HealthChecker(backpressure=bp, monitor=monitor, shutting_down=lambda: shutting,
                         failure_rate=lambda: rate)  # fmt: skip


def test_ready_when_nothing_is_wrong() -> None:
    checker = make()
    assert checker.readiness() == []
    pid, uptime = checker.liveness()
    assert pid > 0 and uptime >= 0


def test_each_reason() -> None:
    assert make(shutting=True).readiness() == ["shutting down"]
    degraded = make(degraded=True).readiness()
    assert "monitor degraded: probe broke" in degraded and "pressure critical" in degraded
    assert make(memory=90).readiness() == ["pressure high"]
    assert make(rate=0.8).readiness() == [
        "elevated failure rate: 80% of recent sheet attempts failed"
    ]
    assert make(rate=0.2).readiness() == []


def test_failing_notifiers_are_reasons() -> None:
    base = make()
    reason = "notifier failing: desktop (3 deliveries in a row failed; last: ...)"
    checker = HealthChecker(
        backpressure=base._backpressure, monitor=base._monitor, shutting_down=lambda: False,
        failure_rate=lambda: None, notifier_reasons=lambda: [reason],
    )  # fmt: skip
    assert checker.readiness() == [reason]
