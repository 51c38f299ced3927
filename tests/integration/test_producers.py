"""Integration tests of the producers through a real Kafka broker (the session ``kafka_broker``)."""

from __future__ import annotations

import collections
import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from kafka import KafkaConsumer, TopicPartition

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.events import (
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Event,
    GateHeartbeat,
)
from infra.kafka_broker import ensure_kafka_security
from ledger import cli
from ledger.commands.simulate import write_json_lines
from producers.gates import publish_events
from producers.publisher import (
    EventPublisher,
    PublisherConfig,
    UndeliveredEventsError,
    new_event_id,
)
from producers.roles import GatesAndAuthorities
from producers.simulator import SimulationConfig, simulate
from schemas.codec import decode_event
from tests.pipeline import record_ranges, topic_end_offsets

pytestmark = pytest.mark.integration

PARTITIONS = 4
T0 = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def topics_settings(kafka_settings: Settings, make_topic: Callable[..., str]) -> Settings:
    """The session broker, with fresh crossings and permits topics of four partitions."""
    settings = kafka_settings.with_overrides(
        topic_crossings=make_topic("crossings", PARTITIONS),
        topic_permits=make_topic("permits", PARTITIONS),
        partitions=PARTITIONS,
    )
    ensure_kafka_security(settings)  # the gate's and authority's ACLs on these topics
    return settings


def _consume(
    settings: Settings, topics: list[str], expected: int
) -> list[tuple[str, int, bytes | None, bytes]]:
    """(topic, partition, key, value) of the first ``expected`` committed records (read as the
    sink reads, ``read_committed``), polling with a deadline."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "sink"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or [])
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[tuple[str, int, bytes | None, bytes]] = []
        deadline = 60.0
        waited = 0.0
        while len(out) < expected and waited < deadline:
            batch = consumer.poll(timeout_ms=500)
            waited += 0.5
            for tp, records in batch.items():
                out.extend((tp.topic, tp.partition, r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()


def _crossing(traveller: str) -> CrossingRecorded:
    return CrossingRecorded(
        event_id=new_event_id(),
        traveller_id=traveller,
        occurred_at=T0,
        port="CN-LUOHU",
        direction=Direction.EXIT,
        nationality="CHN",
        document=Document.EEP,
        channel=Channel.COUNTER,
    )


def test_simulated_events_come_back_decoded_keyed_and_co_partitioned(
    topics_settings: Settings,
) -> None:
    sim = simulate(
        SimulationConfig(start=date(2025, 12, 1), travellers=300, seed=4, violation_share=0.1)
    )
    events: list[Event] = [e for e in sim.events if not isinstance(e, GateHeartbeat)]
    publisher = GatesAndAuthorities(topics_settings, client_id="tests")
    assert publish_events(events, publisher) == (len(events), 0)
    report = publisher.close(timeout=60)
    assert report.delivered == len(events)
    assert report.undelivered == ()

    records = _consume(
        topics_settings,
        [topics_settings.topic_crossings, topics_settings.topic_permits],
        len(events),
    )
    decoded = [decode_event(value) for _, _, _, value in records]
    assert collections.Counter(decoded) == collections.Counter(events)
    partition_of: dict[str, set[int]] = collections.defaultdict(set)
    for (topic, partition, key, _), event in zip(records, decoded, strict=True):
        assert not isinstance(event, GateHeartbeat)
        assert key == event.traveller_id.encode()
        expected_topic = (
            topics_settings.topic_crossings
            if isinstance(event, CrossingRecorded)
            else topics_settings.topic_permits
        )
        assert topic == expected_topic
        partition_of[event.traveller_id].add(partition)
    # Same key, same partition count: a traveller's crossings and permits share one partition.
    assert all(len(parts) == 1 for parts in partition_of.values())
    assert len({p for parts in partition_of.values() for p in parts}) == PARTITIONS


def test_heartbeats_reach_every_partition_of_the_crossings_topic(topics_settings: Settings) -> None:
    publisher = EventPublisher(topics_settings)
    beats = publisher.send_heartbeats("HK-LO-WU", T0)
    publisher.close(timeout=30)
    assert len(beats) == PARTITIONS
    records = _consume(topics_settings, [topics_settings.topic_crossings], PARTITIONS)
    assert sorted(p for _, p, _, _ in records) == list(range(PARTITIONS))
    for _, _, key, value in records:
        assert key is None
        beat = decode_event(value)
        assert isinstance(beat, GateHeartbeat)
        assert beat.port == "HK-LO-WU" and beat.occurred_at == T0
    assert {decode_event(v).event_id for _, _, _, v in records} == {b.event_id for b in beats}


class _GatedProxy:
    """A loopback TCP forwarder to the broker that refuses connections until ``open()``."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in self._sockets:
            s.close()


@pytest.fixture
def gated_proxy(kafka_broker: object, kafka_settings: Settings) -> Iterator[_GatedProxy]:
    proxy = _GatedProxy(kafka_settings.kafka_bootstrap)
    yield proxy
    proxy.close()


def test_events_published_while_the_broker_is_unreachable_are_delivered_once_it_is_up(
    topics_settings: Settings, gated_proxy: _GatedProxy
) -> None:
    # The publisher bootstraps through a port nothing listens on yet: the broker is "down".
    settings = topics_settings.with_overrides(kafka_bootstrap=gated_proxy.address)
    config = PublisherConfig(bootstrap_timeout_ms=500, backoff_initial_s=0.1, backoff_max_s=0.5)
    publisher = EventPublisher(settings, config)
    events = [_crossing(f"trv-down-{i}") for i in range(20)]
    publisher.publish_all(events)
    assert not publisher.flush(timeout=1.0)
    assert publisher.unacknowledged == len(events)
    assert publisher.delivered == 0
    assert publisher.failed_attempts > 0

    gated_proxy.open()  # the broker becomes reachable
    assert publisher.flush(timeout=60.0)
    report = publisher.close(timeout=10)
    assert report.delivered == len(events)

    records = _consume(topics_settings, [topics_settings.topic_crossings], len(events))
    assert sorted(decode_event(v).event_id for *_, v in records) == sorted(
        e.event_id for e in events
    )


