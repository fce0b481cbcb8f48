"""Scores: load, validate, plan and render them (the format of SCORE.md / docs/scores.md).

Shared by the CLI (``mozart validate``, ``run --dry-run``) and the daemon; it imports
PyYAML and Jinja2 (the ``score`` extra) and never the daemon.

Load and validate::

    loaded = load_score(path)                # LoadedScore, or raises ScoreError(findings)
    report = validate_score_file(path)       # ValidationReport; never raises for content
    for finding in report.findings:
        print(finding.format())              # file:line:col: error E104 sheet.size: must be >= 1

Plan and run one sheet attempt::

    plan = loaded.plan                       # Plan{sheets, total_sheets, total_stages}
                                             # (build_plan(score), made by the checks)
    workspace = resolve_workspace(loaded, override)
    context = sheet_context(loaded.score, plan, plan.sheet(3),
                            workspace=workspace, job_id="job", attempt=1)
    rules = applicable_rules(loaded.score, context)    # conditions evaluated
    prompt = render_prompt(loaded, context, rules)     # + "Success requirements"
    path = format_placeholders(rule.path, context)     # `{workspace}/out-{sheet_num:02d}.md`
    command = format_placeholders(rule.command, context, shell_quote=True)
    target = rule_path(rule.path, context, workspace)  # placeholders + workspace containment

Errors: ``ScoreError`` (``ScoreNotReadableError`` for an unreadable file) from loading;
``PlanError``, ``RenderError``, ``PlaceholderError``, ``ConditionError`` and
``PathEscapeError`` (all ValueError) at run time, for a score that was not validated first
or a symlink that leads out of the workspace.
"""

from mozart_protocol.score.conditions import (
    ConditionError,
    applicable_rules,
    evaluate_condition,
    parse_condition,
)
from mozart_protocol.score.containment import PathEscapeError, resolve_in_workspace, rule_path
from mozart_protocol.score.findings import FINDING_CODES, Finding, ScoreError, Severity
from mozart_protocol.score.loaded import LoadedScore, resolve_path, resolve_workspace
from mozart_protocol.score.loader import (
    ScoreNotReadableError,
    ValidationReport,
    load_score,
    validate_score_file,
)
from mozart_protocol.score.model import (
    AnthropicApiBackend,
    Backend,
    ClaudeCliBackend,
    CommandBackend,
    CommandSucceedsRule,
    ContentContainsRule,
    ContentRegexRule,
    FileExistsRule,
    FileModifiedRule,
    LearningConfig,
    OllamaBackend,
    ParallelConfig,
    PromptConfig,
    RateLimitConfig,
    RetryConfig,
    Score,
    SheetConfig,
    ValidationRule,
)
from mozart_protocol.score.placeholders import (
    PlaceholderError,
    format_placeholders,
    placeholder_names,
)
from mozart_protocol.score.plan import Plan, PlanError, PlannedSheet, build_plan
from mozart_protocol.score.render import (
    CONTEXT_NAMES,
    INTEGER_CONTEXT_NAMES,
    RenderError,
    describe_rule,
    render_prompt,
    sheet_context,
    success_requirements,
)

__all__ = [
    "CONTEXT_NAMES",
    "FINDING_CODES",
    "INTEGER_CONTEXT_NAMES",
    "AnthropicApiBackend",
    "Backend",
    "ClaudeCliBackend",
    "CommandBackend",
    "CommandSucceedsRule",
    "ConditionError",
    "ContentContainsRule",
    "ContentRegexRule",
    "FileExistsRule",
    "FileModifiedRule",
    "Finding",
    "LearningConfig",
    "LoadedScore",
    "OllamaBackend",
    "ParallelConfig",
    "PathEscapeError",
    "PlaceholderError",
    "Plan",
    "PlanError",
    "PlannedSheet",
    "PromptConfig",
    "RateLimitConfig",
    "RenderError",
    "RetryConfig",
    "Score",
    "ScoreError",
    "ScoreNotReadableError",
    "Severity",
    "SheetConfig",
    "ValidationReport",
    "ValidationRule",
    "applicable_rules",
    "build_plan",
    "describe_rule",
    "evaluate_condition",
    "format_placeholders",
    "load_score",
    "parse_condition",
    "placeholder_names",
    "render_prompt",
    "resolve_in_workspace",
    "resolve_path",
    "resolve_workspace",
    "rule_path",
    "sheet_context",
    "success_requirements",
    "validate_score_file",
]
