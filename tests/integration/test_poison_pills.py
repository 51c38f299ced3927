"""Poison pills through the real worker, broker and both stores (issue 12): each becomes a dead
letter with its reason, the worker keeps deciding, the partition's watermark does not move, and
the sink stores everything it can on chDB and on the server without halting."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.events import (
    Event,
    GateHeartbeat,
    PermitIssued,
    format_instant,
)
from ledger.worker_process import settings_env
from schemas.codec import DeadLetter, decode_dead_letter, encode_event
from streams.sink import Sink
from streams.store import open_store
from tests.pipeline import (
    isolated_settings,
    read_emissions,
    running_worker,
    wait_until_worker_consumed,
    worker_health,
)
from tests.samples import heartbeat, talent_permit
from tests.samples import hk_visitor_entry as entry

pytestmark = pytest.mark.integration

T0 = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
MAX_MESSAGE = 200_000  # the worker's output limit in this test (the broker takes ~1 MB)


def permit(valid_until: date) -> PermitIssued:
    name = f"permit-{valid_until.isoformat()}"
    return talent_permit(valid_until, event_id=name, traveller="t-permit", at=T0)


def key_of(event: Event) -> bytes | None:
    return None if isinstance(event, GateHeartbeat) else event.traveller_id.encode()


def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "sink"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
        fetch_max_bytes=8 * 1024 * 1024,
    )
    tp = TopicPartition(settings.topic_deadletter, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    letters = [decode_dead_letter(m.value) for m in consumer]
    consumer.close()
    return letters


def test_poison_pills_are_dead_letters_and_nothing_stops(
    service_settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = isolated_settings(
        service_settings.with_overrides(partitions=1, max_message_bytes=MAX_MESSAGE),
        make_topic,
        tmp_path,
    ).with_overrides(clickhouse_database=f"poison_{uuid.uuid4().hex[:10]}")
    crossings, permits = settings.topic_crossings, settings.topic_permits
    now = datetime.now(UTC)
    huge = "x" * 1_000_000
    big = "y" * 120_000
    good = [
        (crossings, entry("t-ok", T0 - timedelta(minutes=2))),
        (crossings, heartbeat(T0, "hb-good")),
    ]
    # (topic, event, key override or None, the reason's expected start)
    poison: list[tuple[str, Event, bytes | None, str]] = [
        (
            crossings,
            entry("t-far", datetime(9999, 12, 31, 23, tzinfo=UTC)),
            None,
            "occurred_at: ",
        ),
        (
            crossings,
            entry("t-old", datetime(1969, 7, 20, 20, tzinfo=UTC)),
            None,
            "occurred_at: ",
        ),
        (permits, permit(date(9999, 12, 31)), None, "valid_until: 9999-12-31 is outside"),
        (crossings, heartbeat(datetime(2100, 6, 1, tzinfo=UTC), "hb-2100"), None, "occurred_at: "),
        (crossings, heartbeat(now + timedelta(hours=1), "hb-ahead"), None, "occurred_at: "),
        (
            crossings,
            entry("t-key", T0),
            b"someone-else",
            "traveller_id: key b'someone-else'",
        ),
        (permits, entry("t-topic", T0), None, "type: a CrossingRecorded belongs on"),
        (crossings, permit(date(2026, 1, 1)), None, "type: a PermitIssued belongs on"),
        (crossings, entry(huge, T0), b"x", "traveller_id: key b'x'"),
    ]
    too_big = entry(big, T0, event_id="z" * 100_000)
    last = entry("t-after", T0 - timedelta(minutes=1))

    producer = KafkaProducer(  # poison on both inputs: the operator's test client
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **kafka_client_security(settings, "operator"),
    )
    offsets: dict[tuple[str, int], str] = {}  # (topic, offset) -> expected reason start
    for topic, event in good:
        producer.send(topic, key=key_of(event), value=encode_event(event)).get(30)
    for topic, event, key, reason in poison:
        sent = producer.send(topic, key=key or key_of(event), value=encode_event(event)).get(30)
        offsets[(topic, sent.offset)] = reason
    sent = producer.send(crossings, key=key_of(too_big), value=encode_event(too_big)).get(30)
    offsets[(crossings, sent.offset)] = "decision STAY_OPENED of"
    producer.send(crossings, key=key_of(last), value=encode_event(last)).get(30)
    producer.close()

    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        wait_until_worker_consumed(settings, proc, log)
        health = worker_health(settings)
        assert proc.poll() is None, "the worker must survive every poison pill"
    assert health is not None and health["status"] == "ok"
    # Only the good heartbeat and entries moved the clock: T0 is the greatest of them.
    assert [p["watermark"] for p in health["partitions"]] == [format_instant(T0)]

    letters = read_dead_letters(settings)
    got = {(d.source_topic, d.source_offset): d for d in letters}
    assert sorted(got) == sorted(offsets)
    for where, start in offsets.items():
        assert start in got[where].reason, (where, got[where].reason)
    assert all(len(d.raw) < MAX_MESSAGE for d in letters)
    cut = [d for d in letters if "to fit the broker's message size" in d.reason]
    assert len(cut) == 2  # the 1 MB traveller id and the too-large decision's input
    assert {em.decision.traveller_id for em in read_emissions(settings)} == {"t-ok", "t-after"}

    # The sink stores what is storable on both backends and finishes.
    valid = 4  # two entries, the good heartbeat and the big (valid, but undecidable) entry
    store = open_store(settings, "writer", "server")
    sink = Sink(settings, store)
    ends = sink.end_offsets()
    stats = sink.run(until=ends)
    assert sink.caught_up(ends)
    assert sum(stats.undecodable.values()) == len(poison)
    assert store.query("SELECT count() FROM events").rows == [(valid,)]
    assert store.query("SELECT count() FROM dead_letters").rows == [(len(offsets),)]
    assert store.query("SELECT count() FROM decisions").rows == [(2,)]
    store.close()

    env = {**os.environ, **settings_env(settings)}
    subprocess.run(
        [sys.executable, "-m", "ledger", "sink", "--store", "chdb", "--until-caught-up"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=300,
    )
    counts = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger",
            "sql",
            "--store",
            "chdb",
            "--tsv",
            "--as",
            "investigator",
            "SELECT (SELECT count() FROM events), (SELECT count() FROM dead_letters), "
            "(SELECT count() FROM decisions)",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert counts[-1].split("\t") == [str(valid), str(len(offsets)), "2"]
