"""GlobalSheetScheduler: one queue of ready sheets across every active job.

A job is registered with its dependency DAG and the sheets already done; a sheet becomes
ready when all its dependencies are done. ``next_sheet`` picks the next sheet to run:

- only from jobs that are not paused and are under their own parallel cap
  (``parallel.max_concurrent``, or 1 when the score does not run sheets in parallel);
- never past ``max_concurrent_sheets`` in total;
- never on a backend under a rate limit, nor one whose API-call budget for the minute is
  spent (the engine takes a token before each attempt);
- highest score ``priority`` first; among equal priorities, the job with the fewest
  running sheets (fair share), then the one served longest ago; inside a job, the lowest
  ready sheet number (dependency order).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping


class SheetGraph:
    """A job's sheets and the sheets each waits for, made ready for ``register``. Never
    changed once made, so the jobs of one plan share one (the manager keeps one per small
    plan): building it was most of a one-sheet job's registration."""

    __slots__ = ("dependents", "deps", "others", "roots")

    def __init__(self, dependencies: Mapping[int, Iterable[int]]) -> None:
        deps = {n: tuple(d) for n, d in dependencies.items()}
        dependents: dict[int, list[int]] = {}
        for n, ds in deps.items():
            for d in ds:
                dependents.setdefault(d, []).append(n)
        self.deps = deps
        self.dependents = dependents  # sheet -> the sheets that wait for it (if any)
        self.roots = tuple(sorted(n for n, ds in deps.items() if not ds))  # ascending: a heap
        self.others = frozenset(n for n, ds in deps.items() if ds)


class _Job:
    """A registered job's DAG and where each of its sheets stands (slots and a plain
    ``__init__``: one is made per job, and a dataclass's was a quarter of registering)."""

    __slots__ = (
        "backend", "dependents", "deps", "done", "failed", "job_id", "last_served",
        "max_parallel", "paused", "priority", "ready", "running", "waiting",
    )  # fmt: skip

    def __init__(
        self,
        job_id: str,
        priority: int,
        backend: str,
        max_parallel: int,
        deps: dict[int, tuple[int, ...]],
        dependents: dict[int, list[int]],
        done: set[int],
        ready: list[int],
        waiting: set[int],
    ) -> None:
        self.job_id = job_id
        self.priority = priority
        self.backend = backend
        self.max_parallel = max_parallel
        self.deps = deps
        self.dependents = dependents  # sheet -> the sheets that wait for it (if any)
        self.done = done
        self.ready = ready  # a heap of sheet numbers
        self.waiting = waiting  # not ready: dependencies not done
        self.running: set[int] = set()
        self.failed: set[int] = set()
        self.paused = False
        self.last_served = 0


