"""schema/score.schema.json agrees with the typed model and with static validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import msgspec.inspect as mi
import pytest
import yaml
from mozart_protocol.score import model, validate_score_file

WriteScore = Callable[..., Path]
ROOT = Path(__file__).resolve().parents[4]
SCHEMA_PATH = ROOT / "schema" / "score.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

STRUCTS: list[type] = [
    model.Score,
    model.SheetConfig,
    model.PromptConfig,
    model.CommandBackend,
    model.ClaudeCliBackend,
    model.AnthropicApiBackend,
    model.OllamaBackend,
    model.FileExistsRule,
    model.FileModifiedRule,
    model.ContentContainsRule,
    model.ContentRegexRule,
    model.CommandSucceedsRule,
    model.RetryConfig,
    model.RateLimitConfig,
    model.ParallelConfig,
    model.WebhookConfig,
    model.DesktopConfig,
    model.WebhookNotification,
    model.DesktopNotification,
    model.SlackNotification,
    model.EmailNotification,
    model.RunCommandHook,
    model.RunScriptHook,
    model.RunJobHook,
    model.LearningConfig,
]
NOT_IMPLEMENTED: dict[type, frozenset[str]] = {
    model.Score: model.NOT_IMPLEMENTED_TOP_LEVEL,
    model.SheetConfig: model.NOT_IMPLEMENTED_SHEET,
    model.LearningConfig: model.NOT_IMPLEMENTED_LEARNING,
    model.RunCommandHook: model.NOT_IMPLEMENTED_HOOK,
    model.RunScriptHook: model.NOT_IMPLEMENTED_HOOK,
    model.RunJobHook: model.NOT_IMPLEMENTED_HOOK,
}


def schema_of(cls: type) -> dict[str, Any]:
    return SCHEMA if cls is model.Score else SCHEMA["$defs"][cls.__name__]


def as_json(data: object) -> object:
    """What an editor sees: YAML turned into JSON (integer keys become strings)."""
    return json.loads(json.dumps(data))


def test_schema_is_valid_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_struct_has_a_definition() -> None:
    defined = {"Score", *SCHEMA["$defs"]}
    assert defined == {cls.__name__ for cls in STRUCTS}


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda cls: cls.__name__)
def test_properties_required_and_defaults_agree(cls: type) -> None:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    schema = schema_of(cls)
    assert schema["additionalProperties"] is False
    skipped = NOT_IMPLEMENTED.get(cls, frozenset())
    if cls in {t.cls for t in mi.type_info(model.ValidationRule).types}:  # type: ignore[attr-defined]
        skipped = model.NOT_IMPLEMENTED_RULE
    tag = {"type"} if info.tag_field else set()
    assert set(schema["properties"]) == {f.name for f in info.fields} | skipped | tag
    required = {f.name for f in info.fields if f.required}
    if info.tag_field and cls is not model.ClaudeCliBackend:  # the default backend type
        required.add("type")
    assert set(schema.get("required", [])) == required
    if info.tag_field:
        assert schema["properties"]["type"]["const"] == info.tag
    for spec in info.fields:
        prop = schema["properties"][spec.name]
        if spec.default is not msgspec.NODEFAULT and spec.default is not None:
            assert prop["default"] == spec.default, spec.name
        elif spec.default_factory is not msgspec.NODEFAULT:
            value = spec.default_factory()
            if not hasattr(value, "__struct_fields__"):
                assert prop["default"] == value, spec.name
        assert constraints(prop) == model_constraints(spec.type), spec.name
    for name in skipped:
        assert "not implemented" in schema["properties"][name]["description"]


def constraints(prop: dict[str, Any]) -> object:
    """A comparable summary of a schema property (types, bounds, enums, patterns)."""
    if "$ref" in prop:
        return ("ref", prop["$ref"].rsplit("/", 1)[1])
    if "oneOf" in prop:
        members = [constraints(p) for p in prop["oneOf"]]
        return ("union", sorted(map(repr, members)))
    keys = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern")
    summary = {k: prop[k] for k in (*keys, "maxLength") if k in prop}
    if "enum" in prop:
        summary["enum"] = sorted(map(str, prop["enum"]))
    if "items" in prop:
        summary["items"] = constraints(prop["items"])
    if isinstance(prop.get("additionalProperties"), dict):
        summary["values"] = constraints(prop["additionalProperties"])
        summary["int_keys"] = "propertyNames" in prop
    return summary


def model_constraints(info: mi.Type) -> object:
    if isinstance(info, mi.Metadata):
        return model_constraints(info.type)
    if isinstance(info, mi.StructType):
        return ("ref", info.cls.__name__)
    if isinstance(info, mi.UnionType):
        members = [model_constraints(t) for t in info.types]
        return ("union", sorted(map(repr, members)))
    if isinstance(info, (mi.AnyType, mi.CustomType)):
        return {}
    if isinstance(info, mi.LiteralType):
        return {"enum": sorted(map(str, info.values))}
    if isinstance(info, mi.NoneType):
        return {"type": "null"}
    if isinstance(info, mi.BoolType):
        return {"type": "boolean"}
    if isinstance(info, mi.StrType):
        summary: dict[str, object] = {"type": "string"}
        if info.pattern:
            summary["pattern"] = info.pattern
        if info.max_length:
            summary["maxLength"] = info.max_length
        return summary
    if isinstance(info, mi.ListType):
        return {"type": "array", "items": model_constraints(info.item_type)}
    if isinstance(info, mi.DictType):
        return {
            "type": "object",
            "values": model_constraints(info.value_type),
            "int_keys": isinstance(info.key_type, mi.IntType),
        }
    assert isinstance(info, (mi.IntType, mi.FloatType))
    summary = {"type": "integer" if isinstance(info, mi.IntType) else "number"}
    for attr, key in (
        ("ge", "minimum"),
        ("le", "maximum"),
        ("gt", "exclusiveMinimum"),
        ("lt", "exclusiveMaximum"),
    ):
        if getattr(info, attr) is not None:
            summary[key] = getattr(info, attr)
    return summary


def example_scores() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", example_scores(), ids=lambda p: p.name)
def test_examples_are_valid_under_both(path: Path) -> None:
    report = validate_score_file(path)
    assert report.ok, [f.format() for f in report.findings]
    VALIDATOR.validate(as_json(yaml.safe_load(path.read_text())))


VALID = [
    "backend: {timeout_seconds: 5}",  # claude_cli by default
    "backend: {type: ollama, model: llama3.1}",
    "backend: {type: anthropic_api, temperature: 0.2, max_tokens: 100}",
    "backend: {type: command, command: [echo, hi], env: {A: b}}",
    "validations: [{type: file_modified, path: x, stage: 10}]",
    "learning: {enabled: false}",
    "learning: {use_global_patterns: true}",  # not implemented: accepted (with a warning)
    "description: null",
]

INVALID = [
    "sheet: {size: 0, total_items: 3}",
    "sheet: {size: 1, total_items: 3, sise: 2}",
    "validation: []",
    "priority: 10",
    "priority: 1.5",
    "name: -x",
    "backend: {type: shell}",
    "backend: {type: command}",
    "backend: {type: command, command: x, prompt_via: pipe}",
    "backend: {type: claude_cli, output_format: xml}",
    "backend: {type: anthropic_api, temperature: 2}",
    "backend: {type: command, command: x, timeout_seconds: 0}",
    "validations: [{type: content_regex, path: x}]",
    "validations: [{path: x}]",
    "validations: [{type: file_exists, path: x, stage: 11}]",
    "retry: {max_retries: -1}",
    "retry: {completion_threshold_percent: 101}",
    "rate_limit: {max_waits: -1}",
    "parallel: {max_concurrent: 0}",
    "pause_between_sheets_seconds: -1",
    "prompt: {template: x, template_file: y.j2}",
    "prompt: {variables: {a: 1}}",
    "sheet: {size: 1, total_items: 3, dependencies: {0: [1]}}",
]


def compose(line: str) -> str:
    base = {
        "name": "s",
        "sheet": {"size": 1, "total_items": 3},
        "prompt": {"template": "x"},
        "backend": {"type": "command", "command": "true"},
    }
    override = yaml.safe_load(line)
    if "prompt" in override:
        base.pop("prompt")
    if "backend" in override:
        base.pop("backend")
    base.update(override)
    return yaml.safe_dump(base, sort_keys=False)


@pytest.mark.parametrize("line", VALID)
def test_valid_under_both(write_score: WriteScore, line: str) -> None:
    text = compose(line)
    report = validate_score_file(write_score(text))
    assert report.ok, [f.format() for f in report.findings]
    VALIDATOR.validate(as_json(yaml.safe_load(text)))


@pytest.mark.parametrize("line", INVALID)
def test_invalid_under_both(write_score: WriteScore, line: str) -> None:
    text = compose(line)
    report = validate_score_file(write_score(text))
    assert report.errors, f"model accepted {line}"
    errors = list(VALIDATOR.iter_errors(as_json(yaml.safe_load(text))))
    assert errors, f"schema accepted {line}"


def test_header_comment_example_points_at_the_schema() -> None:
    for path in example_scores():
        first = path.read_text().splitlines()[0]
        if first.startswith("# yaml-language-server:"):
            target = (path.parent / first.split("$schema=", 1)[1]).resolve()
            assert target == SCHEMA_PATH
