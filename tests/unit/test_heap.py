"""The worker's long-lived heap leaves the cyclic collector's view: everything at the first
batch, then what survived each full collection (streams.worker.heap)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.worker.heap import WorkerHeap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests see the collector as they expect it


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def tracked(obj: object) -> bool:
    """Whether ``obj`` is in the generations the collector walks (not frozen)."""
    return any(o is obj for o in gc.get_objects())


@pytest.mark.usefixtures("unfrozen")
def test_first_batch_freezes_what_lives_and_collects_what_does_not() -> None:
    kept = _Cycle()
    dropped = _Cycle()
    gone = weakref.ref(dropped)
    del dropped  # garbage only the cyclic collector can free
    heap = WorkerHeap()
    heap.at_batch()
    assert heap.frozen == gc.get_freeze_count() > 0
    assert heap.freezes == 1
    assert gone() is None
    assert not tracked(kept)  # moved to the permanent generation


@pytest.mark.usefixtures("unfrozen")
def test_without_a_full_collection_later_batches_freeze_nothing() -> None:
    gc.disable()  # no automatic full pass between the calls
    try:
        heap = WorkerHeap()
        heap.at_batch()
        first = heap.frozen
        later = _Cycle()
        heap.at_batch()
        assert (heap.frozen, heap.freezes) == (first, 1)
        assert tracked(later)  # still in the generations the collector walks
    finally:
        gc.enable()


@pytest.mark.usefixtures("unfrozen")
def test_survivors_of_a_full_collection_are_frozen_at_the_next_batch() -> None:
    gc.disable()
    try:
        heap = WorkerHeap()
        heap.at_batch()
        cached = [_Cycle() for _ in range(1000)]  # states the worker keeps
        dropped = _Cycle()
        gone = weakref.ref(dropped)
        del dropped
        assert all(tracked(c) for c in cached[:3])
        gc.collect()  # a full pass: frees the garbage cycle, the cached ones survive it
        assert gone() is None
        startup = gc.get_freeze_count()
        heap.at_batch()
        assert heap.freezes == 2
        assert gc.get_freeze_count() >= startup + len(cached)
        assert heap.frozen < gc.get_freeze_count()  # what the first batch froze, not updated
        assert not any(tracked(c) for c in cached[:3])
        heap.at_batch()  # no full pass since: nothing more to do
        assert heap.freezes == 2
    finally:
        gc.enable()


@pytest.mark.usefixtures("unfrozen")
def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    heap = WorkerHeap()
    state = {"traveller": "t-1"}  # no cycle: what the cache holds and later evicts

    class Holder:
        pass

    holder = Holder()
    holder.state = state  # type: ignore[attr-defined]
    released = weakref.ref(holder)
    del state
    heap.at_batch()
    assert not tracked(holder)
    del holder
    assert released() is None
