"""Operational read-outs: consumer-group lag per partition, from the broker's own bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streams.domain.errors import LedgerError
from streams.settings import Settings


class LagUnavailableError(LedgerError):
    """The broker could not report offsets right now (e.g. the group coordinator is moving)."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a consumer group's committed offset trails the end of one partition."""

    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


def consumer_lag(settings: Settings, group: str, topics: Iterable[str]) -> list[PartitionLag]:
    """Lag of ``group`` on every partition of ``topics`` (uncommitted partitions count from 0)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="ledger-ops")
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id="ledger-ops")
    try:
        try:
            committed = admin.list_group_offsets(group).get(group, {})
        except KafkaError as e:
            raise LagUnavailableError(
                f"offsets of group {group!r}: {e}", retriable=bool(e.retriable)
            ) from e
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions)
        return [
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=committed[tp].offset if tp in committed else None,
                end=int(ends[tp]),
            )
            for tp in partitions
        ]
    finally:
        consumer.close()
        admin.close()
