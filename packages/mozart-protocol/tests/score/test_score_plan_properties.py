"""Properties of the plan over many generated sheet sections (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from mozart_protocol.score import build_plan
from mozart_protocol.score.model import Score, decode_score


def score_with(sheet: dict[str, object]) -> Score:
    return decode_score({"name": "p", "sheet": sheet, "prompt": {"template": "x"}})


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 50),
    start=st.integers(1, 100),
    extra=st.integers(0, 300),
)
def test_sheets_tile_the_items(size: int, start: int, extra: int) -> None:
    total_items = start + extra
    plan = build_plan(score_with({"size": size, "total_items": total_items, "start_item": start}))
    assert plan.total_sheets == -(-(total_items - start + 1) // size)
    covered: list[int] = []
    for sheet in plan.sheets:
        assert sheet.end_item - sheet.start_item + 1 <= size
        covered.extend(range(sheet.start_item, sheet.end_item + 1))
    assert covered == list(range(start, total_items + 1))  # every item once, in order


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    data=st.data(),
)
def test_fan_out_expansion(counts: list[int], data: st.DataObject) -> None:
    stages = len(counts)
    # Random backward edges between stages: always a DAG.
    dependencies = {
        stage: sorted(data.draw(st.sets(st.integers(1, stage - 1), max_size=3)))
        for stage in range(2, stages + 1)
    }
    fan_out = {stage: count for stage, count in enumerate(counts, start=1) if count != 1}
    sheet: dict[str, object] = {"size": 1, "total_items": stages, "dependencies": dependencies}
    if fan_out:
        sheet["fan_out"] = fan_out
    plan = build_plan(score_with(sheet))
    assert plan.total_sheets == sum(counts)
    assert plan.total_stages == stages
    by_num = {s.sheet_num: s for s in plan.sheets}
    for sheet_plan in plan.sheets:
        assert sheet_plan.fan_count == counts[sheet_plan.stage - 1]
        assert 1 <= sheet_plan.instance <= sheet_plan.fan_count
        waits_on_stages = {by_num[d].stage for d in sheet_plan.dependencies}
        assert waits_on_stages == set(dependencies.get(sheet_plan.stage, []))
        for before_stage in dependencies.get(sheet_plan.stage, []):
            waited = [by_num[d] for d in sheet_plan.dependencies if by_num[d].stage == before_stage]
            before_count = counts[before_stage - 1]
            if before_count == 1 or before_count == sheet_plan.fan_count:
                expected = 1  # the one sheet, or the same lane
            else:
                expected = before_count  # N -> 1 and N -> M: all of them
            assert len(waited) == expected
            if before_count == sheet_plan.fan_count and before_count > 1:
                assert waited[0].instance == sheet_plan.instance
