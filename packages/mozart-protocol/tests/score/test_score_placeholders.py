"""`{name}` placeholders in validation paths and commands, with shell quoting."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from mozart_protocol.score import PlaceholderError, format_placeholders, placeholder_names

CONTEXT: dict[str, object] = {"workspace": "/tmp/my work", "sheet_num": 7, "name": "a'b; rm -rf /"}


def test_plain_substitution() -> None:
    assert (
        format_placeholders("{workspace}/sheet-{sheet_num}.md", CONTEXT)
        == "/tmp/my work/sheet-7.md"
    )


def test_format_spec() -> None:
    assert (
        format_placeholders("{workspace}/sheet-{sheet_num:02d}.md", CONTEXT)
        == "/tmp/my work/sheet-07.md"
    )


def test_literal_braces() -> None:
    assert format_placeholders("{{x}} {sheet_num}", CONTEXT) == "{x} 7"


def test_shell_quote_quotes_values_not_the_template() -> None:
    command = format_placeholders(
        "test -f {workspace}/out && echo {name}", CONTEXT, shell_quote=True
    )
    assert command == "test -f '/tmp/my work'/out && echo " + shlex.quote("a'b; rm -rf /")


def test_shell_quoted_value_survives_the_shell() -> None:
    command = format_placeholders("printf %s {name}", CONTEXT, shell_quote=True)
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True)
    assert out.stdout == "a'b; rm -rf /"


def test_no_quoting_for_plain_values_that_need_none() -> None:
    assert format_placeholders("n={sheet_num}", CONTEXT, shell_quote=True) == "n=7"


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("{missing}", "unknown placeholder"),
        ("{workspace.upper}", "plain name"),
        ("{0}", "plain name"),
        ("{}", "plain name"),
        ("{workspace[0]}", "plain name"),
        ("{sheet_num:zz}", "cannot format"),
        ("{sheet_num", "malformed|expected"),
    ],
)
def test_errors(template: str, match: str) -> None:
    with pytest.raises(PlaceholderError, match=match):
        format_placeholders(template, CONTEXT)


def test_placeholder_names() -> None:
    assert placeholder_names("{workspace}/{sheet_num:03d}-{stage}{{not}}") == [
        "workspace",
        "sheet_num",
        "stage",
    ]
    with pytest.raises(PlaceholderError):
        placeholder_names("{a.b}")
