"""Every daemon error code maps to a message and an exit code; docs list the same codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from mozart_cli import exit_codes
from mozart_cli.daemon import ERROR_MEANINGS, describe_rpc_error

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def test_domain_errors_have_distinct_exit_codes() -> None:
    assert ERROR_MEANINGS[-32001].exit_code == exit_codes.JOB_NOT_FOUND
    assert ERROR_MEANINGS[-32003].exit_code == exit_codes.WRONG_STATE
    assert ERROR_MEANINGS[-32005].exit_code == exit_codes.BUSY
    assert ERROR_MEANINGS[-32007].exit_code == exit_codes.PERMISSION_DENIED
    assert exit_codes.FAILURE == 1  # the guide's "daemon not running" exit code


def test_messages_use_the_error_data() -> None:
    text, _, code = describe_rpc_error(
        -32003, "bad state", {"state": "paused", "action": "pause"}, job="j"
    )
    assert text == "Cannot pause job 'j': it is paused." and code == 4
    text, details, code = describe_rpc_error(-32002, "exists", {"state": "completed"}, job="j")
    assert "already exists" in text and "--fresh" in details[0] and code == 4
    text, _, code = describe_rpc_error(-32099, "something new", {})
    assert text == "something new" and code == exit_codes.FAILURE


def test_every_protocol_error_code_has_a_meaning() -> None:
    from mozart_protocol import errors

    codes = set(errors.ERRORS)  # the schema's x-mozart-errors table
    assert codes, "the protocol defines no error codes?"
    assert codes <= set(ERROR_MEANINGS)


def test_docs_list_every_exit_code() -> None:
    text = DOCS.read_text()
    for code in exit_codes.EXIT_CODES:
        assert f"\n| {code} |" in text


def test_docs_describe_every_command_and_option() -> None:
    import typer.main
    from mozart_cli.app import app

    text = DOCS.read_text()
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert set(commands) >= {"run", "validate", "status", "list", "pause", "logs", "init"}
    for name, command in commands.items():
        assert f"mozart {name}" in text, name
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option != "--help":
                    assert option in text, f"{name} {option}"


def test_docs_list_every_daemon_error_code() -> None:
    text = DOCS.read_text()
    for code in ERROR_MEANINGS:
        if code > -32100:  # the domain errors; the JSON-RPC standard ones share a row
            assert f"({code})" in text, code


def test_client_side_failures_by_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    from mozart_cli.daemon import report
    from mozart_protocol import errors

    assert report(errors.DaemonNotRunning("/s.sock", "connection refused"), socket=None) == 1
    text = capsys.readouterr().err
    assert text.startswith("Error: Mozart daemon is not running.\nStart it with: mozartd start\n")
    assert "/s.sock (connection refused)" in text

    denied = errors.DaemonNotRunning("/s.sock", "permission denied")
    assert report(denied, socket=None) == exit_codes.PERMISSION_DENIED
    text = capsys.readouterr().err
    assert "Permission denied on the daemon socket /s.sock" in text and "not running" not in text

    untrusted = errors.UntrustedDaemonError("/s.sock", server_uid=1234, our_uid=1000)
    assert report(untrusted, socket=None) == exit_codes.PERMISSION_DENIED
    assert "uid 1234" in capsys.readouterr().err

    timeout = errors.RpcTimeout("job.status", 30, "/s.sock")
    assert report(timeout, socket=None) == exit_codes.TIMEOUT
    assert "did not answer in time" in capsys.readouterr().err

    assert report(ConnectionResetError("reset"), socket=None) == exit_codes.FAILURE
    assert "Lost the connection" in capsys.readouterr().err
