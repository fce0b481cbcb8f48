"""The per-sheet context and prompt rendering (SCORE.md `prompt`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mozart_protocol.score import (
    RenderError,
    applicable_rules,
    build_plan,
    load_score,
    render_prompt,
    resolve_workspace,
    sheet_context,
)
from mozart_protocol.score.render import render_template

WriteScore = Callable[..., Path]

SCORE = """
    name: render
    sheet: {size: 10, total_items: 25, start_item: 1}
    backend: {type: command, command: "true"}
    prompt:
      template: |
        Items {{ start_item }}-{{ end_item }} of sheet {{ sheet_num }}/{{ total_sheets }}
        in {{ workspace }} for {{ job_id }}, attempt {{ attempt }}.
        Topic: {{ topic }}. Stakes: {{ stakes }}. Method: {{ thinking_method }}.
        Stage {{ stage }}/{{ total_stages }}, instance {{ instance }} of {{ fan_count }}.
      variables: {topic: owls, sheet_num: 99}
      stakes: high
      thinking_method: step by step
    validations:
      - type: file_exists
        path: "{workspace}/out-{sheet_num:02d}.md"
        description: The report
      - type: content_regex
        path: "{workspace}/out-{sheet_num:02d}.md"
        pattern: "^# "
        condition: "sheet_num > 1"
      - type: command_succeeds
        command: "grep -q {topic} {workspace}/out.md"
