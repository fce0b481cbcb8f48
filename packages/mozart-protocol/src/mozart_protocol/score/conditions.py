"""Rule conditions: ``name OP integer``, optionally joined with `` and ``.

OP is one of ``== != < <= > >=``; names are integer values of the sheet context
(``sheet_num``, ``stage``, ``instance`` ... and integer ``variables``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from mozart_protocol.score.model import Score, ValidationRule

_COMPARISON = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|<|>)\s*([+-]?\d+)\s*$")
_AND = re.compile(r"\s+and\s+")
_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ConditionError(ValueError):
    """A condition is malformed or names a value that is not an integer of the context."""


class Comparison(NamedTuple):
    name: str
    op: str
    value: int

    def holds(self, actual: int) -> bool:
        return _OPS[self.op](actual, self.value)


def parse_condition(expression: str) -> tuple[Comparison, ...]:
    """Parse ``"sheet_num > 1 and stage == 2"``; raises ConditionError when malformed."""
    if not expression.strip():
        raise ConditionError("empty condition")
    comparisons = []
    for part in _AND.split(expression.strip()):
        match = _COMPARISON.match(part)
        if match is None:
            raise ConditionError(
                f"cannot parse {part.strip()!r}: expected `name OP integer` "
                "(OP: == != < <= > >=), joined with ` and `"
            )
        name, op, value = match.groups()
        comparisons.append(Comparison(name, op, int(value)))
    return tuple(comparisons)


def evaluate_condition(expression: str | None, context: Mapping[str, object]) -> bool:
    """True when every comparison holds (an absent condition always holds)."""
    if expression is None:
        return True
    for comparison in parse_condition(expression):
        actual = context.get(comparison.name)
        if not isinstance(actual, int) or isinstance(actual, bool):
            raise ConditionError(
                f"condition name `{comparison.name}` is not an integer value of the context"
            )
        if not comparison.holds(actual):
            return False
    return True


def applicable_rules(score: Score, context: Mapping[str, object]) -> list[ValidationRule]:
    """The score's validations whose condition holds for this sheet, in score order."""
    return rules_for(score.validations, context)


def rules_for(
    rules: Sequence[ValidationRule], context: Mapping[str, object]
) -> list[ValidationRule]:
    return [rule for rule in rules if evaluate_condition(rule.condition, context)]
