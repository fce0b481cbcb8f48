"""Pinned results of loading a corpus of good, bad and odd scores: every finding (code,
severity, line, column, path, message), the decoded score and the parsed YAML data.

``data/pinned_scores.json`` holds the corpus and what loading it gave; a faster loader
must give exactly the same. Regenerate it only for an intended change of behaviour::

    python packages/mozart-protocol/tests/score/test_score_pinned.py --regenerate
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from mozart_protocol.score import ScoreError, load_score, validate_score_file
from mozart_protocol.score.yamlsource import YamlSyntaxError, parse_yaml

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
    assert _types(got) == _types(expected)


def _plain(value: object) -> object:
    return msgspec.to_builtins(value)


def _types(value: object) -> object:
    if isinstance(value, dict):
        return [(type(k).__name__, _types(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


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
