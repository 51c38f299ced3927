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
        consumer = KafkaConsumer(
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
    if group is not None:
        keep_joins_in_flight(consumer)
    return consumer


def keep_joins_in_flight(consumer: Any) -> None:
    """Count a JoinGroup/SyncGroup round still in flight as a rejoin still needed.

    Works around kafka-python 3.0.12 (pinned): when a rejoin is due to a metadata change (every
    first join made before the subscribed topics' metadata arrived), the leader's assignment
    makes ``need_rejoin()`` false before the SyncGroup answer is read. A ``poll`` whose timeout
    expires in that window then never finishes the join: the partitions stay revoked, and the
    member fetches nothing, for good (the sink polls with short timeouts and hit it). The Java
    client counts a pending join as a rejoin needed (``rejoinNeededOrPending``); so does this.
    """
    coordinator = consumer._coordinator
    if not hasattr(coordinator, "_join_task"):  # another kafka-python: check it has the bug
        raise SinkError(
            "kafka-python's group coordinator has no _join_task: re-check the join workaround "
            "in streams/sink_kafka.py against this version"
        )
    need_rejoin = coordinator.need_rejoin

    def need_rejoin_or_pending() -> bool:
        return coordinator._join_task is not None or bool(need_rejoin())

    coordinator.need_rejoin = need_rejoin_or_pending


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
