"""A fetch hands out what it consumed, for the partitions it was made for (streams.worker.seeking).

These run Faust's own ``Consumer.getmany`` (the worker's real consumer class, never started) over
a stand-in for its consumer thread that hands records out as aiokafka's fetcher does: per
partition asked for, and every partition's when asked for none, moving each partition's position
past what it hands out. The event loop pauses partitions while the thread waits, as Faust's
recovery does when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.worker.transport import SCHEME

ACTIVE = TP("fetch-travellers-changelog", 0)
STANDBY = TP("fetch-travellers-changelog", 2)
CROSSINGS = TP("fetch.crossings", 1)


def record(tp: TP, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())


class FetcherThread:
    """aiokafka's fetched records behind Faust's consumer thread (see the module docstring)."""

    def __init__(self, buffered: dict[TP, list[ConsumerRecord[bytes, bytes]]]) -> None:
        self.buffered = buffered
        self.asked: list[Any] = []
        self.during_wait: Callable[[], None] = lambda: None

    async def getmany(self, active_partitions: Any, timeout: float) -> dict[TP, Any]:
        self.asked.append(active_partitions)
        self.during_wait()  # the thread reads the set only once records arrive
        handed = {
            tp: records
            for tp, records in self.buffered.items()
            if not active_partitions or tp in active_partitions
        }
        for tp in handed:
            del self.buffered[tp]  # the position is past them now
        return handed

    def highwater(self, tp: TP) -> int:
        return 1_000


def consumer_over(thread: FetcherThread, active: set[TP]) -> Any:
    app = faust.App("fetch", broker=f"{SCHEME}://127.0.0.1:9")
    consumer: Any = app.consumer
    consumer._thread = thread
    consumer._active_partitions = set(active)
    return consumer


def fetch(consumer: Any) -> list[tuple[TP, int]]:
    async def drain() -> list[tuple[TP, int]]:
        return [(tp, message.offset) async for tp, message in consumer.getmany(1.0)]

    return asyncio.run(drain())


def test_a_standby_changelog_is_not_consumed_when_the_active_ones_are_paused_mid_fetch() -> None:
    # The two-worker flake: the standby was just sought to its start while a fetch for the
    # active changelogs waited; recovery then paused those, emptying Faust's live set.
    thread = FetcherThread({STANDBY: [record(STANDBY, offset) for offset in range(5)]})
    consumer = consumer_over(thread, {ACTIVE})
    thread.during_wait = lambda: consumer.pause_partitions({ACTIVE})
    assert fetch(consumer) == []
    assert [r.offset for r in thread.buffered[STANDBY]] == [0, 1, 2, 3, 4], "still to be read"
    assert thread.asked == [frozenset({ACTIVE})], "a copy, not the set the event loop changes"


def test_records_of_a_partition_paused_during_the_fetch_are_handed_out() -> None:
    thread = FetcherThread({STANDBY: [record(STANDBY, offset) for offset in range(3)]})
    consumer = consumer_over(thread, {STANDBY})
    thread.during_wait = lambda: consumer.pause_partitions({STANDBY})
    assert fetch(consumer) == [(STANDBY, 0), (STANDBY, 1), (STANDBY, 2)]


def test_no_fetch_is_made_for_an_empty_set_of_partitions() -> None:
    thread = FetcherThread({STANDBY: [record(STANDBY, 0)]})
    consumer = consumer_over(thread, {ACTIVE})
    consumer.pause_partitions({ACTIVE})

    async def fetch_for_the_empty_set() -> Any:
        return await consumer._getmany(consumer._get_active_partitions(), 0.0)

    assert asyncio.run(fetch_for_the_empty_set()) == {}
    assert thread.asked == [] and STANDBY in thread.buffered


def test_records_of_a_held_input_partition_are_left_to_its_seek() -> None:
    # Held from its assignment until it is sought to its committed offset: what a fetch gets
    # of it before that is read again from there, so it is not handed out now.
    thread = FetcherThread(
        {
            CROSSINGS: [record(CROSSINGS, offset) for offset in (40, 41)],
            STANDBY: [record(STANDBY, 7)],
        }
    )
    consumer = consumer_over(thread, {CROSSINGS, STANDBY})
    consumer.guard.held.add(CROSSINGS)
    assert fetch(consumer) == [(STANDBY, 7)]
