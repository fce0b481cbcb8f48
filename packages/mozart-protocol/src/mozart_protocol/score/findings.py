"""Findings: what loading and static validation report about a score.

Every check produces a :class:`Problem` that names a *score path* (``sheet.size``,
``validations[2].pattern``); the loader then turns it into a :class:`Finding` by looking
the path up in the YAML node marks, so the file, line and column come from one place.

Codes are stable (tools and tests match on them); the letter is the severity, the first
digit the area: ``0`` the file itself, ``1`` the schema, ``2`` the prompt, ``3`` the
validations, ``4`` the sheets and their dependencies, ``5`` the workspace and backend,
``6`` notifications and success hooks.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import msgspec

Severity = Literal["error", "warning"]

# code -> short name; docs/scores.md lists the same table (a test keeps them equal).
FINDING_CODES: dict[str, str] = {
    "E001": "file-unreadable",
    "E002": "yaml-syntax",
    "E003": "not-a-mapping",
    "E101": "unknown-key",
    "E102": "missing-field",
    "E103": "wrong-type",
    "E104": "out-of-range",
    "E105": "invalid-value",
    "E106": "duplicate-key",
    "W101": "not-implemented-key",
    "E201": "template-choice",
    "E202": "template-file-missing",
    "E203": "template-syntax",
    "W204": "template-undefined-name",
    "W205": "variable-shadows-context",
    "E301": "invalid-regex",
    "E302": "rule-field-missing",
    "E303": "bad-condition",
    "E304": "bad-placeholder",
    "E305": "path-outside-workspace",
    "E401": "dependency-unknown-sheet",
    "E402": "dependency-self",
    "E403": "dependency-cycle",
    "E404": "fan-out-constraint",
    "E405": "fan-out-stage-range",
    "E501": "workspace-parent-missing",
    "E502": "system-prompt-file-missing",
    "E601": "webhook-url-invalid",
    "W602": "notification-type-not-implemented",
    "W603": "hook-target-missing",
    "E604": "hook-chains-itself",
}


class Problem(NamedTuple):
    """A finding before it has a location: code, score path, message."""

    code: str
    path: str
    message: str
    # Point at the key itself rather than its value (unknown and duplicate keys).
    at_key: bool = False
    # An explicit position (1-based line, column) when the path alone cannot say where.
    position: tuple[int, int] | None = None
    # For text inside a multi-line value (a template): the 1-based line within that value.
    value_line: int | None = None

    @property
    def severity(self) -> Severity:
        return "warning" if self.code.startswith("W") else "error"


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One located finding. ``message`` does not repeat ``path``; :meth:`format` joins them."""

    code: str
    severity: Severity
    message: str
    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""

    def format(self) -> str:
        """``file:line:column: severity CODE path: message`` (the form `mozart validate` prints)."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f"{self.path}: " if self.path else ""
        return f"{where}: {self.severity} {self.code} {subject}{self.message}"


class ScoreError(Exception):
    """A score could not be loaded; ``findings`` holds every error (and warning) found."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        errors = [f for f in findings if f.severity == "error"]
        shown = "\n".join(f.format() for f in errors[:10])
        more = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} error(s) in score:\n{shown}{more}")

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def join_path(parent: str, key: object) -> str:
    """The score path of ``key`` inside ``parent`` (``sheet`` + ``size`` -> ``sheet.size``)."""
    return f"{parent}.{key}" if parent else str(key)


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"
