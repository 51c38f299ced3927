"""The sink into a ClickHouse cluster (two shards of two replicas) while a replica is SIGKILLed.

The same Kafka topics (events as gates publish them, the offline engine's emissions as the worker
publishes them, dead letters) are stored twice: by ``ledger sink`` into the cluster, where one
replica is SIGKILLed mid-run and restarted, and by the sink into a single server. Afterwards
the cluster holds every message exactly once, both replicas of each shard hold the same rows,
and every investigator view answers with the same rows on both stores (``ingested_at``, the
sink's wall clock, aside).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.engine import Engine
from domain.events import GateHeartbeat
from infra.clickhouse_cluster import ClickHouseCluster
from infra.kafka_cluster import KafkaCluster
from producers.simulator import SimulationConfig, simulate
from schemas.codec import DeadLetter, encode_dead_letter, encode_emission
from streams.policy_file import load_policy
from streams.sink import Sink
from streams.store import open_store
from streams.store.base import Role, ddl_statements
from tests.cluster.kafka_helpers import cluster_settings, running_sink, wait_until_sink_stored
from tests.conftest import ClickHouseService
from tests.pipeline import publish_stream, record_ranges, topic_end_offsets

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

CONFIG = SimulationConfig(
    start=date(2025, 12, 1), days=2, travellers=300, seed=53, violation_share=0.2
)
WALL_CLOCK_COLUMNS = {"ingested_at", "committed_at"}


def publish_inputs(settings: Settings) -> int:
    """Events, the offline engine's emissions and three dead letters; returns the emissions."""
    events = simulate(CONFIG).events
    as_of = max(e.occurred_at for e in events) + timedelta(hours=12)
    final = GateHeartbeat(event_id="final", occurred_at=as_of, port="HK-LO-WU")
    publish_stream(settings, [*events, final])
    engine = Engine(load_policy())
    emissions = [em for e in events for em in engine.process(e)]
    emissions.extend(engine.advance_to(as_of))
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **kafka_client_security(settings, "worker"),  # writes decisions and dead letters
    )
    try:
        for em in emissions:
            key = em.decision.traveller_id.encode()
            producer.send(settings.topic_decisions, key=key, value=encode_emission(em))
        for n in range(3):
            letter = DeadLetter(
                raw=b"\x00garbage" * n,
                reason=f"DecodeError: test {n}",
                source_topic=settings.topic_crossings,
                source_partition=n,
                source_offset=n,
                source_timestamp=None,
                failed_at=datetime(2025, 12, 2, 1, 2, 3, 456000, tzinfo=UTC),
            )
            producer.send(settings.topic_deadletter, key=b"bad", value=encode_dead_letter(letter))
        producer.flush(timeout=60)
    finally:
        producer.close()
    return len(emissions)


def view_names(database: str) -> list[str]:
    pattern = re.compile(rf"CREATE VIEW IF NOT EXISTS `{database}`\.(\w+)")
    return [m[1] for s in ddl_statements(database) if (m := pattern.match(s))]


def view_rows(settings: Settings, view: str, role: Role = "writer") -> list[str]:
    """The view's rows as sorted reprs, wall-clock columns left out."""
    with open_store(settings, role) as store:
        result = store.query(f"SELECT * FROM {view}")
    keep = [i for i, c in enumerate(result.columns) if c not in WALL_CLOCK_COLUMNS]
    return sorted(repr(tuple(row[i] for i in keep)) for row in result.rows)


def replica_count(replica_settings: Settings, table: str) -> Any:
    with open_store(replica_settings) as store:
        store.query(f"SYSTEM SYNC REPLICA {table}_local")
        return store.query(f"SELECT count() FROM {table}_local").rows[0][0]


