"""Engine test fixtures; helpers live in tests/fakes (put on sys.path here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes"
if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

from enginekit import Recorder, Runner, make_runner  # noqa: E402
from mozart_daemon.engine import InMemoryCheckpoint  # noqa: E402


@pytest.fixture
def checkpoint() -> InMemoryCheckpoint:
    return InMemoryCheckpoint()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def run(checkpoint: InMemoryCheckpoint, recorder: Recorder) -> Runner:
    return make_runner(checkpoint, recorder)
