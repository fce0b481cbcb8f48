"""scripts/codegen.py: the committed files are what the schema generates, and `check`
notices every kind of drift (changed, missing, stray file)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import schema_check

ROOT = schema_check.ROOT


def load_codegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codegen", ROOT / "scripts" / "codegen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> tuple[ModuleType, dict[Path, str]]:
    codegen = load_codegen()
    return codegen, codegen.generate_all()


def test_committed_files_match_the_schema(generated: tuple[ModuleType, dict[Path, str]]) -> None:
    codegen, files = generated
    stale = [str(p.relative_to(ROOT)) for p, text in files.items() if p.read_text() != text]
    assert stale == [], "run `nox -s codegen`"
    assert codegen.GENERATED / "models.py" in files and ROOT / "docs" / "protocol.md" in files


def test_generation_is_byte_stable(generated: tuple[ModuleType, dict[Path, str]]) -> None:
    codegen, files = generated
    assert codegen.generate_all() == files
    for path, text in files.items():
        if path.suffix == ".py":
            assert text.startswith("# Generated from schema/rpc.schema.json by `nox -s codegen`")
            assert "UNSET" not in text and "20" + "26-" not in text  # no timestamps


def test_check_reports_every_drift(
    generated: tuple[ModuleType, dict[Path, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codegen, files = generated
    copies = {tmp_path / p.relative_to(ROOT): text for p, text in files.items()}
    for path, text in copies.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(codegen, "ROOT", tmp_path)
    monkeypatch.setattr(codegen, "GENERATED", tmp_path / codegen.GENERATED.relative_to(ROOT))
    assert codegen.check(copies) == []  # (not a git checkout: tracking is not checked)

    models = codegen.GENERATED / "models.py"
    models.write_text(models.read_text() + "\n# hand edit\n")
    (codegen.GENERATED / "extra.py").write_text("x = 1\n")
    (tmp_path / "docs" / "protocol.md").unlink()
    problems = codegen.check(copies)
    assert any(p.startswith("differs") and "models.py" in p for p in problems)
    assert any(p.startswith("not generated") and "extra.py" in p for p in problems)
    assert any(p.startswith("missing") and "protocol.md" in p for p in problems)


def test_check_command_passes_on_this_checkout() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/codegen.py", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
