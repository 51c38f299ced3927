"""Replication settings and the generated configuration of a three-node KRaft cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.settings import Settings
from infra.errors import InfraError
from infra.kafka_cluster import KafkaCluster, cluster_addresses


def test_replication_follows_the_number_of_brokers_unless_set() -> None:
    single = Settings.from_env(env={})
    assert (single.replication_factor, single.min_insync_replicas) == (1, 1)
    cluster = Settings.from_env(env={"LEDGER_KAFKA_BOOTSTRAP": "h:1,h:2,h:3"})
    assert cluster.kafka_brokers == ["h:1", "h:2", "h:3"]
    assert (cluster.replication_factor, cluster.min_insync_replicas) == (3, 2)
    chosen = Settings.from_env(
        env={
            "LEDGER_KAFKA_BOOTSTRAP": "h:1,h:2,h:3",
            "LEDGER_KAFKA_REPLICATION_FACTOR": "2",
            "LEDGER_KAFKA_MIN_INSYNC_REPLICAS": "1",
        }
    )
    assert (chosen.replication_factor, chosen.min_insync_replicas) == (2, 1)


def test_a_local_cluster_derives_its_ports_from_a_single_bootstrap_address() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:19092", kafka_controller_port=19093)
    brokers, controllers = cluster_addresses(settings, 3)
    assert brokers == ["127.0.0.1:19092", "127.0.0.1:19094", "127.0.0.1:19096"]
    assert controllers == [19093, 19095, 19097]
    cluster = KafkaCluster(settings, 3)
    assert cluster.bootstrap == ",".join(brokers)
    assert cluster.settings.replication_factor == 3


def test_every_node_has_its_own_id_ports_and_directory_and_replicates_internal_topics(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    cluster = KafkaCluster(settings, 3, controller_ports=[11, 12, 13])
    props = [node.server_properties() for node in cluster.nodes]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in props} == {
        "1@127.0.0.1:11,2@127.0.0.1:12,3@127.0.0.1:13"
    }
    assert [p["listeners"] for p in props][1] == (
        "SASL_PLAINTEXT://127.0.0.1:2,CONTROLLER://127.0.0.1:12"
    )
    assert all("controller.quorum.bootstrap.servers" not in p for p in props)
    for p in props:
        assert p["default.replication.factor"] == p["offsets.topic.replication.factor"] == "3"
        assert p["min.insync.replicas"] == p["transaction.state.log.min.isr"] == "2"
    assert len({node.home for node in cluster.nodes}) == 3
    assert all(node.heap == "-Xmx256m" for node in cluster.nodes)


def test_a_nodes_log_cleaner_buffer_is_a_small_part_of_its_heap(tmp_path: Path) -> None:
    # Allocated whole at startup; at Kafka's default (128 MiB) a 256 MiB node died of
    # OutOfMemoryError while starting.
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    for node in KafkaCluster(settings, 3, controller_ports=[11, 12, 13]).nodes:
        heap_bytes = int(node.heap.removeprefix("-Xmx").removesuffix("m")) * 1024 * 1024
        buffer_bytes = int(node.server_properties()["log.cleaner.dedupe.buffer.size"])
        assert buffer_bytes <= heap_bytes // 8


def test_a_cluster_needs_one_controller_port_per_node(tmp_path: Path) -> None:
    with pytest.raises(InfraError):
        KafkaCluster(Settings(data_dir=tmp_path), 3, controller_ports=[1, 2])
