"""The cluster form of the migration, generated from the same infra/sql files."""

from __future__ import annotations

import re

import pytest

from streams.store.base import StoreError, ddl_statements
from streams.store.cluster_ddl import cluster_statements

DB = "ledger"


@pytest.fixture(scope="module")
def statements() -> list[str]:
    return cluster_statements(ddl_statements(DB), DB, "c1")


def test_every_table_is_replicated_per_shard_behind_a_distributed_table(
    statements: list[str],
) -> None:
    tables = re.findall(
        r"CREATE TABLE IF NOT EXISTS `ledger`\.(\w+)\n", "\n".join(ddl_statements(DB))
    )
    assert {"events", "decisions", "dead_letters", "sink_offsets"} <= set(tables)
    text = "\n".join(statements)
    for table in tables:
        assert f"CREATE TABLE IF NOT EXISTS `ledger`.{table}_local ON CLUSTER c1\n" in text, table
        assert f"'/clickhouse/tables/{{shard}}/ledger/{table}_local', '{{replica}}'" in text
        assert (
            f"AS `ledger`.{table}_local\nENGINE = Distributed(c1, ledger, {table}_local, " in text
        )
    assert "ENGINE = Distributed(c1, ledger, events_local, cityHash64(traveller_id))" in text
    path = "'/clickhouse/tables/{shard}/ledger/sink_offsets_local'"
    assert f"ReplicatedReplacingMergeTree({path}, '{{replica}}', next_offset)" in text
    assert "ENGINE = MergeTree()" not in text and "ENGINE = ReplacingMergeTree(" not in text


def test_every_ddl_statement_runs_on_the_whole_cluster(statements: list[str]) -> None:
    for statement in statements:
        if not statement.startswith("INSERT"):
            assert " ON CLUSTER c1" in statement.splitlines()[0], statement[:200]


def test_materialized_views_read_and_write_the_servers_own_tables(statements: list[str]) -> None:
    views = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    for view in views:
        assert re.search(r"\nTO `ledger`\.\w+_local\n", view), view[:200]
        assert not re.search(r"FROM `ledger`\.(?!\w+_local\b)\w+", view), view


def test_per_traveller_views_run_on_each_shard_and_cross_traveller_ones_on_top(
    statements: list[str],
) -> None:
    text = "\n".join(statements)
    assert "CREATE VIEW IF NOT EXISTS `ledger`.decisions_in_force_shard ON CLUSTER c1" in text
    assert "ENGINE = Distributed(c1, ledger, decisions_in_force_shard)" in text
    shard_view = next(s for s in statements if "VIEW IF NOT EXISTS `ledger`.stays_shard " in s)
    assert not re.search(r"`ledger`\.(?!\w+_(local|shard)\b)\w+", shard_view.split(" AS", 1)[1])
    # Counting decisions per day and port crosses travellers: one view over the whole cluster.
    by_day = next(
        s for s in statements if "VIEW IF NOT EXISTS `ledger`.decisions_by_rule_port_day " in s
    )
    assert by_day.startswith("CREATE VIEW") and "FROM `ledger`.decision_day\n" in by_day


def test_a_statement_without_a_cluster_form_is_refused() -> None:
    with pytest.raises(StoreError):
        cluster_statements(["ALTER TABLE `ledger`.events ADD COLUMN x String"], DB, "c1")
    with pytest.raises(StoreError):
        cluster_statements(["SELECT 1"], DB, "bad name")
