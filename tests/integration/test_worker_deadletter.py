"""The Faust worker through the real broker: contract-breaking input goes to the dead-letter
topic with its reason and coordinates, and the worker keeps processing what follows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.events import Basis, Channel, CrossingRecorded, Direction, Document
from ledger.job import malformed_messages
from schemas.codec import DeadLetter, decode_dead_letter, encode_event
from tests.pipeline import isolated_settings, running_worker, wait_until_worker_consumed

pytestmark = pytest.mark.integration


def _valid_entry(n: int) -> bytes:
    return encode_event(
        CrossingRecorded(
            event_id=f"valid-{n}",
            traveller_id="t-dl",
            occurred_at=datetime(2025, 12, 1, 8, n, tzinfo=UTC),
            port="HK-LO-WU",
            direction=Direction.ENTRY,
            nationality="CHN",
            document=Document.EEP,
            channel=Channel.COUNTER,
            basis=Basis.VISITOR,
        )
    )


def _read_all(settings: Settings, topic: str, expected: int) -> list[DeadLetter]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "sink"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    letters = [decode_dead_letter(m.value) for m in consumer]
    consumer.close()
    assert len(letters) == expected, letters
    return letters


def test_undecodable_and_invalid_messages_are_dead_lettered_and_the_worker_goes_on(
    kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(kafka_settings.with_overrides(partitions=1), make_topic, tmp_path)
    garbage, truncated, invalid = malformed_messages()
    sequence = [
        garbage,
        _valid_entry(1),
        truncated,
        _valid_entry(2),
        invalid,
        _valid_entry(3),
        garbage,
    ]
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **kafka_client_security(settings, "gate"),
    )
    offsets = []
    for raw in sequence:
        offsets.append(producer.send(settings.topic_crossings, key=b"t-dl", value=raw).get(30))
    producer.close()

    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        wait_until_worker_consumed(settings, proc, log)
        assert proc.poll() is None, "the worker must survive bad input"

    letters = _read_all(settings, settings.topic_deadletter, expected=4)
    by_offset = {d.source_offset: d for d in letters}
    bad_offsets = [offsets[i].offset for i in (0, 2, 4, 6)]
    assert sorted(by_offset) == bad_offsets
    for d in letters:
        assert d.source_topic == settings.topic_crossings
        assert d.source_partition == 0
        assert d.failed_at.tzinfo is not None
    assert by_offset[bad_offsets[0]].raw == garbage
    assert "bad marker" in by_offset[bad_offsets[0]].reason
    assert "truncated" in by_offset[bad_offsets[1]].reason
    assert by_offset[bad_offsets[1]].raw == truncated
    assert by_offset[bad_offsets[2]].reason == "InvalidEventError: basis: required on ENTRY"
    # The last message came after three valid ones and two bad ones: the worker kept going.
    assert by_offset[bad_offsets[3]].reason.startswith("DecodeError")
