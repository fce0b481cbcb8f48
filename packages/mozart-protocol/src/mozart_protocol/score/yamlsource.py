"""YAML text -> plain data plus a map from score paths to source positions.

The node tree is composed first (C loader when PyYAML has it), walked once to record the
position of every key and value under its score path (``sheet.size``,
``validations[1].pattern``), then constructed into plain Python data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import yaml

from mozart_protocol.score.findings import Problem, index_path, join_path

# The C loader is several times faster; the pure-Python one gives the same results.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Position(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class YamlDocument:
    data: object
    # score path -> (position of its key, position of its value); "" is the document.
    positions: dict[str, tuple[Position, Position]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # score path -> scalar style ("|", ">", "'", '"' or "" for plain) of string values.
    styles: dict[str, str] = field(default_factory=dict)

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


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document; raises YamlSyntaxError with the position of the problem."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        document = YamlDocument(data=None)
        if node is not None:
            start = _position(node.start_mark)
            document.positions[""] = (start, start)
            _walk(node, "", document)
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


def _walk(node: yaml.Node, path: str, document: YamlDocument) -> None:
    # Iterative: a deep document must not hit the recursion limit.
    stack: list[tuple[yaml.Node, str]] = [(node, path)]
    positions = document.positions
    while stack:
        current, here = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            document.styles[here] = current.style or ""
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
                    document.problems.append(Problem("E106", child, message, True, where))
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
