"""The publisher through a broker SIGKILL and restart under load (issue 12).

Gates publish a simulated day at a few hundred events/s into a broker of this test's own; it is
SIGKILLed three seconds in and started again on the same storage. Every event must then be in
Kafka exactly once, in ClickHouse exactly once after the worker and the sink ran, and the decisions
in force must equal the offline engine's (``ledger check --as-of``). Without a way back for the
idempotent producer, thousands of events never reached Kafka; re-sending with a new producer
without fencing the old one and reading back stored some twice. The publisher writes in
transactions (producers/publisher.py), so read ``read_committed`` (as the worker and the sink do)
the topics must hold every message exactly once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.events import Event, GateHeartbeat
from infra import process
from infra.kafka_broker import KafkaBroker, ensure_topics, project_topics
from producers.gates import publish_events
from producers.publisher import (
    EventPublisher,
    PublisherConfig,
    UndeliveredEventsError,
)
from producers.simulator import SimulationConfig, simulate
from schemas.codec import decode_event
from streams.policy_file import load_policy
from streams.store import open_store
from tests.cluster.kafka_helpers import running_sink, wait_until_sink_stored
from tests.conftest import ClickHouseService
from tests.pipeline import offline_decisions, running_worker, wait_until_settled

pytestmark = pytest.mark.e2e

PARTITIONS = 4
RATE = 300  # events handed to the publisher per second
CONFIG = SimulationConfig(start=date(2025, 12, 1), days=1, travellers=120, seed=12)
FAST = PublisherConfig(delivery_timeout_ms=8_000, request_timeout_ms=3_000, backoff_max_s=2.0)


@pytest.fixture
def own_broker(
    clickhouse_server: ClickHouseService, tmp_path: Path
) -> Iterator[tuple[Settings, KafkaBroker]]:
    """A broker of the test's own (it gets killed), with the project's topics; stopped after."""
    settings = own_broker_settings(clickhouse_server, tmp_path)
    broker = KafkaBroker(settings)
    try:
        broker.start()
        ensure_topics(settings, project_topics(settings), partitions=PARTITIONS)
        yield settings, broker
    finally:
        broker.stop()


def own_broker_settings(clickhouse_server: ClickHouseService, tmp_path: Path) -> Settings:
    host = "127.0.0.1"
    return clickhouse_server.settings.with_overrides(
        store="server",
        data_dir=tmp_path,
        chdb_path=tmp_path / "chdb",
        kafka_bootstrap=f"{host}:{process.free_port(host)}",
        kafka_controller_port=process.free_port(host),
        partitions=PARTITIONS,
        app_id=f"kill-{uuid.uuid4().hex[:8]}",
        clickhouse_database=f"kill_{uuid.uuid4().hex[:10]}",
        worker_web_port=process.free_port(host),
    )


def wanted_messages(events: list[Event]) -> Counter[str]:
    """Message ids: a heartbeat is one copy ``<id>.p<n>`` per partition."""
    wanted: Counter[str] = Counter()
    for e in events:
        if isinstance(e, GateHeartbeat):
            wanted.update(f"{e.event_id}.p{n}" for n in range(PARTITIONS))
        else:
            wanted[e.event_id] += 1
    return wanted


def messages_in_kafka(settings: Settings, timeout: float = 120.0) -> Counter[str]:
    """Event ids of every committed message on the input topics (read_committed, up to the end
    offsets now; the publisher has closed, so no transaction of its own is still open)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        topics = (settings.topic_crossings, settings.topic_permits)
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ids: Counter[str] = Counter()
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read the inputs to {ends}"
            for tp, records in consumer.poll(timeout_ms=500).items():
                ids.update(decode_event(r.value).event_id for r in records if r.offset < ends[tp])
        return ids
    finally:
        consumer.close()


class PacedPublisher(threading.Thread):
    """Hands events to an :class:`EventPublisher` at :data:`RATE` per second, then closes it."""

    def __init__(self, settings: Settings, events: list[Event]) -> None:
        super().__init__(daemon=True)
        # Crossings and permits through one producer (what this test is about): the operator's
        # login, since a gate may not write permits.
        self.publisher = EventPublisher(settings, FAST, client_id="paced-gates", role="operator")
        self.events = events
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for n, event in enumerate(self.events):
                publish_events([event], self.publisher)
                time.sleep(max(0.0, start + n / RATE - time.monotonic()))
            self.publisher.close(timeout=180)
        except BaseException as e:
            self.error = e


def test_publisher_survives_a_broker_sigkill_and_restart_under_load(
    own_broker: tuple[Settings, KafkaBroker], tmp_path: Path
) -> None:
    settings, broker = own_broker
    events = list(simulate(CONFIG).events)
    as_of = max(e.occurred_at for e in events) + timedelta(hours=12)
    published = [*events, GateHeartbeat("final-heartbeat", as_of, "HK-LO-WU")]
    gates = PacedPublisher(settings, published)
    gates.start()
    time.sleep(3)
    pid = broker.pid()
    assert pid is not None and gates.is_alive(), "the kill must land mid-publishing"
    os.kill(pid, signal.SIGKILL)
    time.sleep(8)
    broker.start()
    gates.join(timeout=600)
    assert not gates.is_alive() and gates.error is None, gates.error
    assert gates.publisher.failed_attempts > 0, "the outage was not felt"
    wanted = wanted_messages(published)
    in_kafka = messages_in_kafka(settings)
    missing, doubled = wanted - in_kafka, in_kafka - wanted
    assert not missing, f"{sum(missing.values())} messages not in Kafka: {list(missing)[:5]}"
    assert not doubled, f"{sum(doubled.values())} messages twice in Kafka: {list(doubled)[:5]}"
    print(
        f"{sum(wanted.values())} messages in Kafka once; {gates.publisher.failed_attempts} failures"
    )

    worker_log, sink_log = tmp_path / "worker.log", tmp_path / "sink.log"
    with (
        running_worker(settings, worker_log) as worker,
        running_sink(settings, sink_log) as sink,
    ):
        wait_until_settled(settings, [(worker, worker_log)], timeout=300)
        wait_until_sink_stored(settings, sink, sink_log, timeout=300)
    _, expected = offline_decisions(load_policy(), published)
    with open_store(settings) as store:
        rows = store.query("SELECT event_id, count() FROM events GROUP BY event_id").rows
        in_force = store.query(
            "SELECT decision_id, traveller_id, code FROM decisions_in_force"
        ).rows
    assert Counter(dict(rows)) == wanted, "the store holds every message once"
    assert sorted(in_force) == sorted(
        (d.decision_id, d.traveller_id, d.code.value) for d in expected.values()
    )
    assert len(expected) > 20


def test_close_names_every_undelivered_event_when_the_broker_never_returns(
    own_broker: tuple[Settings, KafkaBroker],
) -> None:
    settings, broker = own_broker
    events = [e for e in simulate(CONFIG).events if not isinstance(e, GateHeartbeat)][:400]
    publisher = EventPublisher(settings, FAST, client_id="stranded-gates", role="operator")
    publish_events(events[:200], publisher)
    assert publisher.flush(60)
    pid = broker.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    publish_events(events[200:], publisher)
    with pytest.raises(UndeliveredEventsError) as raised:
        publisher.close(timeout=15)
    report = raised.value.report
    assert report.delivered == 200
    assert sorted(u.event_id for u in report.undelivered) == sorted(
        e.event_id for e in events[200:]
    )
    assert f"{len(events) - 200} event(s) not delivered" in str(raised.value)
