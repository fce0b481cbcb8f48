"""LearningHub: mining outcomes into patterns, relevance of lessons, effectiveness, what
fixed a failure, persistence across a restart, expected durations and the job ETA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mozart_daemon.handlers.job_methods import eta_seconds
from mozart_daemon.learning import HEADING, AttemptOutcome, LearningHub
from mozart_daemon.store import SheetRecord, Store
from mozart_protocol.score import (
    ContentContainsRule,
    FileExistsRule,
    ValidationRule,
)

REPORT = FileExistsRule(path="{workspace}/report.md", description="the report exists")
SUMMARY = ContentContainsRule(path="{workspace}/summary.md", pattern="DONE")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "state.db")
    yield store
    await store.close()


def failed(
    job_id: str,
    *,
    rules: list[ValidationRule],
    failing: list[int],
    attempt: int = 1,
    backend: str = "command",
    error_class: str = "validation",
    error: str | None = None,
    outcome: str = "failed",
    sheet_num: int = 1,
    duration: float = 1.0,
) -> AttemptOutcome:
    validations: list[object] = [
        {
            "index": i,
            "type": rule.__struct_config__.tag,
            "stage": 1,
            "passed": i not in failing,
            "description": f"check {i}",
            "message": None if i not in failing else f"rule {i} failed in {job_id}",
        }
        for i, rule in enumerate(rules)
    ]
    return AttemptOutcome(
        job_id=job_id,
        sheet_num=sheet_num,
        attempt=attempt,
        backend=backend,
        outcome=outcome,
        validations=validations,
        error_class=error_class,
        error=error,
        duration_seconds=duration,
    )


def passed(job_id: str, *, attempt: int = 2, kind: str = "normal", duration: float = 1.0,
           sheet_num: int = 1, backend: str = "command") -> AttemptOutcome:  # fmt: skip
    return AttemptOutcome(
        job_id=job_id,
        sheet_num=sheet_num,
        attempt=attempt,
        backend=backend,
        outcome="passed",
        kind=kind,
        duration_seconds=duration,
    )


async def test_the_same_rule_in_two_jobs_is_one_pattern(store: Store) -> None:
    hub = LearningHub(store.db)
    rules: list[ValidationRule] = [REPORT, SUMMARY]
    await hub.record(failed("a", rules=rules, failing=[0]), rules=rules)
    await hub.record(failed("b", rules=[REPORT], failing=[0]), rules=[REPORT])
    [pattern] = hub.patterns()
    assert (pattern.kind, pattern.rule_type, pattern.path, pattern.pattern) == (
        "validation",
        "file_exists",
        "{workspace}/report.md",
        None,
    )
    assert pattern.description == "the report exists"
    assert (pattern.occurrences, pattern.last_job_id) == (2, "b")
    assert pattern.last_error == "rule 0 failed in b"
    # Another description is another rule; the content rule keeps its pattern.
    other = FileExistsRule(path="{workspace}/report.md", description="other")
    await hub.record(failed("c", rules=[other, SUMMARY], failing=[0, 1]), rules=[other, SUMMARY])
    assert len(hub.patterns()) == 3
    assert {p.pattern for p in hub.patterns()} == {None, "DONE"}


async def test_error_classes_are_mined_per_backend(store: Store) -> None:
    hub = LearningHub(store.db)
    for backend in ("command", "command", "claude_cli@claude"):
        await hub.record(
            failed("a", rules=[], failing=[], backend=backend, error_class="timeout",
                   error="timed out after 60 s"),
        )  # fmt: skip
    await hub.record(failed("a", rules=[], failing=[], outcome="rate_limited",
                            error_class="rate_limit"))  # fmt: skip
    await hub.record(failed("a", rules=[], failing=[], outcome="cancelled",
                            error_class="cancelled"))  # fmt: skip
    found = {(p.backend, p.error_class): p.occurrences for p in hub.patterns(kind="error")}
    assert found == {("command", "timeout"): 2, ("claude_cli@claude", "timeout"): 1}
    assert hub.patterns(kind="validation") == []


async def test_a_score_with_learning_off_is_recorded_but_not_mined(store: Store) -> None:
    hub = LearningHub(store.db)
    await hub.record(failed("a", rules=[REPORT], failing=[0]), rules=[REPORT], mine=False)
    assert hub.patterns() == []
    assert [o.outcome for o in await hub.outcomes("a")] == ["failed"]


async def test_lessons_are_relevant_by_rule_and_backend(store: Store) -> None:
    hub = LearningHub(store.db)
    await hub.record(failed("a", rules=[REPORT, SUMMARY], failing=[0, 1]), rules=[REPORT, SUMMARY])
    await hub.record(failed("a", rules=[], failing=[], error_class="backend",
                            error="exited with status 3"))  # fmt: skip
    await hub.record(failed("a", rules=[], failing=[], error_class="fatal",
                            error="no such executable"))  # fmt: skip

    # Same type and path (the description does not matter for relevance).
    same = FileExistsRule(path="{workspace}/report.md")
    text = hub.lessons("b", 1, [same], "command")
    assert text is not None and text.startswith(f"## {HEADING}")
    assert "Validation `file_exists` on `{workspace}/report.md` (the report exists)" in text
    assert "rule 0 failed in a" in text
    assert "`summary.md`" not in text
    assert "error `backend` once; what went wrong: exited with status 3" in text
    assert "fatal" not in text  # a prompt cannot fix a missing executable

    # Another path, another pattern, another type: not relevant; another backend neither.
    elsewhere = [
        FileExistsRule(path="{workspace}/other.md"),
        ContentContainsRule(path="{workspace}/summary.md", pattern="OTHER"),
    ]
    assert hub.lessons("b", 1, elsewhere, "claude_cli@claude") is None
    text = hub.lessons("b", 1, [SUMMARY], "claude_cli@claude")
    assert text is not None and "with pattern `DONE`" in text


async def test_at_most_five_lessons_most_frequent_first(store: Store) -> None:
    hub = LearningHub(store.db)
    rules: list[ValidationRule] = [FileExistsRule(path=f"{{workspace}}/f{i}") for i in range(7)]
    for i in range(7):
        for _ in range(i + 1):
            await hub.record(failed("a", rules=rules, failing=[i]), rules=rules)
    text = hub.lessons("b", 1, rules, "command")
    assert text is not None
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(lines) == 5
    paths = [line.split("`")[3] for line in lines]
    assert paths == [f"{{workspace}}/f{i}" for i in (6, 5, 4, 3, 2)]


async def test_fixes_and_effectiveness(store: Store) -> None:
    hub = LearningHub(store.db)
    rules: list[ValidationRule] = [REPORT]
    # Job a: fails, then a completion attempt passes.
    await hub.record(failed("a", rules=rules, failing=[0]), rules=rules)
    await hub.record(passed("a", kind="completion"), rules=rules)
    await hub.sheet_finished("a", 1, completed=True)
    # Job b is given the lesson and completes; job c is given it and fails; job d is given
    # it and is interrupted (not scored).
    for job, completed in (("b", True), ("c", False), ("d", None)):
        assert hub.lessons(job, 1, rules, "command") is not None
        await hub.sheet_finished(job, 1, completed=completed)
    # Job e fails, then a normal retry passes.
    await hub.record(failed("e", rules=rules, failing=[0]), rules=rules)
    await hub.record(passed("e"), rules=rules)
    [pattern] = hub.patterns()
    assert (pattern.fixed_by_completion, pattern.fixed_by_retry) == (1, 1)
    assert (pattern.given, pattern.given_passed, pattern.effectiveness) == (2, 1, 0.5)
    text = hub.lessons("f", 1, rules, "command")
    assert text is not None and "Fixed by a retry once and by a completion attempt once" in text


async def test_patterns_survive_a_restart(store: Store) -> None:
    hub = LearningHub(store.db)
    await hub.record(failed("a", rules=[REPORT], failing=[0]), rules=[REPORT])
    assert hub.lessons("b", 1, [REPORT], "command") is not None
    await hub.sheet_finished("b", 1, completed=True)

    again = LearningHub(store.db)
    await again.load()
    [before], [after] = hub.patterns(), again.patterns()
    assert after == before
    assert again.lessons("c", 1, [REPORT], "command") is not None


async def test_expected_durations_per_sheet_then_per_backend(store: Store) -> None:
    hub = LearningHub(store.db)
    # Sheet 1 of job a: 2 s failed + 4 s passed, once; sheet 2: 1 s twice.
    await hub.record(failed("a", rules=[], failing=[], error_class="backend", duration=2.0))
    await hub.record(passed("a", duration=4.0))
    await hub.record(passed("a", sheet_num=2, duration=1.0))
    await hub.record(passed("a", sheet_num=2, duration=1.0))
    await hub.record(failed("a", rules=[], failing=[], outcome="cancelled", duration=50.0,
                            error_class="cancelled"))  # fmt: skip
    assert await hub.expected_durations("a") == {1: 6.0, 2: 1.0}
    assert await hub.expected_durations("other") == {}
    assert hub.backend_expected_seconds("command") == pytest.approx(8.0 / 3)
    assert hub.backend_expected_seconds("ollama@x") is None
    again = LearningHub(store.db)
    await again.load()
    assert again.backend_expected_seconds("command") == pytest.approx(8.0 / 3)


def sheet(num: int, status: str, started: datetime | None = None) -> SheetRecord:
    return SheetRecord(
        sheet_num=num, status=status, attempts=0, exit_code=None, error=None,
        started_at=started, finished_at=None, duration_seconds=None, stage=num, instance=1,
    )  # fmt: skip


def test_eta_spreads_the_remaining_work_over_the_parallel_slots() -> None:
    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    sheets = [
        sheet(1, "completed"),
        sheet(2, "running", now - timedelta(seconds=4)),
        sheet(3, "pending"),
        sheet(4, "pending"),
    ]
    expected: dict[int, float | None] = {1: 10.0, 2: 10.0, 3: 10.0, 4: 20.0}
    assert eta_seconds(sheets, expected, 1, now) == pytest.approx(36.0)
    assert eta_seconds(sheets, expected, 3, now) == pytest.approx(20.0)  # the longest sheet
    assert eta_seconds(sheets, {**expected, 4: None}, 1, now) is None
    assert eta_seconds([sheet(1, "completed")], expected, 1, now) == 0.0
