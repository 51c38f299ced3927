"""On a three-broker KRaft cluster, one broker is SIGKILLed and restarted mid-stream.

Gates keep publishing (acks=all, idempotent) and the worker keeps enforcing while the broker is
down: with replication factor 3 and ``min.insync.replicas`` 2, the two survivors take over the
partitions it led. The sink runs into the ClickHouse server all along. Afterwards ClickHouse holds
every published message exactly once, and the decisions in force there equal the offline engine's
(``ledger check --as-of T``) over the same events.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from base.settings import Settings
from domain.events import Event, GateHeartbeat
from infra.kafka_cluster import KafkaCluster
from producers.simulator import SimulationConfig, simulate
from streams.policy_file import load_policy
from streams.store import open_store
from tests.cluster.kafka_helpers import (
    Trickle,
    all_topics,
    cluster_settings,
    leader_of,
    replication_of,
    running_sink,
    wait_until_sink_stored,
)
from tests.conftest import ClickHouseService
from tests.pipeline import (
    FAST_FAILOVER,
    logs_tail,
    offline_decisions,
    running_worker,
    topic_end_offsets,
    wait_until_settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

PARTITIONS = 4
CONFIG = SimulationConfig(
    start=date(2025, 12, 1),
    days=1,
    travellers=400,
    seed=31,
    violation_share=0.2,
    heartbeat_minutes=60,
)


@pytest.fixture
def settings(
    kafka_cluster: KafkaCluster, clickhouse_server: ClickHouseService, tmp_path: Path
) -> Settings:
    base = clickhouse_server.settings.with_overrides(
        store="server", kafka_bootstrap=kafka_cluster.bootstrap
    )
    return cluster_settings(base, tmp_path, PARTITIONS)


def committed_inputs(settings: Settings) -> int:
    from streams.ops import LagUnavailableError, consumer_lag

    topics = (settings.topic_crossings, settings.topic_permits)
    try:
        return sum(p.committed or 0 for p in consumer_lag(settings, settings.app_id, topics))
    except LagUnavailableError:
        return 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float, logs: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s\n{logs}")
        time.sleep(0.5)


def test_a_broker_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(
    kafka_cluster: KafkaCluster, settings: Settings, tmp_path: Path
) -> None:
    events = simulate(CONFIG).events
    as_of = max(e.occurred_at for e in events) + timedelta(hours=12)
    final = GateHeartbeat(event_id="final-heartbeat", occurred_at=as_of, port="HK-LO-WU")
    published: list[Event] = [*events, final]
    worker_log, sink_log = tmp_path / "worker.log", tmp_path / "sink.log"
    with (
        running_worker(settings, worker_log, FAST_FAILOVER) as worker,
        running_sink(settings, sink_log) as sink,
    ):
        workers = [(worker, worker_log)]
        # The first third, then the first commits: the worker is enforcing.
        third = len(published) // 3
        first = Trickle(settings, published[:third], chunks=6, pause=0.3)
        first.start()
        wait_for(lambda: committed_inputs(settings) > 0, "commits", 180, logs_tail(workers))
        first.join(timeout=180)
        # Kill the leader of an input partition: its partitions must move to the survivors.
        victim = kafka_cluster.nodes[leader_of(settings, settings.topic_crossings, 0) - 1]
        down_at = committed_inputs(settings)  # before the kill: it may hold the coordinator
        assert down_at > 0
        assert victim.kill()
        print(f"node {victim.node_id} SIGKILLed with {down_at} input messages committed")
        trickle = Trickle(settings, published[third:], chunks=16, pause=0.5)
        trickle.start()
        # While it is down, gates publish and the worker commits further.
        wait_for(
            lambda: trickle.chunks_done >= 3 and committed_inputs(settings) > down_at,
            "publishing and enforcing with a broker down",
            180,
            logs_tail(workers),
        )
        assert victim.pid() is None
        kafka_cluster.restart(victim)
        print(f"node {victim.node_id} back after {trickle.chunks_done} of 16 chunks")
        trickle.join(timeout=300)
        wait_until_settled(settings, workers, timeout=240)
        wait_until_sink_stored(settings, sink, sink_log, timeout=180)

    assert replication_of(settings, all_topics(settings)) == {3}
    _, expected = offline_decisions(load_policy(), published)
    with open_store(settings) as store:
        events_rows = store.query("SELECT event_id, count() FROM events GROUP BY event_id").rows
        per_message = store.query(
            "SELECT max(n), count() FROM (SELECT kafka_topic, kafka_partition, kafka_offset, "
            "count() AS n FROM decisions GROUP BY kafka_topic, kafka_partition, kafka_offset)"
        ).rows
        in_force = store.query(
            "SELECT decision_id, traveller_id, code FROM decisions_in_force"
        ).rows
    # Every published message once: a heartbeat is a copy "<id>.p<n>" on each partition; the
    # simulator publishes some traveller events twice, as gates do (two messages, two rows).
    wanted: Counter[str] = Counter()
    for e in published:
        if isinstance(e, GateHeartbeat):
            wanted.update(f"{e.event_id}.p{n}" for n in range(PARTITIONS))
        else:
            wanted[e.event_id] += 1
    assert Counter(dict(events_rows)) == wanted
    decision_messages = sum(topic_end_offsets(settings, settings.topic_decisions).values())
    assert per_message == [(1, decision_messages)]
    assert sorted(in_force) == sorted(
        (d.decision_id, d.traveller_id, d.code.value) for d in expected.values()
    )
    assert len(expected) > 20, "the stream should produce decisions"
