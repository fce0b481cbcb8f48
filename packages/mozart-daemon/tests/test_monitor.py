import asyncio
import subprocess
import sys

from mozart_daemon.monitor import ResourceMonitor, ResourceSnapshot


async def test_counts_descendants_and_their_memory() -> None:
    mon = ResourceMonitor(interval=60)
    assert mon.degraded  # fail closed before the first sample
    before = await mon.sample()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        after = await mon.sample()
    finally:
        child.kill()
        child.wait()
    assert not after.degraded
    assert after.child_processes == before.child_processes + 1
    assert after.memory_mb > before.memory_mb


async def test_failing_probe_is_degraded_and_notifies() -> None:
    def broken(pid: int) -> ResourceSnapshot:
        raise PermissionError("no /proc")

    mon = ResourceMonitor(interval=60, probe=broken)
    seen: list[ResourceSnapshot] = []

    async def listener(s: ResourceSnapshot) -> None:
        seen.append(s)

    mon.add_listener(listener)
    snap = await mon.sample()
    assert snap.degraded and "no /proc" in (snap.error or "")
    assert seen == [snap]


async def test_periodic_loop_samples_and_stops() -> None:
    mon = ResourceMonitor(interval=0.01)
    count = 0
    done = asyncio.Event()

    async def listener(s: ResourceSnapshot) -> None:
        nonlocal count
        count += 1
        if count >= 3:
            done.set()

    mon.add_listener(listener)
    mon.start()
    await asyncio.wait_for(done.wait(), timeout=5)
    await mon.stop()
