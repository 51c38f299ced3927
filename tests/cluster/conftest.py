"""Session fixtures of the cluster tests: a three-node KRaft Kafka cluster and a ClickHouse
cluster (two shards of two replicas, one ZooKeeper), each started once per session.

They run on free loopback ports under the session's temp dir (Kafka heaps 256 MB per node,
ZooKeeper 256 MB). A node that cannot start FAILS the tests that need it (with the log tails);
it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from base.settings import Settings
from infra import process
from infra.clickhouse_cluster import ClickHouseCluster, ClusterPorts
from infra.kafka_cluster import KafkaCluster
from tests.started import started

NODES = 3
CLUSTER_TIMEOUT = 240.0


@pytest.fixture(scope="session")
def kafka_cluster(base_settings: Settings) -> Iterator[KafkaCluster]:
    """A running three-node cluster; its ``settings`` list the three brokers."""
    host = "127.0.0.1"
    ports = [process.free_port(host) for _ in range(2 * NODES)]
    if len(set(ports)) != len(ports):
        pytest.fail(f"the OS handed out a port twice: {ports}", pytrace=False)
    brokers = ",".join(f"{host}:{p}" for p in ports[:NODES])
    cluster = KafkaCluster(
        base_settings.with_overrides(kafka_bootstrap=brokers),
        NODES,
        ports[NODES:],
        with_parent=True,
    )
    with started(cluster, "Kafka cluster", CLUSTER_TIMEOUT, fixture="kafka_cluster"):
        yield cluster


@pytest.fixture(scope="session")
def clickhouse_cluster(base_settings: Settings) -> Iterator[ClickHouseCluster]:
    """A running ClickHouse cluster; its ``settings`` point at the first replica."""
    settings = base_settings.with_overrides(store="server")
    ports = ClusterPorts.free(settings.clickhouse_host, shards=2, replicas=2)
    cluster = ClickHouseCluster(settings, shards=2, replicas=2, ports=ports, with_parent=True)
    with started(cluster, "ClickHouse cluster", CLUSTER_TIMEOUT, fixture="clickhouse_cluster"):
        yield cluster
