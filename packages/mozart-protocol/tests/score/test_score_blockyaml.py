"""blockyaml reads the common shape of a score without PyYAML's node tree: sound only if,
for every text it reads, PyYAML gives the same data (values, types, key order) without a
problem, and it declines every text PyYAML refuses or reads otherwise. Checked here over
generated documents, near misses of them, and the pinned corpus in block style; the
findings of a score read either way are the same (positions come from PyYAML's tree)."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from mozart_protocol.score import blockyaml, validate_score_file, yamlsource
from mozart_protocol.score.blockyaml import parse_block
from mozart_protocol.score.yamlsource import SafeLoader, YamlSyntaxError, parse_yaml

from .conftest import value_types  # type: ignore[import-not-found]

CORPUS = json.loads(
    (Path(__file__).parent / "data" / "pinned_scores.json").read_text(encoding="utf-8")
)

# Scalars as written: YAML 1.1 readings, indicators, quotes, comments, and what is not a
# one-line scalar at all.
SCALARS = [
    "a", "x y", "a  b", "yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null",
    "Null", "0", "-1", "+1", "017", "08", "0x1F", "0o17", "0b101", "1_000", "190:20:30",
    "1.5", ".5", "1.", "1e3", "1.0e+3", "-1.5E-3", ".inf", "-.Inf", ".nan", "12e03",
    "2001-12-14", "2001-12-14 21:59:43.10", "=", "<<", "a#b", "a #b", "a # b", "a: b",
    "a:b", "a:", ":a", "http://h:80/x?y=1", "./ws/tp-00000", "~/w", "$HOME", "(x)",
    "sheet {{ sheet_num }}", "{{ x }}", "[a]", "{a: 1}", "a, b", "a [b], {c}", "-", "- a",
    "-a", "?", "? a", "?a", "&a x", "*a", "!!str 1", "!x", "|", ">", "|-", "%x", "@x",
    "`x", "'q'", '"d"', "'it''s'", "''", '""', "'a' b", "'a'b", "'a' # c", "'a'#c",
    '"a\\"b"', '"a\\tb"', '"a\\\\"', '"x" # c', "'x: y'", '"#"', "'", '"', "'a''", "x  ",
    "#", "a #", "...", "---", "x\ty", "\u00e9", "x\r", "a\\b", "it's", 'say "hi"', "a'b",
    "a,b", "a]", "a}", "1:2", "0.", "-.5", "+.5", "1__0", "0b", "0x", "TRUE", "tRUE", "--x",
    "-#", "-:", "- #", "---x", "-- -", "-0x1", "-1_0", "-~", "-x: y", "-'a'", "+", "+a",
]  # fmt: skip
KEYS = [
    "a", "b", "c", "name", "k_1", "1", "2", "0x1", "01", "1.5", "yes", "on", "n", "~",
    "null", "a.b", "a-b", "a b", "'q'", '"d"', "'a b'", "<<", "=", "-a", "2001-12-14",
    "a:", "x" * 130, "?", "a#b", "#a", "A", "_", "1_0", ".5", "$k", "(k)",
]  # fmt: skip
EDITS = " -:#'\"\n\tab1{}[],?&*!|>%@`~.\\"


def _pick(rng: random.Random, pool: list[str]) -> str:
    return rng.choice(pool[:12]) if rng.random() < 0.5 else rng.choice(pool)


def _after_colon(rng: random.Random) -> str:
    return rng.choice([" ", " ", " ", "  "])


def _comment(rng: random.Random) -> str:
    return rng.choice(["", "", "", "", " # c", "  #c", "#c", " #"])


def _mapping(rng: random.Random, column: int, depth: int, lines: list[str]) -> None:
    for _ in range(rng.randint(1, 4)):
        _entry(rng, " " * column + _pick(rng, KEYS) + ":", column, depth, lines)


def _entry(rng: random.Random, head: str, column: int, depth: int, lines: list[str]) -> None:
    """``head`` (``key:``) then its value: a scalar on the line or a block below."""
    roll = rng.random()
    if depth <= 0 or roll < 0.55:
        lines.append(head + _after_colon(rng) + _pick(rng, SCALARS) + _comment(rng))
    elif roll < 0.6:
        lines.append(head + _comment(rng))  # null
    elif roll < 0.8:
        lines.append(head + _comment(rng))
        _mapping(rng, column + rng.choice([1, 2, 2, 4]), depth - 1, lines)
    else:
        lines.append(head + _comment(rng))
        _sequence(rng, column + rng.choice([0, 0, 2, 3]), depth - 1, lines)
    if rng.random() < 0.1:
        lines.append(rng.choice(["", "   ", "# c", " " * column + "# c", "  # c"]))


def _sequence(rng: random.Random, column: int, depth: int, lines: list[str]) -> None:
    for _ in range(rng.randint(1, 3)):
        dash = " " * column + rng.choice(["- ", "- ", "-  ", "-   "])
        if rng.random() < 0.6 or depth <= 0:
            lines.append(dash + _pick(rng, SCALARS) + _comment(rng))
            continue
        inner = len(dash)
        _entry(rng, dash + _pick(rng, KEYS) + ":", inner, depth - 1, lines)
        for _ in range(rng.randint(0, 2)):
            _entry(rng, " " * inner + _pick(rng, KEYS) + ":", inner, depth - 1, lines)


def _document(rng: random.Random) -> str:
    lines: list[str] = []
    if rng.random() < 0.05:
        lines.append(rng.choice(["---", "# top", "%YAML 1.1\n---", ""]))
    _mapping(rng, rng.choice([0, 0, 0, 2]), rng.randint(0, 3), lines)
    text = "\n".join(lines) + rng.choice(["\n", "", "\n\n"])
    if rng.random() < 0.3:  # near misses: an edit or two anywhere
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(text) + 1)
            cut = rng.choice([0, 0, 1])
            text = text[:at] + rng.choice(["", rng.choice(EDITS)]) + text[at + cut :]
    return text


def _pyyaml(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, object]:
    """What parse_yaml gives through PyYAML alone: the data, or the syntax error."""
    with monkeypatch.context() as patch:
        patch.setattr(yamlsource, "parse_block", lambda text, loader: None)
        try:
            document = parse_yaml(text)
        except YamlSyntaxError:
            return "error", None
    if document.problems:
        return "problems", document.data
    return "data", document.data


def _compare(text: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether blockyaml read ``text``; asserts that it agrees with PyYAML when it did."""
    got = parse_block(text, SafeLoader)
    if got is None:
        return False
    outcome, expected = _pyyaml(text, monkeypatch)
    assert outcome == "data", text
    assert repr(got) == repr(expected), text
    assert value_types(got) == value_types(expected), text
    assert parse_yaml(text).data == got
    return True


