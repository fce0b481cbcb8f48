"""The progress bar: counts, elapsed time, ETA, and line mode off a terminal."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mozart_cli import progress

START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@dataclass
class Job:
    status: str = "running"
    job_id: str = "j"
    total_sheets: int = 4
    completed_sheets: int = 1
    failed_sheets: int = 0
    created_at: datetime = START
    started_at: datetime | None = START
    finished_at: datetime | None = None


def test_eta_at_the_pace_so_far() -> None:
    assert progress.eta_seconds(1, 4, 10.0) == 30.0
    assert progress.eta_seconds(0, 4, 10.0) is None
    assert progress.eta_seconds(4, 4, 10.0) is None
    assert progress.eta_seconds(1, 4, None) is None


def test_render_running_and_finished() -> None:
    now = START + timedelta(seconds=20)
    text = progress.render(Job(completed_sheets=2), now=now, unicode=False, stream=io.StringIO())
    assert text == "[############------------] 2/4 sheets  elapsed 20s  ETA 20s  running"
    done = Job(status="failed", completed_sheets=3, failed_sheets=1, finished_at=now)
    text = progress.render(done, now=now, unicode=False, stream=io.StringIO())
    assert "4/4 sheets" in text and "1 failed" in text and "ETA" not in text
    assert text.endswith("failed")


@dataclass
class JobWithEta(Job):
    eta_seconds: float | None = None


def test_the_daemons_eta_wins_and_counts_down() -> None:
    now = START + timedelta(seconds=20)
    job = JobWithEta(completed_sheets=2, eta_seconds=90.0)
    text = progress.render(job, now=now, unicode=False, stream=io.StringIO())
    assert "ETA 1m 30s" in text
    text = progress.render(job, now=now, unicode=False, stream=io.StringIO(), age=100.0)
    assert "ETA 0.0s" in text
    no_history = JobWithEta(completed_sheets=2)
    text = progress.render(no_history, now=now, unicode=False, stream=io.StringIO())
    assert "ETA 20s" in text  # the pace so far


def test_not_started_job_has_no_elapsed_time() -> None:
    text = progress.render(
        Job(started_at=None, completed_sheets=0), unicode=False, stream=io.StringIO()
    )
    assert "elapsed -" in text and "ETA -" in text


def test_line_mode_writes_only_changes() -> None:
    stream = io.StringIO()
    view = progress.ProgressView(stream)
    assert not view.live
    view.update(Job(completed_sheets=1))
    view.update(Job(completed_sheets=1))
    view.update(Job(completed_sheets=2))
    view.line("sheet 3 started")
    view.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("j: [") and "1/4" in lines[0]
    assert "2/4" in lines[1]
    assert lines[2] == "sheet 3 started"
    assert "\r" not in stream.getvalue()


def test_hook_events_are_not_shown_as_job_events() -> None:
    from mozart_cli.commands.follow import describe_event
    from mozart_protocol import JobEvent

    def text(kind: str, message: str) -> str:
        event = JobEvent(
            job_id="a", type=kind, sheet_num=None, attempt=None, message=message, time=START
        )
        return describe_event(event, stream=io.StringIO())

    done = text("hook.completed", "on_success[0] run_command `make`: exit 0")
    assert done == "hook completed: on_success[0] run_command `make`: exit 0"
    failed = text("hook.failed", "on_success[1] run_job `b.yaml`: refused")
    assert failed.startswith("hook failed: on_success[1]")
    assert text("job.completed", "") == "job completed"
