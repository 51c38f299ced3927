"""``ledger infra up|status|down clickhouse --nodes 2``: a ClickHouse cluster from the command line.

The command runs on ports fixed by settings (``ClusterPorts.local``), so the test picks base ports
whose derived ports are all free, runs the real command in a subprocess, and checks what came up:
ZooKeeper and two replicas of one shard that replicate a quorum insert between them.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from base.settings import Settings
from infra import process
from infra.clickhouse_cluster import ClickHouseCluster, ClusterPorts
from infra.clickhouse_server import connect
from streams.store import open_store
from tests.integration.test_verify import run_python

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def settings_on_free_ports(base: Settings, data_dir: Path) -> Settings:
    """``base`` with base ports whose two-replica cluster ports are all free right now."""
    host = base.clickhouse_host
    for _ in range(20):
        candidate = base.with_overrides(
            data_dir=data_dir,
            store="server",
            clickhouse_port=process.free_port(host),
            clickhouse_http_port=process.free_port(host),
            zookeeper_port=process.free_port(host),
        )
        ports = ClusterPorts.local(candidate, shards=1, replicas=2)
        wanted = [ports.zookeeper] + [
            p for r in ports.replicas[0] for p in (r.native, r.http, r.interserver)
        ]
        if len(set(wanted)) == len(wanted) and all(bindable(host, p) for p in wanted):
            return candidate
    pytest.fail("found no base ports whose cluster ports are all free", pytrace=False)


def infra(settings: Settings, action: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run_python(settings, "-m", "ledger", "infra", action, "clickhouse", *options)


def status_lines(settings: Settings) -> tuple[int, list[list[str]]]:
    done = infra(settings, "status", "--nodes", "2")
    return done.returncode, [line.split("\t")[:3] for line in done.stdout.splitlines()]


def test_the_cli_starts_reports_and_stops_a_replicated_cluster(
    base_settings: Settings, tmp_path: Path
) -> None:
    settings = settings_on_free_ports(base_settings, tmp_path)
    cluster = ClickHouseCluster(settings, shards=1, replicas=2)
    r1, r2 = cluster.replicas
    try:
        up = infra(settings, "up", "--nodes", "2", "--timeout", "180")
        assert up.returncode == 0, up.stderr
        assert "LEDGER_CLICKHOUSE_CLUSTER=ledger_cluster" in up.stderr
        code, lines = status_lines(settings)
        assert code == 0, lines
        assert lines == [
            ["zookeeper", "up", f"127.0.0.1:{settings.zookeeper_port}"],
            ["clickhouse-s1r1", "up", f"{settings.clickhouse_host}:{r1.port}"],
            ["clickhouse-s1r2", "up", f"{settings.clickhouse_host}:{r2.port}"],
        ]
        again = infra(settings, "up", "--nodes", "2")
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr

        # The cluster works: DDL ON CLUSTER reaches both replicas, a quorum insert on one is
        # on the other.
        database = f"cli_{uuid.uuid4().hex[:8]}"
        on_cluster = cluster.settings.with_overrides(clickhouse_database=database)
        with open_store(on_cluster) as store:
            store.migrate()
        writer = connect(on_cluster)
        try:
            writer.execute(
                f"INSERT INTO {database}.dead_letters (reason, kafka_topic, kafka_offset) VALUES",
                [("cli test", "t", 7)],
            )
        finally:
            writer.disconnect()
        other = connect(r2.settings)
        try:
            other.execute(f"SYSTEM SYNC REPLICA {database}.dead_letters_local")
            rows = other.execute(f"SELECT reason, kafka_offset FROM {database}.dead_letters_local")
        finally:
            other.disconnect()
        assert rows == [("cli test", 7)]

        down = infra(settings, "down", "--nodes", "2")
        assert down.returncode == 0, down.stderr
        assert "stopped s1r1, s1r2, zookeeper" in down.stderr
        code, lines = status_lines(settings)
        assert code == 1 and [line[1] for line in lines] == ["down", "down", "down"], lines
    finally:
        cluster.stop()


def test_the_cli_refuses_a_cluster_without_two_replicas_per_shard(
    base_settings: Settings, tmp_path: Path
) -> None:
    settings = base_settings.with_overrides(data_dir=tmp_path)
    done = infra(settings, "up", "--nodes", "3")
    assert done.returncode == 2
    assert "two replicas per shard" in done.stderr
    assert not (tmp_path / "clickhouse-cluster").exists()
