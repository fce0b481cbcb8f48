"""Patterns: recurring failures mined from attempt outcomes, one record per failure kind.

Two kinds:

- ``validation``: a validation rule that failed, identified by the rule as written in the
  score (type, path or command with its placeholders unexpanded, pattern, description), so
  the same rule in two jobs (or two runs of one score) is one pattern;
- ``error``: an error class (``backend``, ``timeout``, ``fatal``) on one backend.

``PatternIndex`` holds every pattern in memory, indexed for the lookups made before each
attempt (by rule identity, by backend); ``mine`` folds one attempt into it and returns the
patterns it changed, which the hub then persists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mozart_protocol.score import CommandSucceedsRule, ValidationRule

PatternKind = Literal["validation", "error"]
# Error classes that make an error pattern; validation failures are mined per rule, and
# rate limits and cancellations say nothing about the work itself.
MINED_ERROR_CLASSES = frozenset({"backend", "timeout", "fatal"})
# (type, path or command, pattern): what makes a pattern relevant to a sheet's rule.
RuleTarget = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class RuleIdentity:
    type: str
    path: str | None  # the path, or the command of command_succeeds, as written
    pattern: str | None
    description: str | None

    @classmethod
    def of(cls, rule: ValidationRule) -> RuleIdentity:
        path = rule.command if isinstance(rule, CommandSucceedsRule) else rule.path
        return cls(
            type=str(rule.__struct_config__.tag),
            path=path,
            pattern=getattr(rule, "pattern", None),
            description=rule.description,
        )

    @property
    def target(self) -> RuleTarget:
        return (self.type, self.path, self.pattern)


def pattern_id(kind: PatternKind, parts: Sequence[object]) -> str:
    digest = hashlib.sha1(json.dumps([kind, *parts]).encode(), usedforsecurity=False)
    return f"{kind[0]}-{digest.hexdigest()[:12]}"


@dataclass
class Pattern:
    id: str
    kind: PatternKind
    backend: str  # for validation patterns: the backend it was last seen on
    first_seen: str
    last_seen: str
    last_job_id: str
    rule_type: str | None = None
    path: str | None = None
    pattern: str | None = None
    description: str | None = None
    error_class: str | None = None
    last_error: str | None = None
    occurrences: int = 0  # failed attempts
    fixed_by_retry: int = 0
    fixed_by_completion: int = 0
    given: int = 0  # sheets whose prompt carried this pattern as a lesson
    given_passed: int = 0  # ... and that then completed

    @property
    def effectiveness(self) -> float | None:
        return self.given_passed / self.given if self.given else None

    @property
    def target(self) -> RuleTarget | None:
        if self.kind != "validation" or self.rule_type is None:
            return None
        return (self.rule_type, self.path, self.pattern)


@dataclass(frozen=True)
class Failure:
    """One failed check or error of an attempt, ready to be folded into a pattern."""

    kind: PatternKind
    id: str
    backend: str
    message: str | None
    rule: RuleIdentity | None = None
    error_class: str | None = None


def failures_of(
    *,
    backend: str,
    validations: Iterable[object],
    error_class: str | None,
    error: str | None,
    rules: Sequence[ValidationRule],
) -> list[Failure]:
    """What went wrong in one attempt: each failed validation, and its error class."""
    found: list[Failure] = []
    for item in validations:
        if not isinstance(item, Mapping) or item.get("passed", True):
            continue
        index = item.get("index")
        if isinstance(index, int) and 0 <= index < len(rules):
            rule = RuleIdentity.of(rules[index])
        else:  # the score is not at hand: the expanded check is the best identity left
            rule = RuleIdentity(str(item.get("type")), None, None, str(item.get("description")))
        message = item.get("message") or item.get("description")
        found.append(
            Failure(
                kind="validation",
                id=pattern_id("validation", [rule.type, rule.path, rule.pattern, rule.description]),
                backend=backend,
                message=str(message) if message is not None else None,
                rule=rule,
            )
        )
    if error_class in MINED_ERROR_CLASSES:
        found.append(
            Failure(
                kind="error",
                id=pattern_id("error", [backend, error_class]),
                backend=backend,
                message=error,
                error_class=error_class,
            )
        )
    return found


class PatternIndex:
    """Every pattern, in memory; lookups before an attempt do no I/O."""

    def __init__(self) -> None:
        self.by_id: dict[str, Pattern] = {}
        self._by_target: dict[RuleTarget, list[Pattern]] = {}
        self._by_backend: dict[str, list[Pattern]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, pattern: Pattern) -> None:
        self.by_id[pattern.id] = pattern
        target = pattern.target
        if target is not None:
            self._by_target.setdefault(target, []).append(pattern)
        elif pattern.kind == "error":
            self._by_backend.setdefault(pattern.backend, []).append(pattern)

    def fold(self, failure: Failure, *, job_id: str, now: str) -> Pattern:
        """Count one occurrence of ``failure``; creates its pattern the first time."""
        pattern = self.by_id.get(failure.id)
        if pattern is None:
            rule = failure.rule
            pattern = Pattern(
                id=failure.id,
                kind=failure.kind,
                backend=failure.backend,
                first_seen=now,
                last_seen=now,
                last_job_id=job_id,
                rule_type=rule.type if rule else None,
                path=rule.path if rule else None,
                pattern=rule.pattern if rule else None,
                description=rule.description if rule else None,
                error_class=failure.error_class,
            )
            self.add(pattern)
        pattern.occurrences += 1
        pattern.last_seen = now
        pattern.last_job_id = job_id
        pattern.backend = failure.backend
        if failure.message:
            pattern.last_error = failure.message
        return pattern

    def for_rules(self, targets: Iterable[RuleTarget]) -> list[Pattern]:
        found: dict[str, Pattern] = {}
        for target in targets:
            for pattern in self._by_target.get(target, ()):
                found[pattern.id] = pattern
        return list(found.values())

    def for_backend(self, backend: str) -> list[Pattern]:
        return list(self._by_backend.get(backend, ()))

    def ranked(self) -> list[Pattern]:
        return ranked(self.by_id.values())


def ranked(patterns: Iterable[Pattern]) -> list[Pattern]:
    """Most frequent first; among equals, the most recently seen first."""
    newest_first = sorted(patterns, key=lambda p: p.last_seen, reverse=True)
    return sorted(newest_first, key=lambda p: p.occurrences, reverse=True)
