"""The publisher's way back from a failed producer, step by step against the real broker.

A producer whose transaction is still open is replaced by one with the same transactional id
(what :class:`~producers.publisher.EventPublisher` does after any failure). The new one's
``init_transactions`` fences the old one: its open transaction is aborted and its late writes and
commit are refused, so the ``read_committed`` read-back (:func:`delivered_event_ids`) finds none
of its events, and re-sending them all leaves each exactly once for read_committed readers. A
``read_uncommitted`` reader (a third-party client left at Kafka's default) sees the aborted
copies too: what the README tells such clients.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from base.credentials import kafka_client_security, publisher_transactional_prefix
from base.settings import Settings
from domain.events import Channel, CrossingRecorded, Direction, Document
from infra.kafka_broker import ensure_kafka_security
from producers.delivery import PendingEvent
from producers.publisher import new_event_id
from producers.reconcile import delivered_event_ids
from producers.transactions import TransactionalProducer
from schemas.codec import decode_event, encode_event

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_settings: Settings, make_topic: Callable[..., str]) -> Settings:
    settings = kafka_settings.with_overrides(topic_crossings=make_topic("crossings", 2))
    ensure_kafka_security(settings)  # the gate's ACLs on this topic
    return settings


def gate_producer(settings: Settings, transactional_id: str) -> TransactionalProducer:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        **kafka_client_security(settings, "gate"),
        "transactional_id": transactional_id,
        "acks": "all",
        "delivery_timeout_ms": 10_000,
        "request_timeout_ms": 5_000,
        "max_block_ms": 10_000,
    }
    producer = TransactionalProducer(config, time.monotonic)
    producer.init()
    return producer


def crossing_pending(settings: Settings, n: int) -> PendingEvent:
    event = CrossingRecorded(
        event_id=new_event_id(),
        traveller_id=f"trv-fence-{n}",
        occurred_at=datetime(2025, 12, 1, 8, tzinfo=UTC),
        port="CN-LUOHU",
        direction=Direction.EXIT,
        nationality="CHN",
        document=Document.EEP,
        channel=Channel.COUNTER,
    )
    key = event.traveller_id.encode()
    return PendingEvent(event.event_id, "CrossingRecorded", settings.topic_crossings, key,
                        encode_event(event), None)  # fmt: skip


def event_ids_on(settings: Settings, isolation: str) -> Counter[str]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    try:
        tps = [TopicPartition(settings.topic_crossings, p) for p in (0, 1)]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ids: Counter[str] = Counter()
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read to {ends}"
            for records in consumer.poll(timeout_ms=200).values():
                ids.update(decode_event(r.value).event_id for r in records)
        return ids
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_a_replacement_producer_fences_the_old_one_and_the_read_back_is_definitive(
    settings: Settings,
) -> None:
    since_ms = int(time.time() * 1000) - 1000
    transactional_id = f"{publisher_transactional_prefix(settings, 'gate')}fence-{uuid.uuid4()}"
    events = [crossing_pending(settings, n) for n in range(6)]
    wanted = {p.event_id for p in events}

    old = gate_producer(settings, transactional_id)
    for seq, pending in enumerate(events[:4]):
        old.send(seq, pending)
    old.wait(10)  # the broker holds these four records, in a transaction still open

    new = gate_producer(settings, transactional_id)  # fences the old producer
    for seq, pending in enumerate(events[4:], start=4):
        old.send(seq, pending)  # a late write of the old producer: refused
    wait_until(lambda: old.failure is not None, "the old producer's late write is refused")
    with contextlib.suppress(KafkaError):  # its commit: refused at once, or its result fails
        old.begin_commit()
    old.wait(10)
    assert old.committed() == [] and old.in_doubt() == list(range(6))
    old.abandon()

    topics = [settings.topic_crossings]
    assert delivered_event_ids(settings, topics, since_ms, wanted) == set()
    for seq, pending in enumerate(events):
        new.send(seq, pending)
    new.begin_commit()
    wait_until(lambda: new.committed() == list(range(6)) or new.failure is not None, "commit")
    assert new.failure is None
    new.close()

    assert delivered_event_ids(settings, topics, since_ms, wanted) == wanted
    assert event_ids_on(settings, "read_committed") == Counter(dict.fromkeys(wanted, 1))
    aborted = Counter({p.event_id: 2 for p in events[:4]} | {p.event_id: 1 for p in events[4:]})
    assert event_ids_on(settings, "read_uncommitted") == aborted
