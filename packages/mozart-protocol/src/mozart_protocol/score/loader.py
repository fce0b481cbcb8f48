"""Loading a score file: read, parse YAML, check against the model, run the static checks.

``validate_score_file`` never raises for what is in the file: it returns every finding.
``load_score`` returns a :class:`LoadedScore` or raises :class:`ScoreError` with them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec

from mozart_protocol.score.checks import check_loaded
from mozart_protocol.score.findings import Finding, Problem, ScoreError
from mozart_protocol.score.loaded import LoadedScore, normal_path, parent_text
from mozart_protocol.score.model import Score, decode_score
from mozart_protocol.score.schema_check import check_schema
from mozart_protocol.score.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml


class ScoreNotReadableError(ScoreError):
    """The score file could not be read at all (missing, a directory, no permission, not UTF-8)."""


@dataclass
class ValidationReport:
    findings: list[Finding]
    score: Score | None
    readable: bool
    loaded: LoadedScore | None = None
    file: str | None = None  # the score file's absolute path

    @property
    def path(self) -> Path | None:
        """``file`` as a Path (made when asked for: the daemon never does)."""
        return Path(self.file) if self.file is not None else None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the score can run (warnings allowed)."""
        return self.readable and self.score is not None and not self.errors


def _locate(problems: list[Problem], document: YamlDocument | None, file: str) -> list[Finding]:
    findings = []
    for problem in problems:
        line: int | None = None
        column: int | None = None
        if problem.position is not None:
            line, column = problem.position
        elif document is not None and problem.value_line is not None:
            where = document.locate_in_value(problem.path, problem.value_line)
            if where is not None:
                line, column = where
        elif document is not None:
            where = document.locate(problem.path, at_key=problem.at_key)
            if where is not None:
                line, column = where
        findings.append(
            Finding(
                code=problem.code,
                severity=problem.severity,
                message=problem.message,
                file=file,
                line=line,
                column=column,
                path=problem.path,
            )
        )
    findings.sort(key=lambda f: (f.line or 0, f.column or 0))
    return findings


def validate_score_file(
    path: str | os.PathLike[str],
    *,
    workspace_override: str | os.PathLike[str] | None = None,
    text: str | None = None,
) -> ValidationReport:
    """Every finding about the score at ``path`` (what ``mozart validate`` prints).
    ``text``: the file's content when the caller has read it already."""
    file = os.fspath(path)  # absolute and normalised, as a Path's str() would be
    file = normal_path(file) if file[:1] == "/" else os.path.abspath(file)
    try:
        if text is None:
            text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        finding = Finding(
            code="E001", severity="error", message=f"cannot read score: {reason}", file=file
        )
        return ValidationReport([finding], None, readable=False, file=file)

    try:
        document = parse_yaml(text)
    except YamlSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        finding = Finding(
            code="E002",
            severity="error",
            message=f"YAML syntax error: {exc}",
            file=file,
            line=line,
            column=column,
        )
        return ValidationReport([finding], None, readable=True, file=file)

    problems = list(document.problems)
    if not isinstance(document.data, dict):
        got = "an empty document" if document.data is None else "not a mapping"
        problems.append(Problem("E003", "", f"a score must be a YAML mapping, got {got}"))
        return ValidationReport(_locate(problems, document, file), None, True, file=file)

    score: Score | None = None
    schema_problems: list[Problem] = []
    try:
        # Most scores fit the model as written, and then the checker finds nothing and
        # cleans nothing (test_score_schema_properties): it walks the model in Python,
        # so it runs only to say what does not fit.
        score = decode_score(document.data)
        cleaned: object = document.data
    except msgspec.ValidationError:
        cleaned, schema_problems = check_schema(document.data)
        problems.extend(schema_problems)
        if not any(p.severity == "error" for p in schema_problems):
            try:
                score = decode_score(cleaned)
            except msgspec.ValidationError as exc:  # the checker missed a rule: say where
                problems.append(Problem("E103", _msgspec_path(str(exc)), str(exc)))

    loaded: LoadedScore | None = None
    if score is not None:
        loaded = LoadedScore(score, file, parent_text(file))
        problems.extend(check_loaded(loaded, workspace_override=workspace_override))
        if not problems:  # most scores: nothing to locate
            return ValidationReport([], score, True, loaded=loaded, file=file)
        findings = _locate(problems, document, file)
        # No check reads the warnings: they are filled in once the checks have run.
        loaded.warnings.extend(f for f in findings if f.severity == "warning")
        return ValidationReport(findings, score, True, loaded=loaded, file=file)
    if isinstance(cleaned, dict):
        # Still report template, regex, condition ... problems of the sections that are fine.
        problems.extend(_check_salvaged(cleaned, schema_problems, file, workspace_override))
    findings = _locate(problems, document, file)
    return ValidationReport(findings, score, True, loaded=None, file=file)


# Stand-ins for sections with schema errors: valid, and producing no findings of their own.
_STAND_INS: dict[str, object] = {
    "name": "score",
    "sheet": {"size": 1, "total_items": 1},
    "prompt": {"template": ""},
    "backend": {"type": "command", "command": "true"},
    "workspace": "./workspace",
}
_STAND_IN_RULE = {"type": "file_exists", "path": ""}


def _check_salvaged(
    cleaned: dict[str, object],
    schema_problems: list[Problem],
    file: str,
    workspace_override: str | os.PathLike[str] | None,
) -> list[Problem]:
    data = dict(cleaned)
    skip: set[str] = set()
    for problem in schema_problems:
        if problem.severity != "error":
            continue
        section = re.split(r"[.\[]", problem.path, maxsplit=1)[0]
        rule = re.match(r"validations\[(\d+)\]", problem.path)
        rules = data.get("validations")
        if rule is not None and isinstance(rules, list):
            rules = list(rules)
            rules[int(rule.group(1))] = _STAND_IN_RULE
            data["validations"] = rules
            skip.add(rule.group(0))
        elif section in _STAND_INS:
            data[section] = _STAND_INS[section]
            skip.add(section)
        else:
            data.pop(section, None)
            skip.add(section)
    for section in ("name", "sheet", "prompt"):  # required: stand in for a missing one
        if section not in data:
            data[section] = _STAND_INS[section]
            skip.add(section)
    try:
        score = decode_score(data)
    except msgspec.ValidationError:
        return []
    loaded = LoadedScore(score, file, os.path.dirname(file))
    return check_loaded(loaded, workspace_override=workspace_override, skip=frozenset(skip))


def _msgspec_path(message: str) -> str:
    marker = "- at `$"
    at = message.rfind(marker)
    if at < 0:
        return ""
    raw = message[at + len(marker) :].rstrip("`")
    return raw.lstrip(".")


def load_score(
    path: str | os.PathLike[str],
    *,
    workspace_override: str | os.PathLike[str] | None = None,
    text: str | None = None,
) -> LoadedScore:
    """Load and statically validate a score; raises ScoreError when it has errors.
    ``text``: the file's content when the caller has read it already."""
    report = validate_score_file(path, workspace_override=workspace_override, text=text)
    if not report.readable:
        raise ScoreNotReadableError(report.findings)
    if report.loaded is None or (report.findings and report.errors):
        raise ScoreError(report.findings)
    return report.loaded
