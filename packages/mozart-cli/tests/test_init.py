"""`mozart init`: a starter score that validates and plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_init_writes_a_score_that_validates(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "My Score.yaml"
    result = cli("init", str(target))
    assert result.exit_code == 0, result.output
    assert target.exists()
    check = cli("validate", "--json", str(target))
    assert check.exit_code == 0
    assert json.loads(check.stdout)["findings"] == []
    plan = json.loads(cli("run", "-n", "--json", str(target)).stdout)
    assert plan["name"] == "My-Score"
    assert plan["backend"] == "command"
    assert plan["total_sheets"] == 3


def test_init_refuses_to_overwrite_without_force(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "score.yaml"
    target.write_text("keep me")
    result = cli("init", str(target))
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert target.read_text() == "keep me"
    assert cli("init", "--force", "--name", "job1", str(target)).exit_code == 0
    assert "name: job1" in target.read_text()


def test_init_rejects_invalid_name(cli: Any, tmp_path: Path) -> None:
    result = cli("init", "--name", "-bad name", str(tmp_path / "s.yaml"))
    assert result.exit_code == 2
    assert not (tmp_path / "s.yaml").exists()
