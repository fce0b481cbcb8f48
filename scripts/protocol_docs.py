"""Render docs/protocol.md from schema/rpc.schema.json (called by scripts/codegen.py)."""

from __future__ import annotations

from typing import Any


def _ref(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).removeprefix("#/$defs/")


def type_text(schema: dict[str, Any]) -> str:
    """A short, readable type for a property schema: `JobState \\| null`, `list[SheetStatus]`."""
    if "$ref" in schema:
        name = _ref(schema)
        return f"[{name}](#model-{name.lower()})"
    if "anyOf" in schema:
        return " \\| ".join(type_text(s) for s in schema["anyOf"])
    if "const" in schema:
        return f'`"{schema["const"]}"`'
    kind = schema.get("type")
    if isinstance(kind, list):
        return " \\| ".join(type_text({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"list[{type_text(schema['items'])}]"
    if kind == "string" and schema.get("format") == "date-time":
        return "date-time"
    if kind is None:
        return "any"
    return str(kind)


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key, text in (("minimum", ">="), ("maximum", "<="), ("minLength", "min length")):
        if key in schema:
            parts.append(f"{text} {schema[key]}")
    if "pattern" in schema:
        parts.append(f"pattern `{schema['pattern']}`")
    return "; ".join(parts)


def model_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f'<a id="model-{name.lower()}"></a>', "", f"### {name}", ""]
    if "description" in schema:
        lines += [schema["description"], ""]
    if "enum" in schema:
        lines += ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return lines
    props = schema.get("properties")
    if props is None or name == "SchemaDocument":
        return lines
    if not props:
        return [*lines, "No fields.", ""]
    required = set(schema.get("required", []))
    lines += ["| Field | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    for field, sub in props.items():
        default = f"`{_json(sub['default'])}`" if "default" in sub else ""
        description = " ".join(
            p for p in (sub.get("description", ""), _constraints(sub)) if p
        ).replace("|", "\\|")
        lines.append(
            f"| `{field}` | {type_text(sub)} | {'yes' if field in required else 'no'} "
            f"| {default} | {description} |"
        )
    return [*lines, ""]


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def connection_errors(schema: dict[str, Any]) -> list[int]:
    """Codes no method lists: the ones raised before dispatch (framing, envelope, peer)."""
    listed = {c for spec in schema["x-mozart-methods"].values() for c in spec["errors"]}
    codes = [e["code"] for e in schema["x-mozart-errors"].values()]
    return [c for c in codes if c not in listed]


def render_protocol_docs(schema: dict[str, Any], command: str) -> str:
    errors = schema["x-mozart-errors"]
    by_code = {e["code"]: name for name, e in errors.items()}
    out = [
        "# Mozart protocol reference",
        "",
        f"<!-- Generated from schema/rpc.schema.json by `{command}`. Do not edit. -->",
        "",
        schema["description"],
        "",
        "Every request is one line: "
        '`{"jsonrpc": "2.0", "id": 1, "method": "job.status", "params": {"job_id": "hello"}}`. '
        "Params are always by name; `params` may be omitted when every field is optional. "
        "A stream method first sends notifications (requests without an `id`) on the same "
        "connection, then its one reply. Unknown fields are refused with -32602 naming the field. "
        "`rpc.discover` returns this schema from a running daemon.",
        "",
        f"Protocol version: {schema['x-mozart-protocol-version']}.",
        "",
        "## Methods",
        "",
        "| Method | Kind | Params | Result |",
        "|---|---|---|---|",
    ]
    methods = schema["x-mozart-methods"]
    for method, spec in methods.items():
        link = f"[`{method}`](#method-{method.replace('.', '-')})"
        params, result = type_text(spec["params"]), type_text(spec["result"])
        out.append(f"| {link} | {spec['kind']} | {params} | {result} |")
    out.append("")
    for method, spec in methods.items():
        anchor = f'<a id="method-{method.replace(".", "-")}"></a>'
        out += [anchor, "", f"### `{method}`", "", spec["description"], ""]
        out.append(f"- Kind: {spec['kind']}")
        out.append(f"- Params: {type_text(spec['params'])}")
        out.append(f"- Result: {type_text(spec['result'])}")
        if spec["notifications"]:
            notes = ", ".join(
                f"`{n}` ({type_text(schema['x-mozart-notifications'][n]['params'])})"
                for n in spec["notifications"]
            )
            out.append(f"- Notifications: {notes}")
        codes = ", ".join(f"{c} {by_code[c]}" for c in spec["errors"])
        out += [f"- Errors: {codes}", ""]
    out += ["## Notifications", "", "| Method | Params | Meaning |", "|---|---|---|"]
    for name, spec in schema["x-mozart-notifications"].items():
        out.append(f"| `{name}` | {type_text(spec['params'])} | {spec['description']} |")
    out += [
        "",
        "## Errors",
        "",
        'An error reply is `{"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, '
        '"message": "...", "data": {...}}}`. Codes -32700..-32600 are JSON-RPC\'s own; '
        "-32099..-32000 are Mozart's. A code is never reused.",
        "",
        "Any request may also get, before its method runs: "
        + ", ".join(f"{c} {by_code[c]}" for c in connection_errors(schema))
        + ".",
        "",
        "| Code | Name | Default message | Data | Meaning |",
        "|---|---|---|---|---|",
    ]
    for name, e in errors.items():
        data = type_text(e["data"]) if "data" in e else ""
        out.append(f"| {e['code']} | `{name}` | {e['message']} | {data} | {e['meaning']} |")
    out += ["", "## Models", ""]
    for name, sub in schema["$defs"].items():
        out += model_section(name, sub)
    return "\n".join(out).rstrip() + "\n"
