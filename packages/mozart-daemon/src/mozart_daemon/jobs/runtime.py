"""What the daemon holds in memory about an active job, and the event fan-out.

``JobRun`` is one run of a job (a submit or a resume): its loaded score, plan, workspace
and the tasks of its running sheets. ``JobEvents`` persists every event in the store's
event log, logs it, and hands it to live subscribers (``job.follow``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec
from mozart_protocol.score import (
    AnthropicApiBackend,
    Backend,
    ClaudeCliBackend,
    LoadedScore,
    OllamaBackend,
    Plan,
    PlannedSheet,
    Score,
)

from mozart_daemon.logging import debug_enabled, get_logger
from mozart_daemon.scheduler import SheetGraph
from mozart_daemon.store import EventRecord, Store
from mozart_daemon.store.database import Statements

log = get_logger(__name__)

TERMINAL_EVENTS = frozenset({"job.completed", "job.failed", "job.cancelled"})
EventListener = Callable[[EventRecord], None]


def backend_key(backend: Backend) -> str:
    """The rate-limit domain of a backend: jobs with the same key share limits and budget.

    HTTP backends are keyed by their endpoint; the ``claude`` CLI by its executable;
    ``command`` backends share one domain.
    """
    if isinstance(backend, AnthropicApiBackend | OllamaBackend):
        return f"{backend.__struct_config__.tag}@{backend.base_url}"
    if isinstance(backend, ClaudeCliBackend):
        return f"claude_cli@{backend.executable}"
    return "command"


@dataclass(frozen=True)
class ChainLink:
    """A job submitted by another job's ``run_job`` success hook: which one, how deep.

    Recorded as the chained job's ``job.chained`` event, which is where a later run (a
    resume, a restarted daemon) reads its depth back from.
    """

    parent: str
    depth: int

    @property
    def message(self) -> str:
        return f"submitted by the on_success hook of {self.parent} (chain depth {self.depth})"

    @classmethod
    def parse(cls, message: str | None) -> ChainLink | None:
        match = re.fullmatch(r"submitted by the on_success hook of (\S+) \(chain depth (\d+)\)",
                             message or "")  # fmt: skip
        return cls(match.group(1), int(match.group(2))) if match else None


class SheetOutcome(msgspec.Struct, kw_only=True):
    status: Literal["completed", "failed"]
    attempts: int = 0
    exit_code: int | None = None
    error: str | None = None


# A sheet's steps are logged at debug (the event log has them: `mozart follow`); a job's
# steps, retries and every failure at info or warning. `job.queued` comes with every submit,
# right after `job.submitted` (info, with the score's path): debug too.
_PROGRESS = frozenset(
    ("sheet.started", "sheet.attempt_started", "sheet.attempt_finished", "sheet.completed",
     "sheet.skipped", "job.queued")
)  # fmt: skip


class JobRun:
    """One run of a job (a submit or a resume). A plain class with slots: one is made per
    job, and a dataclass's generated ``__init__`` with its ``__post_init__`` and default
    factories was twice this one."""

    __slots__ = (
        "attempts", "backend", "done", "failed", "finalized", "hold_handle", "job_id",
        "loaded", "new_checkpoint", "plan", "priority", "ran_sheets", "score",
        "started_once", "state", "stopping", "tasks", "timeout_handle", "user_paused",
        "workspace",
    )  # fmt: skip

    def __init__(
        self,
        *,
        job_id: str,
        loaded: LoadedScore,
        plan: Plan,
        workspace: str,  # absolute, as text (a Path only where its methods are needed)
        priority: int,
        done: set[int],
        state: str = "queued",
        user_paused: bool = False,
        stopping: bool = False,
        finalized: bool = False,
        started_once: bool = False,
        ran_sheets: int = 0,
        new_checkpoint: bool = False,
    ) -> None:
        self.job_id = job_id
        self.loaded = loaded
        self.plan = plan
        self.workspace = workspace
        self.priority = priority
        self.done = done
        self.state = state
        self.user_paused = user_paused
        self.stopping = stopping
        self.finalized = finalized
        self.started_once = started_once
        self.ran_sheets = ran_sheets  # sheets this run started and saw to an end (no-work guard)
        # The sheets' checkpoint rows were created by this run (a submit): no attempts yet.
        self.new_checkpoint = new_checkpoint
        # Attempts recorded per sheet that this run saw to an end (spares reading them back).
        self.attempts: dict[int, int] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.failed: dict[int, str] = {}
        self.timeout_handle: asyncio.TimerHandle | None = None
        self.hold_handle: asyncio.TimerHandle | None = None
        # Asked a dozen times a job: attributes, set once, not a property and a
        # cached_property (whose first read takes a lock: 5,000 instructions).
        self.score: Score = loaded.score  # the loaded score's (never replaced)
        self.backend: str = backend_key(self.score.backend)  # its backend key

    def __repr__(self) -> str:
        return f"JobRun(job_id={self.job_id!r}, state={self.state!r})"

    @property
    def max_parallel(self) -> int:
        parallel = self.score.parallel
        return parallel.max_concurrent if parallel.enabled else 1

    @property
    def fail_fast(self) -> bool:
        parallel = self.score.parallel
        return parallel.fail_fast or not parallel.enabled

    def sheet(self, sheet_num: int) -> PlannedSheet:
        return self.plan.sheets[sheet_num - 1]

    def graph(self) -> SheetGraph:
        """Its plan's sheets and their dependencies, for the scheduler."""
        return sheet_graph(self.plan)


