"""Pinned results of loading a corpus of good, bad and odd scores: every finding (code,
severity, line, column, path, message), the decoded score and the parsed YAML data.

``data/pinned_scores.json`` holds the corpus and what loading it gave; a faster loader
must give exactly the same. Regenerate it only for an intended change of behaviour::

    python packages/mozart-protocol/tests/score/test_score_pinned.py --regenerate
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from mozart_protocol.score import ScoreError, load_score, resolve_path, validate_score_file
from mozart_protocol.score.yamlsource import YamlSyntaxError, parse_yaml

from .conftest import value_types  # type: ignore[import-not-found]

DATA = Path(__file__).parent / "data" / "pinned_scores.json"
CORPUS: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))


def _outcome(text: str, directory: Path) -> dict[str, Any]:
    path = directory / "score.yaml"
    path.write_bytes(text.encode("utf-8"))

    def clean(value: str) -> str:
        return value.replace(str(directory), "<dir>")

    report = validate_score_file(path)
    findings = [
        [f.code, f.severity, f.line, f.column, f.path, clean(f.message), clean(f.file)]
        for f in report.findings
    ]
    outcome: dict[str, Any] = {"findings": findings, "ok": report.ok}
    try:
        loaded = load_score(path, text=text)
    except ScoreError as exc:
        outcome["error"] = clean(str(exc))
    else:
        outcome["score"] = msgspec.to_builtins(loaded.score)
        outcome["warnings"] = [[w.code, w.line, w.column, w.path] for w in loaded.warnings]
    return outcome


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_loading_gives_the_pinned_findings_and_score(case: dict[str, Any], tmp_path: Path) -> None:
    # Through JSON as the pinned file was: integer keys become strings, bytes base64.
    got = json.loads(json.dumps(_outcome(case["text"], tmp_path), default=_plain))
    assert got == case["expected"]


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_parsed_data_is_what_the_safe_loader_gives(case: dict[str, Any]) -> None:
    """Same values, types, key order and YAML 1.1 readings as PyYAML's SafeLoader."""
    try:
        expected = yaml.load(case["text"], Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        with pytest.raises(YamlSyntaxError):
            parse_yaml(case["text"])
        return
    got = parse_yaml(case["text"]).data
    assert repr(got) == repr(expected)
    assert value_types(got) == value_types(expected)


# Plain YAML (not scores) whose construction has corners: YAML 1.1 scalars, tags, keys
# that construct equal, merge and value keys, aliases.
SNIPPETS = [
    "a: [yes, No, on, OFF, y, n, True, false, ~, null, Null, '', \"\"]",
    "a: [0x1F, -0x1f, 0o17, 017, 0b101, -0b1, 1_000, +12, 190:20:30, -1:00, 0, -0, 08]",
    "a: [1.5, .5, 1., 1e3, 1.0e3, 1.0e+3, -1.5E-3, .inf, -.Inf, +.INF, 1_0.5, 190:20:30.15]",
    "a: [2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10, 2002-1-1]",
    "a: [!!str 1, !!int '7', !!float '2', !!bool 'yes', !!null '', ! x, !!str]",
    "{1: a, 0x1: b, '1': c, yes: d, true: e, 1.0: f, null: g, ~: h, '': i}",
    "a: &x {p: 1}\nb: *x\nc: {<<: *x, q: 2}\nd: {<<: [*x, {r: 3}], p: 0}",
    "a: &s hello\nb: *s\nc: [*s, *s]",
    "'<<': 1\nb: 2",
    "!!merge a: {x: 1}\nb: 2",
    "=: 1\nb: =",
    "? [a, b]\n: 1",
    "? {a: 1}\n: 1",
    "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [{x: 1}]\nd: !!pairs [{x: 1}, {x: 2}]",
    "a: !!seq [1]\nb: !!map {c: 1}\nc: !!str [1]",
    "a: 1\na: 2",
    "a: {b: 1, b: 2, c: {d: 1, d: 2}}\nc: [{e: 1, e: 2}]",
    "a: |\n  x\n  y\nb: >-\n  p\n  q\nc: 'it''s'\nd: \"\\t\\u00e9\"",
    "- a\n- - b\n  - {c: [d, {e: f}]}",
    "[" * 200 + "]" * 200,
    "a: !custom x",
    "--- a\n--- b",
    "",
    "# only a comment",
    "a: [1, 2",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippet_data_is_what_the_safe_loader_gives(text: str) -> None:
    test_parsed_data_is_what_the_safe_loader_gives({"text": text})


def _plain(value: object) -> object:
    return msgspec.to_builtins(value)


def _regenerate() -> None:  # pragma: no cover - run by hand
    """Recompute every case's expected outcome (the texts stay; add cases by hand)."""
    corpus = []
    for case in CORPUS:
        with tempfile.TemporaryDirectory() as directory:
            expected = _outcome(case["text"], Path(directory))
        corpus.append({**case, "expected": expected})
    text = json.dumps(corpus, indent=1, ensure_ascii=False, default=_plain) + "\n"
    DATA.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] == ["--regenerate"]:
        _regenerate()


@pytest.mark.parametrize("base", ["/s/d", "/", "rel/d", ".", "", "//two"])
@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "w", "./w/", "a//b/./c/..", "/abs/x", "//abs", "~", "~/w", "~nobody/w",
     "../../../../x", "w\x00"],
)  # fmt: skip
def test_resolve_path_is_the_path_objects_result(base: str, value: str) -> None:
    """resolve_path works on strings; Path objects (its first form) must agree."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = Path(base) / path
    assert resolve_path(Path(base), value) == Path(os.path.normpath(path))
    assert str(resolve_path(Path(base), value)) == os.path.normpath(path)
