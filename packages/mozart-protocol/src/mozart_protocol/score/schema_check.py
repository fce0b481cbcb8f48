"""Check plain score data against the typed model, reporting every problem with its path.

msgspec stops at the first error; this walks the model's type information
(``msgspec.inspect``) instead, so one run reports every unknown key (with the closest
known one), missing field, wrong type and out-of-range number. It also returns the data
cleaned for decoding: keys of the wider Mozart format that are not implemented are
dropped with a warning, and a ``backend`` without ``type`` gets the default one.
"""

from __future__ import annotations

import difflib
import functools
import operator
import re
from typing import Any

import msgspec.inspect as mi

from mozart_protocol.score.findings import Problem, index_path, join_path
from mozart_protocol.score.model import (
    NOT_IMPLEMENTED_HOOK,
    NOT_IMPLEMENTED_LEARNING,
    NOT_IMPLEMENTED_RULE,
    NOT_IMPLEMENTED_SHEET,
    NOT_IMPLEMENTED_TOP_LEVEL,
    Hook,
    LearningConfig,
    Score,
    SheetConfig,
    ValidationRule,
)


@functools.cache
def _score_info() -> mi.Type:
    # Built once: msgspec.inspect walks the whole model on every call, which was most of
    # the daemon's CPU time per job.submit.
    return mi.type_info(Score)


def _member_classes(union: object) -> tuple[type, ...]:
    info = mi.type_info(union)
    assert isinstance(info, mi.UnionType)
    return tuple(t.cls for t in info.types if isinstance(t, mi.StructType))


_RULE_CLASSES = _member_classes(ValidationRule)
_NOT_IMPLEMENTED: dict[type, frozenset[str]] = {
    Score: NOT_IMPLEMENTED_TOP_LEVEL,
    SheetConfig: NOT_IMPLEMENTED_SHEET,
    LearningConfig: NOT_IMPLEMENTED_LEARNING,
    **{cls: NOT_IMPLEMENTED_RULE for cls in _RULE_CLASSES},
    **{cls: NOT_IMPLEMENTED_HOOK for cls in _member_classes(Hook)},
}
_DEFAULT_TAG = {"backend": "claude_cli"}
_NAME_RULE = "letters, digits, `.`, `_` and `-`, starting with a letter or digit"


def suggest(word: str, candidates: list[str]) -> str | None:
    """The closest candidate to a misspelt ``word`` (difflib), or None."""
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _expected(info: mi.Type) -> str:
    if isinstance(info, mi.Metadata):
        return _expected(info.type)
    names: dict[type, str] = {
        mi.IntType: "an integer",
        mi.FloatType: "a number",
        mi.StrType: "a string",
        mi.BoolType: "a boolean (true or false)",
        mi.NoneType: "null",
        mi.ListType: "a list",
        mi.DictType: "a mapping",
        mi.StructType: "a mapping",
        mi.LiteralType: "one of the listed values",
    }
    if isinstance(info, mi.ListType):
        return f"a list of {_plural(info.item_type)}"
    if isinstance(info, mi.UnionType):
        return " or ".join(dict.fromkeys(_expected(t) for t in info.types))
    return names.get(type(info), "a value")


def _plural(info: mi.Type) -> str:
    single = _expected(info)
    for article in ("an ", "a "):
        if single.startswith(article):
            return single[len(article) :] + "s"
    return single


