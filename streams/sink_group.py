"""The sinks' consumer group (``{app_id}-sink``): which sink stores which partition.

The group decides which sink holds which partition, so sinks can share the topics across processes
and a second sink never takes a partition the first holds; Kafka's own tools show the group's lag.
Where each partition resumes still comes from the store (the coordinates stored beside the rows,
:func:`claim`): the offsets committed to the group only mirror it, and such a commit is also the
fence before every insert (it fails once this member has been evicted or a rebalance is under way).

kafka-python runs rebalance listeners on its IO thread, where no blocking consumer call is allowed,
so :class:`Rebalances` only records what was revoked, lost and assigned; the sink acts on it after
``poll`` returns. A rebalance completes only inside ``poll`` (the coordinator waits for every
member to rejoin), so no other sink takes a partition while this one is flushing it, unless this
one is evicted meanwhile: hence the fence. Residual risk: a sink frozen for longer than the session
timeout between its fence and its insert (ClickHouse has no transaction to bind them).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import ConsumerRebalanceListener

from base.settings import Settings
from streams.sink_retry import StoreCalls
from streams.store.base import Table, TopicPartition
from streams.trust.sinklog import SinkLog

log = logging.getLogger("streams.sink")


def sink_group(settings: Settings) -> str:
    """The sinks' consumer group (the sink role may read groups with this prefix)."""
    return f"{settings.app_id}-sink"


class Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """A kafka-python rebalance listener that records the partition changes (see module doc)."""

    def __init__(self) -> None:
        self.revoked: set[TopicPartition] = set()
        self.assigned: set[TopicPartition] = set()
        self.changed = False

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        # An assignment revoked before the sink saw it is no longer held: a member that joins
        # two generations within one poll (assigned, then revoked for the next join) must not
        # claim the first generation's partitions (it would count another sink's as its own).
        gone = {(tp.topic, tp.partition) for tp in revoked}
        self.revoked |= gone
        self.assigned -= gone
        self.changed = True

    def on_partitions_lost(self, lost: Iterable[Any]) -> None:  # evicted: nothing may be flushed
        self.on_partitions_revoked(lost)

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in assigned)
        self.changed = True

    def take(self) -> tuple[set[TopicPartition], set[TopicPartition]]:
        """The partitions revoked since the last call, and those assigned since then and not
        revoked again (the member's assignment now, where it changed)."""
        revoked, assigned = self.revoked, self.assigned
        self.revoked, self.assigned, self.changed = set(), set(), False
        return revoked, assigned


def commit_to_group(consumer: Any, points: Mapping[TopicPartition, int]) -> bool:
    """Commit ``points`` (next offsets) to the group; False when this member is not in the
    group's current generation (evicted, or a rebalance is under way): it must not flush."""
    from kafka import OffsetAndMetadata
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.errors import KafkaError

    offsets = {
        KafkaTopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in points.items()
    }
    try:
        consumer.commit(offsets)
    except KafkaError as e:
        log.warning("sink: group commit refused (%s); the unflushed batch is re-read", e)
        return False
    return True


def mirror_to_group(consumer: Any, points: Mapping[TopicPartition, int]) -> None:
    """Commit ``points`` (next offsets, just stored) to the group without waiting for the answer.

    Only a mirror for Kafka's tools and the next join's fetch position: the next flush's fence
    commits the same points and waits (a refused mirror is logged when its answer arrives).
    """
    from kafka import OffsetAndMetadata
    from kafka import TopicPartition as KafkaTopicPartition

    offsets = {
        KafkaTopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in points.items()
    }
    consumer.commit_async(offsets, callback=_mirrored)


def _mirrored(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.warning("sink: group commit (mirror) refused (%s); the next fence retries", response)


def claim(
    consumer: Any,
    tps: Iterable[TopicPartition],
    *,
    calls: StoreCalls,
    tables: Mapping[str, Table],
    merkle: SinkLog,
    fetched: Mapping[TopicPartition, tuple[int, int]] | None = None,
) -> dict[TopicPartition, tuple[int, set[int], bool]]:
    """Seek each of ``tps`` to its committed point in the store; per partition that point, the
    offsets above it already stored (exactly-once rests on these, not on the group's offsets),
    and whether records from that point on are kept from ``fetched`` instead of sought again.

    ``fetched``: per partition, the first and last offsets of the records the ``poll`` that
    completed this claim returned. kafka-python returns a partition's records contiguously from
    its fetch position (every visible record from there on, in order), and that position was at
    or below the first one; so when ``first <= point <= last`` those records already hold every
    record from the point on, up to the position after ``last``: no seek, no record read twice.
    Otherwise (the fetch began above the point, or ended below it) the partition is sought.
    """
    from kafka import TopicPartition as KafkaTopicPartition

    kafka_tps = [KafkaTopicPartition(t, p) for t, p in sorted(tps)]
    if not kafka_tps:
        return {}
    committed = calls.retry(calls.store.committed_offsets)
    beginnings = consumer.beginning_offsets(kafka_tps)
    starts: dict[TopicPartition, tuple[Table, int]] = {}  # the Merkle logs resume together
    kept: dict[TopicPartition, bool] = {}
    for tp in kafka_tps:
        key = (tp.topic, tp.partition)
        start = max(committed.get(key, 0), int(beginnings[tp]))
        first, last = (fetched or {}).get(key, (-1, -1))
        kept[key] = 0 <= first <= start <= last
        if not kept[key]:
            consumer.seek(tp, start)
        starts[key] = (tables[tp.topic], start)
    claimed: dict[TopicPartition, tuple[int, set[int], bool]] = {}
    for table in {table for table, _ in starts.values()}:
        points = {tp: start for tp, (t, start) in starts.items() if t is table}
        stored = calls.retry(functools.partial(calls.store.stored_offsets_from, table, points))
        for key, present in stored.items():
            claimed[key] = (points[key], present, kept[key])
            if present:
                log.info(
                    "sink: %s[%d] resumes at %d; %d offsets above it are already stored",
                    *key,
                    points[key],
                    len(present),
                )
    calls.retry(functools.partial(merkle.resume, starts))
    return claimed
