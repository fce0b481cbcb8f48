"""The score package works with the CLI's dependencies alone: it never imports the daemon."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# Third-party top-level modules the score package may load: PyYAML (its C loader brings
# cython_runtime), Jinja2 (with markupsafe), msgspec (with typing_extensions).
ALLOWED = {
    "mozart_protocol",
    "yaml",
    "cython_runtime",
    "jinja2",
    "markupsafe",
    "msgspec",
    "typing_extensions",
}

PROGRAM = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockDaemon(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"mozart_daemon", "mozart_cli"}:
                raise ImportError(f"{name} must not be imported by mozart_protocol.score")
            return None

    sys.meta_path.insert(0, BlockDaemon())
    from mozart_protocol.score import (
        applicable_rules, build_plan, load_score, render_prompt, resolve_workspace,
        sheet_context, validate_score_file,
    )

    path = sys.argv[1]
    report = validate_score_file(path)
    assert report.ok, [f.format() for f in report.findings]
    loaded = load_score(path)
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 1, workspace=resolve_workspace(loaded),
                            job_id="j", attempt=1)
    render_prompt(loaded, context, applicable_rules(loaded.score, context))
    third_party = sorted(
        name for name in {m.split(".")[0] for m in sys.modules}
        if name not in sys.stdlib_module_names and not name.startswith("_")
    )
    print(" ".join(third_party))
    """
)


def test_score_package_needs_no_daemon(tmp_path: Path) -> None:
    score = tmp_path / "s.yaml"
    score.write_text(
        "name: s\nsheet: {size: 1, total_items: 2}\nprompt: {template: 'x {{ sheet_num }}'}\n"
        "backend: {type: command, command: 'true'}\n"
        "validations: [{type: file_exists, path: '{workspace}/x'}]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(score)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "mozart_daemon" not in loaded
    assert loaded <= ALLOWED, loaded - ALLOWED
