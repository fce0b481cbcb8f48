"""Generate mozart_protocol._generated and docs/protocol.md from schema/rpc.schema.json.

    python scripts/codegen.py write   # rewrite every generated file
    python scripts/codegen.py check   # exit 1 if anything generated differs, is missing,
                                      # is stale, or is not tracked by git

The models come from datamodel-code-generator (msgspec Structs), post-processed so that
unknown fields are refused, timestamps decode as timezone-aware datetimes and optional
fields default to ``None`` rather than ``UNSET``; the method and error tables and the
reference page come from the schema's ``x-mozart-*`` tables. Every output is formatted
with ruff here, so the bytes only depend on the schema and the tool versions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from protocol_docs import render_protocol_docs

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "rpc.schema.json"
GENERATED = ROOT / "packages" / "mozart-protocol" / "src" / "mozart_protocol" / "_generated"
DOCS = ROOT / "docs" / "protocol.md"
COMMAND = "nox -s codegen"

# The one free-form object of the schema: rpc.discover returns the document itself.
FREE_FORM = "SchemaDocument"


def header(kind: str) -> str:
    return (
        f"# Generated from schema/rpc.schema.json by `{COMMAND}`.\n"
        f"# Do not edit: change the schema and regenerate. ({kind})\n"
        # Descriptions are sentences from the schema; wrapping them would change their text.
        "# ruff: noqa: E501\n"
    )


def run(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"codegen: {' '.join(argv[:3])} failed:\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def ruff(source: str, path: Path) -> str:
    """Lint-fix (imports) then format, reading the project's ruff configuration."""
    name = str(path.relative_to(ROOT))
    fixed = run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--fix-only",
            "--exit-zero",
            "--quiet",
            "--stdin-filename",
            name,
            "-",
        ],
        source,
    )
    return run(
        [sys.executable, "-m", "ruff", "format", "--quiet", "--stdin-filename", name, "-"], fixed
    )


def check_schema_shape(schema: dict[str, Any]) -> None:
    """Refuse a schema that breaks the rules the generated code relies on."""
    defs = schema["$defs"]
    problems: list[str] = []
    for name, sub in defs.items():
        closed = sub.get("additionalProperties") is False
        if sub.get("type") == "object" and name != FREE_FORM and not closed:
            problems.append(f"$defs.{name}: objects must set additionalProperties: false")
    codes = [e["code"] for e in schema["x-mozart-errors"].values()]
    if len(codes) != len(set(codes)):
        problems.append("x-mozart-errors: an error code is used twice")
    known = set(codes)
    notifications = schema["x-mozart-notifications"]
    for method, spec in schema["x-mozart-methods"].items():
        for key in ("params", "result"):
            target = spec[key]["$ref"].removeprefix("#/$defs/")
            if target not in defs:
                problems.append(f"{method}.{key}: no $defs.{target}")
        problems += [f"{method}: unknown error {c}" for c in spec["errors"] if c not in known]
        problems += [
            f"{method}: unknown notification {n}"
            for n in spec["notifications"]
            if n not in notifications
        ]
        if (spec["kind"] == "stream") != bool(spec["notifications"]):
            problems.append(f"{method}: a stream method sends notifications, a request does not")
    if problems:
        sys.exit("codegen: schema problems:\n  " + "\n  ".join(problems))


def ref_name(ref: dict[str, str]) -> str:
    return ref["$ref"].removeprefix("#/$defs/")


def constant_name(error_name: str, code: int) -> str:
    """JobNotFoundError -> JOB_NOT_FOUND; the standard codes keep their full names."""
    base = error_name.removesuffix("Error") if -32099 <= code <= -32000 else error_name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).upper()


def method_member(method: str) -> str:
    return method.replace(".", "_").upper()


# ---------------------------------------------------------------- models.py


