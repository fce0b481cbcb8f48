"""Shared helpers of the engine tests (importable: tests/fakes is put on sys.path)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml
from mozart_daemon.engine import (
    EngineHooks,
    InMemoryCheckpoint,
    SheetEvent,
    SheetRequest,
    SheetResult,
    run_sheet,
)
from mozart_protocol.score import LoadedScore, build_plan, load_score, resolve_workspace


@dataclass
class Recorder:
    """Hooks that record instead of waiting."""

    sleeps: list[float] = field(default_factory=list)
    events: list[SheetEvent] = field(default_factory=list)
    rate_limits: list[tuple[str, float]] = field(default_factory=list)
    waited_for: list[str] = field(default_factory=list)
    lines: list[tuple[int, str, str]] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def on_event(self, event: SheetEvent) -> None:
        self.events.append(event)

    def on_rate_limit(self, key: str, wait: float) -> None:
        self.rate_limits.append((key, wait))

    async def wait_if_rate_limited(self, key: str) -> None:
        self.waited_for.append(key)

    def hooks(self, **overrides: Any) -> EngineHooks:
        fields: dict[str, Any] = {
            "on_event": self.on_event,
            "on_rate_limit": self.on_rate_limit,
            "wait_if_rate_limited": self.wait_if_rate_limited,
            "on_log_line": lambda line: self.lines.append((line.sheet_num, line.stream, line.line)),
            "sleep": self.sleep,
            "random": lambda: 0.0,
            "grace_seconds": 1.0,
        }
        fields.update(overrides)
        return EngineHooks(**fields)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def write_score(tmp_path: Path, score: dict[str, Any]) -> LoadedScore:
    data: dict[str, Any] = {
        "name": "test-job",
        "workspace": "./ws",
        "sheet": {"size": 1, "total_items": 1},
        "prompt": {"template": "Do sheet {{ sheet_num }}."},
        "retry": {"base_delay_seconds": 0.01, "jitter": False, "completion_delay_seconds": 0.0},
    }
    for key, value in score.items():
        if key == "retry":
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp_path / "score.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_score(path)


Runner = Callable[..., Coroutine[Any, Any, SheetResult]]


def make_runner(checkpoint: InMemoryCheckpoint, recorder: Recorder) -> Runner:
    async def _run(
        loaded: LoadedScore, sheet_num: int = 1, hooks: EngineHooks | None = None
    ) -> SheetResult:
        plan = build_plan(loaded.score)
        request = SheetRequest(
            job_id="test-job",
            loaded=loaded,
            plan=plan,
            sheet=plan.sheet(sheet_num),
            workspace=resolve_workspace(loaded),
        )
        return await run_sheet(request, checkpoint=checkpoint, hooks=hooks or recorder.hooks())

    return _run


def processes_with(marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line contains ``marker``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found
