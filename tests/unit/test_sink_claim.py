"""The sink's claim of partitions: which are sought to their stored point, which keep the records
the poll that completed the claim already returned (``streams.sink_group.claim``)."""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition as KafkaTopicPartition

from base.settings import Settings
from benchmarks.bench_sink import make_events
from schemas.codec import encode_event
from streams.sink import Sink
from streams.sink_group import Rebalances, claim
from streams.sink_retry import SinkStats, StoreCalls
from streams.store.base import Table, TopicPartition
from streams.trust.sinklog import SinkLog


class FakeConsumer:
    def __init__(self) -> None:
        self.sought: dict[TopicPartition, int] = {}

    def beginning_offsets(self, tps: list[KafkaTopicPartition]) -> dict[KafkaTopicPartition, int]:
        return {tp: 0 for tp in tps}

    def seek(self, tp: KafkaTopicPartition, offset: int) -> None:
        self.sought[(tp.topic, tp.partition)] = offset


class FakeStore:
    """Stored points: partition 0 at 10 (offset 11 already stored above it), the others at 0."""

    def committed_offsets(self) -> dict[TopicPartition, int]:
        return {("crossings", 0): 10}

    def stored_offsets_from(
        self, table: Table, starts: dict[TopicPartition, int]
    ) -> dict[TopicPartition, set[int]]:
        return {tp: {11} if tp[1] == 0 else set() for tp in starts}


def claimed(fetched: dict[TopicPartition, tuple[int, int]]) -> tuple[dict[Any, Any], FakeConsumer]:
    consumer = FakeConsumer()
    store: Any = FakeStore()
    merkle = SinkLog(Settings().with_overrides(sink_merkle=0), store)
    result = claim(
        consumer,
        [("crossings", 0), ("crossings", 1)],
        calls=StoreCalls(store, SinkStats()),
        tables={"crossings": Table.EVENTS},
        merkle=merkle,
        fetched=fetched,
    )
    return result, consumer


def test_records_fetched_from_at_or_below_the_stored_point_through_it_are_kept() -> None:
    result, consumer = claimed({("crossings", 0): (7, 40), ("crossings", 1): (0, 99)})
    assert result == {("crossings", 0): (10, {11}, True), ("crossings", 1): (0, set(), True)}
    assert consumer.sought == {}


def test_a_partition_whose_fetch_began_above_or_ended_below_its_point_is_sought() -> None:
    # Began above: the records from 10 up to the first one fetched may never have been read
    # (a group offset ahead of the store's); ended below: the position is short of the point.
    for span in ((11, 40), (3, 9)):
        result, consumer = claimed({("crossings", 0): span})
        assert result[("crossings", 0)] == (10, {11}, False)
        assert consumer.sought == {("crossings", 0): 10, ("crossings", 1): 0}


def test_without_fetched_records_every_partition_is_sought() -> None:
    result, consumer = claimed({})
    assert [kept for _, _, kept in result.values()] == [False, False]
    assert consumer.sought == {("crossings", 0): 10, ("crossings", 1): 0}


class Record:
    def __init__(self, topic: str, offset: int, event: Any) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset
        self.key = event.traveller_id.encode()
        self.value = encode_event(event)
        self.timestamp = -1


class PollingConsumer(FakeConsumer):
    """Completes the sink's first join inside ``poll`` and returns records fetched from
    ``fetched_from`` (the group's position) in the same poll."""

    def __init__(self, rebalances: Rebalances, topic: str, fetched_from: int) -> None:
        super().__init__()
        self.rebalances, self.topic, self.fetched_from = rebalances, topic, fetched_from

    def poll(self, timeout_ms: int, max_records: int) -> dict[KafkaTopicPartition, list[Record]]:
        tp = KafkaTopicPartition(self.topic, 0)
        self.rebalances.on_partitions_assigned([tp])
        events = make_events(5)
        return {tp: [Record(self.topic, o, events[o]) for o in range(self.fetched_from, 5)]}

    def assignment(self) -> set[KafkaTopicPartition]:
        return {KafkaTopicPartition(self.topic, 0)}

    def position(self, tp: KafkaTopicPartition) -> int:
        return self.sought.get((tp.topic, tp.partition), 5)


def first_poll(fetched_from: int) -> tuple[list[int], PollingConsumer]:
    """The offsets a fresh sink takes from its first poll, partition 0 stored up to 2."""
    settings = Settings().with_overrides(sink_merkle=0, topic_crossings="crossings")
    store: Any = FakeStore()
    store.committed_offsets = lambda: {("crossings", 0): 2}
    store.stored_offsets_from = lambda table, starts: {key: set() for key in starts}
    sink = Sink(settings, store)
    rebalances = Rebalances()
    consumer = PollingConsumer(rebalances, "crossings", fetched_from)
    sink._poll_once(consumer, rebalances)
    return [row["kafka_offset"] for row in sink._pending[Table.EVENTS]], consumer


def test_a_first_poll_that_fetched_from_below_the_stored_point_is_taken_from_it() -> None:
    taken, consumer = first_poll(fetched_from=0)
    assert taken == [2, 3, 4]
    assert consumer.sought == {}


def test_a_first_poll_that_fetched_from_above_the_stored_point_is_read_again() -> None:
    taken, consumer = first_poll(fetched_from=3)  # offset 2 was never returned
    assert taken == []
    assert consumer.sought == {("crossings", 0): 2}
