"""Sheet math, fan-out expansion and the dependency DAG (SCORE.md `sheet`)."""

from __future__ import annotations

import time

import pytest
from mozart_protocol.score import PlanError, PlannedSheet, build_plan, model


def make_score(**overrides: object) -> model.Score:
    data: dict[str, object] = {
        "name": "test",
        "sheet": {"size": 1, "total_items": 3},
        "prompt": {"template": "x"},
    }
    data.update(overrides)
    return model.decode_score(data)


def deps(plan_sheets: list[PlannedSheet]) -> dict[int, tuple[int, ...]]:
    return {s.sheet_num: s.dependencies for s in plan_sheets}


@pytest.mark.parametrize(
    ("size", "total_items", "start_item", "expected"),
    [
        (1, 3, 1, [(1, 1), (2, 2), (3, 3)]),
        (10, 25, 1, [(1, 10), (11, 20), (21, 25)]),
        (10, 30, 1, [(1, 10), (11, 20), (21, 30)]),
        (4, 10, 5, [(5, 8), (9, 10)]),
        (100, 7, 1, [(1, 7)]),
        (3, 5, 5, [(5, 5)]),
    ],
)
def test_sheet_math(
    size: int, total_items: int, start_item: int, expected: list[tuple[int, int]]
) -> None:
    plan = build_plan(
        make_score(sheet={"size": size, "total_items": total_items, "start_item": start_item})
    )
    assert plan.total_sheets == len(expected) == plan.total_stages
    assert [(s.start_item, s.end_item) for s in plan.sheets] == expected
    assert [s.sheet_num for s in plan.sheets] == list(range(1, len(expected) + 1))
    for sheet in plan.sheets:  # without fan-out: stage = sheet_num, one instance
        assert (sheet.stage, sheet.instance, sheet.fan_count) == (sheet.sheet_num, 1, 1)


def test_sequential_without_dependencies() -> None:
    plan = build_plan(make_score(sheet={"size": 1, "total_items": 4}))
    assert deps(plan.sheets) == {1: (), 2: (1,), 3: (2,), 4: (3,)}


def test_only_listed_edges_with_dependencies() -> None:
    plan = build_plan(
        make_score(sheet={"size": 1, "total_items": 5, "dependencies": {3: [1, 2, 1], 5: [4]}})
    )
    assert deps(plan.sheets) == {1: (), 2: (), 3: (1, 2), 4: (), 5: (4,)}


def test_plan_sheet_lookup() -> None:
    plan = build_plan(make_score())
    assert plan.sheet(2).sheet_num == 2
    with pytest.raises(IndexError):
        plan.sheet(4)


def test_fan_out_expansion_numbers_stages_and_instances() -> None:
    plan = build_plan(make_score(sheet={"size": 1, "total_items": 3, "fan_out": {2: 3}}))
    rows = [(s.sheet_num, s.stage, s.instance, s.fan_count, s.start_item) for s in plan.sheets]
    assert rows == [
        (1, 1, 1, 1, 1),
        (2, 2, 1, 3, 2),
        (3, 2, 2, 3, 2),
        (4, 2, 3, 3, 2),
        (5, 3, 1, 1, 3),
    ]
    assert plan.total_sheets == 5
    assert plan.total_stages == 3
    # Without written dependencies the stages run in order: 1 -> N, then N -> 1.
    assert deps(plan.sheets) == {1: (), 2: (1,), 3: (1,), 4: (1,), 5: (2, 3, 4)}


def test_fan_out_one_to_many() -> None:
    plan = build_plan(
        make_score(sheet={"size": 1, "total_items": 2, "fan_out": {2: 3}, "dependencies": {2: [1]}})
    )
    assert deps(plan.sheets) == {1: (), 2: (1,), 3: (1,), 4: (1,)}


def test_fan_out_many_to_one() -> None:
    plan = build_plan(
        make_score(sheet={"size": 1, "total_items": 2, "fan_out": {1: 3}, "dependencies": {2: [1]}})
    )
    assert deps(plan.sheets) == {1: (), 2: (), 3: (), 4: (1, 2, 3)}


def test_fan_out_equal_counts_pair_instances() -> None:
    plan = build_plan(
        make_score(
            sheet={"size": 1, "total_items": 2, "fan_out": {1: 3, 2: 3}, "dependencies": {2: [1]}}
        )
    )
    assert deps(plan.sheets) == {1: (), 2: (), 3: (), 4: (1,), 5: (2,), 6: (3,)}
    assert [s.instance for s in plan.sheets] == [1, 2, 3, 1, 2, 3]


