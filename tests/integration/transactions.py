"""One Kafka transaction written by a third-party client (kafka-python), committed or aborted.

Tests that need transaction markers and aborted records on a topic (the standard-clients test,
the changelog tail reader) write them with this.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from base.credentials import kafka_client_security
from base.settings import Settings

# (topic, key, value, partition or None for the key's partition)
Record = tuple[str, bytes, bytes, int | None]


def write_transaction(
    settings: Settings, records: Iterable[Record], *, commit: bool, client: str, **options: Any
) -> None:
    """Send ``records`` in one transaction of a fresh transactional id, then commit or abort it."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        # The operator's test login: a gate or an authority has no transactional-id grant.
        **kafka_client_security(settings, "operator"),
        transactional_id=f"{client}-{uuid.uuid4().hex[:8]}",
        **options,
    )
    producer.init_transactions()
    producer.begin_transaction()
    for topic, key, value, partition in records:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    if commit:
        producer.commit_transaction()
    else:
        producer.abort_transaction()
    producer.close()