def test_generated_documents_read_as_pyyaml_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261127)
    read = refused = 0
    for _ in range(6000):
        text = _document(rng)
        if _compare(text, monkeypatch):
            read += 1
        elif _pyyaml(text, monkeypatch)[0] != "data":
            refused += 1
    # Both sides are exercised: many texts read here, many declined that PyYAML refuses.
    assert read > 1000 and refused > 1000, (read, refused)


# Values that keep a `key: value` line's outline (nothing to elide would start otherwise).
OUTLINE_VALUES = [text for text in SCALARS if text[:1] not in ("", " ", "#")]


@pytest.mark.parametrize("filler_after", [blockyaml._FILLER_AFTER, 2])
def test_texts_of_an_outline_read_before_read_as_pyyaml_reads_them(
    filler_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text whose outline was read before is read by the builder made then (its plan, or
    the plan's filler once the outline has been read ``filler_after`` times): sound only
    if it agrees with PyYAML as a text read first does, whatever its elided values."""
    monkeypatch.setattr(blockyaml, "_FILLER_AFTER", filler_after)
    blockyaml._PLANS.clear()
    blockyaml._READS.clear()
    rng = random.Random(20261128)
    reused = 0
    for _ in range(1500):
        text = _document(rng)
        if parse_block(text, SafeLoader) is None:
            continue
        outline = blockyaml._VALUE.sub(blockyaml._ELIDED, text)
        for _ in range(3):
            sibling = blockyaml._VALUE.sub(lambda _: ": " + rng.choice(OUTLINE_VALUES), text)
            assert blockyaml._VALUE.sub(blockyaml._ELIDED, sibling) == outline, sibling
            if outline in blockyaml._PLANS and _compare(sibling, monkeypatch):
                reused += 1
    assert reused > 500, reused


@pytest.mark.parametrize("items", [blockyaml._FILLER_ITEMS, 0])
def test_an_outlines_filler_reads_what_its_plan_reads(
    items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From an outline's second text its plan's filler (code made for it; _fill itself past
    _FILLER_ITEMS) reads it: the same data and types as _fill, and refuses what _fill
    refuses, whatever values were read before; texts of none, one or many elided values."""
    monkeypatch.setattr(blockyaml, "_FILLER_ITEMS", items)
    rng = random.Random(20261129)
    texts = ["a:\n", "a: 1\n", "a: x\nb:\n- y\n", "s:\n- 'a'\n- b: c\n"]
    texts += [_document(rng) for _ in range(1500)]
    filled = 0
    for text in texts:
        parts = blockyaml._VALUE.split(text)
        try:
            plan = blockyaml._plan(text, parts)
        except blockyaml._NotBlock:
            continue
        fill = blockyaml._filler(plan)
        for _ in range(3):
            sibling = blockyaml._VALUE.sub(lambda _: ": " + rng.choice(OUTLINE_VALUES), text)
            elided = blockyaml._VALUE.split(sibling)[1::2]
            outcomes = []
            for read in (functools.partial(blockyaml._fill, plan), fill):
                if rng.random() < 0.5:
                    blockyaml._SCALARS.clear()
                try:
                    outcomes.append(read(elided))
                except blockyaml._NotBlock:
                    outcomes.append(None)
            assert repr(outcomes[1]) == repr(outcomes[0]), sibling
            assert value_types(outcomes[1]) == value_types(outcomes[0]), sibling
            filled += outcomes[0] is not None
    assert filled > 500, filled


# A text, and one of the same outline read after it: what the second reads as.
OUTLINE_TWINS = [
    ("a: x\nb: 1\n", "a: \nb: 1\n"),  # a value, then none (a trailing space)
    ("a: x\nb: 1\n", "a: #x\nb: 1\n"),  # a value, then a comment
    ("a: x\n", "a:  x\n"),  # the value after two spaces
    ("a: 'x: y'\n", "a: 'x: z'\n"),  # `: ` inside the value
    ("s:\n- a: b\n", "s:\n- a: 2\n"),
    ("a: b\n", "a: b: c\n"),  # refused by both
    ("a: 'x'\n", "a: 'x\n"),  # refused by both
    ("k: 1\nl: 2\n", "k: yes\nl: ~\n"),
]


@pytest.mark.parametrize(("first", "second"), OUTLINE_TWINS)
def test_a_text_read_after_one_of_its_outline(
    first: str, second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = parse_block(first, SafeLoader)
    assert read is None or read == yaml.load(first, Loader=yaml.SafeLoader)
    outcome, expected = _pyyaml(second, monkeypatch)
    blockyaml._SCALARS.clear()  # whatever it holds (it kept the null that `a:` reads as)
    got = parse_block(second, SafeLoader)
    if outcome == "data":
        assert repr(got) == repr(expected)
        assert value_types(got) == value_types(expected)
    else:
        assert got is None


@pytest.mark.parametrize("text", ["s:\n- 'a: b'\n", "k:  'a: b'\n"])
def test_a_value_its_outline_elides_part_of_is_left_to_pyyaml(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a value elided whole, nor the same in every text of the outline."""
    assert parse_block(text, SafeLoader) is None
    assert parse_yaml(text).data == _pyyaml(text, monkeypatch)[1]


@pytest.mark.parametrize("depth", [10, 150, 1200])
def test_deep_documents_are_left_to_pyyaml_past_a_depth(
    depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "".join(" " * level + "k:\n" for level in range(depth)) + " " * depth + "k: 1\n"
    assert (parse_block(text, SafeLoader) is None) == (depth > blockyaml._DEEPEST)
    outcome, expected = _pyyaml(text, monkeypatch)
    if outcome == "data":
        assert parse_yaml(text).data == expected
    else:  # libyaml's own limit
        with pytest.raises(YamlSyntaxError):
            parse_yaml(text)


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_the_pinned_corpus_in_block_style(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(case["text"], monkeypatch)
    try:
        data = yaml.load(case["text"], Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    if isinstance(data, dict):
        block = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=10**6)
        _compare(block, monkeypatch)


SCORE = """\
name: t
workspace: ./ws
backend:
  type: command
  command:
  - 'true'
sheet:
  size: 1
  total_items: 3
prompt:
  template: sheet {{ sheet_num }}
"""
BAD_SCORES = [
    SCORE.replace("size: 1", "size: 0"),  # E104 at a value
    SCORE.replace("sheet_num", "sheet_nun"),  # W204 inside the template
    SCORE.replace("name: t", "name: t\nnmae: u"),  # E101 at a key
    SCORE.replace("  type: command", "  type: commnd"),  # E105
    SCORE.replace("./ws", "./no/such/ws"),  # E501
    SCORE + "validations:\n- type: content_regex\n  path: x\n  pattern: '['\n",  # E301
    SCORE + "validations:\n  - type: file_exists\n    path: '{nope}'\n",  # E304 in a rule
    SCORE + "rate_limit:\n  detection_patterns:\n  - ok\n  - (\n",  # E301 in a list
    SCORE.replace("prompt:\n  template: sheet {{ sheet_num }}\n", "prompt:\n"),  # E103
    "  " + SCORE.replace("\n", "\n  ").replace("total_items: 3", "total_items: -1"),
]


@pytest.mark.parametrize("text", BAD_SCORES)
def test_findings_are_located_as_through_pyyaml(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_block(text, SafeLoader) is not None
    path = tmp_path / "score.yaml"
    path.write_text(text, encoding="utf-8")
    fast = validate_score_file(path).findings
    monkeypatch.setattr(yamlsource, "parse_block", lambda text, loader: None)
    assert fast == validate_score_file(path).findings
    assert fast and all(f.line is not None for f in fast)


def test_the_bench_score_is_read_here() -> None:
    document = parse_yaml(SCORE)
    assert document._node is None  # no tree composed while nothing asks for a position
    assert document.data == yaml.load(SCORE, Loader=yaml.SafeLoader)
    assert document.locate("sheet.size") == (8, 9)


def test_a_plain_scalar_no_resolver_pattern_matches_is_a_string() -> None:
    """blockyaml skips the resolver for such a scalar: sound only if it would say str."""
    resolver = yaml.resolver.Resolver()
    for text in [*SCALARS, *KEYS, "tp-00001", "./ws/tp-00001", "command", "a.b-c_d"]:
        if blockyaml._IMPLICIT.match(text) is None:
            tag = resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
            assert tag == "tag:yaml.org,2002:str", text


def test_a_value_not_read_before_reads_as_value_reads_it() -> None:
    """The memo's own reading of a one-word value (``__missing__``) is _value's: the same
    value and type, or the same refusal."""
    words = ["tp-00001", "./ws/tp-00001", "command", "a.b-c_d", "-x", "x-", "~", "~a", "+1"]
    for text in [*SCALARS, *KEYS, *words, "yes", "Null", "0x1F", "1_000", ".5", "+.inf"]:
        if not text or text[0] in " #":
            continue
        outcomes = []
        for read in (blockyaml._SCALARS.__getitem__, blockyaml._value):
            blockyaml._SCALARS.clear()
            try:
                value: object = read(text)
            except blockyaml._NotBlock:
                value = blockyaml._NotBlock
            outcomes.append((repr(value), type(value)))
        assert outcomes[0] == outcomes[1], text


def test_scalars_read_before_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo of scalars' values, hit: the same data (and types) as the first reading,
    as a key, as a value and as a sequence entry, and after the memo was emptied."""
    lines = [f"k{i}: {text}" for i, text in enumerate(SCALARS)]
    lines += [f"{key}: 1" for key in KEYS]
    lines += [f"seq:\n- {text}" for text in SCALARS]
    for line in lines:
        first = parse_block(line + "\n", SafeLoader)
        again = parse_block(line + "\n", SafeLoader)
        assert repr(again) == repr(first), line
        assert value_types(again) == value_types(first), line
        blockyaml._SCALARS.clear()
        assert repr(parse_block(line + "\n", SafeLoader)) == repr(first), line


TWICE = [
    "a: 1\na: 2\n",
    "1: a\n01: b\n",
    "yes: a\non: b\n",
    "1: a\ntrue: b\n",
    "s:\n  x:\n  x: 1\n",
]


@pytest.mark.parametrize("text", TWICE)
def test_keys_written_twice_or_read_the_same_are_left_to_pyyaml(text: str) -> None:
    assert parse_block(text, SafeLoader) is None
    assert parse_yaml(text).data == yaml.load(text, Loader=yaml.SafeLoader)
