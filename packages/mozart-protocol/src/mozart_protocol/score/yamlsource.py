"""YAML text -> plain data plus a map from score paths to source positions.

A score of block mappings and sequences of one-line scalars in plain ASCII (most scores)
is read by :mod:`~mozart_protocol.score.blockyaml` without a node tree. Any other text:
the node tree is composed (C loader when PyYAML has it) and constructed into plain Python
data. Positions are needed only to locate a finding, so the tree is walked for them (the
position of every key and value under its score path: ``sheet.size``,
``validations[1].pattern``) only when one is asked for (composed from the text first if
blockyaml read it), or at once when the document has a duplicate key (which that walk
reports).

Most scores are mappings, lists, strings, numbers and booleans: those are constructed by
:func:`_construct_plain` with PyYAML's own scalar constructors (its generic constructor,
pure Python even with the C loader, costs as much as the parse). Anything else (anchors
and aliases, merge keys, other tags, complex keys, duplicate keys) goes through PyYAML's
``construct_document``, which gives the same data, errors included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from mozart_protocol.score.blockyaml import SCALAR_CONSTRUCTOR, SCALAR_CONSTRUCTORS, parse_block
from mozart_protocol.score.findings import Problem, index_path, join_path

# The C loader is several times faster; the pure-Python one gives the same results.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Position(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based


class YamlDocument:
    def __init__(
        self, data: object, node: yaml.Node | None = None, text: str | None = None
    ) -> None:
        self.data = data
        self.problems: list[Problem] = []
        self._node = node
        self._text = text  # to compose the node tree from, when it was not
        self._positions: dict[str, tuple[Position, Position]] | None = None
        self._styles: dict[str, str] = {}

    @property
    def positions(self) -> dict[str, tuple[Position, Position]]:
        """score path -> (position of its key, position of its value); "" is the document."""
        if self._positions is None:
            self._positions = {}
            if self._node is None and self._text is not None:
                self._node = _compose(self._text)
            if self._node is not None:
                # Duplicate keys were reported already (see parse_yaml): not again.
                _walk(self._node, self._positions, self._styles, [])
        return self._positions

    @property
    def styles(self) -> dict[str, str]:
        """score path -> scalar style ("|", ">", "'", '"' or "" for plain) of strings."""
        self.positions  # noqa: B018 - walks the tree once
        return self._styles

    def locate(self, path: str, *, at_key: bool = False) -> Position | None:
        """Where ``path`` is written; a missing path falls back to its nearest parent."""
        probe = path
        while True:
            found = self.positions.get(probe)
            if found is not None:
                return found[0] if at_key and probe == path else found[1]
            if not probe:
                return None
            probe = _parent(probe)

    def locate_in_value(self, path: str, value_line: int) -> Position | None:
        """Where line ``value_line`` (1-based) of the string at ``path`` is in the file."""
        found = self.positions.get(path)
        if found is None:
            return self.locate(path)
        start = found[1]
        if self.styles.get(path) in ("|", ">"):  # block scalars start on the next line
            return Position(start.line + value_line, 1)
        if value_line == 1:
            return start
        return Position(start.line + value_line - 1, 1)


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


class YamlSyntaxError(ValueError):
    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.position = position


# Bounds of the memo of resolved tags: how many, and the longest value kept.
_RESOLVED_KEPT = 4096
_RESOLVED_LONGEST = 200
_MEMO_LOADERS: dict[type[yaml.SafeLoader], type[yaml.SafeLoader]] = {}


def _memo_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    memo = _MEMO_LOADERS.get(base)
    if memo is None:
        memo = _MEMO_LOADERS[base] = _make_memo_loader(base)
    return memo


def _make_memo_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``base`` with its implicit tag resolution memoised: a score repeats the same keys
    and values, and each resolution tries regular expressions in Python. Without path
    resolvers (none are registered) it depends only on its arguments."""
    if base.yaml_path_resolvers:  # pragma: no cover - nothing registers one
        return base
    resolved: dict[tuple[Any, ...], str] = {}

    class MemoLoader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if value is not None and len(value) > _RESOLVED_LONGEST:
                found: str = super().resolve(kind, value, implicit)
                return found
            key = (kind, value, implicit)
            tag = resolved.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(resolved) >= _RESOLVED_KEPT:
                    resolved.clear()
                resolved[key] = tag
            return tag

    return MemoLoader


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises YamlSyntaxError with the position of the problem."""
    data = parse_block(text, SafeLoader)
    if data is not None:
        return YamlDocument(data, text=text)
    loader = _memo_loader(SafeLoader)(text)
    try:
        node = loader.get_single_node()
        document = YamlDocument(data=None, node=node)
        if node is not None:
            try:
                document.data = _construct_plain(node)
            except _NotPlain:
                _refuse_recursion(node)
                # Found at once: a duplicate key is a problem whether or not another is.
                document._positions = {}
                _walk(node, document._positions, document._styles, document.problems)
                document.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _position(mark) if mark is not None else None
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(problem or str(exc), where) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), None) from None
    finally:
        loader.dispose()
    return document


def _compose(text: str) -> yaml.Node | None:
    """The node tree of a text that parse_block has read (so one PyYAML accepts too)."""
    loader = _memo_loader(SafeLoader)(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _refuse_recursion(root: yaml.Node) -> None:
    """Raise YamlSyntaxError if an alias refers to a node that contains it (``x: &a [*a]``):
    the data would contain itself, and every walk of it (positions, checks, rendering)
    would never end. Aliases elsewhere are fine."""
    on_path: set[int] = set()  # the nodes being walked (ancestors of the current one)
    done: set[int] = set()
    stack: list[tuple[yaml.Node, Iterator[yaml.Node]]] = []

    def children(node: yaml.Node) -> Iterator[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                yield key
                yield value
        elif isinstance(node, yaml.SequenceNode):
            yield from node.value

    def enter(node: yaml.Node) -> None:
        if id(node) in on_path:
            raise YamlSyntaxError(
                "an alias refers to a node that contains it (the data would contain itself)",
                _position(node.start_mark),
            )
        if id(node) in done or isinstance(node, yaml.ScalarNode):
            return
        on_path.add(id(node))
        stack.append((node, children(node)))

    enter(root)
    while stack:
        node, rest = stack[-1]
        child = next(rest, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            done.add(id(node))
        else:
            enter(child)


class _NotPlain(Exception):
    """The document needs PyYAML's generic constructor (or has a duplicate key)."""


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _construct_plain(root: yaml.Node) -> object:
    """What ``construct_document`` gives for a tree of maps, lists and plain scalars
    without anchors, merge keys or duplicate keys; raises _NotPlain for any other."""
    # Iterative: a deep document must not hit the recursion limit. Each collection is
    # filled in place; a node met twice is an alias (maybe of itself).
    result: list[object] = []
    stack: list[tuple[yaml.Node, list[object] | dict[object, object], object]] = []
    seen: set[int] = set()

    def build(node: yaml.Node) -> object:
        kind = node.__class__
        if kind is ScalarNode:
            if node.tag == _STR:
                return node.value
            scalar = SCALAR_CONSTRUCTORS.get(node.tag)
            if scalar is None:
                raise _NotPlain
            return scalar(SCALAR_CONSTRUCTOR, node)
        if id(node) in seen:
            raise _NotPlain
        seen.add(id(node))
        if kind is MappingNode and node.tag == _MAP:
            mapping: dict[object, object] = {}
            stack.append((node, mapping, None))
            return mapping
        if kind is SequenceNode and node.tag == _SEQ:
            sequence: list[object] = []
            stack.append((node, sequence, None))
            return sequence
        raise _NotPlain

    result.append(build(root))
    while stack:
        node, target, _ = stack.pop()
        if isinstance(target, list):
            for item in node.value:
                target.append(build(item))
            continue
        keys: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode:
                raise _NotPlain
            raw = key_node.value
            if raw == "<<" or raw in keys:
                raise _NotPlain
            keys.add(raw)
            key = build(key_node)
            target[key] = build(value_node)
    return result[0]


def _walk(
    node: yaml.Node,
    positions: dict[str, tuple[Position, Position]],
    styles: dict[str, str],
    problems: list[Problem],
) -> None:
    start = _position(node.start_mark)
    positions[""] = (start, start)
    # Iterative: a deep document must not hit the recursion limit.
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    while stack:
        current, here = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            styles[here] = current.style or ""
        elif isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue  # merge keys and complex keys: no position of their own
                key = key_node.value
                child = join_path(here, key)
                if key in seen:
                    where = _position(key_node.start_mark)
                    message = f"duplicate key `{key}` (the last one wins in YAML; remove one)"
                    problems.append(Problem("E106", child, message, True, where))
                    continue
                seen.add(key)
                positions[child] = (
                    _position(key_node.start_mark),
                    _position(value_node.start_mark),
                )
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = index_path(here, index)
                start = _position(item.start_mark)
                positions[child] = (start, start)
                stack.append((item, child))
