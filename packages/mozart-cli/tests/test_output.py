"""Colour rules, tables and durations."""

from __future__ import annotations

import io

import pytest
from mozart_cli import output


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert output.colour_enabled(Tty())
    assert not output.colour_enabled(io.StringIO())
    assert "\x1b[" in output.style("x", "red", stream=Tty())
    monkeypatch.setenv("NO_COLOR", "")
    assert not output.colour_enabled(Tty())
    assert output.style("x", "red", stream=Tty()) == "x"


def test_dumb_terminal_has_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "dumb")
    assert not output.colour_enabled(Tty())


def test_table_aligns_on_visible_width() -> None:
    coloured = "\x1b[32mok\x1b[0m"
    lines = output.table(["A", "B"], [[coloured, "1"], ["longer", "2"]])
    assert lines[1] == coloured + " " * 6 + "1"
    assert lines[2] == "longer  2"


def test_durations() -> None:
    assert output.format_duration(None) == "-"
    assert output.format_duration(4.25) == "4.2s"
    assert output.format_duration(42) == "42s"
    assert output.format_duration(185) == "3m 05s"
    assert output.format_duration(8100) == "2h 15m"