def records_per_topic(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """Records (not offsets: a transactional producer leaves markers) on each topic."""
    topics = [t for t in names if "." in t]  # the topic settings among ``names``
    ranges = record_ranges(settings, topics)
    counts = dict.fromkeys(topics, 0)
    for key, spans in ranges.items():
        counts[key[: key.rindex("[")]] += sum(end - start for start, end in spans)
    return counts


def test_a_replica_killed_during_the_sink_run_changes_no_view(
    kafka_cluster: KafkaCluster,
    clickhouse_cluster: ClickHouseCluster,
    clickhouse_server: ClickHouseService,
    tmp_path: Path,
) -> None:
    topics = cluster_settings(kafka_cluster.settings, tmp_path, partitions=4)
    emissions = publish_inputs(topics)
    tag = uuid.uuid4().hex[:8]
    fields = ("kafka_bootstrap", "topic_crossings", "topic_permits", "topic_decisions")
    shared = {f: getattr(topics, f) for f in (*fields, "topic_deadletter")}
    on_cluster = clickhouse_cluster.settings.with_overrides(
        **shared, clickhouse_database=f"cl_{tag}", sink_batch_size=400, data_dir=tmp_path
    )
    single = clickhouse_server.settings.with_overrides(
        **shared, store="server", clickhouse_database=f"single_{tag}"
    )
    database = on_cluster.clickhouse_database
    with open_store(on_cluster) as store:
        store.migrate()
    victim = clickhouse_cluster.replicas[1]  # shard 1's second replica; the sink uses s1r1
    sink_log = tmp_path / "sink.log"
    with running_sink(on_cluster, sink_log) as sink:
        deadline = time.monotonic() + 120
        while not _stored_any(on_cluster):
            assert sink.poll() is None and time.monotonic() < deadline, sink_log.read_text()
            time.sleep(0.2)
        stored_at_kill = _stored(on_cluster)
        assert victim.kill()
        time.sleep(3)  # inserts to shard 1 wait for their quorum meanwhile; the sink retries
        victim.start(timeout=120)
        wait_until_sink_stored(on_cluster, sink, sink_log, timeout=240)
    total = sum(sum(topic_end_offsets(topics, t).values()) for t in shared.values() if "." in t)
    assert 0 < stored_at_kill < total, "the replica was not killed during the sink's run"

    with open_store(single) as store:
        store.migrate()
        sink_single = Sink(single, store, client_id="single-sink")
        sink_single.run(until=sink_single.end_offsets())

    ends = records_per_topic(topics, shared.values())
    with open_store(on_cluster) as store:
        per_offset = store.query(
            "SELECT kafka_topic, count(), uniqExact(kafka_partition, kafka_offset) "
            "FROM (SELECT kafka_topic, kafka_partition, kafka_offset FROM events UNION ALL "
            "SELECT kafka_topic, kafka_partition, kafka_offset FROM decisions UNION ALL "
            "SELECT kafka_topic, kafka_partition, kafka_offset FROM dead_letters) "
            "GROUP BY kafka_topic"
        ).rows
    assert sorted(per_offset) == sorted((t, n, n) for t, n in ends.items() if n)
    assert ends[topics.topic_decisions] == emissions
    for table in ("events", "decisions"):
        counts = [
            replica_count(r.settings.with_overrides(clickhouse_database=database), table)
            for r in clickhouse_cluster.replicas
        ]
        s1r1, s1r2, s2r1, s2r2 = counts
        assert s1r1 == s1r2 > 0 and s2r1 == s2r2 > 0, (table, counts)

    views = view_names(database)
    assert len(views) >= 8, views
    # The investigator, logged in on a replica of the other shard, reads the same rows.
    investigator = clickhouse_cluster.replicas[3].settings.with_overrides(
        clickhouse_database=database
    )
    for view in views:
        expected, actual = view_rows(single, view), view_rows(on_cluster, view)
        only_single = sorted(set(expected) - set(actual))[:3]
        only_cluster = sorted(set(actual) - set(expected))[:3]
        assert actual == expected, f"{view}: single only {only_single}; cluster only {only_cluster}"
        assert view_rows(investigator, view, "investigator") == expected, view
    assert view_rows(on_cluster, "decisions_in_force"), "no decision in force to compare"


def _stored(settings: Settings) -> int:
    """Messages the sink has committed as stored, over every partition."""
    with open_store(settings) as store:
        return sum(store.committed_offsets().values())


def _stored_any(settings: Settings) -> bool:
    return _stored(settings) > 0