# Plans of the same shape are one object (mozart_protocol keeps the small ones), and so
# is their SheetGraph here: kept with the plan, whose id is then not reused.
_GRAPHS: dict[int, tuple[Plan, SheetGraph]] = {}
_GRAPHS_KEPT = 256
_GRAPH_KEPT_UP_TO = 64  # sheets; a larger plan's graph is made for each run, as before


def sheet_graph(plan: Plan) -> SheetGraph:
    """The scheduler's graph of ``plan``'s sheets, made once per (small) plan."""
    kept = _GRAPHS.get(id(plan))
    if kept is not None and kept[0] is plan:
        return kept[1]
    graph = SheetGraph({s.sheet_num: s.dependencies for s in plan.sheets})
    if plan.total_sheets <= _GRAPH_KEPT_UP_TO:
        if len(_GRAPHS) >= _GRAPHS_KEPT:
            _GRAPHS.clear()
        _GRAPHS[id(plan)] = (plan, graph)
    return graph


class SheetRunner(Protocol):
    """Runs one sheet of a job to its end (all attempts), persisting every transition.

    Cancelling the call stops the sheet's processes and leaves the checkpoint consistent.
    """

    async def run(self, job: JobRun, sheet: PlannedSheet) -> SheetOutcome: ...


class CompletionHooks(Protocol):
    """What runs after a job completed (the score's ``on_success``)."""

    def expect(self, job: JobRun) -> None:
        """Called before ``job.completed`` is emitted: the job's hooks are now pending."""

    def start(self, job: JobRun) -> None:
        """Called once the job has left the active set: run the pending hooks."""


class JobEvents:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._subscribers: dict[str, set[asyncio.Queue[EventRecord]]] = {}
        self._listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        """Called with every event once it is persisted (notifications); must not block."""
        self._listeners.append(listener)

    async def emit(
        self,
        job_id: str,
        type: str,
        *,
        sheet_num: int | None = None,
        attempt: int | None = None,
        message: str | None = None,
        with_writes: Statements = (),
    ) -> EventRecord:
        """Persist, log and deliver an event; ``with_writes`` are committed with it, before
        it (the state change it reports)."""
        record = await self._store.events.append(
            job_id,
            type,
            sheet_num=sheet_num,
            attempt=attempt,
            message=message,
            with_writes=with_writes,
        )
        self.deliver(record)
        return record

    def emit_soon(
        self,
        job_id: str,
        type: str,
        *,
        sheet_num: int | None = None,
        attempt: int | None = None,
        message: str | None = None,
        with_writes: Sequence[tuple[str, tuple[Any, ...]]] = (),
    ) -> None:
        """``emit`` without waiting for the write: the event is logged and delivered once it
        is persisted, in order with every other event. For progress events, whose caller
        has nothing to wait for; ``with_writes`` (the state change it reports) are committed
        with it, as durable as the event."""
        self._store.events.append_soon(
            job_id, type, self.deliver, sheet_num=sheet_num, attempt=attempt, message=message,
            with_writes=with_writes,
        )  # fmt: skip

    def deliver(self, record: EventRecord) -> None:
        """Log a persisted event and hand it to subscribers and listeners (once an event:
        ``emit`` and ``emit_soon`` call this; a caller that persisted one itself, with other
        rows, calls it once that is committed)."""
        type = record.type
        if type not in _PROGRESS or debug_enabled():
            # The line's fields: the job, then the sheet, the attempt and the message if any.
            fields: dict[str, object] = {"job_id": record.job_id}
            if record.sheet_num is not None:
                fields["sheet_num"] = record.sheet_num
            if record.attempt is not None:
                fields["attempt"] = record.attempt
            if record.message:
                fields["detail"] = record.message
            if type in _PROGRESS:  # none of them ends in failed, rate_limited or cancelled
                log.debug(type, **fields)
            elif type.endswith(("failed", "rate_limited", "cancelled")):
                log.warning(type, **fields)
            else:
                log.info(type, **fields)
        if self._subscribers:
            for queue in self._subscribers.get(record.job_id, ()):
                queue.put_nowait(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception("events.listener_failed", job_id=record.job_id, event_type=type)

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Queue[EventRecord]]:
        queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self._subscribers.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(job_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subscribers[job_id]
