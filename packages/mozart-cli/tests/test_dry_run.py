"""`mozart run --dry-run`: the plan without a daemon (and without contacting one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAN_OUT = """\
name: fan
backend: {type: command, command: "true"}
sheet:
  size: 1
  total_items: 3
  fan_out: {2: 3}
prompt: {template: "stage {{ stage }}"}
validations:
  - type: file_exists
    path: "{workspace}/s{stage}-{instance}.txt"
    condition: "stage == 2"
"""


def test_dry_run_prints_plan_without_daemon(
    cli: Any, score_file: Any, valid_score: Any, tmp_path: Path
) -> None:
    path = score_file(valid_score)
    # A socket that cannot exist: the dry run must not try to reach a daemon.
    env = {"MOZART_SOCKET": str(tmp_path / "absent.sock")}
    result = cli("run", "--dry-run", str(path), env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "job 'demo', 3 sheet(s)" in out
    assert "nothing was run" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    # SHEET ITEMS WAITS-FOR VALIDATIONS: sequential, and rule #2 only on sheet 3.
    assert rows[0] == ["1", "1", "-", "#1"]
    assert rows[1] == ["2", "2", "1", "#1"]
    assert rows[2] == ["3", "3", "2", "#1,", "#2"]
    assert "when sheet_num == 3" in out


def test_dry_run_json_shows_fan_out_stages_and_dependencies(cli: Any, score_file: Any) -> None:
    path = score_file(FAN_OUT)
    result = cli("run", "-n", "--json", str(path))
    assert result.exit_code == 0
    assert result.stderr == ""
    plan = json.loads(result.stdout)
    assert plan["total_sheets"] == 5
    assert plan["total_stages"] == 3
    sheets = {s["sheet_num"]: s for s in plan["sheets"]}
    assert [sheets[n]["stage"] for n in range(1, 6)] == [1, 2, 2, 2, 3]
    assert sheets[3]["instance"] == 2 and sheets[3]["fan_count"] == 3
    assert sheets[2]["dependencies"] == [1]
    assert sheets[5]["dependencies"] == [2, 3, 4]  # N -> 1 waits for every instance
    assert sheets[2]["validations"] == [1] and sheets[1]["validations"] == []


def test_dry_run_text_has_stage_columns_for_fan_out(cli: Any, score_file: Any) -> None:
    result = cli("run", "-n", str(score_file(FAN_OUT)))
    assert result.exit_code == 0
    assert "STAGE" in result.stdout and "INSTANCE" in result.stdout
    assert "2/3" in result.stdout


def test_dry_run_of_invalid_score_exits_1_with_findings(
    cli: Any, score_file: Any, valid_score: Any
) -> None:
    path = score_file(valid_score.replace("size: 1", "size: 0"))
    result = cli("run", "--dry-run", str(path))
    assert result.exit_code == 1
    assert "E104" in result.stderr
    assert result.stdout == ""


def test_dry_run_of_missing_file_exits_2(cli: Any, tmp_path: Path) -> None:
    result = cli("run", "--dry-run", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "E001" in result.stderr


def test_dry_run_start_sheet_beyond_plan_is_usage_error(
    cli: Any, score_file: Any, valid_score: Any
) -> None:
    result = cli("run", "-n", "--start-sheet", "9", str(score_file(valid_score)))
    assert result.exit_code == 2
    assert "3 sheet(s)" in result.stderr


def test_escalation_is_refused_with_explanation(
    cli: Any, score_file: Any, valid_score: Any
) -> None:
    result = cli("run", "--escalation", str(score_file(valid_score)))
    assert result.exit_code == 2
    assert "--escalation is incompatible with daemon mode" in result.stderr
    assert "interactive console prompts" in result.stderr
    assert result.stdout == ""
