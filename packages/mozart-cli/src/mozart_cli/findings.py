"""Printing score findings (from local validation or from the daemon's ScoreInvalid data).

Deliberately free of the score library: findings arrive either as ``Finding`` structs or as
plain mappings (the ``findings`` of a -32006 error), and both print the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from mozart_cli.output import style

# Codes that mean the file could not be read or parsed at all (exit code 2).
UNREADABLE_CODES = frozenset({"E001", "E002", "E003"})


def as_mapping(finding: object) -> Mapping[str, Any]:
    if isinstance(finding, Mapping):
        return finding
    import msgspec

    result: dict[str, Any] = msgspec.structs.asdict(finding)  # type: ignore[arg-type]
    return result


def display_file(file: str) -> str:
    """``file`` relative to the working directory when it lies below it."""
    try:
        relative = os.path.relpath(file)
    except ValueError:
        return file
    return file if relative.startswith("..") else relative


def format_finding(finding: Mapping[str, Any], *, stream: TextIO | None = None) -> str:
    """``file:line:column: severity CODE path: message``."""
    where = display_file(str(finding.get("file") or "")) or "<score>"
    line, column = finding.get("line"), finding.get("column")
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    severity = str(finding.get("severity", "error"))
    colour = "red" if severity == "error" else "yellow"
    path = finding.get("path") or ""
    subject = f"{path}: " if path else ""
    head = style(f"{severity} {finding.get('code', '?')}", "bold", colour, stream=stream)
    return f"{where}: {head} {subject}{finding.get('message', '')}"


def print_findings(findings: Iterable[object], *, stream: TextIO | None = None) -> None:
    target = stream if stream is not None else sys.stdout
    for finding in findings:
        target.write(format_finding(as_mapping(finding), stream=target) + "\n")


def summary(errors: int, warnings: int) -> str:
    def count(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    return f"{count(errors, 'error')}, {count(warnings, 'warning')}"
