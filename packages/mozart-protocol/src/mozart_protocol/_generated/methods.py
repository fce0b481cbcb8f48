# Generated from schema/rpc.schema.json by `nox -s codegen`.
# Do not edit: change the schema and regenerate. (methods)
# ruff: noqa: E501
"""The method table: every JSON-RPC method, its params and result, errors, kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NamedTuple

from mozart_protocol._generated import models


class Method(StrEnum):
    """A JSON-RPC method name; compares equal to its wire string."""

    JOB_SUBMIT = "job.submit"
    JOB_STATUS = "job.status"
    JOB_PAUSE = "job.pause"
    JOB_RESUME = "job.resume"
    JOB_CANCEL = "job.cancel"
    JOB_LIST = "job.list"
    JOB_FOLLOW = "job.follow"
    JOB_LOGS = "job.logs"
    JOB_HISTORY = "job.history"
    DAEMON_STATUS = "daemon.status"
    DAEMON_SHUTDOWN = "daemon.shutdown"
    DAEMON_HEALTH = "daemon.health"
    DAEMON_READY = "daemon.ready"
    LEARNING_PATTERNS = "learning.patterns"
    RPC_DISCOVER = "rpc.discover"


class MethodSpec(NamedTuple):
    name: Method
    params: type[Any]
    result: type[Any]
    errors: tuple[int, ...]
    kind: Literal["request", "stream"]
    notifications: tuple[str, ...]
    description: str


METHODS: dict[Method, MethodSpec] = {
    Method.JOB_SUBMIT: MethodSpec(
        name=Method.JOB_SUBMIT,
        params=models.JobSubmitParams,
        result=models.JobSubmitResult,
        errors=(-32002, -32004, -32005, -32006, -32010, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="Load, validate and queue a score as a job.",
    ),
    Method.JOB_STATUS: MethodSpec(
        name=Method.JOB_STATUS,
        params=models.JobIdParams,
        result=models.JobStatus,
        errors=(-32001, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="A job's state and all its sheets.",
    ),
    Method.JOB_PAUSE: MethodSpec(
        name=Method.JOB_PAUSE,
        params=models.JobIdParams,
        result=models.JobActionResult,
        errors=(-32001, -32003, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="Pause a running or queued job: no new sheet starts, running sheets finish, and its slot frees.",
    ),
    Method.JOB_RESUME: MethodSpec(
        name=Method.JOB_RESUME,
        params=models.JobIdParams,
        result=models.JobActionResult,
        errors=(-32001, -32003, -32004, -32005, -32006, -32010, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="Resume a paused or failed job from its checkpoint.",
    ),
    Method.JOB_CANCEL: MethodSpec(
        name=Method.JOB_CANCEL,
        params=models.JobIdParams,
        result=models.JobActionResult,
        errors=(-32001, -32003, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="Cancel a job that has not ended.",
    ),
    Method.JOB_LIST: MethodSpec(
        name=Method.JOB_LIST,
        params=models.JobListParams,
        result=models.JobListResult,
        errors=(-32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="List jobs, newest first, one page at a time.",
    ),
    Method.JOB_FOLLOW: MethodSpec(
        name=Method.JOB_FOLLOW,
        params=models.JobFollowParams,
        result=models.JobStatus,
        errors=(-32001, -32011, -32602, -32603),
        kind="stream",
        notifications=("job.event",),
        description="Send the job's events so far, then new ones as they happen, as `job.event` notifications; the final reply is the job's status once it has ended (or at once if it is not active).",
    ),
    Method.JOB_LOGS: MethodSpec(
        name=Method.JOB_LOGS,
        params=models.JobLogsParams,
        result=models.JobLogsResult,
        errors=(-32001, -32011, -32602, -32603),
        kind="stream",
        notifications=("job.log",),
        description="Send sheet output lines as `job.log` notifications; with follow, until the job ends. The final reply counts the lines.",
    ),
    Method.JOB_HISTORY: MethodSpec(
        name=Method.JOB_HISTORY,
        params=models.JobIdParams,
        result=models.JobHistory,
        errors=(-32001, -32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="Every attempt of a job's current run with its outcome, kind, error and validation results.",
    ),
    Method.DAEMON_STATUS: MethodSpec(
        name=Method.DAEMON_STATUS,
        params=models.EmptyParams,
        result=models.DaemonStatus,
        errors=(-32602, -32603),
        kind="request",
        notifications=(),
        description="Daemon summary: pid, uptime, readiness, jobs, memory, processes, version, pressure.",
    ),
    Method.DAEMON_SHUTDOWN: MethodSpec(
        name=Method.DAEMON_SHUTDOWN,
        params=models.DaemonShutdownParams,
        result=models.DaemonShutdownResult,
        errors=(-32602, -32603),
        kind="request",
        notifications=(),
        description="Stop accepting work and shut down once running jobs end (at once with force).",
    ),
    Method.DAEMON_HEALTH: MethodSpec(
        name=Method.DAEMON_HEALTH,
        params=models.EmptyParams,
        result=models.DaemonHealth,
        errors=(-32602, -32603),
        kind="request",
        notifications=(),
        description="Liveness probe: no I/O, always cheap.",
    ),
    Method.DAEMON_READY: MethodSpec(
        name=Method.DAEMON_READY,
        params=models.EmptyParams,
        result=models.DaemonReady,
        errors=(-32602, -32603),
        kind="request",
        notifications=(),
        description="Readiness probe: ready unless under pressure, shutting down or failing.",
    ),
    Method.LEARNING_PATTERNS: MethodSpec(
        name=Method.LEARNING_PATTERNS,
        params=models.LearningPatternsParams,
        result=models.LearningPatternsResult,
        errors=(-32011, -32602, -32603),
        kind="request",
        notifications=(),
        description="The patterns mined from every job's recorded outcomes (recurring validation failures, error classes per backend), with counts and effectiveness.",
    ),
    Method.RPC_DISCOVER: MethodSpec(
        name=Method.RPC_DISCOVER,
        params=models.EmptyParams,
        result=models.SchemaDocument,
        errors=(-32602, -32603),
        kind="request",
        notifications=(),
        description="This schema, so that any tool can learn the API from a running daemon.",
    ),
}

# Notification method -> the type of its params (sent before a stream method's final reply).
NOTIFICATIONS: dict[str, type[Any]] = {
    "job.event": models.JobEvent,
    "job.log": models.LogLine,
}

PROTOCOL_VERSION = "1.0"