class SchemaChecker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def check(self, data: object) -> object:
        """Check a whole score; returns the cleaned data (valid only if no errors)."""
        return self._value(data, _score_info(), "")

    def _add(self, code: str, path: str, message: str, *, at_key: bool = False) -> None:
        self.problems.append(Problem(code, path, message, at_key))

    def _value(self, value: object, info: mi.Type, path: str) -> object:
        if isinstance(info, mi.Metadata):
            return self._value(value, info.type, path)
        if isinstance(info, mi.AnyType):
            return value
        if isinstance(info, mi.UnionType):
            return self._union(value, info, path)
        if isinstance(info, mi.StructType):
            return self._struct(value, info, path)
        if isinstance(info, mi.ListType):
            if not isinstance(value, list):
                return self._wrong(value, info, path)
            return [
                self._value(v, info.item_type, index_path(path, i)) for i, v in enumerate(value)
            ]
        if isinstance(info, mi.DictType):
            return self._dict(value, info, path)
        if isinstance(info, mi.LiteralType):
            if value not in info.values:
                allowed = ", ".join(f"`{v}`" for v in info.values)
                hint = suggest(str(value), [str(v) for v in info.values])
                extra = f"; did you mean `{hint}`?" if hint else ""
                self._add("E105", path, f"must be one of {allowed}, got `{value}`{extra}")
            return value
        self._scalar(value, info, path)
        return value

    def _wrong(self, value: object, info: mi.Type, path: str) -> object:
        self._add("E103", path, f"expected {_expected(info)}, got {describe_type(value)}")
        return value

    def _scalar(self, value: object, info: mi.Type, path: str) -> None:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(info, mi.BoolType):
            ok = isinstance(value, bool)
        elif isinstance(info, mi.IntType):
            ok = is_int
        elif isinstance(info, mi.FloatType):
            ok = is_int or isinstance(value, float)
        elif isinstance(info, mi.StrType):
            ok = isinstance(value, str)
        elif isinstance(info, mi.NoneType):
            ok = value is None
        else:  # pragma: no cover - the model uses no other types
            ok = True
        if not ok:
            self._wrong(value, info, path)
            return
        if isinstance(info, (mi.IntType, mi.FloatType)):
            assert isinstance(value, (int, float))
            self._bounds(value, info, path)
        elif isinstance(info, mi.StrType):
            assert isinstance(value, str)
            self._string(value, info, path)

    def _bounds(self, value: float, info: mi.IntType | mi.FloatType, path: str) -> None:
        checks = (
            (info.ge, ">=", operator.ge),
            (info.gt, ">", operator.gt),
            (info.le, "<=", operator.le),
            (info.lt, "<", operator.lt),
        )
        for limit, symbol, holds in checks:
            if limit is not None and not holds(value, limit):
                self._add("E104", path, f"must be {symbol} {limit:g}, got {value:g}")
                return

    def _string(self, value: str, info: mi.StrType, path: str) -> None:
        if info.max_length is not None and len(value) > info.max_length:
            self._add("E104", path, f"must be at most {info.max_length} characters long")
        if info.pattern is not None and re.search(info.pattern, value) is None:
            rule = _NAME_RULE if path == "name" else f"the pattern {info.pattern}"
            self._add("E105", path, f"{value!r} is not valid: use {rule}")

    def _dict(self, value: object, info: mi.DictType, path: str) -> object:
        if not isinstance(value, dict):
            return self._wrong(value, info, path)
        key_info = info.key_type
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            child = join_path(path, key)
            if isinstance(key_info, mi.IntType) and (
                not isinstance(key, int) or isinstance(key, bool)
            ):
                self._add(
                    "E103", child, f"key must be an integer, got {describe_type(key)}", at_key=True
                )
            elif isinstance(key_info, mi.StrType) and not isinstance(key, str):
                self._add(
                    "E103", child, f"key must be a string, got {describe_type(key)}", at_key=True
                )
            cleaned[key] = self._value(item, info.value_type, child)
        return cleaned

    def _union(self, value: object, info: mi.UnionType, path: str) -> object:
        members = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if value is None and info.includes_none:
            return None
        tagged = [t for t in members if isinstance(t, mi.StructType) and t.tag_field]
        if tagged and len(tagged) == len(members):
            return self._tagged(value, tagged, path)
        for member in members:  # the first member that fits without problems
            trial = SchemaChecker()
            cleaned = trial._value(value, member, path)
            if not trial.problems:
                return cleaned
        fitting = [m for m in members if _same_kind(value, m)]
        if len(fitting) == 1:  # right kind, wrong details: report the details
            return self._value(value, fitting[0], path)
        return self._wrong(value, info, path)

    def _tagged(self, value: object, members: list[mi.StructType], path: str) -> object:
        if not isinstance(value, dict):
            return self._wrong(value, members[0], path)
        tag_field = members[0].tag_field
        assert tag_field is not None
        by_tag = {str(m.tag): m for m in members}
        tags = ", ".join(f"`{t}`" for t in by_tag)
        tag = value.get(tag_field)
        if tag is None and path in _DEFAULT_TAG:
            tag = _DEFAULT_TAG[path]
            value = {tag_field: tag, **value}
        if tag is None:
            self._add("E102", join_path(path, tag_field), f"is required (one of {tags})")
            return value
        member = by_tag.get(str(tag)) if isinstance(tag, str) else None
        if member is None:
            hint = suggest(str(tag), list(by_tag))
            extra = f"; did you mean `{hint}`?" if hint else ""
            message = f"unknown type `{tag}` (one of {tags}){extra}"
            self._add("E105", join_path(path, tag_field), message)
            return value
        return self._struct(value, member, path)

    def _struct(self, value: object, info: mi.StructType, path: str) -> object:
        if not isinstance(value, dict):
            return self._wrong(value, info, path)
        fields = {f.encode_name: f for f in info.fields}
        skipped = _NOT_IMPLEMENTED.get(info.cls, frozenset())
        known = sorted({*fields, *skipped, *([info.tag_field] if info.tag_field else [])})
        cleaned: dict[str, object] = {}
        if info.tag_field is not None:
            cleaned[info.tag_field] = value.get(info.tag_field)
        for key, item in value.items():
            child = join_path(path, key)
            if key == info.tag_field:
                continue
            if not isinstance(key, str):
                self._add(
                    "E103", child, f"key must be a string, got {describe_type(key)}", at_key=True
                )
            elif key in fields:
                cleaned[key] = self._value(item, fields[key].type, child)
            elif key in skipped:
                message = f"`{key}` is not implemented yet and is ignored"
                self._add("W101", child, message, at_key=True)
            else:
                hint = suggest(key, known)
                where = f"in `{path}`" if path else "at the top level"
                if info.tag is not None:  # say which kind of backend or rule lacks it
                    where += f" (type `{info.tag}`)"
                extra = (
                    f"; did you mean `{hint}`?" if hint else f" (known keys: {', '.join(known)})"
                )
                self._add("E101", child, f"unknown key `{key}` {where}{extra}", at_key=True)
        is_rule = info.cls in _RULE_CLASSES
        for name, spec in fields.items():
            if spec.required and name not in value:
                if is_rule:
                    message = f"is required: a `{info.tag}` rule needs `{name}`"
                    self._add("E302", join_path(path, name), message)
                else:
                    self._add("E102", join_path(path, name), "is required (missing)")
        return cleaned


def _same_kind(value: object, info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _same_kind(value, info.type)
    kinds: dict[type, tuple[type, ...]] = {
        mi.StrType: (str,),
        mi.ListType: (list,),
        mi.DictType: (dict,),
        mi.StructType: (dict,),
        mi.IntType: (int,),
        mi.FloatType: (int, float),
        mi.BoolType: (bool,),
    }
    expected = kinds.get(type(info))
    return expected is not None and isinstance(value, expected)


def check_schema(data: object) -> tuple[object, list[Problem]]:
    """Problems of ``data`` against the model, and the data cleaned for decoding."""
    checker = SchemaChecker()
    cleaned = checker.check(data)
    return cleaned, checker.problems
