"""The plan: which sheets a score has, what items each covers, and what each waits for.

Pure and linear in the number of sheets plus dependency edges (a 10,000-sheet sequential
score plans in milliseconds).

Without ``sheet.dependencies`` the plan is sequential: sheet N waits for sheet N-1. With
fan-out the same holds per stage (stage s waits for stage s-1), expanded like a written
dependency. Written dependencies name sheets, or stages when ``fan_out`` is set; a stage
edge d -> s expands by instance counts: 1 -> N every instance waits for the one, N -> 1
the one waits for all, N -> N instance i waits for instance i, N -> M all to all.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from mozart_protocol.score.findings import Problem
from mozart_protocol.score.model import Score, SheetConfig


class PlannedSheet(msgspec.Struct, frozen=True, gc=False):
    sheet_num: int
    start_item: int
    end_item: int
    stage: int
    instance: int
    fan_count: int
    dependencies: tuple[int, ...] = ()


class Plan(msgspec.Struct, frozen=True):
    sheets: list[PlannedSheet]
    total_sheets: int
    total_stages: int

    def sheet(self, sheet_num: int) -> PlannedSheet:
        """The sheet numbered ``sheet_num`` (1-based)."""
        if not 1 <= sheet_num <= self.total_sheets:
            raise IndexError(f"sheet {sheet_num} is not in 1..{self.total_sheets}")
        return self.sheets[sheet_num - 1]


class PlanError(ValueError):
    """The sheet section cannot be planned (see ``problems``)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


