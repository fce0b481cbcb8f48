"""``mozart validate CONFIG``: the full static validation, no daemon needed."""

from __future__ import annotations

import sys

from mozart_cli import exit_codes
from mozart_cli.findings import UNREADABLE_CODES, display_file, print_findings, summary
from mozart_cli.output import out, print_json, style


def main(config: str, *, json_output: bool) -> int:
    from mozart_protocol.score import validate_score_file

    report = validate_score_file(config)
    errors, warnings = report.errors, report.warnings
    unreadable = not report.readable or any(f.code in UNREADABLE_CODES for f in errors)
    code = exit_codes.USAGE if unreadable else exit_codes.FAILURE if errors else exit_codes.OK

    if json_output:
        print_json(
            {
                "file": str(report.path) if report.path is not None else config,
                "valid": code == exit_codes.OK,
                "readable": not unreadable,
                "errors": len(errors),
                "warnings": len(warnings),
                "findings": report.findings,
            }
        )
        return code

    print_findings(report.findings)
    where = display_file(str(report.path)) if report.path is not None else config
    if code == exit_codes.OK:
        verdict = style("valid", "bold", "green")
        name = f" (job '{report.score.name}')" if report.score is not None else ""
        extra = f", {summary(0, len(warnings)).split(', ')[1]}" if warnings else ""
        out(f"{where}: {verdict}{name}{extra}")
    else:
        what = "cannot be read or parsed" if unreadable else "invalid"
        verdict = style(what, "bold", "red")
        out(f"{where}: {verdict}, {summary(len(errors), len(warnings))}")
    sys.stdout.flush()
    return code
