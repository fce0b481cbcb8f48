"""Reading a job's score: the daemon loads the file at ``config_path`` itself (off the event
loop) and turns the score API's errors into the daemon's wire errors.

Relative paths inside the score (workspace, template files) resolve against the score's
directory, never the daemon's working directory (``mozart_protocol.score`` does this).
"""

from __future__ import annotations

import asyncio

from mozart_protocol.score import LoadedScore, ScoreError, ScoreNotReadableError, load_score

from mozart_daemon import errors


async def read_score(config_path: str) -> LoadedScore:
    """The loaded, statically valid score; raises SCORE_NOT_READABLE or SCORE_INVALID (with
    every finding in ``data.findings``)."""
    try:
        return await asyncio.to_thread(load_score, config_path)
    except ScoreNotReadableError as exc:
        detail = exc.findings[0].message if exc.findings else str(exc)
        raise errors.DaemonError(
            errors.SCORE_NOT_READABLE, f"Cannot read the score {config_path}: {detail}"
        ) from exc
    except ScoreError as exc:
        findings: list[dict[str, object]] = [
            {"code": f.code, "severity": f.severity, "message": f.message, "file": f.file,
             "line": f.line, "column": f.column, "path": f.path}
            for f in exc.findings
        ]  # fmt: skip
        raise errors.DaemonError(
            errors.SCORE_INVALID,
            f"The score {config_path} is invalid: {exc}",
            {"findings": findings},
        ) from exc
