"""Which in-doubt events already reached Kafka, read back from the topics themselves.

kafka-python's idempotent producer deduplicates its own retries, but loses its producer id when
a batch expires while the broker is away (it resets the id to -1 and never asks for a new one),
so :class:`~producers.publisher.EventPublisher` replaces it. A new producer id has no sequence
history: re-sending a batch the broker had in fact written would store it twice. Before
re-sending, the publisher therefore asks :func:`delivered_event_ids` which of its unacknowledged
events are already on their topics. Every attempt was stamped (CreateTime) no earlier than
``since_ms``, so only records from that timestamp to the current end are read.
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
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="border-ledger-publisher-reconcile",
        **kafka_client_security(settings, role),  # a gate or authority reads its own topic back
        enable_auto_commit=False,
        request_timeout_ms=10_000,
    )
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in sorted(topics)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = consumer.end_offsets(tps)
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


def _event_id(value: bytes | None) -> set[str]:
    try:
        return {decode_event(value or b"").event_id}
    except LedgerError:
        return set()  # not ours to judge: the worker dead-letters it
