"""Static checks of a score that already fits the model (the semantic half of validation).

Each check returns :class:`Problem` values naming a score path; the loader locates them.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import jinja2
import jinja2.meta

from mozart_protocol.score.conditions import ConditionError, parse_condition
from mozart_protocol.score.containment import PathEscapeError, rule_path
from mozart_protocol.score.findings import Problem, index_path
from mozart_protocol.score.loaded import LoadedScore, parent_text, workspace_text
from mozart_protocol.score.model import (
    ClaudeCliBackend,
    CommandSucceedsRule,
    ContentRegexRule,
    Score,
)
from mozart_protocol.score.orchestration import check_hooks, check_notifications
from mozart_protocol.score.placeholders import (
    PlaceholderError,
    format_placeholders,
    placeholder_names,
)
from mozart_protocol.score.plan import Plan, PlanError
from mozart_protocol.score.render import (
    CONTEXT_NAMES,
    INTEGER_CONTEXT_NAMES,
    make_environment,
    sheet_context,
)
from mozart_protocol.score.schema_check import suggest

_ENVIRONMENT = make_environment()
_CONTEXT_NAMES = frozenset(CONTEXT_NAMES)


def check_loaded(
    loaded: LoadedScore,
    *,
    workspace_override: str | os.PathLike[str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Every semantic problem; ``skip`` names sections (``prompt``, ``validations[2]``) that
    had schema errors and were replaced by placeholders, so they are not checked again."""
    score = loaded.score
    problems: list[Problem] = []
    plan = None
    if "sheet" not in skip:
        try:
            plan = loaded.plan  # kept there for whoever runs the score
        except PlanError as exc:
            problems += exc.problems
    if "prompt" not in skip:
        problems += check_prompt(loaded)
    workspace = workspace_text(loaded, workspace_override)
    if score.validations:
        problems += check_validations(score, plan, skip, Path(workspace))
    if "rate_limit" not in skip:
        problems += check_rate_limit(score)
    if "backend" not in skip:
        problems += check_backend(loaded, plan)
    if "workspace" not in skip:
        problems += check_workspace(workspace)
    if "notifications" not in skip:
        problems += check_notifications(loaded)
    if "on_success" not in skip and score.on_success:
        total = plan.total_sheets if plan is not None else 1
        problems += check_hooks(loaded, workspace=Path(workspace), total_sheets=total)
    return problems


def check_prompt(loaded: LoadedScore) -> list[Problem]:
    prompt = loaded.score.prompt
    if prompt.template_file is None:
        return list(_inline_prompt_problems(prompt.template, tuple(prompt.variables)))
    if prompt.template is not None:
        return [
            Problem("E201", "prompt.template_file", "set `template` or `template_file`, not both")
        ]
    problems = _variable_problems(prompt.variables)
    where = "prompt.template_file"
    template_path = loaded.resolve(prompt.template_file)
    try:
        source = template_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(Problem("E202", where, f"cannot read `{template_path}`: {reason}"))
        return problems
    problems += check_template(source, where, f"`{template_path}`", set(prompt.variables))
    return problems


@functools.lru_cache(maxsize=256)
def _inline_prompt_problems(
    template: str | None, variables: tuple[str, ...]
) -> tuple[Problem, ...]:
    """The problems of a prompt without a template file: they depend on its template and
    its variables' names alone. Cached: a daemon checks the same few prompts again and
    again (the checks cost more than the rest of a small score's)."""
    if template is None:
        return (Problem("E201", "prompt", "set one of `template` or `template_file`"),)
    problems = _variable_problems(variables)
    problems += check_template(template, "prompt.template", "the template", set(variables))
    return tuple(problems)


def _variable_problems(names: Iterable[str]) -> list[Problem]:
    """A variable the built-in context hides."""
    problems: list[Problem] = []
    for name in names:
        if name in CONTEXT_NAMES:
            message = f"variable `{name}` is hidden by the built-in context value of that name"
            problems.append(Problem("W205", f"prompt.variables.{name}", message, at_key=True))
    return problems


@functools.lru_cache(maxsize=256)
def _template_names(source: str) -> tuple[frozenset[str], tuple[int, str] | None]:
    """The names a template reads, or its syntax error (line, message). Cached: a daemon
    checks the same few templates again and again (parsing one and walking its tree costs
    more than the rest of a small score's checks)."""
    try:
        tree = _ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return frozenset(), (exc.lineno, str(exc.message))
    return frozenset(jinja2.meta.find_undeclared_variables(tree)), None


def check_template(source: str, where: str, label: str, variables: set[str]) -> list[Problem]:
    """Jinja2 syntax errors (with the template line) and names nothing defines."""
    names, error = _template_names(source)
    if error is not None:
        lineno, detail = error
        message = f"Jinja2 syntax error in {label}, line {lineno}: {detail}"
        # An inline template's line maps into the score file; a template file's does not.
        line = lineno if where == "prompt.template" else None
        return [Problem("E203", where, message, value_line=line)]
    problems = []
    unknown = [
        name
        for name in names
        if name not in _CONTEXT_NAMES and name not in variables
        and name not in _ENVIRONMENT.globals
    ]  # fmt: skip
    for name in sorted(unknown):
        hint = suggest(name, sorted({*CONTEXT_NAMES, *variables}))
        extra = f"; did you mean `{hint}`?" if hint else ""
        message = f"{label} uses `{name}`, which is not in the context or `variables`{extra}"
        problems.append(Problem("W204", where, message))
    return problems


def _integer_names(score: Score) -> set[str]:
    ints = {
        name
        for name, value in score.prompt.variables.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }
    return {*INTEGER_CONTEXT_NAMES, *ints}


