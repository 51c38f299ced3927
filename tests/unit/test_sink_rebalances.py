"""The sink's rebalance listener: what the sink claims after ``poll`` returns."""

from __future__ import annotations

from kafka import TopicPartition as KafkaTopicPartition

from streams.sink_group import Rebalances


def tps(*partitions: int) -> list[KafkaTopicPartition]:
    return [KafkaTopicPartition("crossings", p) for p in partitions]


def test_a_revocation_then_an_assignment_within_one_poll_is_reported_as_both() -> None:
    listener = Rebalances()
    listener.on_partitions_revoked(tps(0, 1, 2))
    listener.on_partitions_assigned(tps(2))
    assert listener.changed
    assert listener.take() == (
        {("crossings", 0), ("crossings", 1), ("crossings", 2)},
        {("crossings", 2)},
    )
    assert not listener.changed
    assert listener.take() == (set(), set())


def test_an_assignment_revoked_before_the_sink_saw_it_is_not_claimed() -> None:
    # Seen in a run: generation 1 gave this member every partition, the join for generation 2
    # (a second sink arriving) revoked them, all within one poll; the sink then claimed all of
    # them while the other sink was assigned two thirds, and both counted those as their own.
    listener = Rebalances()
    listener.on_partitions_assigned(tps(0, 1, 2))
    listener.on_partitions_revoked(tps(0, 1, 2))
    revoked, assigned = listener.take()
    assert revoked == {("crossings", 0), ("crossings", 1), ("crossings", 2)}
    assert assigned == set()


def test_a_lost_partition_counts_as_revoked() -> None:
    listener = Rebalances()
    listener.on_partitions_assigned(tps(0, 1))
    listener.on_partitions_lost(tps(1))
    assert listener.take() == ({("crossings", 1)}, {("crossings", 0)})
