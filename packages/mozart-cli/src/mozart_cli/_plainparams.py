"""Coerce ``mozart``'s plain option values without Pydantic.

Typer (0.2x) converts every non-flag parameter through a Pydantic ``TypeAdapter``, which
imports Pydantic and builds a schema on every run: about 90 ms, most of the start-up time of
``mozart status``. Every parameter of ``mozart`` is a ``str``, ``int``, ``float``, ``bool``
or ``StrEnum``, so :func:`install` converts those directly (with Typer's ``min``/``max``/
``clamp`` rules and click-style messages) and hands any other annotation back to Typer.

It wraps one internal hook (``typer.core.build_runtime_param``); if a Typer release drops
it, :func:`install` does nothing and Typer's own conversion applies unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import typer

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def coerce_plain(annotation: type[Any], value: Any, info: Any) -> Any:
    """``value`` (from argv or the environment) as ``annotation``; raises typer.BadParameter."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if annotation is str:
        return str(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise typer.BadParameter(f"{value!r} is not a valid boolean.")
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation, value, case_sensitive=getattr(info, "case_sensitive", True))
    kind = "integer" if annotation is int else "float"
    try:
        number = annotation(value) if not isinstance(value, str) else annotation(value.strip())
    except (TypeError, ValueError):
        raise typer.BadParameter(f"{value!r} is not a valid {kind}.") from None
    return _in_range(number, getattr(info, "min", None), getattr(info, "max", None), info)


def _choice(enum: type[Enum], value: Any, *, case_sensitive: bool) -> Enum:
    if isinstance(value, enum):
        return value
    text = str(value)
    for member in enum:
        candidate = str(member.value)
        if candidate == text or (not case_sensitive and candidate.lower() == text.lower()):
            return member
    choices = ", ".join(repr(str(m.value)) for m in enum)
    raise typer.BadParameter(f"{text!r} is not one of {choices}.")


def _in_range(number: Any, low: Any, high: Any, info: Any) -> Any:
    if getattr(info, "clamp", False):
        if low is not None and number < low:
            return low
        if high is not None and number > high:
            return high
        return number
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            bounds = f"{low}<=x<={high}"
        elif low is not None:
            bounds = f"x>={low}"
        else:
            bounds = f"x<={high}"
        raise typer.BadParameter(f"{number} is not in the range {bounds}.")
    return number


def _is_plain(annotation: Any) -> bool:
    if annotation in (str, int, float, bool):
        return True
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def install() -> bool:
    """Route plain annotations around Pydantic; True when the hook was found."""
    try:
        from typer import _coercion, core
    except ImportError:  # pragma: no cover - a Typer without the hook
        return False
    original: Callable[[Any], Any] | None = getattr(core, "build_runtime_param", None)
    base: Any = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_mozart_plain", False):
        return original is not None

    @dataclass(frozen=True)
    class PlainRuntimeParam(base):  # type: ignore[misc]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return coerce_plain(self.annotation, value, self.parameter_info)
            except typer.BadParameter as exc:
                exc.ctx, exc.param = ctx, param
                raise

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if (
            descriptor.file_annotation is None
            and getattr(info, "parser", None) is None
            and _is_plain(descriptor.annotation)
        ):
            return PlainRuntimeParam(annotation=descriptor.annotation, parameter_info=info)
        assert original is not None
        return original(descriptor)

    build._mozart_plain = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build)  # noqa: B010  (a private hook: no stub)
    return True
