"""The common shape of a score read without PyYAML's node tree: block mappings and
sequences of one-line scalars, in plain ASCII.

PyYAML's C parser turns a small score into Python nodes at about four times the cost of
the parse itself (a node, two marks and a resolver call for every scalar). Most scores
are nothing but ``key: value`` lines, ``- item`` lines and comments; :func:`parse_block`
reads those directly and returns None for any text it does not fully recognise (flow
collections, block and multi-line scalars, anchors, tags, escapes, tabs, non-ASCII
text, document markers, duplicate or merge keys, two keys that read the same like `1`
and `01`, anything YAML would refuse), which the caller then gives to PyYAML. What it
returns is what the loader gives for the same text (with no problem, such as a duplicate
key, to report): a scalar is read with PyYAML's own resolver and constructors, and
``test_score_blockyaml.py`` compares the two over generated documents and near misses of
them.

A score is read on every submit, and a daemon's scores differ in a few values: the lines
are read (:func:`_shape`, :func:`_enter`) once per *outline*, the text with its ``key:
value`` lines' values elided, into a plan (:func:`_plan`) by which :func:`_fill` makes
the data of any text of that outline from its elided values (an outline read often, by a
function made for its plan, :func:`_filler`, at a quarter of the cost). A scalar's value read before
is looked up by its text, and a plain scalar none of the resolver's patterns matches is a
string without the resolver trying them one by one. ``test_score_blockyaml.py`` also
reads texts of outlines read before.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

# One line: its indentation, a sequence entry's dash, a key (a plain one of these
# characters, up to 128 of them: a longer one is left to PyYAML, as libyaml allows a simple
# key up to 1024) and the rest: a scalar, or nothing when the line ends there or with a
# comment. Whatever a line holds beyond that is left in the rest, which must then read as
# a scalar. (Possessive: no line is matched twice.)
_LINE = re.compile(
    r"^( *+)(- +|-$)?+(?:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}+):(?: ++|$))?+(?:#.*+|(.*+))",
    re.M,
)
# What may start a plain scalar here: no indicator (- ? : , [ ] { } # & * ! | > ' " % @ `),
# but for a dash not followed by a space (`-1`).
_PLAIN_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./~$(+")
# A plain scalar of one word: _PLAIN_START's characters, dashes after the first.
_WORD = re.compile(r"[A-Za-z0-9_./~$(+][A-Za-z0-9_./~$(+-]*+")
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
# Any of the resolver's patterns, whatever the first character it files them under: a
# plain scalar none of them matches is a string (the resolver's default), found without
# trying them one by one in Python.
_IMPLICIT = re.compile(
    "|".join(
        dict.fromkeys(
            f"(?x:{regexp.pattern})" if regexp.flags & re.X else f"(?:{regexp.pattern})"
            for resolvers in Resolver.yaml_implicit_resolvers.values()
            for _, regexp in resolvers
        )
    )
)

# The values of one-line scalars read before, by their text as written (plain or quoted,
# nothing after it): a score repeats the same keys and values. Bounds: how many, and the
# longest text kept. The values are immutable (strings, numbers, booleans, None).
_SCALARS_KEPT = 4096
_SCALAR_LONGEST = 200


class _Scalars(dict[str, object]):
    """The memo: ``[text]`` reads a value not in it (:func:`_value`, which keeps it)."""

    def __missing__(self, text: str) -> object:
        # A word of _PLAIN_START's characters and dashes, which no resolver pattern
        # matches, is what _value reads it as: itself (kept). A daemon's scores bring a few
        # new ones each, a name and a workspace.
        if _WORD.fullmatch(text) is None or _IMPLICIT.match(text) is not None:
            return _value(text)
        _keep(text, text)
        return text


_SCALARS = _Scalars()
_MISS = object()
_MISSES = itertools.repeat(_MISS)

# A text's outline: the text with the value of each ``key: value`` line elided (from the
# line's first `: ` before a character that may start a value, to the line's end), marked
# with a character no text read here has. Texts with the same outline have the same
# lines but for those values, and each line reads the same (its indentation, dash and
# key, and whether a value follows; a value cannot change where the key ends): they read
# as the same collections, with the same values but for the elided ones. The plan made
# from the first serves them all (:func:`_fill`), without reading their lines: a daemon's
# scores differ in a few values, as the throughput row's in name and workspace. (A text
# whose outline elides only part of a value, `- 'a: b'` or `k:  'a: b'`, is left to PyYAML.)
_VALUE = re.compile(r": ([^ #\n][^\n]*+)")
_ELIDED = ": \x00"
# An outline's plan once its first text is read; once _FILLER_AFTER of its texts are, the
# plan's filler (:func:`_filler`: made in about 0.2 ms here, it saves about 5 us a text).
_PLANS: dict[str, _Plan | Callable[[list[str]], dict[object, object]]] = {}
_PLANS_KEPT = 256
_READS: dict[str, int] = {}  # texts read of an outline that has a plan and no filler yet
_FILLER_AFTER = 32
# Collections nested deeper are left to PyYAML (its C reader stops at 1,000 levels; a
# plan is made recursively).
_DEEPEST = 100


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
    parts = _VALUE.split(text)  # the outline's pieces, and the values elided between them
    outline = _ELIDED.join(parts[::2])
    elided = parts[1::2]
    plan = _PLANS.get(outline)
    try:
        if plan is None:
            plan = _plan(text, parts)
            if len(_PLANS) >= _PLANS_KEPT:
                _PLANS.clear()
                _READS.clear()
            _PLANS[outline] = plan
            return _fill(plan, elided)
        if plan.__class__ is _Plan:
            reads = _READS[outline] = _READS.get(outline, 1) + 1
            if reads < _FILLER_AFTER:
                return _fill(plan, elided)
            _READS.pop(outline, None)  # (another thread may have made it meanwhile)
            plan = _PLANS[outline] = _filler(plan)
        return plan(elided)  # type: ignore[operator]
    except _NotBlock:
        return None


def _shape(lines: list[tuple[str, str, str, str]]) -> dict[object, object]:
    """The mapping a text (its ``lines``: ``_LINE.findall``) reads as, each scalar value
    (not key) replaced by the index of its line (None for a null): what :func:`_plan`
    makes the plan of. Raises _NotBlock for a text this module does not read."""
    # Open collections, innermost last: (column, the collection (a dict or list), whether
    # it is a sequence at its parent key's column).
    stack: list[tuple[int, Any, bool]] = []
    # A key whose value is on the lines below: its mapping, the key, the key's column.
    pending: tuple[dict[object, object], object, int] | None = None
    # The mapping on top of the stack and its column, and the indentation of a line that is
    # its next key (None while no such line can be: a key waits for its value, or the top
    # is a sequence). Most lines are such a key, and go straight to it.
    mapping: dict[object, object] = {}
    column = 0
    here: str | None = None
    scalars, miss = _SCALARS, _MISS
    for index, (indent, dash, raw, rest) in enumerate(lines):
        if indent != here or dash or not raw:
            if not dash and not raw and not rest:
                continue  # blank or a comment
            here = None
            column = len(indent)
            if pending is not None and column > pending[2] and raw and not dash:
                # The first key of a mapping that is the value of the key above (as
                # common as the rest: every section starts so).
                above, key, _ = pending
                pending = None
                mapping = above[key] = {}
                stack.append((column, mapping, False))
                here = indent
            else:
                entered, column = _enter(stack, pending, column, dash, raw, rest, index)
                pending = None
                if entered is None:  # a sequence's scalar entry, read
                    continue
                mapping, here = entered, " " * column
            if len(stack) > _DEEPEST:
                raise _NotBlock
        # A key of ``mapping``, at ``column``.
        key = scalars.get(raw, miss)
        if key is miss:
            key = _plain(raw)
        # Written twice, or two keys that read the same (`1`, `01`). (Every key is equal to
        # itself: none is NaN, which is written `.nan`, and no key here starts with a dot.)
        if key in mapping:
            raise _NotBlock
        if not rest:
            pending = (mapping, key, column)
            here = None
        else:
            mapping[key] = index
    if not stack:
        raise _NotBlock
    if pending is not None:
        above, key, _ = pending
        above[key] = _plain("")
    root: dict[object, object] = stack[0][1]
    return root


class _Plan(NamedTuple):
    """How :func:`_fill` makes the data of a text of one outline: a list of items, first
    the elided values ``elided`` names (their indices among the text's), then
    ``constants`` (the other values and nulls, the same in every text of the outline),
    then each collection of ``steps`` (inner ones first) made of the items it names, with
    its keys (None: a sequence)."""

    elided: tuple[int, ...]
    constants: tuple[object, ...]
    steps: tuple[tuple[tuple[object, ...] | None, tuple[int, ...]], ...]


def _plan(text: str, parts: list[str]) -> _Plan:
    """The plan of ``text``'s outline (``parts``: ``_VALUE.split(text)``). Raises
    _NotBlock for a text this module does not read, or whose outline elides part of a
    value (`- 'a: b'`): PyYAML reads those."""
    lines = _LINE.findall(text)
    shape = _shape(lines)
    elided = parts[1::2]
    # The line of each elided value (at most one a line) -> its index.
    elided_at: dict[int, int] = {}
    line = 0
    for index, piece in enumerate(parts[:-1:2]):
        line += piece.count("\n")
        elided_at[line] = index
    values: list[int] = []
    constants: list[object] = []
    steps: list[tuple[tuple[object, ...] | None, list[tuple[int, int]]]] = []

    def item(node: object) -> tuple[int, int]:
        """Where ``node`` is among the items: (0, n) the n-th elided value, (1, n) the
        n-th constant, (2, n) the n-th collection."""
        if node is None:  # a null
            constants.append(None)
            return 1, len(constants) - 1
        if isinstance(node, int):  # a value: the index of its line
            rest = lines[node][3]
            if node not in elided_at:
                cached = _SCALARS.get(rest, _MISS)
                constants.append(_value(rest) if cached is _MISS else cached)
                return 1, len(constants) - 1
            if elided[elided_at[node]] != rest:
                raise _NotBlock
            values.append(elided_at[node])
            return 0, len(values) - 1
        if isinstance(node, dict):
            children = [item(child) for child in node.values()]
            steps.append((tuple(node), children))
        else:
            assert isinstance(node, list)
            steps.append((None, [item(child) for child in node]))
        return 2, len(steps) - 1

    item(shape)
    first = (0, len(values), len(values) + len(constants))
    return _Plan(
        tuple(values),
        tuple(constants),
        tuple((keys, tuple(first[kind] + n for kind, n in children)) for keys, children in steps),
    )


def _fill(plan: _Plan, elided: list[str]) -> dict[object, object]:
    """The data of a text of the outline ``plan`` was made for, ``elided`` its elided
    values (``_VALUE``): its collections made anew, each elided value read through
    _SCALARS, else _value (which raises _NotBlock for a value this module does not
    read)."""
    # In C (map), not a loop in Python: a value read before is looked up by its text.
    texts = list(map(elided.__getitem__, plan.elided))
    items: list[Any] = list(map(_SCALARS.get, texts, _MISSES))
    at = -1
    for _ in range(items.count(_MISS)):  # values not read before
        at = items.index(_MISS, at + 1)
        items[at] = _value(texts[at])
    items += plan.constants
    picked = items.__getitem__
    for keys, indices in plan.steps:
        values = map(picked, indices)
        items.append(list(values) if keys is None else dict(zip(keys, values, strict=True)))
    data: dict[object, object] = items[-1]
    return data


# A plan with more items than this is filled by _fill (a filler's code grows with it).
_FILLER_ITEMS = 256


def _filler(plan: _Plan) -> Callable[[list[str]], dict[object, object]]:
    """:func:`_fill` for ``plan``'s texts as a function of its own, made once for an outline
    read often (a daemon's, not ``mozart validate``'s one text): the elided values picked and
    looked up in C (a value not read before read by ``_SCALARS``' ``__missing__``) and the
    collections made by its code (a dict or list display each) instead of a loop over the
    steps: a quarter of _fill's bytecodes. The same values; those not read before are read
    in the same order."""
    elided, constants, steps = plan
    if len(elided) + len(constants) + len(steps) > _FILLER_ITEMS:
        return functools.partial(_fill, plan)
    # Its keys and constants are the maker's arguments, read by the filler as closure cells.
    names = [f"v{n}" for n in range(len(elided))] + [f"c{n}" for n in range(len(constants))]
    bound: dict[str, object] = {f"c{n}": value for n, value in enumerate(constants)}
    if len(elided) > 1:
        bound["pick"] = operator.itemgetter(*elided)
        body = [f"    {', '.join(names[: len(elided)])}, = map(read, pick(elided))"]
    else:
        body = [f"    v{n} = read(elided[{at}])" for n, at in enumerate(elided)]
    for n, (keys, indices) in enumerate(steps):
        items = [names[index] for index in indices]
        if keys is None:
            body.append(f"    s{n} = [{', '.join(items)}]")
        else:
            pairs = []
            for k, (key, item) in enumerate(zip(keys, items, strict=True)):
                bound[f"k{n}_{k}"] = key
                pairs.append(f"k{n}_{k}: {item}")
            body.append(f"    s{n} = {{{', '.join(pairs)}}}")
        names.append(f"s{n}")
    body.append(f"    return s{len(steps) - 1}")
    source = "\n".join(
        [f"def make(read, {', '.join(bound)}):", "  def fill(elided):"]
        + ["  " + line for line in body]
        + ["  return fill"]
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<blockyaml filler>", "exec"), namespace)  # noqa: S102 (our text)
    fill: Callable[[list[str]], dict[object, object]]
    fill = namespace["make"](_SCALARS.__getitem__, *bound.values())
    return fill


def _enter(
    stack: list[tuple[int, Any, bool]],
    pending: tuple[dict[object, object], object, int] | None,
    column: int,
    dash: str,
    raw: str,
    rest: str,
    index: int,
) -> tuple[dict[object, object] | None, int]:
    """A line _shape does not read by itself: give the key above its value (a collection
    starting on this line, or null), leave the collections the line is not in, start the
    root mapping or a sequence's mapping entry, or read a sequence's scalar entry. Returns
    the mapping a key on the line goes into and its column; None for the mapping when the
    line was a sequence's scalar entry."""
    if pending is not None:
        above, key, key_column = pending
        if column > key_column or (column == key_column and dash):
            block: Any = [] if dash else {}
            above[key] = block
            stack.append((column, block, column == key_column))
        else:
            above[key] = _plain("")
    elif not stack:  # the first line
        if dash:
            raise _NotBlock
        stack.append((column, {}, False))
    while stack and stack[-1][0] > column:
        stack.pop()
    if not stack or stack[-1][0] != column:
        raise _NotBlock
    _, collection, indentless = stack[-1]
    if isinstance(collection, list):  # a sequence
        if not dash:
            if not indentless:
                raise _NotBlock
            stack.pop()  # its parent mapping goes on
            _, collection, _ = stack[-1]
        elif raw:  # `- key: ...`: a mapping at the key's column
            entry: dict[object, object] = {}
            collection.append(entry)
            column += len(dash)
            collection = entry
            stack.append((column, entry, False))
        elif rest:
            collection.append(index)
            return None, column
        else:
            raise _NotBlock  # the item is on the lines below
    elif dash:
        raise _NotBlock
    if not raw:
        raise _NotBlock
    return collection, column


def _value(text: str) -> object:
    """A one-line scalar (``text`` starts with its first character), not in _SCALARS."""
    if text[0] in "'\"":
        value, after = _quoted(text)
        if not after:
            _keep(text, value)
        elif after[0] != " " or after.lstrip(" ")[:1] not in ("", "#"):
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
    """A plain scalar's value (not in _SCALARS): its tag as PyYAML resolves it, constructed
    as PyYAML does."""
    if _IMPLICIT.match(text) is None:
        value = text
    else:
        tag = _RESOLVER.resolve(ScalarNode, text, _PLAIN)  # type: ignore[no-untyped-call]
        if tag == _STR:
            value = text
        else:
            construct = SCALAR_CONSTRUCTORS.get(tag)
            if construct is None:  # a timestamp, `=`, a merge key...
                raise _NotBlock
            value = construct(SCALAR_CONSTRUCTOR, ScalarNode(tag, text))
    _keep(text, value)
    return value


def _keep(text: str, value: object) -> None:
    if len(text) <= _SCALAR_LONGEST:
        if len(_SCALARS) >= _SCALARS_KEPT:
            _SCALARS.clear()
        _SCALARS[text] = value
