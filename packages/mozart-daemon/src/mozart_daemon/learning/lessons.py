"""Lessons: the patterns relevant to a sheet, written into its prompt.

Relevance: a validation pattern is relevant when the sheet must pass a rule of the same
type, path (or command) and pattern as written in the score; an error pattern when the
sheet runs on the same backend. Validation patterns come first (they name what will be
checked), then error patterns; each group most frequent first. At most ``MAX_LESSONS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mozart_protocol.score import ValidationRule

from mozart_daemon.learning.patterns import Pattern, PatternIndex, RuleIdentity, ranked

HEADING = "Lessons from previous runs"
MAX_LESSONS = 5
MAX_MESSAGE_CHARS = 300
# A fatal error (missing executable, bad credentials) is not something the prompt can fix.
LESSON_ERROR_CLASSES = frozenset({"backend", "timeout"})


def relevant(
    index: PatternIndex, rules: Sequence[ValidationRule], backend: str, *, limit: int = MAX_LESSONS
) -> list[Pattern]:
    by_rule = ranked(index.for_rules(RuleIdentity.of(rule).target for rule in rules))
    by_backend = ranked(
        p for p in index.for_backend(backend) if p.error_class in LESSON_ERROR_CLASSES
    )
    return [*by_rule, *by_backend][:limit]


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def describe(pattern: Pattern) -> str:
    """One lesson: the rule (or error class) it concerns, and what went wrong."""
    if pattern.kind == "validation":
        subject = f"Validation `{pattern.rule_type}`"
        if pattern.path is not None:
            subject += f" on `{pattern.path}`"
        if pattern.pattern is not None:
            subject += f" with pattern `{pattern.pattern}`"
        if pattern.description:
            subject += f" ({pattern.description})"
        text = f"{subject} failed {_times(pattern.occurrences)}"
    else:
        text = (
            f"Backend `{pattern.backend}`: an attempt ended with error `{pattern.error_class}` "
            f"{_times(pattern.occurrences)}"
        )
    if pattern.last_error:
        text += f"; what went wrong: {_clip(pattern.last_error)}"
    fixes = []
    if pattern.fixed_by_retry:
        fixes.append(f"a retry {_times(pattern.fixed_by_retry)}")
    if pattern.fixed_by_completion:
        fixes.append(f"a completion attempt {_times(pattern.fixed_by_completion)}")
    if fixes:
        text += f". Fixed by {' and by '.join(fixes)}"
    return text + "."


def lessons_section(patterns: Sequence[Pattern]) -> str:
    lines = [
        f"## {HEADING}",
        "",
        "These went wrong in earlier attempts (of this job or others). Make sure they do not "
        "happen again:",
        "",
    ]
    lines += [f"- {describe(p)}" for p in patterns]
    return "\n".join(lines)
