"""The worker's startup heap leaves the cyclic collector's view once, at the first batch."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.worker.heap import StartupHeap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests see the collector as they expect it


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("unfrozen")
def test_first_call_freezes_what_lives_and_collects_what_does_not() -> None:
    kept = _Cycle()
    dropped = _Cycle()
    gone = weakref.ref(dropped)
    del dropped  # garbage only the cyclic collector can free
    heap = StartupHeap()
    heap.freeze_once()
    assert heap.frozen == gc.get_freeze_count() > 0
    assert gone() is None
    assert kept not in gc.get_objects()  # moved to the permanent generation


@pytest.mark.usefixtures("unfrozen")
def test_later_calls_leave_new_objects_to_the_collector() -> None:
    heap = StartupHeap()
    heap.freeze_once()
    first = heap.frozen
    later = _Cycle()
    heap.freeze_once()
    assert heap.frozen == first
    assert later in gc.get_objects()  # still in the generations the collector walks
