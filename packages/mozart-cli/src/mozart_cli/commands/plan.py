"""``mozart run --dry-run``: validate the score and print its plan; no daemon, nothing runs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mozart_cli import exit_codes
from mozart_cli.findings import UNREADABLE_CODES, print_findings, summary
from mozart_cli.output import err, out, print_json, style, table

if TYPE_CHECKING:
    from mozart_protocol.score import LoadedScore, Plan, PlannedSheet, ValidationRule


def main(config: str, *, workspace: str | None, start_sheet: int | None, json_output: bool) -> int:
    import os

    from mozart_protocol.score import build_plan, resolve_workspace, validate_score_file

    override = os.path.abspath(workspace) if workspace is not None else None
    report = validate_score_file(config, workspace_override=override)
    if report.findings and not json_output:
        print_findings(report.findings, stream=sys.stderr)
    if not report.ok or report.loaded is None:
        unreadable = not report.readable or any(f.code in UNREADABLE_CODES for f in report.errors)
        if json_output:
            print_json({"valid": False, "findings": report.findings})
        else:
            err(f"Dry run stopped: {summary(len(report.errors), len(report.warnings))}.")
        return exit_codes.USAGE if unreadable else exit_codes.FAILURE

    loaded = report.loaded
    plan = build_plan(loaded.score)
    root = resolve_workspace(loaded, override)
    if start_sheet is not None and start_sheet > plan.total_sheets:
        err(f"--start-sheet {start_sheet}: the score has {plan.total_sheets} sheet(s).")
        return exit_codes.USAGE
    rows = _sheet_rows(loaded, plan, str(root))
    if json_output:
        print_json(_as_json(loaded, plan, str(root), rows, report.findings, start_sheet))
        return exit_codes.OK
    _print_plan(loaded, plan, str(root), rows, start_sheet)
    return exit_codes.OK


def _sheet_rows(loaded: LoadedScore, plan: Plan, workspace: str) -> list[list[int]]:
    """For each planned sheet, the 1-based numbers of the validations that apply to it."""
    from mozart_protocol.score import applicable_rules, sheet_context

    score = loaded.score
    indices = {id(rule): n for n, rule in enumerate(score.validations, start=1)}
    result = []
    for planned in plan.sheets:
        context = sheet_context(
            score, plan, planned, workspace=workspace, job_id=score.name, attempt=1
        )
        result.append([indices[id(rule)] for rule in applicable_rules(score, context)])
    return result


WAITS_FOR_WIDTH = 30
"""The widest WAITS FOR cell: a long list of sheets is cut and counted (every row is padded
to the widest cell, so one fan-in of 10,000 sheets would otherwise widen them all)."""


def ranges(numbers: Sequence[int]) -> list[list[int]]:
    """``[first, last]`` of each run of consecutive numbers, in order: 1,2,3,5 -> [1,3],[5,5]."""
    result: list[list[int]] = []
    for number in sorted(set(numbers)):
        if result and number == result[-1][1] + 1:
            result[-1][1] = number
        else:
            result.append([number, number])
    return result


def waits_for_text(numbers: Sequence[int], width: int = WAITS_FOR_WIDTH) -> str:
    """``-``, ``1``, ``2-9999``, ``1, 3, 5-7``; when longer than ``width``, the first runs
    that fit then ``… (N sheets)``."""
    if not numbers:
        return "-"
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in ranges(numbers)]
    text = ", ".join(parts)
    if len(text) <= width:
        return text
    kept: list[str] = []
    for part in parts:
        if len(", ".join([*kept, part])) > width:
            break
        kept.append(part)
    return ", ".join([*kept, "…"]) + f" ({len(set(numbers)):,} sheets)"


def _rule_text(rule: ValidationRule) -> str:
    target = getattr(rule, "path", None) or getattr(rule, "command", "")
    text = f"{type(rule).__struct_config__.tag} {target}"
    pattern = getattr(rule, "pattern", None)
    if pattern is not None:
        text += f" ~ {pattern!r}"
    if rule.condition:
        text += f"  (when {rule.condition})"
    if rule.stage != 1:
        text += f"  [stage {rule.stage}]"
    if rule.description:
        text += f"  — {rule.description}"
    return text


def _print_plan(
    loaded: LoadedScore, plan: Plan, workspace: str, rules: list[list[int]], start: int | None
) -> None:
    score = loaded.score
    fan_out = bool(score.sheet.fan_out)
    shape = f"{plan.total_sheets} sheet(s)"
    if fan_out:
        shape += f" in {plan.total_stages} stage(s)"
    out(f"{style('Dry run', 'bold')}: job '{score.name}', {shape}; nothing was run.")
    if score.description:
        out(f"  {score.description.strip().splitlines()[0]}")
    out(f"Workspace: {workspace}")
    out(f"Backend:   {type(score.backend).__struct_config__.tag}")
    parallel = score.parallel
    if parallel.enabled:
        out(f"Parallel:  up to {parallel.max_concurrent} sheet(s) at a time")
    if start is not None:
        out(f"Start:     sheet {start} (earlier sheets are skipped)")
    out()
    headers = ["SHEET", "ITEMS"]
    if fan_out:
        headers += ["STAGE", "INSTANCE"]
    headers += ["WAITS FOR", "VALIDATIONS"]
    rows = []
    for planned, applies in zip(plan.sheets, rules, strict=True):
        items = (
            str(planned.start_item)
            if planned.start_item == planned.end_item
            else f"{planned.start_item}-{planned.end_item}"
        )
        row = [str(planned.sheet_num), items]
        if fan_out:
            row += [str(planned.stage), f"{planned.instance}/{planned.fan_count}"]
        row.append(waits_for_text(planned.dependencies))
        row.append(", ".join(f"#{n}" for n in applies) or "-")
        if start is not None and planned.sheet_num < start:
            row = [style(cell, "dim") for cell in row]
        rows.append(row)
    for line in table(headers, rows):
        out(line)
    if score.validations:
        out()
        out(style("Validations", "bold"))
        for n, rule in enumerate(score.validations, start=1):
            out(f"  #{n} {_rule_text(rule)}")
    else:
        out()
        out("No validations: a sheet succeeds when its command exits 0.")
    sys.stdout.flush()


def _as_json(
    loaded: LoadedScore,
    plan: Plan,
    workspace: str,
    rules: list[list[int]],
    findings: list[Any],
    start: int | None,
) -> dict[str, object]:
    import msgspec

    score = loaded.score
    return {
        "valid": True,
        "name": score.name,
        "description": score.description,
        "config_path": str(loaded.path),
        "workspace": workspace,
        "backend": type(score.backend).__struct_config__.tag,
        "start_sheet": start,
        "total_sheets": plan.total_sheets,
        "total_stages": plan.total_stages,
        "sheets": [
            _sheet_json(planned, applies)
            for planned, applies in zip(plan.sheets, rules, strict=True)
        ],
        "validations": [msgspec.to_builtins(rule) for rule in score.validations],
        "findings": findings,
    }


def _sheet_json(planned: PlannedSheet, applies: list[int]) -> dict[str, object]:
    """One sheet of the ``--json`` plan. The sheets it waits for are given as inclusive
    ``[first, last]`` ranges (``waits_for``) and counted (``waits_for_count``), not listed one
    by one: a fan-in after a fan-out of 10,000 would be 10,000 numbers."""
    return {
        "sheet_num": planned.sheet_num,
        "start_item": planned.start_item,
        "end_item": planned.end_item,
        "stage": planned.stage,
        "instance": planned.instance,
        "fan_count": planned.fan_count,
        "waits_for": ranges(planned.dependencies),
        "waits_for_count": len(set(planned.dependencies)),
        "validations": applies,
    }
