"""The read-only investigator on the ClickHouse cluster (two shards of two replicas).

A ``Distributed`` query reaches the other shards as the user named in ``remote_servers`` (the
writer: the sink's inserts go through the same tables), so what keeps the investigator read-only
there is that the initiating server sends the query's settings along: ``readonly=1``,
``allow_ddl=0`` and the investigator's limits arrive on every shard. These tests check that they
do, that every form of write, DDL or escape to another connection is refused on the cluster, and
that the cluster is unchanged afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from base.settings import Settings
from infra.clickhouse_cluster import ClickHouseCluster
from infra.clickhouse_server import connect, connect_investigator
from streams.store import open_store
from streams.store.investigator_guard import investigator_limits

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

READONLY = 164  # ClickHouse's error code: "Cannot execute query in readonly mode"
PROBED = ("readonly", "allow_ddl", "max_rows_to_read", "max_execution_time", "max_result_rows")


@pytest.fixture(scope="module")
def on_cluster(clickhouse_cluster: ClickHouseCluster) -> Iterator[Settings]:
    """A migrated database on the cluster, plus a Distributed table over every shard's
    ``system.settings`` (on the first replica only) to see what a remote shard runs with."""
    settings = clickhouse_cluster.settings.with_overrides(
        clickhouse_database=f"inv_{uuid.uuid4().hex[:8]}"
    )
    with open_store(settings) as store:
        store.migrate()
    writer = connect(settings)
    try:
        writer.execute(
            f"CREATE TABLE {settings.clickhouse_database}.probe_settings AS system.settings "
            f"ENGINE = Distributed({settings.clickhouse_cluster}, system, settings)"
        )
    finally:
        writer.disconnect()
    yield settings


def settings_on_every_shard(client: Any, database: str) -> list[tuple[str, str]]:
    names = ", ".join(f"'{n}'" for n in PROBED)
    rows = client.execute(
        f"SELECT name, value FROM {database}.probe_settings WHERE name IN ({names})"
    )
    return sorted((str(n), str(v)) for n, v in rows)


def test_the_investigators_readonly_profile_and_limits_reach_every_shard(
    on_cluster: Settings,
) -> None:
    limits = investigator_limits(on_cluster)
    expected = {"readonly": "1", "allow_ddl": "0"} | {
        name: str(limits[name]) for name in PROBED[2:]
    }
    investigator = connect_investigator(on_cluster)
    writer = connect(on_cluster)
    try:
        seen = settings_on_every_shard(investigator, on_cluster.clickhouse_database)
        writers = dict(settings_on_every_shard(writer, on_cluster.clickhouse_database))
    finally:
        investigator.disconnect()
        writer.disconnect()
    # One row per setting from each of the two shards, all with the investigator's values.
    assert seen == sorted([*expected.items(), *expected.items()])
    assert writers["readonly"] == "0"  # the same probe as the writer: the check can fail


WRITES = (
    "INSERT INTO {db}.dead_letters (reason) VALUES",
    "INSERT INTO {db}.dead_letters_local (reason) VALUES",
    "CREATE TABLE {db}.intruder ON CLUSTER {cluster} (x UInt8) ENGINE = Memory",
    "DROP TABLE {db}.events_local ON CLUSTER {cluster}",
    "ALTER TABLE {db}.events_local ON CLUSTER {cluster} DELETE WHERE 1",
    "TRUNCATE TABLE {db}.dead_letters_local",
    "OPTIMIZE TABLE {db}.events_local FINAL",
    "RENAME TABLE {db}.events TO {db}.events_gone",
    "SELECT count() FROM cluster('{cluster}', {db}, events)",
    "SELECT count() FROM remote('{host}:{port}', {db}, events)",
    "SET readonly = 0",
    "SYSTEM STOP MERGES",
)


@pytest.mark.parametrize("statement", WRITES)
def test_the_investigator_cannot_write_or_escape_on_the_cluster(
    on_cluster: Settings, clickhouse_cluster: ClickHouseCluster, statement: str
) -> None:
    from clickhouse_driver.errors import ServerException

    other = clickhouse_cluster.replicas[-1].settings  # a replica of the other shard
    sql = statement.format(
        db=on_cluster.clickhouse_database,
        cluster=on_cluster.clickhouse_cluster,
        host=other.clickhouse_host,
        port=other.clickhouse_port,
    )
    investigator = connect_investigator(on_cluster)
    try:
        with pytest.raises(ServerException) as refused:
            if sql.endswith("VALUES"):
                investigator.execute(sql, [("written by the investigator",)])
            else:
                investigator.execute(sql)
    finally:
        investigator.disconnect()
    assert refused.value.code == READONLY, refused.value


def test_the_cluster_is_unchanged_after_the_investigators_attempts(
    on_cluster: Settings, clickhouse_cluster: ClickHouseCluster
) -> None:
    """Runs after the refusals (file order): every replica still has every table, no rows."""
    database = on_cluster.clickhouse_database
    for replica in clickhouse_cluster.replicas:
        client = connect(replica.settings)
        try:
            tables = {name for (name,) in client.execute(f"SHOW TABLES FROM {database}")}
            rows = client.execute(f"SELECT count() FROM {database}.dead_letters_local")
        finally:
            client.disconnect()
        assert {"events", "events_local", "dead_letters_local"} <= tables, replica.name
        assert "intruder" not in tables and "events_gone" not in tables, replica.name
        assert rows == [(0,)], replica.name
