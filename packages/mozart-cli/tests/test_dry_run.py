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
    assert sheets[1]["waits_for"] == [] and sheets[1]["waits_for_count"] == 0
    assert sheets[2]["waits_for"] == [[1, 1]] and sheets[2]["waits_for_count"] == 1
    # N -> 1 waits for every instance: one inclusive range, not every number
    assert sheets[5]["waits_for"] == [[2, 4]] and sheets[5]["waits_for_count"] == 3
    assert "dependencies" not in sheets[5]
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


def test_long_dependency_lists_are_summarised() -> None:
    from mozart_cli.commands.plan import ranges, waits_for_text

    assert ranges([5, 1, 2, 3, 3]) == [[1, 3], [5, 5]]
    assert waits_for_text(()) == "-"
    assert waits_for_text((1,)) == "1"
    assert waits_for_text(tuple(range(2, 10_000))) == "2-9999"
    assert waits_for_text((1, 3, 5, 6, 7)) == "1, 3, 5-7"
    evens = tuple(range(2, 10_001, 2))
    text = waits_for_text(evens)
    assert text.startswith("2, 4, 6, ") and text.endswith(", … (5,000 sheets)")
    assert len(text) < 50


def test_dry_run_of_a_large_fan_in_stays_narrow(cli: Any, score_file: Any) -> None:
    """A 1,000-instance fan-out then a merge: every row stays narrow (the merge sheet's
    WAITS FOR cell used to list every instance and pad every row to its width)."""
    path = score_file(FAN_OUT.replace("fan_out: {2: 3}", "fan_out: {2: 1000}"))
    result = cli("run", "-n", str(path))
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert len(rows) == 1002
    assert max(len(line) for line in rows) < 60
    assert rows[-1].split()[4] == "2-1001"
    plan = json.loads(cli("run", "-n", "--json", str(path)).stdout)
    assert plan["sheets"][-1]["waits_for"] == [[2, 1001]]
    assert plan["sheets"][-1]["waits_for_count"] == 1000
