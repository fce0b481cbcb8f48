"""The typed score model shared by the CLI and the daemon (the format of SCORE.md).

Structs refuse unknown fields; loading (``loader.py``) turns YAML into these with
locations in every error. Field names and defaults follow SCORE.md exactly.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct, field

JobName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]
PositiveInt = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[float, Meta(ge=0)]
Priority = Annotated[int, Meta(ge=0, le=9)]
Stage = Annotated[int, Meta(ge=1, le=10)]


class _Strict(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class SheetConfig(_Strict, kw_only=True):
    size: PositiveInt
    total_items: PositiveInt
    start_item: PositiveInt = 1
    dependencies: dict[int, list[int]] | None = None
    fan_out: dict[int, PositiveInt] | None = None


class PromptConfig(_Strict, kw_only=True):
    template: str | None = None
    template_file: str | None = None
    variables: dict[str, object] = field(default_factory=dict)
    stakes: str | None = None
    thinking_method: str | None = None


class _BackendCommon(_Strict):
    timeout_seconds: Annotated[float, Meta(gt=0)] = 1800.0
    timeout_overrides: dict[int, Annotated[float, Meta(gt=0)]] = field(default_factory=dict)
    working_directory: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class CommandBackend(_BackendCommon, tag_field="type", tag="command", kw_only=True):
    command: str | list[str]
    prompt_via: Literal["stdin", "file", "arg"] = "stdin"


class ClaudeCliBackend(_BackendCommon, tag_field="type", tag="claude_cli", kw_only=True):
    skip_permissions: bool = True
    output_format: Literal["text", "json", "stream-json"] = "json"
    disable_mcp: bool = True
    cli_model: str | None = None
    allowed_tools: list[str] | None = None
    system_prompt_file: str | None = None
    cli_extra_args: list[str] = field(default_factory=list)
    executable: str = "claude"


class AnthropicApiBackend(_BackendCommon, tag_field="type", tag="anthropic_api", kw_only=True):
    model: str = "claude-sonnet-4-5"
    max_tokens: PositiveInt = 8192
    temperature: Annotated[float, Meta(ge=0, le=1)] = 0.7
    api_key_env: str = "ANTHROPIC_API_KEY"
    base_url: str = "https://api.anthropic.com"


class OllamaBackend(_BackendCommon, tag_field="type", tag="ollama", kw_only=True):
    model: str = "llama3.1"
    base_url: str = "http://127.0.0.1:11434"


Backend = CommandBackend | ClaudeCliBackend | AnthropicApiBackend | OllamaBackend


class _RuleCommon(_Strict):
    description: str | None = None
    condition: str | None = None
    stage: Stage = 1


class FileExistsRule(_RuleCommon, tag_field="type", tag="file_exists", kw_only=True):
    path: str


class FileModifiedRule(_RuleCommon, tag_field="type", tag="file_modified", kw_only=True):
    path: str


class ContentContainsRule(_RuleCommon, tag_field="type", tag="content_contains", kw_only=True):
    path: str
    pattern: str


class ContentRegexRule(_RuleCommon, tag_field="type", tag="content_regex", kw_only=True):
    path: str
    pattern: str


class CommandSucceedsRule(_RuleCommon, tag_field="type", tag="command_succeeds", kw_only=True):
    command: str
    working_directory: str | None = None
    timeout_seconds: Annotated[float, Meta(gt=0)] = 300.0


ValidationRule = (
    FileExistsRule | FileModifiedRule | ContentContainsRule | ContentRegexRule | CommandSucceedsRule
)


class RetryConfig(_Strict, kw_only=True):
    max_retries: Annotated[int, Meta(ge=0)] = 3
    base_delay_seconds: NonNegative = 10.0
    max_delay_seconds: NonNegative = 3600.0
    exponential_base: Annotated[float, Meta(ge=1)] = 2.0
    jitter: bool = True
    completion_threshold_percent: Annotated[float, Meta(ge=0, le=100)] = 50.0
    completion_delay_seconds: NonNegative = 5.0
    max_completion_attempts: Annotated[int, Meta(ge=0)] = 3


DEFAULT_RATE_LIMIT_PATTERNS: tuple[str, ...] = (
    r"rate limit",
    r"usage limit",
    r"quota",
    r"too many requests",
    r"\b429\b",
    r"overloaded",
    r"try again later",
)


class RateLimitConfig(_Strict, kw_only=True):
    detection_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_RATE_LIMIT_PATTERNS))
    wait_minutes: NonNegative = 60.0
    max_waits: Annotated[int, Meta(ge=0)] = 24


class ParallelConfig(_Strict, kw_only=True):
    enabled: bool = False
    max_concurrent: PositiveInt = 3
    fail_fast: bool = True


NotificationEvent = Literal[
    "job_start",
    "sheet_start",
    "sheet_complete",
    "sheet_failed",
    "job_complete",
    "job_failed",
    "job_paused",
]
NOTIFICATION_EVENTS: tuple[str, ...] = (
    "job_start",
    "sheet_start",
    "sheet_complete",
    "sheet_failed",
    "job_complete",
    "job_failed",
    "job_paused",
)


def _default_events() -> list[NotificationEvent]:
    return ["job_complete", "job_failed"]


class WebhookConfig(_Strict, kw_only=True):
    url: str | None = None
    url_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: Annotated[float, Meta(gt=0)] = 30.0
    max_retries: Annotated[int, Meta(ge=0, le=10)] = 2
    retry_delay: NonNegative = 1.0


class DesktopConfig(_Strict, kw_only=True):
    app_name: str = "Mozart"
    timeout: Annotated[int, Meta(ge=0)] = 10


class _NotificationCommon(_Strict):
    on_events: list[NotificationEvent] = field(default_factory=_default_events)


class WebhookNotification(_NotificationCommon, tag_field="type", tag="webhook", kw_only=True):
    config: WebhookConfig = field(default_factory=WebhookConfig)


class DesktopNotification(_NotificationCommon, tag_field="type", tag="desktop", kw_only=True):
    config: DesktopConfig = field(default_factory=DesktopConfig)


class SlackNotification(_NotificationCommon, tag_field="type", tag="slack", kw_only=True):
    config: dict[str, object] = field(default_factory=dict)


class EmailNotification(_NotificationCommon, tag_field="type", tag="email", kw_only=True):
    config: dict[str, object] = field(default_factory=dict)


Notification = WebhookNotification | DesktopNotification | SlackNotification | EmailNotification
# Notification types of the wider Mozart format that are accepted with a warning and ignored.
NOT_IMPLEMENTED_NOTIFICATIONS: tuple[type, ...] = (SlackNotification, EmailNotification)


class _HookCommon(_Strict):
    description: str | None = None
    on_failure: Literal["continue", "abort"] = "continue"
    timeout_seconds: Annotated[float, Meta(gt=0)] = 300.0


class RunCommandHook(_HookCommon, tag_field="type", tag="run_command", kw_only=True):
    command: str
    working_directory: str | None = None


class RunScriptHook(_HookCommon, tag_field="type", tag="run_script", kw_only=True):
    command: str
    working_directory: str | None = None


class RunJobHook(_HookCommon, tag_field="type", tag="run_job", kw_only=True):
    job_path: str
    job_workspace: str | None = None
    fresh: bool = False


Hook = RunCommandHook | RunScriptHook | RunJobHook


class LearningConfig(_Strict, kw_only=True):
    enabled: bool = True


class Score(_Strict, kw_only=True):
    name: JobName
    sheet: SheetConfig
    prompt: PromptConfig
    description: str | None = None
    workspace: str = "./workspace"
    backend: Backend = field(default_factory=ClaudeCliBackend)
    validations: list[ValidationRule] = field(default_factory=list)
    retry: RetryConfig = field(default_factory=RetryConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    pause_between_sheets_seconds: NonNegative = 0.0
    priority: Priority = 5
    notifications: list[Notification] = field(default_factory=list)
    on_success: list[Hook] = field(default_factory=list)
    learning: LearningConfig = field(default_factory=LearningConfig)


# Keys of the wider Mozart format that are accepted with a warning (SCORE.md).
NOT_IMPLEMENTED_TOP_LEVEL: frozenset[str] = frozenset(
    {
        "cross_sheet",
        "isolation",
        "concert",
        "cost_limits",
        "state_backend",
        "state_path",
        "workspace_lifecycle",
        "logging",
        "circuit_breaker",
        "stale_detection",
        "grounding",
        "checkpoints",
        "ai_review",
        "feedback",
        "conductor",
        "bridge",
    }
)
NOT_IMPLEMENTED_SHEET: frozenset[str] = frozenset({"skip_when"})
NOT_IMPLEMENTED_RULE: frozenset[str] = frozenset({"retry_count", "retry_delay_ms"})
# The daemon has one learning store, in its state database, shared by every job.
NOT_IMPLEMENTED_LEARNING: frozenset[str] = frozenset(
    {
        "outcome_store_type",
        "outcome_store_path",
        "min_confidence_threshold",
        "high_confidence_threshold",
        "escalation_enabled",
        "use_global_patterns",
        "exploration_rate",
        "exploration_min_priority",
        "auto_apply",
    }
)
# Chained jobs always run detached, and every job shares the daemon's one learning store.
NOT_IMPLEMENTED_HOOK: frozenset[str] = frozenset({"detached", "inherit_learning"})


def decode_score(data: object) -> Score:
    """Convert plain data (already stripped of not-implemented keys) into a Score."""
    return msgspec.convert(data, Score, strict=True)