def generate_models(schema: dict[str, Any]) -> str:
    defs = {k: v for k, v in schema["$defs"].items() if k != FREE_FORM}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "rpc.schema.json"
        target = Path(tmp) / "models.py"
        source.write_text(json.dumps({"$schema": schema["$schema"], "$defs": defs}))
        run([
            sys.executable, "-m", "datamodel_code_generator",
            "--input", str(source), "--input-file-type", "jsonschema",
            "--output", str(target),
            "--output-model-type", "msgspec.Struct",
            "--output-datetime-class", "datetime",
            "--target-python-version", "3.11",
            "--disable-timestamp", "--no-formatters",
            "--use-standard-collections", "--use-union-operator",
            "--strict-nullable", "--keyword-only", "--capitalise-enum-members",
            "--use-schema-description",
        ])  # fmt: skip
        raw = target.read_text()
    return postprocess_models(raw)


def postprocess_models(raw: str) -> str:
    # The container document itself becomes `Model: TypeAlias = Any`: it is not a model.
    text = re.sub(r"^Model: TypeAlias = Any\n", "", raw, flags=re.M)
    text = re.sub(r"^# generated by datamodel-codegen:\n#\s+filename:.*\n", "", text, flags=re.M)
    # Optional fields: absent on the wire means the schema's default (None when nullable).
    text = text.replace("| None | UnsetType = UNSET", "| None = None")
    text = re.sub(r" \| UnsetType = (?!UNSET)", " = ", text)
    text = re.sub(r"(Annotated\[Any, [^\n]*\]) \| UnsetType = UNSET", r"\1 = None", text)
    if "| UnsetType" in text:
        sys.exit("codegen: a field still defaults to UNSET; give it a default in the schema")
    strict = "(Struct, kw_only=True, forbid_unknown_fields=True)"
    text = text.replace("(Struct, kw_only=True)", strict)
    # RFC 3339 requires an offset: a naive timestamp on the wire is a contract violation.
    text = re.sub(r"(?<=: )datetime\b", "Timestamp", text)
    text = re.sub(r"(?<=\[)datetime\b", "Timestamp", text)
    imports_end = text.index("\n\n\n")
    text = (
        text[:imports_end]
        + "\n\n# RFC 3339 with an offset (the daemon writes UTC); naive times are refused.\n"
        + "Timestamp: TypeAlias = Annotated[datetime, Meta(tz=True)]\n"
        + text[imports_end:].rstrip()
        + "\n\n\n# rpc.discover's result: the schema document itself, free-form by design.\n"
        + f"{FREE_FORM}: TypeAlias = dict[str, Any]\n"
    )
    names = re.findall(r"^(?:class (\w+)\(|(\w+): TypeAlias)", text, flags=re.M)
    exported = sorted({a or b for a, b in names})
    text += "\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in exported) + "]\n"
    doc = '"""The wire models: one msgspec Struct per params, result, event and error data."""\n'
    return header("models") + doc + text


# ---------------------------------------------------------------- methods.py


def generate_methods(schema: dict[str, Any]) -> str:
    methods = schema["x-mozart-methods"]
    members = "\n".join(f'    {method_member(m)} = "{m}"' for m in methods)
    specs = []
    for m, spec in methods.items():
        specs.append(
            f"    Method.{method_member(m)}: MethodSpec(\n"
            f"        name=Method.{method_member(m)},\n"
            f"        params=models.{ref_name(spec['params'])},\n"
            f"        result=models.{ref_name(spec['result'])},\n"
            f"        errors={tuple(spec['errors'])!r},\n"
            f'        kind="{spec["kind"]}",\n'
            f"        notifications={tuple(spec['notifications'])!r},\n"
            f"        description={spec['description']!r},\n"
            f"    ),"
        )
    notes = "\n".join(
        f'    "{n}": models.{ref_name(spec["params"])},'
        for n, spec in schema["x-mozart-notifications"].items()
    )
    body = f'''"""The method table: every JSON-RPC method, its params and result, errors, kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NamedTuple

from mozart_protocol._generated import models


class Method(StrEnum):
    """A JSON-RPC method name; compares equal to its wire string."""

{members}


class MethodSpec(NamedTuple):
    name: Method
    params: type[Any]
    result: type[Any]
    errors: tuple[int, ...]
    kind: Literal["request", "stream"]
    notifications: tuple[str, ...]
    description: str


METHODS: dict[Method, MethodSpec] = {{
{chr(10).join(specs)}
}}

# Notification method -> the type of its params (sent before a stream method's final reply).
NOTIFICATIONS: dict[str, type[Any]] = {{
{notes}
}}

PROTOCOL_VERSION = {schema["x-mozart-protocol-version"]!r}
'''
    return header("methods") + body


