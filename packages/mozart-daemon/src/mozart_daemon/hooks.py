"""Success hooks: a completed job's ``on_success`` list, run in order after it completed.

- ``run_command``: ``/bin/sh -c`` (``run_script``: the executable itself, no shell) in the
  workspace, with the job's timeout, output appended to ``logs/hooks.log``, and the engine's
  process handling: its own process group, stopped on timeout, on shutdown and after it
  exits (no process is left behind).
- ``run_job``: submits another score through the daemon's own job manager, like a client's
  ``job.submit`` (relative to the score's directory, optionally ``fresh``), marked as a link
  of a chain (``job.chained``) one deeper than this job.

Two guards keep chains from running away: a job deeper than the config's
``max_chain_depth`` submits nothing, and a job that ran no sheet in this run (every sheet
was already complete) does not run its hooks again. Each hook's result is an event of the
job (``hook.completed``, ``hook.failed``, ``hook.skipped``), after ``job.completed``;
``job.follow`` keeps streaming until the hooks are done.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mozart_protocol.score import PlaceholderError, format_placeholders
from mozart_protocol.score.model import Hook, RunCommandHook, RunJobHook, RunScriptHook
from mozart_protocol.score.orchestration import hook_context, resolve_hook_path

from mozart_daemon.engine.backends.base import daemon_environ
from mozart_daemon.engine.errors import BackendStartError
from mozart_daemon.engine.logs import OutputSink, log_dir
from mozart_daemon.engine.process import run_process
from mozart_daemon.errors import DaemonError
from mozart_daemon.jobs.runtime import ChainLink, JobEvents, JobRun
from mozart_daemon.logging import bind_job, get_logger
from mozart_daemon.peer import PEER, Peer
from mozart_daemon.store import Store

if TYPE_CHECKING:
    from mozart_daemon.jobs.manager import JobManager

log = get_logger(__name__)

HOOK_LOG = "hooks.log"
GRACE_SECONDS = 2.0


class HookFailure(Exception):
    """A hook did not succeed; the message says why (it goes into ``hook.failed``)."""


def describe(index: int, hook: Hook) -> str:
    """``on_success[1] run_command `make publish``` (plus the description when given)."""
    kind = hook.__struct_config__.tag
    target = hook.job_path if isinstance(hook, RunJobHook) else hook.command
    text = f"on_success[{index}] {kind} `{target}`"
    return f"{text} ({hook.description})" if hook.description else text


class SuccessHooks:
    """Runs completed jobs' hooks in background tasks (the manager's ``CompletionHooks``)."""

    def __init__(self, *, manager: JobManager, events: JobEvents, store: Store) -> None:
        self._manager = manager
        self._events = events
        self._store = store
        # Job id -> runs whose hooks are pending (a job that chains itself has two at once).
        self._pending: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def expect(self, job: JobRun) -> None:
        self._pending[job.job_id] = self._pending.get(job.job_id, 0) + 1

    def start(self, job: JobRun) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run_all(job), name=f"hooks:{job.job_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def busy(self, job_id: str) -> bool:
        """Whether the job's hooks are still to run or running (``job.follow`` waits)."""
        return job_id in self._pending

    async def aclose(self) -> None:
        """Stop running hooks (shutdown): their processes are stopped, nothing is left."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- running ------------------------------------------------------------------------

    async def _emit(self, job: JobRun, kind: str, message: str) -> None:
        await self._events.emit(job.job_id, f"hook.{kind}", message=message)

    async def _run_all(self, job: JobRun) -> None:
        try:
            with bind_job(job.job_id):
                await self._run_hooks(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hooks.crashed")
        finally:
            left = self._pending.pop(job.job_id, 1) - 1
            if left > 0:
                self._pending[job.job_id] = left

    async def _run_hooks(self, job: JobRun) -> None:
        hooks = job.score.on_success
        if job.ran_sheets == 0:
            message = (
                f"the job ran no sheet in this run (all {job.plan.total_sheets} were already "
                "complete): its on_success hooks ran when its work was done, not again"
            )
            await self._emit(job, "skipped", message)
            return
        depth = await self._depth(job.job_id)
        aborted: str | None = None
        for index, hook in enumerate(hooks):
            what = describe(index, hook)
            if aborted is not None:
                await self._emit(job, "skipped", f"{what}: {aborted} failed (on_failure: abort)")
                continue
            if self._manager.shutting_down:
                await self._emit(job, "skipped", f"{what}: the daemon is shutting down")
                continue
            started = time.monotonic()
            try:
                result = await self._run_one(job, hook, depth)
            except HookFailure as exc:
                log.warning("hook.failed", hook=what, error=str(exc))
                await self._emit(job, "failed", f"{what}: {exc}")
                if hook.on_failure == "abort":
                    aborted = f"on_success[{index}]"
                continue
            seconds = time.monotonic() - started
            log.info("hook.completed", hook=what, seconds=round(seconds, 3))
            await self._emit(job, "completed", f"{what}: {result}")

    async def _depth(self, job_id: str) -> int:
        """How deep in a chain this job is: 0 unless a hook submitted it (``job.chained``)."""
        depth = 0
        for event in await self._store.events.since(job_id):
            if event.type == "job.chained":
                link = ChainLink.parse(event.message)
                depth = link.depth if link is not None else depth
        return depth

    async def _run_one(self, job: JobRun, hook: Hook, depth: int) -> str:
        context = hook_context(
            job.loaded, workspace=Path(job.workspace), job_id=job.job_id,
            total_sheets=job.plan.total_sheets,
        )  # fmt: skip
        try:
            if isinstance(hook, RunJobHook):
                return await self._run_job(job, hook, context, depth)
            return await self._run_command(job, hook, context)
        except PlaceholderError as exc:
            raise HookFailure(str(exc)) from None

    async def _run_job(
        self, job: JobRun, hook: RunJobHook, context: dict[str, object], depth: int
    ) -> str:
        limit = self._manager.config.max_chain_depth
        if depth + 1 > limit:
            raise HookFailure(
                f"not submitted: this job is at chain depth {depth} and the daemon's "
                f"max_chain_depth is {limit}"
            )
        path = resolve_hook_path(job.loaded, hook.job_path, context)
        workspace = None
        if hook.job_workspace is not None:
            workspace = str(resolve_hook_path(job.loaded, hook.job_workspace, context))
        # The chained score is read on behalf of the owner of the score that names it: a
        # chain reaches no file that user could not read (peer.require_readable).
        owner = job.loaded.path.stat()
        token = PEER.set(Peer(pid=0, uid=owner.st_uid, gid=owner.st_gid))
        try:
            async with asyncio.timeout(hook.timeout_seconds):
                job_id, state = await self._manager.submit(
                    config_path=str(path), fresh=hook.fresh, workspace=workspace,
                    chain=ChainLink(job.job_id, depth + 1),
                )  # fmt: skip
        except DaemonError as exc:
            raise HookFailure(f"the daemon refused {path}: {exc.message}") from None
        except TimeoutError:
            raise HookFailure(f"submitting {path} took over {hook.timeout_seconds:g} s") from None
        finally:
            PEER.reset(token)
        return f"submitted {job_id} ({state}, chain depth {depth + 1} of {limit})"

    async def _run_command(
        self, job: JobRun, hook: RunCommandHook | RunScriptHook, context: dict[str, object]
    ) -> str:
        if isinstance(hook, RunCommandHook):
            command = format_placeholders(hook.command, context, shell_quote=True)
            argv = ["/bin/sh", "-c", command]
        else:
            command = str(resolve_hook_path(job.loaded, hook.command, context))
            argv = [command]
        cwd = Path(job.workspace)
        # As for a sheet; its parent exists (E501). One mkdir a hook, on the loop as before
        # (when the workspace was a Path attribute the check did not see it).
        cwd.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        if hook.working_directory is not None:
            cwd = resolve_hook_path(job.loaded, hook.working_directory, context)
        if not cwd.is_dir():
            raise HookFailure(f"working directory `{cwd}` does not exist")
        env = {
            **daemon_environ(),
            "MOZART_JOB_ID": job.job_id,
            "MOZART_WORKSPACE": str(job.workspace),
            "MOZART_SCORE_PATH": str(job.loaded.path),
        }
        log_path = log_dir(job.workspace) / HOOK_LOG
        stdout = OutputSink("stdout", path=log_path, tail_bytes=4096)
        stderr = OutputSink("stderr", path=log_path, tail_bytes=4096)
        stdout.header(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {job.job_id}: {command}", now=True)
        try:
            run = await run_process(
                argv, cwd=Path(cwd), env=env, stdout=stdout, stderr=stderr,
                timeout_seconds=hook.timeout_seconds, grace_seconds=GRACE_SECONDS,
            )  # fmt: skip
        except BackendStartError as exc:
            raise HookFailure(str(exc)) from None
        finally:
            stdout.close()
            stderr.close()
        if run.timed_out:
            raise HookFailure(
                f"timed out after {hook.timeout_seconds:g} s and was stopped (log: {log_path})"
            )
        if run.exit_code != 0:
            how = f"status {run.exit_code}" if run.exit_code is not None else f"signal {run.signal}"
            tail = (stderr.tail.strip() or stdout.tail.strip()).splitlines()[-3:]
            detail = (": " + " | ".join(tail)) if tail else ""
            raise HookFailure(f"exited with {how}{detail} (log: {log_path})")
        return f"exited with status 0 in {run.duration_seconds:.2f} s (log: {log_path})"
