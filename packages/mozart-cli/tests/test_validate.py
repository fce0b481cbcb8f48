"""`mozart validate`: findings with code, severity, location; exit 0/1/2; clean --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_valid_score_exits_0(cli: Any, score_file: Any, valid_score: Any) -> None:
    path = score_file(valid_score)
    result = cli("validate", str(path))
    assert result.exit_code == 0
    assert "valid" in result.stdout
    assert "demo" in result.stdout


def test_example_hello_validates_cleanly(cli: Any, hello: Any) -> None:
    result = cli("validate", "--json", str(hello))
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["findings"] == []


def test_errors_exit_1_and_name_code_location_message(
    cli: Any, score_file: Any, valid_score: Any
) -> None:
    path = score_file(valid_score.replace("size: 1", "size: 0"))
    result = cli("validate", str(path))
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if "E104" in line)
    # file:line:column: severity CODE path: message
    assert "score.yaml:6:" in line
    assert "error E104" in line
    assert "sheet.size" in line
    assert "invalid" in result.stdout


def test_warnings_alone_still_exit_0(cli: Any, score_file: Any, valid_score: Any) -> None:
    path = score_file(valid_score + "concert: {}\n")
    result = cli("validate", str(path))
    assert result.exit_code == 0
    assert "warning W101" in result.stdout
    assert "1 warning" in result.stdout


def test_unreadable_file_exits_2(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert "E001" in result.stdout


def test_yaml_syntax_error_exits_2(cli: Any, score_file: Any, valid_score: Any) -> None:
    path = score_file("name: [unclosed\n")
    result = cli("validate", str(path))
    assert result.exit_code == 2
    assert "E002" in result.stdout


def test_json_is_clean_and_complete(cli: Any, score_file: Any, valid_score: Any) -> None:
    path = score_file(valid_score.replace("size: 1", "size: 0") + "cross_sheet: {}\n")
    result = cli("validate", "--json", str(path))
    assert result.exit_code == 1
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["errors"] == 1
    assert report["warnings"] == 1
    codes = {f["code"]: f for f in report["findings"]}
    assert codes["E104"]["severity"] == "error"
    assert codes["E104"]["line"] == 6
    assert codes["E104"]["column"] is not None
    assert codes["E104"]["file"] == str(path)
    assert codes["W101"]["severity"] == "warning"


def test_json_for_unreadable_file(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", "--json", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["readable"] is False
