"""The daemon process's own settings (lifecycle.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from mozart_daemon import lifecycle


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_the_collector_leaves_the_startup_objects_and_runs_young_collections_less_often() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    frozen = gc.get_freeze_count()
    lifecycle._settle_garbage_collector()
    assert gone() is None  # startup garbage is collected first, not frozen with the rest
    assert gc.get_freeze_count() > frozen + 1000
    assert gc.get_threshold()[0] == lifecycle.GC_YOUNG_THRESHOLD == 7000