def count_sheets(sheet: SheetConfig) -> int:
    """``ceil((total_items - start_item + 1) / size)`` (0 when the range is empty)."""
    items = sheet.total_items - sheet.start_item + 1
    return max(0, -(-items // sheet.size))


def stage_count(sheet: SheetConfig) -> int:
    """How many stages (dependency nodes) the sheet section has."""
    if sheet.fan_out:
        return max(0, sheet.total_items - sheet.start_item + 1)
    return count_sheets(sheet)


def check_sheet_config(sheet: SheetConfig) -> list[Problem]:
    """Everything that keeps :func:`build_plan` from planning (empty list: it can)."""
    problems: list[Problem] = []
    if sheet.total_items < sheet.start_item:
        problems.append(
            Problem(
                "E104",
                "sheet.total_items",
                f"must be >= start_item ({sheet.start_item}), got {sheet.total_items}",
            )
        )
        return problems
    if sheet.fan_out:
        if sheet.size != 1:
            problems.append(Problem("E404", "sheet.size", "must be 1 when fan_out is set"))
        if sheet.start_item != 1:
            problems.append(Problem("E404", "sheet.start_item", "must be 1 when fan_out is set"))
        total = stage_count(sheet)
        for stage in sheet.fan_out:
            if not 1 <= stage <= total:
                problems.append(
                    Problem(
                        "E405",
                        f"sheet.fan_out.{stage}",
                        f"stage {stage} is not in 1..{total} (total_items)",
                        at_key=True,
                    )
                )
    if sheet.dependencies:
        problems.extend(_check_dependencies(sheet.dependencies, stage_count(sheet), sheet))
    return problems


def _check_dependencies(
    deps: Mapping[int, list[int]], total: int, sheet: SheetConfig
) -> list[Problem]:
    unit = "stage" if sheet.fan_out else "sheet"
    problems: list[Problem] = []
    for node, befores in deps.items():
        path = f"sheet.dependencies.{node}"
        if not 1 <= node <= total:
            problems.append(
                Problem(
                    "E401", path, f"unknown {unit} {node} (the score has {unit}s 1..{total})", True
                )
            )
        for index, before in enumerate(befores):
            if before == node:
                problems.append(
                    Problem("E402", f"{path}[{index}]", f"{unit} {node} depends on itself")
                )
            elif not 1 <= before <= total:
                problems.append(
                    Problem(
                        "E401",
                        f"{path}[{index}]",
                        f"unknown {unit} {before} (the score has {unit}s 1..{total})",
                    )
                )
    if not problems:
        cycle = find_cycle(deps)
        if cycle:
            chain = " -> ".join(str(n) for n in cycle)
            problems.append(
                Problem(
                    "E403", f"sheet.dependencies.{cycle[0]}", f"dependency cycle: {chain}", True
                )
            )
    return problems


def find_cycle(deps: Mapping[int, list[int]]) -> list[int] | None:
    """A cycle in ``node -> waits for`` edges, as a closed walk (``[1, 2, 1]``), or None."""
    white, grey, black = 0, 1, 2
    colour: dict[int, int] = {}
    for root in sorted(deps):
        if colour.get(root, white) != white:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        trail: list[int] = [root]
        colour[root] = grey
        while stack:
            node, next_index = stack[-1]
            children = deps.get(node, [])
            if next_index < len(children):
                stack[-1] = (node, next_index + 1)
                child = children[next_index]
                state = colour.get(child, white)
                if state == grey:
                    return [*trail[trail.index(child) :], child]
                if state == white:
                    colour[child] = grey
                    stack.append((child, 0))
                    trail.append(child)
            else:
                colour[node] = black
                stack.pop()
                trail.pop()
    return None


# The plans of small sheet sections without dependencies or fan-out made lately, by (size,
# total_items, start_item): a daemon's scores repeat a few, and a plan depends on nothing
# else. Shared by the scores that have them: a plan is not changed once made (its
# PlannedSheets are frozen, and nothing appends to or replaces its list).
_PLANS: dict[tuple[int, int, int], Plan] = {}
_PLANS_KEPT = 256
_PLAN_SHEETS_KEPT = 64  # a larger plan is made each time (it is not kept)


def build_plan(score: Score) -> Plan:
    """Expand the score's sheet section into concrete sheets; raises PlanError when invalid."""
    sheet = score.sheet
    key = None
    if sheet.dependencies is None and sheet.fan_out is None:
        key = (sheet.size, sheet.total_items, sheet.start_item)
        plan = _PLANS.get(key)
        if plan is not None:
            return plan
    problems = check_sheet_config(sheet)
    if problems:
        raise PlanError(problems)
    plan = plan_checked(sheet)
    if key is not None and plan.total_sheets <= _PLAN_SHEETS_KEPT:
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def plan_checked(sheet: SheetConfig) -> Plan:
    """:func:`build_plan` of a sheet section :func:`check_sheet_config` found no problem in
    (the static checks have just run it)."""
    if sheet.fan_out:
        return _fan_out_plan(sheet)
    return _item_plan(sheet)


def _item_plan(sheet: SheetConfig) -> Plan:
    total = count_sheets(sheet)
    size, first, last = sheet.size, sheet.start_item, sheet.total_items
    deps = sheet.dependencies
    sheets = []
    for num in range(1, total + 1):
        start = first + (num - 1) * size
        if deps is None:
            waits: tuple[int, ...] = (num - 1,) if num > 1 else ()
        else:
            waits = tuple(sorted(set(deps.get(num, ()))))
        sheets.append(PlannedSheet(num, start, min(start + size - 1, last), num, 1, 1, waits))
    return Plan(sheets=sheets, total_sheets=total, total_stages=total)


def _fan_out_plan(sheet: SheetConfig) -> Plan:
    fan_out = sheet.fan_out or {}
    total_stages = stage_count(sheet)
    counts = [0] + [fan_out.get(stage, 1) for stage in range(1, total_stages + 1)]
    first_num = [0] * (total_stages + 2)
    first_num[1] = 1
    for stage in range(1, total_stages + 1):
        first_num[stage + 1] = first_num[stage] + counts[stage]
    if sheet.dependencies is None:
        stage_deps: Mapping[int, list[int]] = {s: [s - 1] for s in range(2, total_stages + 1)}
    else:
        stage_deps = sheet.dependencies

    sheets = []
    for stage in range(1, total_stages + 1):
        count = counts[stage]
        befores = sorted(set(stage_deps.get(stage, ())))
        for instance in range(1, count + 1):
            waits: list[int] = []
            for before in befores:
                before_count, before_first = counts[before], first_num[before]
                if before_count == 1:
                    waits.append(before_first)
                elif before_count == count:
                    waits.append(before_first + instance - 1)
                else:  # N -> 1 and N -> M: wait for every instance
                    waits.extend(range(before_first, before_first + before_count))
            num = first_num[stage] + instance - 1
            sheets.append(
                PlannedSheet(num, stage, stage, stage, instance, count, tuple(sorted(set(waits))))
            )
    return Plan(sheets=sheets, total_sheets=len(sheets), total_stages=total_stages)