"""


def test_context_names_and_values(write_score: WriteScore) -> None:
    loaded = load_score(write_score(SCORE))
    plan = build_plan(loaded.score)
    workspace = resolve_workspace(loaded)
    context = sheet_context(
        loaded.score, plan, plan.sheet(3), workspace=workspace, job_id="j-1", attempt=2
    )
    assert context == {
        "topic": "owls",
        "sheet_num": 3,  # the built-in wins over the variable of the same name
        "total_sheets": 3,
        "start_item": 21,
        "end_item": 25,
        "workspace": str(workspace),
        "job_id": "j-1",
        "attempt": 2,
        "stage": 3,
        "instance": 1,
        "fan_count": 1,
        "total_stages": 3,
        "stakes": "high",
        "thinking_method": "step by step",
    }
    # The sheet may also be given by number.
    assert (
        sheet_context(loaded.score, plan, 3, workspace=workspace, job_id="j-1", attempt=2)
        == context
    )


def test_render_prompt_with_requirements(write_score: WriteScore) -> None:
    loaded = load_score(write_score(SCORE))
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 1, workspace="/ws", job_id="j", attempt=1)
    rules = applicable_rules(loaded.score, context)
    assert len(rules) == 2  # the content_regex rule applies from sheet 2 on
    prompt = render_prompt(loaded, context, rules)
    assert prompt == (
        "Items 1-10 of sheet 1/3\n"
        "in /ws for j, attempt 1.\n"
        "Topic: owls. Stakes: high. Method: step by step.\n"
        "Stage 1/3, instance 1 of 1.\n"
        "\n"
        "## Success requirements\n"
        "\n"
        "This work is checked automatically. It succeeds when:\n"
        "- The report: the file `/ws/out-01.md` exists\n"
        "- the command `grep -q owls /ws/out.md` exits with status 0\n"
    )


def test_requirements_list_every_rule_type(write_score: WriteScore) -> None:
    loaded = load_score(write_score(SCORE))
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 2, workspace="/my ws", job_id="j", attempt=1)
    prompt = render_prompt(loaded, context, applicable_rules(loaded.score, context))
    assert "- the file `/my ws/out-02.md` matches the regular expression `^# `" in prompt
    # Commands are shown as they will run: substituted values shell-quoted.
    assert "`grep -q owls '/my ws'/out.md`" in prompt


def test_no_rules_no_requirements_section(write_score: WriteScore) -> None:
    loaded = load_score(write_score(SCORE))
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 1, workspace="/ws", job_id="j", attempt=1)
    prompt = render_prompt(loaded, context, [])
    assert "Success requirements" not in prompt
    assert prompt.endswith("instance 1 of 1.\n")


def test_strict_undefined_is_an_error(write_score: WriteScore) -> None:
    path = write_score(
        """
        name: strict
        sheet: {size: 1, total_items: 1}
        backend: {type: command, command: "true"}
        prompt: {template: "Hello {{ nobody }}"}
        """
    )
    loaded = load_score(path)  # an undefined name is only a warning statically ...
    assert [w.code for w in loaded.warnings] == ["W204"]
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 1, workspace="/ws", job_id="j", attempt=1)
    with pytest.raises(RenderError, match="nobody"):  # ... and an error when rendering
        render_prompt(loaded, context, [])


def test_template_file_is_relative_to_the_score(write_score: WriteScore, tmp_path: Path) -> None:
    (tmp_path / "scores" / "prompts").mkdir(parents=True)
    (tmp_path / "scores" / "prompts" / "p.j2").write_text("From file: {{ sheet_num }} {{ who }}\n")
    path = write_score(
        """
        name: filed
        sheet: {size: 1, total_items: 2}
        backend: {type: command, command: "true"}
        prompt: {template_file: prompts/p.j2, variables: {who: me}}
        """,
        name="scores/score.yaml",
    )
    loaded = load_score(path)
    plan = build_plan(loaded.score)
    context = sheet_context(loaded.score, plan, 2, workspace="/ws", job_id="j", attempt=1)
    assert render_prompt(loaded, context, []) == "From file: 2 me\n"


def test_fan_out_context(write_score: WriteScore) -> None:
    path = write_score(
        """
        name: fanned
        sheet: {size: 1, total_items: 3, fan_out: {2: 3}}
        backend: {type: command, command: "true"}
        prompt: {template: "{{ stage }}.{{ instance }}/{{ fan_count }} of {{ total_stages }}"}
        """
    )
    loaded = load_score(path)
    plan = build_plan(loaded.score)
    rendered = [
        render_prompt(
            loaded, sheet_context(loaded.score, plan, s, workspace="/w", job_id="j", attempt=1), []
        )
        for s in plan.sheets
    ]
    assert rendered == ["1.1/1 of 3", "2.1/3 of 3", "2.2/3 of 3", "2.3/3 of 3", "3.1/1 of 3"]


def test_jinjas_globals_are_there_in_every_render() -> None:
    """A template's globals are a plain copy of the environment's (a cheaper render): the
    built-in ones still work, render after render."""
    source = "{% for i in range(n) %}{{ i }}{% endfor %}|{{ dict(a=1)['a'] }}|{{ ns.x }}"
    for n in (1, 3):
        text = render_template("{% set ns = namespace(x=n) %}" + source, {"n": n}, name="t")
        assert text == f"{''.join(str(i) for i in range(n))}|1|{n}"


def test_templates_of_text_and_names_render_as_jinja_does() -> None:
    """Text and ``{{ name }}`` only are rendered without Jinja's machinery (a format): the
    same text as Jinja gives, for every kind of value a context holds, and Jinja's own
    errors and globals when a name is not in the context."""
    from mozart_protocol.score.render import _compile

    sources = [
        "sheet {{ sheet_num }}",
        "",
        "plain text, no names",
        "{a} {{b}} }} { {{ x }}{{x}}{}",
        "a {b} {{x}}{{ y -}}  \n z\n",
        "line one\r\nline two {{ x }}\r\n",
        "{# a comment #}{{ x }}{% raw %}{{ not a name }}{% endraw %}",
        "  {{- x -}}  \n\n",
        "{{ x }}{{ y }}{{ x }}",
        "{{ self }}|{{ range }}",
        "{{ x | string }}",
        "{% if x %}{{ y }}{% endif %}",
    ]
    values: list[object] = [
        3, 0, -7, True, False, None, 1.5, 1e16, float("inf"), "text", "{braces}", "",
        [1, "a", None], {"k": [1, 2], "n": None}, 10**30,
    ]  # fmt: skip
    simple = 0
    for source in sources:
        compiled = _compile(source)
        simple += compiled.fmt is not None
        for x in values:
            context = {"x": x, "y": "why", "b": 2, "sheet_num": x}
            assert render_template(source, context) == compiled.template.render(context), (
                source,
                x,
            )
    assert simple == 9
    # Not in the context: Jinja's global, else its error.
    assert render_template("{{ range }}", {}) == str(range)
    with pytest.raises(RenderError, match="'nope' is undefined"):
        render_template("a {{ nope }}", {"x": 1}, name="t")
