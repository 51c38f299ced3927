"""The sink's Kafka side: its consumer (a member of the sink group, :mod:`streams.sink_group`)
and the partitions of the topics it reads, waited for until they exist.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from base.credentials import kafka_client_security
from base.settings import Settings
from streams.sink_retry import SinkError

log = logging.getLogger("streams.sink")


SESSION_TIMEOUT_MS = 10_000  # a killed sink's partitions move on after this


def open_consumer(settings: Settings, client_id: str, group: str | None = None) -> Any:
    """A consumer that reads only committed (or non-transactional) messages; a member of
    ``group`` when given (then subscribe it), else manually assigned."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            **kafka_client_security(settings, "sink"),
            client_id=client_id,
            group_id=group,
            enable_auto_commit=False,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 4,
            auto_offset_reset="earliest",
            max_poll_records=settings.sink_batch_size,
            # Never store what a transactional worker (processing_guarantee=exactly_once)
            # aborted; non-transactional messages are visible at once either way.
            isolation_level="read_committed",
        )
    except KafkaError as e:
        raise SinkError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {e}") from e


def topic_partitions(
    consumer: Any,
    topics: Iterable[str],
    stop: threading.Event,
    timeout_seconds: float = 60.0,
) -> list[Any]:
    """Every partition of ``topics``, waiting (up to the timeout, or ``stop``) for them to exist."""
    from kafka import TopicPartition as KafkaTopicPartition

    deadline = time.monotonic() + timeout_seconds
    tps: list[Any] = []
    for topic in topics:
        while True:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                tps.extend(KafkaTopicPartition(topic, p) for p in sorted(parts))
                break
            if time.monotonic() > deadline or stop.is_set():
                raise SinkError(f"topic {topic} does not exist (or has no partitions)")
            log.warning("sink: waiting for topic %s to exist", topic)
            stop.wait(1.0)
    return tps