def test_fan_out_different_counts_all_to_all() -> None:
    plan = build_plan(
        make_score(
            sheet={"size": 1, "total_items": 2, "fan_out": {1: 2, 2: 3}, "dependencies": {2: [1]}}
        )
    )
    assert deps(plan.sheets) == {1: (), 2: (), 3: (1, 2), 4: (1, 2), 5: (1, 2)}


def test_fan_out_stage_without_dependencies_is_free() -> None:
    plan = build_plan(
        make_score(
            sheet={"size": 1, "total_items": 3, "fan_out": {2: 2}, "dependencies": {3: [1, 2]}}
        )
    )
    assert deps(plan.sheets) == {1: (), 2: (), 3: (), 4: (1, 2, 3)}


@pytest.mark.parametrize(
    ("sheet", "code", "path"),
    [
        (
            {"size": 1, "total_items": 3, "dependencies": {2: [2]}},
            "E402",
            "sheet.dependencies.2[0]",
        ),
        (
            {"size": 1, "total_items": 3, "dependencies": {2: [7]}},
            "E401",
            "sheet.dependencies.2[0]",
        ),
        ({"size": 1, "total_items": 3, "dependencies": {9: [1]}}, "E401", "sheet.dependencies.9"),
        (
            {"size": 1, "total_items": 3, "dependencies": {1: [3], 3: [1]}},
            "E403",
            "sheet.dependencies.1",
        ),
        ({"size": 2, "total_items": 3, "fan_out": {1: 2}}, "E404", "sheet.size"),
        (
            {"size": 1, "total_items": 3, "start_item": 2, "fan_out": {1: 2}},
            "E404",
            "sheet.start_item",
        ),
        ({"size": 1, "total_items": 3, "fan_out": {4: 2}}, "E405", "sheet.fan_out.4"),
        ({"size": 1, "total_items": 3, "start_item": 4}, "E104", "sheet.total_items"),
    ],
)
def test_invalid_sheet_sections_do_not_plan(sheet: dict[str, object], code: str, path: str) -> None:
    with pytest.raises(PlanError) as caught:
        build_plan(make_score(sheet=sheet))
    assert [(p.code, p.path) for p in caught.value.problems] == [(code, path)]


def test_cycle_message_shows_the_cycle() -> None:
    with pytest.raises(PlanError, match=r"dependency cycle: 1 -> 3 -> 2 -> 1"):
        build_plan(
            make_score(
                sheet={"size": 1, "total_items": 3, "dependencies": {1: [3], 3: [2], 2: [1]}}
            )
        )


def test_ten_thousand_sheets_plan_fast() -> None:
    score = make_score(sheet={"size": 1, "total_items": 10_000})
    started = time.perf_counter()
    plan = build_plan(score)
    elapsed = time.perf_counter() - started
    assert plan.total_sheets == 10_000
    assert plan.sheets[-1].dependencies == (9_999,)
    assert elapsed < 0.5


def test_ten_thousand_fanned_sheets_plan_fast() -> None:
    chain = {stage: [stage - 1] for stage in range(2, 101)}
    score = make_score(
        sheet={
            "size": 1,
            "total_items": 100,
            "fan_out": dict.fromkeys(range(1, 101), 100),
            "dependencies": chain,
        }
    )
    started = time.perf_counter()
    plan = build_plan(score)
    elapsed = time.perf_counter() - started
    assert plan.total_sheets == 10_000
    assert plan.sheet(10_000).dependencies == (9_900,)  # instance 100 waits for instance 100
    assert elapsed < 0.5


def test_plans_of_a_sheet_section_seen_before_are_the_same() -> None:
    """A small plan without dependencies or fan-out is kept and shared by the scores with
    the same section (a plan is not changed once made); an invalid section is refused
    every time, and other plans are made anew."""
    from mozart_protocol.score import plan as plan_mod

    def score(**sheet: object) -> model.Score:
        return make_score(sheet=sheet)

    first = build_plan(score(size=2, total_items=7, start_item=2))
    again = build_plan(score(size=2, total_items=7, start_item=2))
    assert again is first
    assert again == plan_mod.plan_checked(score(size=2, total_items=7, start_item=2).sheet)
    assert build_plan(score(size=2, total_items=8, start_item=2)) is not first
    for _ in range(2):
        with pytest.raises(PlanError):
            build_plan(score(size=1, total_items=3, start_item=5))
    fanned = score(size=1, total_items=2, fan_out={2: 3})
    assert build_plan(fanned) is not build_plan(fanned)
    big = score(size=1, total_items=plan_mod._PLAN_SHEETS_KEPT + 1)
    assert build_plan(big) is not build_plan(big)
