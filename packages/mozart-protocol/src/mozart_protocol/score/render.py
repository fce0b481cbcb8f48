"""The per-sheet context of SCORE.md and prompt rendering (Jinja2, StrictUndefined).

After the template, the applicable validations are listed under "Success requirements"
so the agent knows what will be checked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jinja2
import jinja2.nodes

from mozart_protocol.score.loaded import LoadedScore, template_source
from mozart_protocol.score.model import (
    CommandSucceedsRule,
    ContentContainsRule,
    ContentRegexRule,
    FileExistsRule,
    FileModifiedRule,
    Score,
    ValidationRule,
)
from mozart_protocol.score.placeholders import PlaceholderError, format_placeholders
from mozart_protocol.score.plan import Plan, PlannedSheet

# Integer names of the context (usable in conditions and `{name:02d}` placeholders).
INTEGER_CONTEXT_NAMES: tuple[str, ...] = (
    "sheet_num",
    "total_sheets",
    "start_item",
    "end_item",
    "attempt",
    "stage",
    "instance",
    "fan_count",
    "total_stages",
)
# Every name the context always has (before `variables`).
CONTEXT_NAMES: tuple[str, ...] = (
    *INTEGER_CONTEXT_NAMES,
    "workspace",
    "job_id",
    "stakes",
    "thinking_method",
)
REQUIREMENTS_HEADING = "## Success requirements"


class RenderError(ValueError):
    """The prompt cannot be rendered (undefined name, template error, unreadable file)."""


def sheet_context(
    score: Score,
    plan: Plan,
    sheet: PlannedSheet | int,
    *,
    workspace: str | Path,
    job_id: str,
    attempt: int,
) -> dict[str, object]:
    """The names a sheet's prompt, placeholders and conditions see.

    ``variables`` come first so that the built-in names always win over a variable of the
    same name (static validation warns about such a variable).
    """
    planned = plan.sheet(sheet) if isinstance(sheet, int) else sheet
    context: dict[str, object] = dict(score.prompt.variables)
    context.update(
        stakes=score.prompt.stakes or "",
        thinking_method=score.prompt.thinking_method or "",
        sheet_num=planned.sheet_num,
        total_sheets=plan.total_sheets,
        start_item=planned.start_item,
        end_item=planned.end_item,
        workspace=str(workspace),
        job_id=job_id,
        attempt=attempt,
        stage=planned.stage,
        instance=planned.instance,
        fan_count=planned.fan_count,
        total_stages=plan.total_stages,
    )
    return context


def make_environment() -> jinja2.Environment:
    # Prompts are plain text for an agent, not HTML: escaping would corrupt them.
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )


_ENVIRONMENT = make_environment()


class _Compiled(NamedTuple):
    template: jinja2.Template
    # The same template as a ``str.format_map`` format, when it is only text and ``{{ name
    # }}`` (the common prompt): rendering it is one call in C instead of Jinja's context,
    # generator and Python for each piece. None for any other template.
    fmt: str | None


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> _Compiled:
    template = _ENVIRONMENT.from_string(source)
    # Its globals as one dict: each render copies them into the context, and a ChainMap
    # over the environment's (Jinja's default) is copied key by key in Python, about 200
    # bytecodes a render. Nothing changes the environment's globals after this.
    template.globals = dict(template.globals)
    return _Compiled(template, _format_of(_ENVIRONMENT.parse(source)))


# Names Jinja gives a meaning of its own, whatever the context holds.
_SPECIAL_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})


def _format_of(tree: jinja2.nodes.Template) -> str | None:
    """The ``str.format`` format that renders as ``tree`` does, or None. For each ``{{ name
    }}`` Jinja (autoescape off, no finalize) writes ``str(value)``, and ``format(value,
    "")`` is ``str(value)`` for every value a context holds (strings, numbers, booleans,
    None, lists and mappings); text is written as it is (braces doubled here)."""
    pieces: list[str] = []
    for output in tree.body:
        if not isinstance(output, jinja2.nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, jinja2.nodes.TemplateData):
                pieces.append(node.data.replace("{", "{{").replace("}", "}}"))
            elif (
                isinstance(node, jinja2.nodes.Name)
                and node.ctx == "load"
                and node.name not in _SPECIAL_NAMES
            ):
                pieces.append(f"{{{node.name}}}")
            else:
                return None
    return "".join(pieces)


def render_template(source: str, context: Mapping[str, object], *, name: str = "prompt") -> str:
    """Render Jinja2 ``source`` with StrictUndefined; raises RenderError naming ``name``."""
    try:
        compiled = _compile(source)
        if compiled.fmt is not None:
            try:
                return compiled.fmt.format_map(context)
            except KeyError:
                pass  # not in the context: a global of Jinja's, or undefined (its error)
        return compiled.template.render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{name}: line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{name}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{name}: {exc}") from None


def render_prompt(
    loaded: LoadedScore, context: Mapping[str, object], rules: Sequence[ValidationRule]
) -> str:
    """The full prompt of one sheet attempt: the template, then the success requirements."""
    try:
        source, name = template_source(loaded)
    except OSError as exc:
        raise RenderError(f"cannot read template_file: {exc}") from None
    text = render_template(source, context, name=name)
    requirements = success_requirements(rules, context)
    if not requirements:
        return text
    return f"{text.rstrip()}\n\n{requirements}"


def success_requirements(rules: Sequence[ValidationRule], context: Mapping[str, object]) -> str:
    """The "Success requirements" section for ``rules`` ("" when there are none)."""
    if not rules:
        return ""
    lines = [REQUIREMENTS_HEADING, "", "This work is checked automatically. It succeeds when:"]
    for rule in rules:
        check = describe_rule(rule, context)
        lines.append(f"- {rule.description}: {check}" if rule.description else f"- {check}")
    return "\n".join(lines) + "\n"


def describe_rule(rule: ValidationRule, context: Mapping[str, object]) -> str:
    """One line saying what ``rule`` checks, with its placeholders expanded."""

    def fill(text: str, *, quote: bool = False) -> str:
        try:
            return format_placeholders(text, context, shell_quote=quote)
        except PlaceholderError:
            return text

    if isinstance(rule, FileExistsRule):
        return f"the file `{fill(rule.path)}` exists"
    if isinstance(rule, FileModifiedRule):
        return f"the file `{fill(rule.path)}` is created or modified"
    if isinstance(rule, ContentContainsRule):
        return f"the file `{fill(rule.path)}` contains the text `{rule.pattern}`"
    if isinstance(rule, ContentRegexRule):
        return f"the file `{fill(rule.path)}` matches the regular expression `{rule.pattern}`"
    assert isinstance(rule, CommandSucceedsRule)
    where = f" (run in `{fill(rule.working_directory)}`)" if rule.working_directory else ""
    return f"the command `{fill(rule.command, quote=True)}` exits with status 0{where}"
