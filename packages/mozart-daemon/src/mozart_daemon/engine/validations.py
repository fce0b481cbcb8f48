"""Checking a sheet's validations (SCORE.md ``validations``).

Rules are checked stage by stage, lowest first; a stage is reached only when every
applicable rule of the lower stages passed. Paths and working directories take ``{name}``
placeholders and must resolve (symlinks followed) inside the workspace: a rule whose path
escapes fails with that error. ``file_modified`` compares against a snapshot taken just
before the attempt.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mozart_protocol.score import (
    CommandSucceedsRule,
    ContentContainsRule,
    ContentRegexRule,
    FileExistsRule,
    FileModifiedRule,
    PathEscapeError,
    PlaceholderError,
    ValidationRule,
    describe_rule,
    format_placeholders,
    rule_path,
)

from mozart_daemon.engine.checkpoint import ValidationResult
from mozart_daemon.engine.logs import OutputSink
from mozart_daemon.engine.process import run_process

# Never read more than this of a file to check its content.
MAX_CONTENT_BYTES = 64 * 1024 * 1024

IndexedRule = tuple[int, ValidationRule]
Snapshot = dict[int, int | None]  # rule index -> mtime_ns before the attempt (None: absent)


class PlaceholderFailure(Exception):
    """A rule's placeholder cannot be filled: the score itself is wrong (fatal)."""


@dataclass(frozen=True)
class ValidationRun:
    results: tuple[ValidationResult, ...]
    applicable: int  # how many rules apply to the sheet (reached or not)
    fatal_error: str | None = None

    @property
    def passed_count(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def all_passed(self) -> bool:
        return self.passed_count == self.applicable

    @property
    def passed_percent(self) -> float:
        return 100.0 * self.passed_count / self.applicable if self.applicable else 0.0


def _rule_type(rule: ValidationRule) -> str:
    return str(rule.__struct_config__.tag)


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def take_snapshot(
    rules: Sequence[IndexedRule], context: Mapping[str, object], workspace: Path
) -> Snapshot:
    """The mtimes of every ``file_modified`` target, just before an attempt."""
    snapshot: Snapshot = {}
    for index, rule in rules:
        if isinstance(rule, FileModifiedRule):
            try:
                snapshot[index] = _mtime_ns(rule_path(rule.path, context, workspace))
            except (PathEscapeError, PlaceholderError):
                snapshot[index] = None  # reported when the rule is checked
    return snapshot


def _read(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(MAX_CONTENT_BYTES).decode("utf-8", "replace")


def _check_file(
    rule: FileExistsRule | FileModifiedRule | ContentContainsRule | ContentRegexRule,
    index: int,
    path: Path,
    snapshot: Snapshot,
) -> tuple[bool, str | None]:
    if not path.exists():
        return False, f"`{path}` does not exist"
    if isinstance(rule, FileExistsRule):
        return True, None
    if isinstance(rule, FileModifiedRule):
        before = snapshot.get(index)
        after = _mtime_ns(path)
        if after is not None and (before is None or after > before):
            return True, None
        return False, f"`{path}` was not modified by the attempt"
    if not path.is_file():
        return False, f"`{path}` is not a regular file"
    try:
        content = _read(path)
    except OSError as exc:
        return False, f"cannot read `{path}`: {exc.strerror or exc}"
    if isinstance(rule, ContentContainsRule):
        if rule.pattern in content:
            return True, None
        return False, f"`{path}` does not contain `{rule.pattern}`"
    try:
        found = re.search(rule.pattern, content) is not None
    except re.error as exc:
        return False, f"invalid regular expression `{rule.pattern}`: {exc}"
    return (True, None) if found else (False, f"`{path}` does not match `{rule.pattern}`")


async def _check_command(
    rule: CommandSucceedsRule,
    context: Mapping[str, object],
    workspace: Path,
    env: Mapping[str, str],
    grace_seconds: float,
) -> tuple[bool, str | None]:
    command = format_placeholders(rule.command, context, shell_quote=True)
    cwd = workspace
    if rule.working_directory:
        cwd = rule_path(rule.working_directory, context, workspace)
    if not cwd.is_dir():
        return False, f"working directory `{cwd}` does not exist"
    stdout, stderr = OutputSink("stdout", tail_bytes=4096), OutputSink("stderr", tail_bytes=4096)
    run = await run_process(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=stderr,
        timeout_seconds=rule.timeout_seconds,
        grace_seconds=grace_seconds,
    )
    if run.timed_out:
        return False, f"`{command}` timed out after {rule.timeout_seconds:g} s"
    if run.exit_code == 0:
        return True, None
    how = f"status {run.exit_code}" if run.exit_code is not None else f"signal {run.signal}"
    tail = (stderr.tail.strip() or stdout.tail.strip()).splitlines()[-5:]
    detail = ("\n" + "\n".join(tail)) if tail else ""
    return False, f"`{command}` exited with {how}{detail}"


async def check_rule(
    index: int,
    rule: ValidationRule,
    context: Mapping[str, object],
    workspace: Path,
    snapshot: Snapshot,
    *,
    env: Mapping[str, str] | None = None,
    grace_seconds: float = 5.0,
) -> ValidationResult:
    """Check one rule; raises PlaceholderFailure when its placeholders cannot be filled."""
    description = describe_rule(rule, context)
    try:
        if isinstance(rule, CommandSucceedsRule):
            passed, message = await _check_command(
                rule, context, workspace, env if env is not None else os.environ, grace_seconds
            )
        else:
            path = rule_path(rule.path, context, workspace)
            passed, message = await asyncio.to_thread(_check_file, rule, index, path, snapshot)
    except PathEscapeError as exc:
        passed, message = False, str(exc)
    except PlaceholderError as exc:
        raise PlaceholderFailure(f"validation {index + 1} ({_rule_type(rule)}): {exc}") from None
    return ValidationResult(
        index=index,
        type=_rule_type(rule),
        stage=rule.stage,
        passed=passed,
        description=description,
        message=message,
    )


async def run_validations(
    rules: Sequence[IndexedRule],
    context: Mapping[str, object],
    workspace: Path,
    snapshot: Snapshot,
    *,
    env: Mapping[str, str] | None = None,
    grace_seconds: float = 5.0,
) -> ValidationRun:
    """Check the applicable ``rules`` stage by stage (see the module docstring)."""
    results: list[ValidationResult] = []
    for stage in sorted({rule.stage for _, rule in rules}):
        stage_passed = True
        for index, rule in rules:
            if rule.stage != stage:
                continue
            try:
                result = await check_rule(
                    index, rule, context, workspace, snapshot, env=env, grace_seconds=grace_seconds
                )
            except PlaceholderFailure as exc:
                return ValidationRun(tuple(results), len(rules), fatal_error=str(exc))
            results.append(result)
            stage_passed = stage_passed and result.passed
        if not stage_passed:
            break
    return ValidationRun(tuple(results), len(rules))
