"""The common shape of a score read without PyYAML's node tree: block mappings and
sequences of one-line scalars, in plain ASCII.

PyYAML's C parser turns a small score into Python nodes at about four times the cost of
the parse itself (a node, two marks and a resolver call for every scalar). Most scores
are nothing but ``key: value`` lines, ``- item`` lines and comments; :func:`parse_block`
reads those directly and returns None for any text it does not fully recognise (flow
collections, block and multi-line scalars, anchors, tags, escapes, tabs, non-ASCII
text, document markers, duplicate or merge keys, anything YAML would refuse), which the
caller then gives to PyYAML. What it returns is what the loader gives for the
same text (with no problem, such as a duplicate key, to report): a scalar is read with
PyYAML's own resolver and constructors, and ``test_score_blockyaml.py`` compares the two
over generated documents and near misses of them.
"""

from __future__ import annotations

import re
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

# One line: its indentation, a sequence entry's dash, a key (a plain one of these
# characters) and the rest: a scalar, a comment or nothing. Whatever a line holds beyond
# that is left in the rest, which must then read as a scalar. (Possessive: no line is
# matched twice.)
_LINE = re.compile(r"^( *+)(- +|-$)?+(?:([A-Za-z0-9_][A-Za-z0-9_.-]*+):(?: ++|$))?+(.*+)", re.M)
# What may start a plain scalar here: no indicator (- ? : , [ ] { } # & * ! | > ' " % @ `),
# but for a dash not followed by a space (`-1`).
_PLAIN_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./~$(+")
# Longer keys take PyYAML (libyaml allows a simple key up to 1024 characters).
_KEY_LONGEST = 128
_MARKERS = ("---", "...", "%")  # a document marker or a directive, at a line's start

_STR = "tag:yaml.org,2002:str"
# PyYAML's constructors of the non-string scalars (also yamlsource's), and the instance
# they run on: they read only the node and class constants, so one serves every thread.
SCALAR_CONSTRUCTORS = {
    tag: SafeConstructor.yaml_constructors[tag]
    for tag in (
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    )
}
SCALAR_CONSTRUCTOR = SafeConstructor()
_RESOLVER = Resolver()
_PLAIN = (True, False)  # a plain scalar's implicit flags, as the parser gives them

# Bounds of the memo of plain scalars' tags: how many, and the longest value kept.
_TAGS_KEPT = 4096
_TAG_LONGEST = 200
_TAGS: dict[str, str] = {}


class _NotBlock(Exception):
    """The text is not (only) what this module reads: PyYAML reads it."""


def parse_block(text: str, loader: type[SafeConstructor]) -> dict[object, object] | None:
    """The mapping that ``loader`` (PyYAML's SafeLoader or CSafeLoader) makes of ``text``,
    or None when the text is not a block mapping this module reads."""
    if (
        getattr(loader, "yaml_implicit_resolvers", None) is not Resolver.yaml_implicit_resolvers
        or getattr(loader, "yaml_path_resolvers", None)
        or loader.yaml_constructors is not SafeConstructor.yaml_constructors
    ):  # pragma: no cover - nothing here adds resolvers or constructors to the safe loader
        return None
    # Printable ASCII and line feeds only: no tab, carriage return, byte-order mark or
    # YAML 1.1's other line breaks.
    if not text.isascii() or not text.replace("\n", " ").isprintable():
        return None
    if text.startswith(_MARKERS) or "\n---" in text or "\n..." in text or "\n%" in text:
        return None
    try:
        return _parse(text)
    except _NotBlock:
        return None


def _parse(text: str) -> dict[object, object]:
    # Open collections, innermost last: (column, the collection (a dict or list), its keys'
    # texts or None for a sequence, whether it is a sequence at its parent key's column).
    stack: list[tuple[int, Any, set[str] | None, bool]] = []
    root: dict[object, object] | None = None
    # A key whose value is on the lines below: its mapping, the key, the key's column.
    pending: tuple[dict[object, object], object, int] | None = None
    tag_of = _TAGS.get
    for indent, dash, raw, rest in _LINE.findall(text):
        if not dash and not raw and (not rest or rest[0] == "#"):
            continue  # blank or a comment
        column = len(indent)
        if pending is not None:
            mapping, key, key_column = pending
            pending = None
            if column > key_column or (column == key_column and dash):
                block: Any = [] if dash else {}
                mapping[key] = block
                stack.append((column, block, None if dash else set(), column == key_column))
            else:
                mapping[key] = _plain("")
        elif root is None:
            if dash:
                raise _NotBlock
            root = {}
            stack.append((column, root, set(), False))
        while stack and stack[-1][0] > column:
            stack.pop()
        if not stack or stack[-1][0] != column:
            raise _NotBlock
        _, collection, keys, indentless = stack[-1]
        if keys is None:  # a sequence
            if not dash:
                if not indentless:
                    raise _NotBlock
                stack.pop()  # its parent mapping goes on
                _, collection, keys, _ = stack[-1]
            elif raw:  # `- key: ...`: a mapping at the key's column
                mapping = {}
                collection.append(mapping)
                column += len(dash)
                collection, keys = mapping, set()
                stack.append((column, mapping, keys, False))
            elif rest:
                collection.append(_value(rest))
                continue
            else:
                raise _NotBlock  # the item is on the lines below
        elif dash:
            raise _NotBlock
        if not raw or keys is None or raw in keys or len(raw) > _KEY_LONGEST:
            raise _NotBlock
        keys.add(raw)
        key = raw if tag_of(raw) == _STR else _plain(raw)
        if not rest or rest[0] == "#":
            pending = (collection, key, column)
        elif (
            rest[0] in _PLAIN_START and rest[-1] not in " :" and tag_of(rest) == _STR
            and " #" not in rest and ": " not in rest
        ):  # fmt: skip
            collection[key] = rest  # a plain string seen before: what _value gives
        else:
            collection[key] = _value(rest)
    if root is None:
        raise _NotBlock
    if pending is not None:
        mapping, key, _ = pending
        mapping[key] = _plain("")
    return root


def _value(text: str) -> object:
    """A one-line scalar (``text`` starts with its first character)."""
    if text[0] in "'\"":
        value, after = _quoted(text)
        if after and (after[0] != " " or after.lstrip(" ")[:1] not in ("", "#")):
            raise _NotBlock
        return value
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment]
    text = text.rstrip(" ")
    if text[0] not in _PLAIN_START and not (text[0] == "-" and len(text) > 1 and text[1] != " "):
        raise _NotBlock
    if ": " in text or text[-1] == ":":
        raise _NotBlock
    return _plain(text)


