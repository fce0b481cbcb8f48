"""Cross-job learning through a real mozartd: a validation failure of one job is a lesson in
the prompts of the jobs after it (and of a job already running, from its next attempt);
learning.patterns counts it and scores the lesson; job.history lists every attempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)
Handle = Any  # tests/e2e/conftest.py::DaemonHandle

HEADING = "Lessons from previous runs"
# The prompt arrives on stdin; each attempt keeps its own copy in the workspace.
SAVE_PROMPT = 'cat > "$MOZART_WORKSPACE/prompt-$MOZART_ATTEMPT.md"'


def wait_file(path: Path) -> str:
    """Shell: wait (bounded, about 10 s) until ``path`` exists."""
    return f"for i in $(seq 500); do [ -e {path} ] && break; sleep 0.02; done"


def score(
    directory: Path,
    name: str,
    command: str,
    *,
    description: str,
    retries: int = 0,
    extra: str = "",
) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        f"workspace: ./{name}-ws\n"
        f"backend: {{type: command, command: {json.dumps(command)}, timeout_seconds: 30}}\n"
        "sheet: {size: 1, total_items: 1}\n"
        "prompt: {template: 'Write the report.'}\n"
        "validations:\n"
        "  - type: file_exists\n"
        "    path: '{workspace}/report.md'\n"
        f"    description: {description}\n"
        f"retry: {{max_retries: {retries}, base_delay_seconds: 0.01, jitter: false}}\n"
        f"{extra}"
    )
    return path


def prompt(directory: Path, name: str, attempt: int) -> str:
    return (directory / f"{name}-ws" / f"prompt-{attempt}.md").read_text()


def submit(daemon: Handle, path: Path) -> str:
    job_id: str = daemon.request("job.submit", {"config_path": str(path)})["job_id"]
    return job_id


def test_a_failure_of_job_a_is_a_lesson_in_the_first_prompt_of_job_b(
    daemon: Handle, tmp_path: Path
) -> None:
    never = score(tmp_path, "a", SAVE_PROMPT, description="the report exists", retries=1)
    daemon.wait_job(submit(daemon, never), "failed")
    assert HEADING not in prompt(tmp_path, "a", 1)  # nothing was learned before it ran
    assert HEADING in prompt(tmp_path, "a", 2)  # its retry is told what went wrong

    writes = f'{SAVE_PROMPT}; echo done > "$MOZART_WORKSPACE/report.md"'
    daemon.wait_job(submit(daemon, score(tmp_path, "b", writes, description="b")), "completed")
    first = prompt(tmp_path, "b", 1)
    lessons = first.split(f"## {HEADING}", 1)[1]
    assert "Validation `file_exists` on `{workspace}/report.md` (the report exists)" in lessons
    assert "failed 2 times" in lessons and "does not exist" in lessons

    off = score(tmp_path, "c", writes, description="c", extra="learning: {enabled: false}\n")
    daemon.wait_job(submit(daemon, off), "completed")
    assert HEADING not in prompt(tmp_path, "c", 1)

    patterns = daemon.request("learning.patterns", {"kind": "validation"})["patterns"]
    [pattern] = [p for p in patterns if p["description"] == "the report exists"]
    assert pattern["occurrences"] == 2 and pattern["last_job_id"] == "a"
    # Given to a's own retry (which failed again) and to b (which passed).
    assert (pattern["given"], pattern["given_passed"], pattern["effectiveness"]) == (2, 1, 0.5)

    # ETAs: a running job's sheets are expected to take what passing sheets of the same
    # backend took (no run of its own score yet).
    release = tmp_path / "release"
    slow = score(tmp_path, "d", f"{writes}; {wait_file(release)}", description="d")
    d_id = submit(daemon, slow)
    daemon.wait_job(d_id, "running")
    status = daemon.request("job.status", {"job_id": d_id})
    assert status["sheets"][0]["expected_seconds"] is not None
    assert status["eta_seconds"] is not None
    release.touch()
    ended = daemon.wait_job(d_id, "completed")
    assert ended["eta_seconds"] is None and ended["sheets"][0]["expected_seconds"] is None

    history = daemon.request("job.history", {"job_id": "a"})["attempts"]
    assert [(h["attempt"], h["kind"], h["outcome"]) for h in history] == [
        (1, "normal", "failed"),
        (2, "normal", "failed"),
    ]
    assert history[0]["validations"][0]["passed"] is False
    with pytest.raises(daemon.RpcFailure) as info:
        daemon.request("job.history", {"job_id": "nope"})
    assert info.value.code == -32001


def test_a_failure_of_a_running_job_reaches_the_next_prompt_of_another(
    daemon: Handle, tmp_path: Path
) -> None:
    started, release = tmp_path / "y-started", tmp_path / "release"
    # x fails its validation once y's first attempt is under way; y's first attempt then
    # waits until the test saw x fail, and its second attempt writes the report.
    x = score(tmp_path, "x", f"{SAVE_PROMPT}; {wait_file(started)}", description="from x")
    y_command = (
        f"{SAVE_PROMPT}; if [ $MOZART_ATTEMPT = 1 ]; then touch {started}; {wait_file(release)};"
        ' else echo done > "$MOZART_WORKSPACE/report.md"; fi'
    )
    y = score(tmp_path, "y", y_command, description="from y", retries=1)
    x_id, y_id = submit(daemon, x), submit(daemon, y)
    daemon.wait_job(x_id, "failed")
    release.touch()
    daemon.wait_job(y_id, "completed")

    assert HEADING not in prompt(tmp_path, "y", 1)
    retry = prompt(tmp_path, "y", 2).split(f"## {HEADING}", 1)[1]
    assert "Validation `file_exists` on `{workspace}/report.md` (from x) failed once" in retry
    # y's own first failure is a lesson too, and a retry fixed it.
    assert "(from y) failed once" in retry
    patterns = {p["description"]: p for p in daemon.request("learning.patterns")["patterns"]}
    assert patterns["from y"]["fixed_by_retry"] == 1
    assert patterns["from x"]["given_passed"] == 1
