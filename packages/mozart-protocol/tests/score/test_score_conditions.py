"""Rule conditions: `name OP integer` joined with ` and ` (SCORE.md `validations`)."""

from __future__ import annotations

import pytest
from mozart_protocol.score import (
    ConditionError,
    applicable_rules,
    evaluate_condition,
    parse_condition,
)
from mozart_protocol.score.model import decode_score

CONTEXT = {"sheet_num": 3, "stage": 2, "instance": 1, "total_sheets": 5, "workspace": "/w"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sheet_num == 3", True),
        ("sheet_num != 3", False),
        ("sheet_num < 3", False),
        ("sheet_num <= 3", True),
        ("sheet_num > 2", True),
        ("sheet_num >= 4", False),
        ("sheet_num>=3", True),
        ("  stage == 2  ", True),
        ("sheet_num > 1 and stage == 2", True),
        ("sheet_num > 1 and stage == 1", False),
        ("sheet_num > 1 and stage == 2 and instance != 1", False),
        ("sheet_num > -1", True),
    ],
)
def test_evaluate(expression: str, expected: bool) -> None:
    assert evaluate_condition(expression, CONTEXT) is expected


def test_no_condition_always_holds() -> None:
    assert evaluate_condition(None, CONTEXT) is True


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "sheet_num",
        "sheet_num >> 2",
        "sheet_num == two",
        "sheet_num == 1 or stage == 2",
        "sheet_num == 1 and",
        "1 == sheet_num",
        "sheet_num == 1.5",
    ],
)
def test_malformed_conditions_are_errors(expression: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(expression)


def test_names_must_be_integer_context_values() -> None:
    with pytest.raises(ConditionError, match="workspace"):
        evaluate_condition("workspace == 1", CONTEXT)
    with pytest.raises(ConditionError, match="nope"):
        evaluate_condition("nope == 1", CONTEXT)
    with pytest.raises(ConditionError):
        evaluate_condition("flag == 1", {"flag": True})


def test_parse_returns_comparisons() -> None:
    parsed = parse_condition("sheet_num >= 2 and stage != 10")
    assert [(c.name, c.op, c.value) for c in parsed] == [
        ("sheet_num", ">=", 2),
        ("stage", "!=", 10),
    ]


def test_applicable_rules_keeps_order_and_filters() -> None:
    score = decode_score(
        {
            "name": "t",
            "sheet": {"size": 1, "total_items": 5},
            "prompt": {"template": "x"},
            "validations": [
                {"type": "file_exists", "path": "a"},
                {"type": "file_exists", "path": "b", "condition": "sheet_num == 1"},
                {"type": "file_exists", "path": "c", "condition": "sheet_num >= 3 and stage <= 3"},
            ],
        }
    )
    paths = [rule.path for rule in applicable_rules(score, CONTEXT)]  # type: ignore[union-attr]
    assert paths == ["a", "c"]
