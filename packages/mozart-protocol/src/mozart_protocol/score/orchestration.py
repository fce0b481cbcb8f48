"""What happens around a job rather than in its sheets: ``notifications`` and ``on_success``.

The static checks of both sections (the semantic half; the model checks types, required
fields and event names), and the placeholder context of a success hook, which the daemon
uses when it runs one. Hooks take ``{name}`` placeholders like validation rules, over a
smaller context: the job's ``workspace`` (absolute), ``job_id``, ``total_sheets`` (also
``sheet_count``, its name in the wider Mozart format) and ``score_dir``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from mozart_protocol.score.findings import Problem, index_path
from mozart_protocol.score.loaded import LoadedScore, resolve_path
from mozart_protocol.score.model import (
    NOT_IMPLEMENTED_NOTIFICATIONS,
    RunCommandHook,
    RunJobHook,
    RunScriptHook,
    WebhookNotification,
)
from mozart_protocol.score.placeholders import (
    PlaceholderError,
    format_placeholders,
    placeholder_names,
)
from mozart_protocol.score.schema_check import suggest

HOOK_CONTEXT_NAMES: tuple[str, ...] = (
    "workspace",
    "job_id",
    "total_sheets",
    "sheet_count",
    "score_dir",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def hook_context(
    loaded: LoadedScore, *, workspace: Path, job_id: str, total_sheets: int
) -> dict[str, object]:
    """The values a hook's ``{name}`` placeholders take."""
    return {
        "workspace": str(workspace),
        "job_id": job_id,
        "total_sheets": total_sheets,
        "sheet_count": total_sheets,
        "score_dir": str(loaded.base_dir),
    }


def resolve_hook_path(loaded: LoadedScore, text: str, context: dict[str, object]) -> Path:
    """A hook's path (``job_path``, ``working_directory``...): placeholders filled in, then
    resolved against the score's directory when relative."""
    return resolve_path(loaded.base_dir, format_placeholders(text, context))


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's target (None: it can)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"`{url}` is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"`{url}` is not an http:// or https:// URL"
    if not parts.hostname:
        return f"`{url}` has no host"
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        return f"`{url}` has an invalid port"
    return None


def check_notifications(loaded: LoadedScore) -> list[Problem]:
    problems: list[Problem] = []
    for index, notification in enumerate(loaded.score.notifications):
        base = index_path("notifications", index)
        if isinstance(notification, NOT_IMPLEMENTED_NOTIFICATIONS):
            kind = type(notification).__struct_config__.tag
            message = f"notification type `{kind}` is not implemented yet; it is ignored"
            problems.append(Problem("W602", f"{base}.type", message))
            continue
        if isinstance(notification, WebhookNotification):
            config = notification.config
            if config.url is None and config.url_env is None:
                message = "is required: a webhook needs `url` (or `url_env`)"
                problems.append(Problem("E102", f"{base}.config.url", message))
            if config.url is not None:
                reason = check_url(config.url)
                if reason is not None:
                    problems.append(Problem("E601", f"{base}.config.url", reason))
            if config.url_env is not None and not _ENV_NAME.match(config.url_env):
                message = f"`{config.url_env}` is not an environment variable name"
                problems.append(Problem("E105", f"{base}.config.url_env", message))
    return problems


def check_hooks(loaded: LoadedScore, *, workspace: Path, total_sheets: int) -> list[Problem]:
    problems: list[Problem] = []
    context = hook_context(
        loaded, workspace=workspace, job_id=loaded.score.name, total_sheets=total_sheets
    )
    for index, hook in enumerate(loaded.score.on_success):
        base = index_path("on_success", index)
        fields: dict[str, str | None] = {}
        if isinstance(hook, RunCommandHook | RunScriptHook):
            fields = {"command": hook.command, "working_directory": hook.working_directory}
        elif isinstance(hook, RunJobHook):
            fields = {"job_path": hook.job_path, "job_workspace": hook.job_workspace}
        bad = False
        for name, text in fields.items():
            if text is None:
                continue
            found = _check_placeholders(text, f"{base}.{name}", context)
            bad = bad or bool(found)
            problems += found
        if isinstance(hook, RunJobHook) and not bad:
            problems += _check_job_path(loaded, hook, f"{base}.job_path", context)
        if isinstance(hook, RunScriptHook) and not bad and not placeholder_names(hook.command):
            script = resolve_path(loaded.base_dir, hook.command)
            if not os.access(script, os.X_OK) or not script.is_file():
                message = f"`{script}` is not an executable file (yet)"
                problems.append(Problem("W603", f"{base}.command", message))
    return problems


def _check_job_path(
    loaded: LoadedScore, hook: RunJobHook, path: str, context: dict[str, object]
) -> list[Problem]:
    target = resolve_hook_path(loaded, hook.job_path, context)
    if target == loaded.path and not hook.fresh:
        message = (
            "the score chains to itself: set `fresh: true`, or the daemon refuses the "
            "submission because the job already exists"
        )
        return [Problem("E604", path, message)]
    if not target.is_file():
        # A sheet may write the next score (the wider format's self-evolving chains).
        message = f"`{target}` does not exist (yet): the hook fails unless a sheet creates it"
        return [Problem("W603", path, message)]
    return []


def _check_placeholders(text: str, path: str, context: dict[str, object]) -> list[Problem]:
    try:
        names = placeholder_names(text)
    except PlaceholderError as exc:
        return [Problem("E304", path, str(exc))]
    unknown = [name for name in names if name not in context]
    if unknown:
        hint = suggest(unknown[0], list(HOOK_CONTEXT_NAMES))
        extra = f"; did you mean `{{{hint}}}`?" if hint else ""
        known = ", ".join(f"{{{n}}}" for n in HOOK_CONTEXT_NAMES)
        message = f"unknown placeholder `{{{unknown[0]}}}` (a hook knows {known}){extra}"
        return [Problem("E304", path, message)]
    try:
        format_placeholders(text, context)
    except PlaceholderError as exc:
        return [Problem("E304", path, str(exc))]
    return []
