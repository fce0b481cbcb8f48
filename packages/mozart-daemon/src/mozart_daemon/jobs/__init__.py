"""Jobs: the manager (admission, lifecycle), the per-run state and the engine adapter."""

from mozart_daemon.jobs.manager import SHUTDOWN_MESSAGE, JobManager
from mozart_daemon.jobs.runtime import JobEvents, JobRun, SheetOutcome, SheetRunner, backend_key

__all__ = [
    "SHUTDOWN_MESSAGE",
    "JobEvents",
    "JobManager",
    "JobRun",
    "SheetOutcome",
    "SheetRunner",
    "backend_key",
]
