"""Operational read-outs: consumer-group lag per partition, from the broker's own bookkeeping.

Offsets are not all messages: transaction markers and aborted records take offsets that no
``read_committed`` consumer ever receives, so a group that has processed everything can commit
short of the end offset forever. When a partition trails by a little (at most
:data:`MARKER_CHECK_LIMIT` offsets), the remaining offsets are read ``read_committed`` and only
those holding a record count as lag.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from base.credentials import kafka_client_security
from base.errors import LedgerError
from base.settings import Settings


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
    unreadable: int = 0  # offsets past the committed one that hold no record (markers, aborted)

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0) - self.unreadable


MARKER_CHECK_LIMIT = 1000
_MARKER_CHECK_SECONDS = 5.0


def consumer_lag(settings: Settings, group: str, topics: Iterable[str]) -> list[PartitionLag]:
    """Lag of ``group`` on every partition of ``topics`` (uncommitted partitions count from 0)."""
    security = kafka_client_security(settings, "operator")  # lag of any group: an operator's job
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="ledger-ops", **security
    )
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="ledger-ops",
        enable_auto_commit=False,
        isolation_level="read_committed",  # end offsets stop at the last stable offset
        auto_offset_reset="earliest",
        **security,
    )
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
        lags = []
        for tp in partitions:
            start = committed[tp].offset if tp in committed else None
            lag = PartitionLag(tp.topic, tp.partition, start, int(ends[tp]))
            if 0 < lag.lag <= MARKER_CHECK_LIMIT:
                unreadable = _unreadable(consumer, tp, start or 0, lag.end)
                lag = PartitionLag(tp.topic, tp.partition, start, lag.end, unreadable)
            lags.append(lag)
        return lags
    finally:
        consumer.close()
        admin.close()


def _unreadable(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int) -> int:
    """Offsets in ``[start, end)`` with no record for a ``read_committed`` reader (0 if unsure)."""
    consumer.assign([tp])
    consumer.seek(tp, start)
    readable = 0
    deadline = time.monotonic() + _MARKER_CHECK_SECONDS
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            return 0  # could not read to the end: count every offset as lag
        for records in consumer.poll(timeout_ms=200).values():
            readable += sum(1 for r in records if r.offset < end)
    return end - start - readable


def records_to_end(
    consumer: KafkaConsumer, tps: list[TopicPartition], timeout: float = 60.0
) -> Iterator[tuple[TopicPartition, Any]]:
    """Every record ``consumer`` is handed from the start of ``tps`` to their end offsets now.

    Records, not offsets: with a ``read_committed`` consumer a transaction's marker and aborted
    records take offsets but are never handed out (see the module docstring).
    """
    ends = consumer.end_offsets(tps)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    deadline = time.monotonic() + timeout
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        if time.monotonic() > deadline:
            raise LedgerError(f"could not read {len(tps)} partitions to {ends} within {timeout} s")
        for tp, records in consumer.poll(timeout_ms=500).items():
            yield from ((tp, r) for r in records if r.offset < ends[tp])
