"""Option values: ranges, choices and types are still enforced (without Pydantic)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--limit", "0"], "0 is not in the range 1<=x<=1000"),
        (["list", "--limit", "many"], "'many' is not a valid integer"),
        (["list", "--status", "bogus"], "'bogus' is not one of"),
        (["run", "-n", "--priority", "10", "x.yaml"], "10 is not in the range 0<=x<=9"),
        (["run", "-n", "--start-sheet", "0", "x.yaml"], "x>=1"),
        (["status", "j", "--interval", "fast"], "'fast' is not a valid float"),
    ],
)
def test_bad_values_are_usage_errors(cli: Any, args: Any, message: Any) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_status_choice_is_case_insensitive(cli: Any, fake_daemon: Any) -> None:
    fake_daemon.on("job.list", {"jobs": [], "next_cursor": None})
    result = cli("list", "--status", "Running", env=fake_daemon.env)
    assert result.exit_code == 0, result.stderr
    assert fake_daemon.calls[0][1]["status"] == "running"


def test_socket_comes_from_environment_variable(cli: Any, fake_daemon: Any) -> None:
    fake_daemon.on("job.list", {"jobs": [], "next_cursor": None})
    assert cli("list", env={"MOZART_SOCKET": fake_daemon.socket_path}).exit_code == 0
