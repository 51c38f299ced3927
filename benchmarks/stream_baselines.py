"""The stream benchmark's backlog and its baselines: publishing the simulated backlog, and the raw
kafka-python and aiokafka consumers that only read and decode it (the ceiling of the ratio).
"""

from __future__ import annotations

import asyncio
import time

from base.credentials import kafka_client_security
from base.settings import Settings
from benchmarks.stream_common import BenchError, RawMessage
from domain.events import Event, GateHeartbeat
from schemas.codec import decode_event
from streams.ops import records_to_end

# --- 1. backlog ----------------------------------------------------------------------------------


def publish_backlog(settings: Settings, events: tuple[Event, ...]) -> tuple[int, float]:
    """Publish with EventPublisher; returns the messages on the input topics and the seconds."""
    from kafka import KafkaConsumer, TopicPartition

    from producers.roles import GatesAndAuthorities

    start = time.perf_counter()
    publisher = GatesAndAuthorities(settings, client_id="bench-stream-publisher")
    for event in events:
        publisher.publish(event)
    publisher.close(timeout=120)
    # A heartbeat goes to every crossings partition, any other event once.
    fan_out = publisher.gates.partition_count(settings.topic_crossings)
    expected = sum(fan_out if isinstance(e, GateHeartbeat) else 1 for e in events)
    elapsed = time.perf_counter() - start
    # Counted by reading them (read_committed) up to the end offsets, not by summing offsets: a
    # transactional producer leaves a commit marker per transaction, an offset that is no message.
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        tps = [
            TopicPartition(t, p)
            for t in (settings.topic_crossings, settings.topic_permits)
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        total = sum(1 for _ in records_to_end(consumer, tps))
    finally:
        consumer.close()
    if total != expected:
        raise BenchError(
            f"published {len(events)} events ({expected} messages) but the topics hold {total}"
        )
    return total, elapsed


# --- 2. raw consumer baselines -------------------------------------------------------------------


def _input_partitions(settings: Settings) -> list[tuple[str, int]]:
    """Every partition of the crossings and permits topics, from the broker's metadata."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_security(settings, "operator")
    )
    try:
        return [
            (t, p)
            for t in (settings.topic_crossings, settings.topic_permits)
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
    finally:
        consumer.close()


def raw_kafka_python(
    settings: Settings, total: int, keep: bool = False
) -> tuple[float, list[RawMessage]]:
    """Seconds from first to last message for kafka-python reading + decoding ``total`` messages."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        group_id=None,
        enable_auto_commit=False,
        client_id="bench-raw-kafka-python",
    )
    kept: list[RawMessage] = []
    try:
        tps = [TopicPartition(t, p) for t, p in _input_partitions(settings)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        n = 0
        first = 0.0
        deadline = time.monotonic() + 120
        while n < total:
            if time.monotonic() > deadline:
                raise BenchError(f"kafka-python consumer read only {n}/{total} in 120 s")
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if not n:
                    first = time.perf_counter()
                for r in records:
                    decode_event(r.value)
                    if keep:
                        kept.append(
                            RawMessage(r.topic, r.partition, r.offset, r.timestamp, r.value)
                        )
                n += len(records)
        return time.perf_counter() - first, kept
    finally:
        consumer.close()


def raw_aiokafka(settings: Settings, total: int) -> float:
    """Seconds from first to last message for aiokafka reading + decoding ``total`` messages."""

    async def run() -> float:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            **kafka_client_security(settings, "operator"),
            group_id=None,
            enable_auto_commit=False,
            client_id="bench-raw-aiokafka",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t, p in _input_partitions(settings)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            n = 0
            first = 0.0
            deadline = time.monotonic() + 120
            while n < total:
                if time.monotonic() > deadline:
                    raise BenchError(f"aiokafka consumer read only {n}/{total} in 120 s")
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batches.values():
                    if not n:
                        first = time.perf_counter()
                    for r in records:
                        decode_event(r.value)
                    n += len(records)
            return time.perf_counter() - first
        finally:
            await consumer.stop()

    return asyncio.run(run())
