"""Start-up cost: commands load only what they use (no YAML, Jinja2 or Rich for status/list)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import sys
sys.argv = ["mozart", *sys.argv[1:]]
from mozart_cli.app import app
try:
    app()
except SystemExit:
    pass
heavy = {"yaml", "jinja2", "rich", "pygments", "markdown_it", "pydantic", "mozart_daemon"}
print(sorted({m.split(".")[0] for m in sys.modules} & heavy), file=sys.stderr)
"""


def loaded_heavy_modules(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["status"], ["list"], ["logs", "j"]])
def test_light_commands_do_not_load_score_or_rich(args: Any, tmp_path: Path) -> None:
    env = {"MOZART_SOCKET": str(tmp_path / "none.sock"), "PATH": "/usr/bin:/bin"}
    assert loaded_heavy_modules(*args, env=env) == "[]"


def test_validate_loads_the_score_library_but_not_rich(tmp_path: Path) -> None:
    loaded = loaded_heavy_modules("validate", str(tmp_path / "missing.yaml"))
    assert "yaml" in loaded and "rich" not in loaded and "mozart_daemon" not in loaded


def test_console_script_prints_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mozart_cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("mozart ")
