"""The sink's commits to its group around a flush: the fence waits, the mirror does not."""

from __future__ import annotations

from typing import Any

from kafka import OffsetAndMetadata
from kafka import TopicPartition as KafkaTopicPartition

from base.settings import Settings
from streams.sink import Sink
from streams.sink_group import Rebalances
from streams.store.base import Table
from tests.unit.test_sink_claim import FakeStore, PollingConsumer


class CommittingConsumer(PollingConsumer):
    def __init__(self, rebalances: Rebalances, topic: str, fetched_from: int) -> None:
        super().__init__(rebalances, topic, fetched_from)
        self.commits: list[tuple[str, dict[tuple[str, int], int]]] = []

    def _record(self, how: str, offsets: dict[KafkaTopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append(
            (how, {(tp.topic, tp.partition): o.offset for tp, o in offsets.items()})
        )

    def commit(self, offsets: dict[KafkaTopicPartition, OffsetAndMetadata]) -> None:
        self._record("waited", offsets)

    def commit_async(
        self, offsets: dict[KafkaTopicPartition, OffsetAndMetadata], callback: Any
    ) -> None:
        self._record("sent", offsets)


class InsertingStore(FakeStore):
    def __init__(self) -> None:
        self.inserted: list[int] = []
        self.points: dict[tuple[str, int], int] = {("crossings", 0): 2}

    def committed_offsets(self) -> dict[tuple[str, int], int]:
        return dict(self.points)

    def stored_offsets_from(self, table: Table, starts: Any) -> dict[tuple[str, int], set[int]]:
        return {tp: set() for tp in starts}

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        self.inserted += [row["kafka_offset"] for row in rows]

    def commit_offsets(self, offsets: dict[tuple[str, int], int], at: Any) -> None:
        self.points.update(offsets)


def test_a_flush_waits_for_the_fence_before_inserting_and_only_sends_the_mirror() -> None:
    settings = Settings().with_overrides(sink_merkle=0, topic_crossings="crossings")
    store: Any = InsertingStore()
    sink = Sink(settings, store)
    rebalances = Rebalances()
    consumer = CommittingConsumer(rebalances, "crossings", fetched_from=0)
    sink._poll_once(consumer, rebalances)
    sink._flush(consumer)
    assert store.inserted == [2, 3, 4]
    # The fence commits the point stored before the insert; the mirror the one stored after it.
    assert consumer.commits == [("waited", {("crossings", 0): 2}), ("sent", {("crossings", 0): 5})]
    assert store.points == {("crossings", 0): 5}
    assert sink.committed() == {("crossings", 0): 5}


def test_a_refused_mirror_is_logged_when_its_answer_arrives(caplog: Any) -> None:
    from kafka.errors import RebalanceInProgressError

    from streams.sink_group import _mirrored

    _mirrored({}, RebalanceInProgressError())
    _mirrored({}, object())  # an answer that is no error: nothing to say
    assert [r.getMessage() for r in caplog.records] == [
        "sink: group commit (mirror) refused ([Error 27] RebalanceInProgressError); "
        "the next fence retries"
    ]
