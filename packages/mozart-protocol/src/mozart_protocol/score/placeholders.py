"""The ``{name}`` placeholders of validation paths and commands (Python format syntax).

Only plain names are allowed (``{sheet_num:02d}`` yes, ``{workspace.parent}`` or ``{0}``
no): a score is data, and attribute access would let it reach into Python objects.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping

_FORMATTER = string.Formatter()

# (literal text before, field name or None, format spec, conversion)
_Piece = tuple[str, str | None, str, str | None]


class PlaceholderError(ValueError):
    """A placeholder string is malformed or names something the context does not have."""


def _parse(template: str) -> list[_Piece]:
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise PlaceholderError(f"malformed placeholder in {template!r}: {exc}") from None
    pieces: list[_Piece] = []
    for literal, name, spec, conversion in parsed:
        if name is not None:
            if not name.isidentifier():
                raise PlaceholderError(
                    f"placeholder {{{name}}} in {template!r} must be a plain name "
                    "such as {sheet_num}"
                )
            if spec and "{" in spec:
                raise PlaceholderError(f"nested placeholders are not supported in {template!r}")
        pieces.append((literal, name, spec or "", conversion))
    return pieces


def placeholder_names(template: str) -> list[str]:
    """The names a template refers to, in order (raises PlaceholderError when malformed)."""
    return [name for _literal, name, _spec, _conv in _parse(template) if name is not None]


def format_placeholders(
    template: str, context: Mapping[str, object], *, shell_quote: bool = False
) -> str:
    """Substitute ``{name}`` / ``{name:spec}`` from ``context``.

    With ``shell_quote`` every substituted value is passed through :func:`shlex.quote`
    (for ``command_succeeds``): the literal text of the template is left as written.
    ``{{`` and ``}}`` stand for literal braces, as in :meth:`str.format`.
    """
    parts: list[str] = []
    for literal, name, spec, conversion in _parse(template):
        parts.append(literal)
        if name is None:
            continue
        if name not in context:
            known = ", ".join(sorted(context))
            raise PlaceholderError(f"unknown placeholder {{{name}}} (known: {known})")
        try:
            value = _FORMATTER.convert_field(context[name], conversion)
            text = format(value, spec)
        except (ValueError, TypeError) as exc:
            raise PlaceholderError(f"cannot format {{{name}:{spec}}}: {exc}") from None
        parts.append(shlex.quote(text) if shell_quote else text)
    return "".join(parts)
