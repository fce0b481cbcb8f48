"""The exit codes of ``mozart`` (docs/cli.md lists the same table; a test keeps them equal).

Scripts branch on these, so a code keeps its meaning forever. Each daemon error code maps
to one of them (``mozart_cli.daemon.ERROR_MEANINGS``).
"""

from __future__ import annotations

OK = 0
# The command did not do what was asked: the daemon is not running, the score has errors,
# a followed job ended failed or cancelled, or the daemon reported an unexpected error.
FAILURE = 1
# Bad command line (Typer's own usage errors), or a score file that cannot be read or parsed.
USAGE = 2
# The job named on the command line is not known to the daemon.
JOB_NOT_FOUND = 3
# The job is in a state that does not allow the action (e.g. resume a running job).
WRONG_STATE = 4
# The daemon refused for now: under pressure, shutting down, too many connections.
BUSY = 5
# The daemon refused this user (socket peer check) or cannot read the score file.
PERMISSION_DENIED = 6
# No answer in time: the request, or the wait for a confirmed state change.
TIMEOUT = 7
# Ctrl-C while following or watching (128 + SIGINT, as shells report it); the job runs on.
INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    OK: "success",
    FAILURE: "failure: daemon not running, invalid score, job not completed, daemon error",
    USAGE: "usage error, or the score file cannot be read or parsed",
    JOB_NOT_FOUND: "job not found",
    WRONG_STATE: "the job's state does not allow this action",
    BUSY: "the daemon is busy (under pressure, shutting down, too many connections)",
    PERMISSION_DENIED: "permission denied",
    TIMEOUT: "timed out waiting for the daemon",
    INTERRUPTED: "interrupted (Ctrl-C) while following or watching; the job keeps running",
}
