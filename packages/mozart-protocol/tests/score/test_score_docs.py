"""docs/scores.md: every YAML example loads and validates; its code table matches the code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from mozart_protocol.score import FINDING_CODES, model, validate_score_file

ROOT = Path(__file__).resolve().parents[4]
DOC = ROOT / "docs" / "scores.md"
SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schema" / "score.schema.json").read_text())
)
BASE: dict[str, Any] = {
    "name": "fragment",
    "sheet": {"size": 1, "total_items": 4},
    "prompt": {"template": "Sheet {{ sheet_num }}"},
    "backend": {"type": "command", "command": "true"},
}


def yaml_blocks() -> list[tuple[int, str]]:
    text = DOC.read_text()
    blocks = []
    for match in re.finditer(r"^```yaml\n(.*?)^```$", text, re.DOTALL | re.MULTILINE):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match.group(1)))
    return blocks


BLOCKS = yaml_blocks()


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("line", "block"), BLOCKS, ids=[f"line-{line}" for line, _ in BLOCKS])
def test_example(tmp_path: Path, line: int, block: str) -> None:
    shutil.copytree(ROOT / "examples" / "prompts", tmp_path / "prompts")
    data = yaml.safe_load(block)
    assert isinstance(data, dict)
    expect = re.match(r"# expect: (.*)", block)
    if "name" in data:
        text = block
    else:  # a fragment: shown inside a minimal score
        text = yaml.safe_dump({**BASE, **data}, sort_keys=False)
        data = yaml.safe_load(text)
    path = tmp_path / "score.yaml"
    path.write_text(text)
    report = validate_score_file(path)
    schema_errors = list(SCHEMA.iter_errors(json.loads(json.dumps(data))))
    if expect:
        assert {f.code for f in report.errors} == set(expect.group(1).split())
        assert schema_errors
    else:
        assert not report.errors, [f.format() for f in report.findings]
        assert not schema_errors, [e.message for e in schema_errors]


def test_not_implemented_example_warns(tmp_path: Path) -> None:
    block = next(b for _, b in BLOCKS if "older-score" in b)
    path = tmp_path / "older.yaml"
    path.write_text(block)
    report = validate_score_file(path)
    assert report.ok
    assert {(f.code, f.path) for f in report.warnings} == {
        ("W101", "concert"),
        ("W101", "sheet.skip_when"),
    }


def test_finding_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| ([EW]\d{3}) \| ([a-z-]+) \|", DOC.read_text(), re.MULTILINE)
    assert dict(rows) == FINDING_CODES


def test_not_implemented_list_matches_the_model() -> None:
    section = DOC.read_text().split("## Keys that are not implemented yet", 1)[1]
    section = section.split("```", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", section))
    expected = (
        model.NOT_IMPLEMENTED_TOP_LEVEL
        | model.NOT_IMPLEMENTED_SHEET
        | model.NOT_IMPLEMENTED_RULE
        | model.NOT_IMPLEMENTED_HOOK
    )
    learning = DOC.read_text().split("## Learning", 1)[1].split("## ", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", learning)) >= model.NOT_IMPLEMENTED_LEARNING
    not_implemented_types = {"slack", "email"}
    assert named - {"sheet"} - not_implemented_types == expected
