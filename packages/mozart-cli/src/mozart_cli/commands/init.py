"""``mozart init [PATH]``: write a starter score that validates and runs without an API key."""

from __future__ import annotations

import os
import re

from mozart_cli import exit_codes
from mozart_cli.output import error, out, style

STARTER = """\
# A Mozart score: the work is cut into sheets; each sheet renders the prompt, runs the
# backend, and succeeds only when its validations pass (otherwise it is retried).
# Check it with `mozart validate {path}`, see its plan with `mozart run -n {path}`,
# run it with `mozart run {path} --follow` (needs `mozartd start`). docs/scores.md
# describes every field.
name: {name}
description: A starter score - replace the command with your agent.
workspace: ./{name}-workspace

backend:
  # `command` runs any program with the prompt on stdin (and in $MOZART_PROMPT_FILE).
  # Swap in `type: claude_cli` to have Claude Code do the work.
  type: command
  timeout_seconds: 300
  command: >-
    cat "$MOZART_PROMPT_FILE" > "$MOZART_WORKSPACE/sheet-$MOZART_SHEET_NUM.md"

sheet:
  size: 1           # items per sheet
  total_items: 3    # -> 3 sheets, run one after the other

prompt:
  variables:
    topic: the Mozart score format
  template: |
    Write part {{{{ sheet_num }}}} of {{{{ total_sheets }}}} of a short note about {{{{ topic }}}}.
    Save it as {{{{ workspace }}}}/sheet-{{{{ sheet_num }}}}.md.

validations:
  - type: file_exists
    path: "{{workspace}}/sheet-{{sheet_num}}.md"
    description: the sheet's note exists

retry:
  max_retries: 2
  base_delay_seconds: 5
"""


def job_name(path: str) -> str:
    """A valid job name from the file name (``My Score.yaml`` -> ``My-Score``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip("._-")[:128]
    return name or "my-score"


def main(path: str, *, name: str | None, force: bool) -> int:
    from mozart_protocol.score import validate_score_file

    chosen = name if name is not None else job_name(path)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", chosen):
        error(
            f"--name {chosen!r}: a job name is letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 128 characters)."
        )
        return exit_codes.USAGE
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        error(f"The directory {directory} does not exist.")
        return exit_codes.FAILURE
    if os.path.exists(path) and not force:
        error(f"{path} already exists.", "Use --force to overwrite it.")
        return exit_codes.FAILURE
    text = STARTER.format(name=chosen, path=path)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        error(f"Cannot write {path}: {exc.strerror or exc}")
        return exit_codes.FAILURE

    report = validate_score_file(path)
    if not report.ok:  # the template is tested to validate; this guards a broken install
        from mozart_cli.findings import print_findings

        print_findings(report.findings)
        error(f"The starter score written to {path} does not validate.")
        return exit_codes.FAILURE
    out(f"Wrote {style(path, 'bold')} (job '{chosen}', 3 sheets on the command backend).")
    out(f"Next: mozart validate {path} && mozart run {path} --follow")
    return exit_codes.OK
