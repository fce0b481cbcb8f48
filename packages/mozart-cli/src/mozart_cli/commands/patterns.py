"""``mozart patterns``: what the daemon learned from every job's failures."""

from __future__ import annotations

from typing import Any

from mozart_cli import exit_codes, rpc
from mozart_cli.daemon import session
from mozart_cli.output import out, print_json, table, truncate
from mozart_cli.timefmt import ago


def subject(pattern: Any) -> str:
    """The rule (type, path, pattern) or the backend and error class a pattern concerns."""
    if str(getattr(pattern.kind, "value", pattern.kind)) == "error":
        return f"{pattern.backend}: {pattern.error_class}"
    text = str(pattern.rule_type)
    if pattern.path is not None:
        text += f" {pattern.path}"
    if pattern.pattern is not None:
        text += f" ~ {pattern.pattern}"
    return text


def effectiveness(pattern: Any) -> str:
    if pattern.effectiveness is None:
        return "-"
    return f"{pattern.effectiveness:.0%} ({pattern.given_passed}/{pattern.given})"


def main(*, kind: str | None, limit: int, json_output: bool, socket: str | None) -> int:
    with session(socket):
        result = rpc.learning_patterns(socket, kind=kind, limit=limit)
    if json_output:
        print_json(result)
        return exit_codes.OK
    if not result.patterns:
        out("No patterns yet: they are mined from failed attempts as jobs run.")
        return exit_codes.OK
    rows = [
        [
            p.id,
            truncate(subject(p), 50),
            str(p.occurrences),
            f"{p.fixed_by_retry}/{p.fixed_by_completion}",
            effectiveness(p),
            ago(p.last_seen),
            truncate(p.last_error, 50),
        ]
        for p in result.patterns
    ]
    headers = ["ID", "RULE / ERROR", "FAILED", "FIXED R/C", "EFFECTIVE", "LAST", "LAST ERROR"]
    for line in table(headers, rows):
        out(line)
    return exit_codes.OK
