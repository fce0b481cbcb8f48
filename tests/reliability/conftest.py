"""Fixtures of the reliability suite: the e2e daemon fixtures plus a stray-process marker.

The daemon fixtures (``daemon``, ``daemon_factory``, ``write_score``, ``counts``; see the
docstring of tests/e2e/conftest.py) are loaded from that file by ``reliability_support`` and
re-exported here, so the reliability tests run against the same real
``mozartd start --foreground``. Helpers and sizes live in ``reliability_support.py``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_support as support

# Re-exported fixtures (pytest finds fixtures by attribute in a conftest module).
daemon_factory = support.e2e.daemon_factory
daemon = support.e2e.daemon
write_score_fixture = support.e2e.write_score_fixture
counts_fixture = support.e2e.counts_fixture


@pytest.fixture
def marker(request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique value for the ``MOZART_REL_MARK`` variable of a test's sheets; every process
    still carrying it at the end of the test is killed (it is this test's own)."""
    value = f"{request.node.name}-{os.getpid()}-{time.monotonic_ns()}"
    yield value
    support.kill_all(support.processes_with_env("MOZART_REL_MARK", value))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    support.write_figures(int(exitstatus))