def check_validations(
    score: Score,
    plan: Plan | None,
    skip: frozenset[str] = frozenset(),
    workspace: Path = Path("/workspace"),
) -> list[Problem]:
    problems: list[Problem] = []
    integer_names = _integer_names(score)
    known = {*CONTEXT_NAMES, *score.prompt.variables}
    sample = None
    if plan is not None and plan.sheets and score.validations:
        sample = sheet_context(
            score, plan, plan.sheets[0], workspace=workspace, job_id=score.name, attempt=1
        )
    for index, rule in enumerate(score.validations):
        base = index_path("validations", index)
        if base in skip:
            continue
        if rule.condition is not None:
            problems += _check_condition(rule.condition, f"{base}.condition", integer_names)
        if isinstance(rule, ContentRegexRule):
            problems += _check_regex(rule.pattern, f"{base}.pattern", 0)
        templated = {"path": getattr(rule, "path", None)}
        if isinstance(rule, CommandSucceedsRule):
            templated = {"command": rule.command, "working_directory": rule.working_directory}
        for field_name, text in templated.items():
            if text is None:
                continue
            found = _check_placeholders(text, f"{base}.{field_name}", known, sample)
            if not found and sample is not None and field_name != "command":
                found = _check_containment(text, f"{base}.{field_name}", sample, workspace)
            problems += found
    return problems


def _check_containment(
    text: str, path: str, sample: dict[str, object], workspace: Path
) -> list[Problem]:
    # Lexical only: symlinks are checked when the rule runs, against the real workspace.
    try:
        rule_path(text, sample, workspace, follow_symlinks=False)
    except PathEscapeError as exc:
        return [Problem("E305", path, str(exc))]
    return []


def _check_condition(expression: str, path: str, integer_names: set[str]) -> list[Problem]:
    try:
        comparisons = parse_condition(expression)
    except ConditionError as exc:
        return [Problem("E303", path, str(exc))]
    problems = []
    for comparison in comparisons:
        if comparison.name not in integer_names:
            hint = suggest(comparison.name, sorted(integer_names))
            extra = f"; did you mean `{hint}`?" if hint else ""
            message = f"`{comparison.name}` is not an integer value of the context{extra}"
            problems.append(Problem("E303", path, message))
    return problems


def _check_regex(pattern: str, path: str, flags: int) -> list[Problem]:
    error = _regex_error(pattern, flags)
    if error is not None:
        return [Problem("E301", path, f"invalid regular expression {pattern!r}: {error}")]
    return []


@functools.lru_cache(maxsize=1024)
def _regex_error(pattern: str, flags: int) -> str | None:
    """Why ``pattern`` does not compile (None: it does). Cached: every score has the same
    default rate-limit patterns, and ``re``'s own cache is slower to ask."""
    try:
        re.compile(pattern, flags)
    except re.error as exc:
        return str(exc)
    return None


def _check_placeholders(
    text: str, path: str, known: set[str], sample: dict[str, object] | None
) -> list[Problem]:
    try:
        names = placeholder_names(text)
    except PlaceholderError as exc:
        return [Problem("E304", path, str(exc))]
    unknown = [name for name in names if name not in known]
    if unknown:
        hint = suggest(unknown[0], sorted(known))
        extra = f"; did you mean `{{{hint}}}`?" if hint else ""
        return [Problem("E304", path, f"unknown placeholder `{{{unknown[0]}}}`{extra}")]
    if sample is not None:
        try:
            format_placeholders(text, sample)
        except PlaceholderError as exc:
            return [Problem("E304", path, str(exc))]
    return []


def check_rate_limit(score: Score) -> list[Problem]:
    return list(_rate_limit_problems(tuple(score.rate_limit.detection_patterns)))


@functools.lru_cache(maxsize=64)
def _rate_limit_problems(patterns: tuple[str, ...]) -> tuple[Problem, ...]:
    """Cached: nearly every score has the default patterns."""
    problems: list[Problem] = []
    for index, pattern in enumerate(patterns):
        path = index_path("rate_limit.detection_patterns", index)
        problems += _check_regex(pattern, path, re.IGNORECASE)
    return tuple(problems)


def check_backend(loaded: LoadedScore, plan: Plan | None) -> list[Problem]:
    backend = loaded.score.backend
    problems: list[Problem] = []
    if plan is not None:
        for sheet_num in backend.timeout_overrides:
            if not 1 <= sheet_num <= plan.total_sheets:
                message = f"sheet {sheet_num} is not in 1..{plan.total_sheets}"
                path = f"backend.timeout_overrides.{sheet_num}"
                problems.append(Problem("E104", path, message, at_key=True))
    if isinstance(backend, ClaudeCliBackend) and backend.system_prompt_file is not None:
        prompt_path = loaded.resolve(backend.system_prompt_file)
        if not prompt_path.is_file():
            message = f"`{prompt_path}` does not exist or is not a file"
            problems.append(Problem("E502", "backend.system_prompt_file", message))
    return problems


def check_workspace(workspace: str) -> list[Problem]:
    """``workspace``: the resolved workspace as text, normalised (``workspace_text``), so
    its dirname is what ``Path.parent`` gives (``.`` for a relative one without a
    directory). Text: the daemon's submit needs no Path of its parent, and the workspace's
    own is made only when asked for (``LoadedScore.workspace``)."""
    parent = parent_text(workspace) or "."
    if not _is_dir(parent):
        message = f"the parent directory `{parent}` of the workspace `{workspace}` does not exist"
        return [Problem("E501", "workspace", message)]
    return []


def _is_dir(path: str) -> bool:
    """``Path.is_dir`` without its Path objects: False for a path that is missing or
    cannot be reached, the other errors (no permission) raised."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            raise
        return False
    except ValueError:
        return False
