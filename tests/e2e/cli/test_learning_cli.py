"""``mozart patterns`` and ``mozart history`` against a real daemon: tables for people, and
``--json`` that is exactly the schema's result of learning.patterns and job.history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


def reply(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def test_patterns_and_history(daemon: Any, mozart: Any, tmp_path: Path) -> None:
    assert "No patterns yet" in mozart("patterns").stdout
    path = tmp_path / "never.yaml"
    path.write_text(
        "name: never\n"
        "workspace: ./ws\n"
        "backend: {type: command, command: 'echo working', timeout_seconds: 30}\n"
        "sheet: {size: 1, total_items: 1}\n"
        "prompt: {template: 'Write the report.'}\n"
        "validations: [{type: file_exists, path: '{workspace}/report.md'}]\n"
        "retry: {max_retries: 1, base_delay_seconds: 0.01, jitter: false}\n"
    )
    daemon.request("job.submit", {"config_path": str(path)})
    daemon.wait_job("never", "failed")

    patterns = mozart("patterns", "--json")
    assert patterns.returncode == 0, patterns.stderr
    daemon.check_reply("learning.patterns", reply(patterns.json()))
    [pattern] = patterns.json()["patterns"]
    assert (pattern["rule_type"], pattern["path"], pattern["occurrences"]) == (
        "file_exists",
        "{workspace}/report.md",
        2,
    )
    assert mozart("patterns", "--kind", "error", "--json").json() == {"patterns": []}
    table = mozart("patterns").stdout
    assert "file_exists {workspace}/report.md" in table and "EFFECTIVE" in table

    history = mozart("history", "never", "--json")
    assert history.returncode == 0, history.stderr
    daemon.check_reply("job.history", reply(history.json()))
    assert [(a["attempt"], a["outcome"]) for a in history.json()["attempts"]] == [
        (1, "failed"),
        (2, "failed"),
    ]
    lines = mozart("history", "never").stdout.splitlines()
    assert lines[0].split() == ["SHEET", "ATTEMPT", "KIND", "OUTCOME", "EXIT", "TIME",
                                "STARTED", "ERROR"]  # fmt: skip
    assert len(lines) == 3 and "validation failed" in lines[1]
    missing = mozart("history", "nope")
    assert missing.returncode == 3 and "nope" in missing.stderr