# ---------------------------------------------------------------- error_codes.py


def generate_error_codes(schema: dict[str, Any]) -> str:
    errors = schema["x-mozart-errors"]
    consts = "\n".join(
        f"{constant_name(name, e['code'])}: Final = {e['code']}" for name, e in errors.items()
    )
    rows = []
    for name, e in errors.items():
        data = f"models.{ref_name(e['data'])}" if "data" in e else "None"
        rows.append(
            f"    {constant_name(name, e['code'])}: ErrorSpec(\n"
            f"        name={name!r},\n"
            f"        code={e['code']},\n"
            f"        message={e['message']!r},\n"
            f"        meaning={e['meaning']!r},\n"
            f"        data={data},\n"
            f"    ),"
        )
    body = f'''"""The error table: every wire error code with its name, default message and meaning.

Codes -32700..-32600 are JSON-RPC's own; -32099..-32000 are Mozart's domain errors.
A code is never reused for another meaning.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from mozart_protocol._generated import models

{consts}


class ErrorSpec(NamedTuple):
    name: str
    code: int
    message: str
    meaning: str
    data: type[Any] | None


ERRORS: dict[int, ErrorSpec] = {{
{chr(10).join(rows)}
}}
'''
    return header("error codes") + body


# ---------------------------------------------------------------- driver


def generate_all() -> dict[Path, str]:
    text = SCHEMA.read_text(encoding="utf-8")
    schema = json.loads(text)
    check_schema_shape(schema)
    init = header("package") + '"""Code generated from schema/rpc.schema.json."""\n'
    python = {
        GENERATED / "__init__.py": init,
        GENERATED / "models.py": generate_models(schema),
        GENERATED / "methods.py": generate_methods(schema),
        GENERATED / "error_codes.py": generate_error_codes(schema),
    }
    out = {path: ruff(src, path) for path, src in python.items()}
    # Shipped inside the package so rpc.discover works from an installed wheel.
    out[GENERATED / "rpc.schema.json"] = text
    out[DOCS] = render_protocol_docs(schema, COMMAND)
    return out


def untracked(paths: list[Path]) -> list[Path]:
    try:
        listed = run(["git", "ls-files", "--", *(str(p.relative_to(ROOT)) for p in paths)])
    except (OSError, SystemExit):
        return []  # not a git checkout (an sdist): nothing to compare against
    tracked = {ROOT / line for line in listed.splitlines()}
    return [p for p in paths if p not in tracked]


def check(files: dict[Path, str]) -> list[str]:
    problems = []
    for path, content in files.items():
        rel = path.relative_to(ROOT)
        if not path.exists():
            problems.append(f"missing: {rel}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"differs from the schema: {rel}")
    for path in sorted(GENERATED.rglob("*")):
        if path.is_file() and path not in files and "__pycache__" not in path.parts:
            problems.append(f"not generated (stale or hand-written): {path.relative_to(ROOT)}")
    problems += [f"not tracked by git: {p.relative_to(ROOT)}" for p in untracked(list(files))]
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("write", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    files = generate_all()
    if argv[0] == "write":
        GENERATED.mkdir(parents=True, exist_ok=True)
        for path, content in files.items():
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                path.write_text(content, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
        for path in GENERATED.glob("*.py"):
            if path not in files:
                path.unlink()
                print(f"removed stale {path.relative_to(ROOT)}")
        return 0
    problems = check(files)
    for problem in problems:
        print(f"codegen-check: {problem}", file=sys.stderr)
    if problems:
        print("Run `nox -s codegen` and commit the result.", file=sys.stderr)
        return 1
    print(f"codegen-check: {len(files)} generated files match the schema")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