def _quoted(text: str) -> tuple[str, str]:
    """A quoted scalar that ends on its line -> (its value, what follows it)."""
    quote = text[0]
    if quote == '"':
        end = text.find('"', 1)
        if end < 0 or "\\" in text[1:end]:
            raise _NotBlock
        return text[1:end], text[end + 1 :]
    start = 1
    while True:
        end = text.find("'", start)
        if end < 0:
            raise _NotBlock
        if text[end + 1 : end + 2] != "'":
            return text[1:end].replace("''", "'"), text[end + 1 :]
        start = end + 2


def _plain(text: str) -> object:
    """A plain scalar's value: its tag as PyYAML resolves it, constructed as PyYAML does."""
    tag = _TAGS.get(text)
    if tag is None:
        tag = _RESOLVER.resolve(ScalarNode, text, _PLAIN)  # type: ignore[no-untyped-call]
        if len(text) <= _TAG_LONGEST:
            if len(_TAGS) >= _TAGS_KEPT:
                _TAGS.clear()
            _TAGS[text] = tag
    if tag == _STR:
        return text
    construct = SCALAR_CONSTRUCTORS.get(tag)
    if construct is None:  # a timestamp, `=`, a merge key...
        raise _NotBlock
    return construct(SCALAR_CONSTRUCTOR, ScalarNode(tag, text))
