"""Which in-doubt events are already in committed transactions, read back from the topics.

:class:`~producers.publisher.EventPublisher` replaces a producer that failed with one of the same
transactional id, which fences it: its transaction is then committed or aborted for good and its
late writes are refused. Before re-sending, the publisher asks :func:`delivered_event_ids` which
of its unconfirmed events are on their topics, reading ``read_committed`` (records of aborted
transactions are skipped) up to the high watermark taken after the fence, so a record committed
behind another producer's still-open transaction is waited for, not missed. Every attempt was
stamped (CreateTime) no earlier than ``since_ms``, so only records from that timestamp are read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from kafka import KafkaConsumer, TopicPartition

from base.credentials import KafkaRole, kafka_client_security
from base.errors import LedgerError
from base.settings import Settings
from schemas.codec import decode_event

log = logging.getLogger(__name__)


class ReconcileError(LedgerError):
    """The topics could not be read back to their end (the broker is not back yet)."""


def delivered_event_ids(
    settings: Settings,
    topics: Collection[str],
    since_ms: int,
    wanted: Collection[str],
    timeout_s: float = 30.0,
    *,
    role: KafkaRole = "gate",
) -> set[str]:
    """The ids in ``wanted`` of events on ``topics`` with a record timestamp >= ``since_ms``.

    Raises :class:`ReconcileError` (or a ``KafkaError``) when the end cannot be reached in time.
    """
    wanted_ids = set(wanted)
    consumer = _reader(settings, role, "read_committed")
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in sorted(topics)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = _high_watermarks(settings, role, tps)
        todo = {tp: ends[tp] for tp in tps if starts.get(tp) is not None}
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp].offset)
        found: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in todo.items()):
            if time.monotonic() > deadline:
                raise ReconcileError(f"could not read {sorted(map(str, todo))} to their end")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset < todo[tp]:
                        found |= _event_id(record.value) & wanted_ids
        return found
    finally:
        consumer.close()


def _reader(settings: Settings, role: KafkaRole, isolation: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="border-ledger-publisher-reconcile",
        **kafka_client_security(settings, role),  # a gate or authority reads its own topic back
        enable_auto_commit=False,
        request_timeout_ms=10_000,
        isolation_level=isolation,
    )


def _high_watermarks(
    settings: Settings, role: KafkaRole, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """End offsets past every record written (a read_committed reader's stop at the first open
    transaction, the last stable offset, could hide committed records behind it)."""
    consumer = _reader(settings, role, "read_uncommitted")
    try:
        ends: dict[TopicPartition, int] = consumer.end_offsets(tps)
        return ends
    finally:
        consumer.close()


def _event_id(value: bytes | None) -> set[str]:
    try:
        return {decode_event(value or b"").event_id}
    except LedgerError:
        return set()  # not ours to judge: the worker dead-letters it