class GlobalSheetScheduler:
    def __init__(
        self,
        *,
        max_concurrent_sheets: int,
        is_rate_limited: Callable[[str], bool] = lambda _b: False,
        has_capacity: Callable[[str], bool] = lambda _b: True,
    ) -> None:
        self.max_concurrent_sheets = max_concurrent_sheets
        self._is_rate_limited = is_rate_limited
        self._has_capacity = has_capacity
        self._jobs: dict[str, _Job] = {}
        # The jobs with a ready sheet, in the order they got one: ``next_sheet`` looks at
        # these, not at every job (most have their sheets running). Jobs never served
        # enter it only when registered, so ties between them go by registration as before.
        self._ready: dict[str, _Job] = {}
        self._serial = itertools.count(1)
        self._running = 0  # sheets running across all jobs: the sum of their ``running``

    # -- jobs ---------------------------------------------------------------------------

    def register(
        self,
        job_id: str,
        *,
        dependencies: Mapping[int, Iterable[int]] | SheetGraph,
        done: Iterable[int] = (),
        priority: int = 5,
        backend: str = "default",
        max_parallel: int = 1,
    ) -> None:
        """Add a job. ``dependencies`` maps every sheet number to the sheets it waits for
        (or is that mapping's ``SheetGraph``)."""
        graph = dependencies if isinstance(dependencies, SheetGraph) else SheetGraph(dependencies)
        deps = graph.deps
        finished = set(done).intersection(deps) if done else set()
        ready: list[int]
        waiting: set[int]
        if finished:
            ready, waiting = [], set()
            for n, ds in deps.items():
                if n in finished:
                    continue
                if not ds or all(d in finished for d in ds):
                    ready.append(n)
                else:
                    waiting.add(n)
            if len(ready) > 1:
                heapq.heapify(ready)
        else:
            ready, waiting = list(graph.roots), set(graph.others)
        job = _Job(
            job_id, priority, backend, max(1, max_parallel), deps, graph.dependents, finished,
            ready, waiting,
        )  # fmt: skip
        if job_id in self._jobs:
            self.unregister(job_id)  # registered again: its running sheets are counted anew
        self._jobs[job_id] = job
        if ready:
            self._ready[job_id] = job

    def unregister(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            self._running -= len(job.running)
            self._ready.pop(job_id, None)

    def set_paused(self, job_id: str, paused: bool) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.paused = paused

    def set_priority(self, job_id: str, priority: int) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.priority = priority

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    # -- dispatch -----------------------------------------------------------------------

    @property
    def running_count(self) -> int:
        return self._running

    def running_of(self, job_id: str) -> set[int]:
        job = self._jobs.get(job_id)
        return set(job.running) if job else set()

    def next_sheet(self) -> tuple[str, int] | None:
        """The next sheet to start, already marked running; None when nothing may start."""
        if self._running >= self.max_concurrent_sheets or not self._ready:
            return None
        candidates = [
            j for j in self._ready.values() if not j.paused and len(j.running) < j.max_parallel
        ]
        if len(candidates) > 1:
            candidates.sort(key=lambda j: (-j.priority, len(j.running), j.last_served))
        blocked: set[str] = set()
        for job in candidates:
            if job.backend in blocked:
                continue
            if self._is_rate_limited(job.backend) or not self._has_capacity(job.backend):
                blocked.add(job.backend)
                continue
            sheet = heapq.heappop(job.ready)
            if not job.ready:
                del self._ready[job.job_id]
            job.running.add(sheet)
            self._running += 1
            job.last_served = next(self._serial)
            return job.job_id, sheet
        return None

    def mark_complete(self, job_id: str, sheet_num: int, *, success: bool = True) -> None:
        """A dispatched sheet ended; on success its dependents may become ready."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        self._stopped_running(job, sheet_num)
        if not success:
            job.failed.add(sheet_num)
            return
        job.done.add(sheet_num)
        for n in job.dependents.get(sheet_num, ()):
            if n in job.waiting and all(d in job.done for d in job.deps[n]):
                job.waiting.discard(n)
                heapq.heappush(job.ready, n)
                self._ready[job_id] = job

    def requeue(self, job_id: str, sheet_num: int) -> None:
        """A dispatched sheet was interrupted (pause, shutdown) and must run again later."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        self._stopped_running(job, sheet_num)
        if sheet_num not in job.done and sheet_num not in job.ready:
            heapq.heappush(job.ready, sheet_num)
            self._ready[job_id] = job

    def _stopped_running(self, job: _Job, sheet_num: int) -> None:
        if sheet_num in job.running:
            job.running.discard(sheet_num)
            self._running -= 1

    def is_finished(self, job_id: str) -> bool:
        """No sheet of the job is running or can still become ready."""
        job = self._jobs.get(job_id)
        if job is None:
            return True
        return not job.running and not job.ready and not self._reachable_waiting(job)

    def _reachable_waiting(self, job: _Job) -> bool:
        # A waiting sheet can still run unless one of its (transitive) dependencies failed.
        if not job.waiting:
            return False
        blocked = set(job.failed)
        changed = True
        while changed:
            changed = False
            for n in job.waiting:
                if n not in blocked and any(d in blocked for d in job.deps[n]):
                    blocked.add(n)
                    changed = True
        return any(n not in blocked for n in job.waiting)

    def blocked_sheets(self, job_id: str) -> set[int]:
        """Sheets that can never run because a dependency failed."""
        job = self._jobs.get(job_id)
        if job is None:
            return set()
        return set(job.waiting)