def test_close_reports_exactly_the_undelivered_events(topics_settings: Settings) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{dead.getsockname()[1]}"
    dead.close()  # nothing listens there
    settings = topics_settings.with_overrides(kafka_bootstrap=address)
    publisher = EventPublisher(
        settings, PublisherConfig(bootstrap_timeout_ms=300, backoff_initial_s=0.05)
    )
    events = [_crossing(f"trv-lost-{i}") for i in range(7)]
    publisher.publish_all(events)
    with pytest.raises(UndeliveredEventsError) as info:
        publisher.close(timeout=1.0)
    report = info.value.report
    assert [u.event_id for u in report.undelivered] == [e.event_id for e in events]
    assert report.delivered == 0
    assert all(u.topic == topics_settings.topic_crossings for u in report.undelivered)
    assert "7 event(s) not delivered" in str(info.value)


def test_a_quiet_publisher_commits_its_last_events_without_being_asked(
    topics_settings: Settings,
) -> None:
    # A gate that publishes and then stays quiet: its transaction is committed by the
    # publisher's timer, without flush() or close(), so read_committed readers get the events.
    publisher = EventPublisher(topics_settings, PublisherConfig(transaction_ms=100))
    events = [_crossing(f"trv-quiet-{i}") for i in range(3)]
    publisher.publish_all(events)
    deadline = time.monotonic() + 30
    while publisher.unacknowledged and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.unacknowledged == 0 and publisher.delivered == len(events)
    records = _consume(topics_settings, [topics_settings.topic_crossings], len(events))
    assert sorted(decode_event(v).event_id for *_, v in records) == sorted(
        e.event_id for e in events
    )
    assert publisher.close(timeout=10).delivered == len(events)


def test_a_backlog_goes_out_in_transactions_of_bounded_size(topics_settings: Settings) -> None:
    # Commits only by size here (the time bound is far away): 500 events in transactions of at
    # most 50 leave at least 10 commit markers (one per partition a transaction wrote to).
    config = PublisherConfig(transaction_ms=60_000, transaction_max_events=50)
    publisher = EventPublisher(topics_settings, config)
    events = [_crossing(f"trv-backlog-{i}") for i in range(500)]
    publisher.publish_all(events)
    assert publisher.close(timeout=30).delivered == len(events)
    topic = topics_settings.topic_crossings
    records = sum(
        e - s for spans in record_ranges(topics_settings, [topic]).values() for s, e in spans
    )
    markers = sum(topic_end_offsets(topics_settings, topic).values()) - records
    assert records == len(events) and markers >= len(events) // 50, (records, markers)


def test_publish_events_fans_heartbeats_out_and_counts(topics_settings: Settings) -> None:
    beat = GateHeartbeat(event_id="hb-1", occurred_at=T0, port="CN-FUTIAN")
    crossing = _crossing("trv-1")
    publisher = EventPublisher(topics_settings)
    sent, beats = publish_events([beat, crossing], publisher)
    report = publisher.close(timeout=30)
    assert (sent, beats) == (1, 1)
    assert report.delivered == 1 + PARTITIONS
    records = _consume(topics_settings, [topics_settings.topic_crossings], 1 + PARTITIONS)
    ids = sorted(decode_event(v).event_id for *_, v in records)
    assert ids == sorted([crossing.event_id, *(f"hb-1.p{p}" for p in range(PARTITIONS))])


def test_ledger_publish_reports_bad_lines_and_publishes_the_rest(
    topics_settings: Settings,
    tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulate(
        SimulationConfig(start=date(2025, 12, 1), travellers=20, seed=9, heartbeat_minutes=720)
    )
    out = io.StringIO()
    write_json_lines(sim.events, out)
    lines = out.getvalue().splitlines()
    lines.insert(
        1,
        '{"type": "GateHeartbeat", "event_id": "x", '
        '"occurred_at": "2025-12-01T08:00:00", "port": "PVG"}',
    )
    lines.insert(3, "{not json")
    path = f"{tmp_path}/events.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    for name, value in (
        ("KAFKA_BOOTSTRAP", topics_settings.kafka_bootstrap),
        ("TOPIC_CROSSINGS", topics_settings.topic_crossings),
        ("TOPIC_PERMITS", topics_settings.topic_permits),
    ):
        monkeypatch.setenv(f"LEDGER_{name}", value)

    status = cli.main(["publish", path, "--flush-timeout", "30"])

    err = capsys.readouterr().err
    assert status != 0
    assert "line 2: occurred_at: timestamp without a UTC offset" in err
    assert "line 4: json:" in err
    beats = sum(isinstance(e, GateHeartbeat) for e in sim.events)
    others = len(sim.events) - beats
    expected = others + beats * PARTITIONS
    records = _consume(
        topics_settings, [topics_settings.topic_crossings, topics_settings.topic_permits], expected
    )
    assert len(records) == expected
    published = collections.Counter(
        decode_event(v) for *_, v in records if not isinstance(decode_event(v), GateHeartbeat)
    )
    assert published == collections.Counter(
        e for e in sim.events if not isinstance(e, GateHeartbeat)
    )
