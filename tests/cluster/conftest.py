"""Session fixtures of the cluster tests: one three-node KRaft Kafka cluster for the session.

The cluster runs on free loopback ports under the session's temp dir, heaps of 256 MB per node.
A node that cannot start FAILS the tests that need it (with the log tails); it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra import process
from infra.errors import InfraError
from infra.kafka_cluster import KafkaCluster
from streams.settings import Settings

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
        base_settings.with_overrides(kafka_bootstrap=brokers), NODES, ports[NODES:]
    )
    try:
        cluster.start(timeout=CLUSTER_TIMEOUT)
    except InfraError as e:
        cluster.stop()
        pytest.fail(f"Kafka cluster did not start: {e}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
