"""The migration of ``infra/sql/*.sql`` rewritten for a ClickHouse cluster (``ON CLUSTER``).

The SQL files stay the one source of the schema; when ``settings.clickhouse_cluster`` is set,
each statement is rewritten, never written twice:

* ``CREATE DATABASE`` runs ``ON CLUSTER``.
* A table ``T`` (``ENGINE = XMergeTree(args)``) becomes ``T_local`` with
  ``ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/T_local', '{replica}', args)`` on
  every server, and ``T`` becomes a ``Distributed`` table over it, sharded by
  ``cityHash64(traveller_id)`` (tables without a traveller: by Kafka topic and partition).
  Everything about one traveller therefore lives on one shard, so the views' joins and ``IN``
  subqueries, which always match rows of one traveller, run shard-locally
  (``distributed_product_mode = 'local'`` in the servers' profiles).
* A materialized view reads and writes the ``_local`` tables: it fires on the replica an insert
  lands on, and replication copies its output like any insert (a fetched part fires nothing).
* A view whose rows are a union of per-traveller rows (no outermost ``GROUP BY`` across
  travellers) becomes ``V_shard`` on every server, the same SQL over the ``_local`` tables and
  other ``_shard`` views, and ``V`` a ``Distributed`` table over it: every join, ``IN`` and
  ``argMax`` runs where the traveller's rows are (ClickHouse 18.16 also loses the NULLs of a
  Nullable inside a tuple when it merges ``argMax`` states between shards). A view that
  aggregates across travellers stays one SQL over the ``Distributed`` tables and views.
* ``DROP``s run ``ON CLUSTER``, for ``V`` and ``V_shard``.
* Other ``INSERT ... SELECT`` statements (fills of maintained tables) run once, through the
  ``Distributed`` tables.

A statement of another form raises :class:`StoreError` rather than be run unchanged.
"""

from __future__ import annotations

import re

from streams.store.errors import StoreError, quote_identifier

_CREATE_DATABASE = re.compile(r"CREATE DATABASE IF NOT EXISTS (\S+)\s*$")
_CREATE_TABLE = re.compile(
    r"CREATE TABLE IF NOT EXISTS (?P<db>`\w+`)\.(?P<table>\w+)\s*\n(?P<columns>\(.*?\n\))\s*\n"
    r"ENGINE = (?P<engine>\w*MergeTree)\((?P<args>[^)]*)\)(?P<rest>.*)",
    re.S,
)
_CREATE_MV = re.compile(
    r"CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<name>\S+)\s*\n"
    r"TO (?P<target>\S+)\s*\n(?P<body>AS .*)",
    re.S,
)
_CREATE_VIEW = re.compile(r"CREATE VIEW IF NOT EXISTS (?P<name>\S+) AS\b(?P<body>.*)", re.S)
_DROP = re.compile(r"DROP (TABLE|VIEW) IF EXISTS \S+\s*$")


def cluster_statements(statements: list[str], database: str, cluster: str) -> list[str]:
    """``statements`` (from ``ddl_statements(database)``) rewritten for ``cluster``."""
    quote_identifier(cluster)  # a plain identifier, or StoreError
    names: dict[str, str] = {}  # table or per-traveller view -> its name on one server
    result: list[str] = []
    for statement in statements:
        result.extend(_rewrite(statement.strip(), database, cluster, names))
    return result


def _rewrite(statement: str, database: str, cluster: str, names: dict[str, str]) -> list[str]:
    on = f" ON CLUSTER {cluster}"
    if _CREATE_DATABASE.match(statement):
        return [statement + on]
    if m := _DROP.match(statement):
        return [statement + on, f"{statement}_shard{on}"]
    if m := _CREATE_TABLE.match(statement):
        names[m["table"]] = f"{m['table']}_local"
        return _replicated_table(m, database, cluster)
    if m := _CREATE_MV.match(statement):
        target = _on_one_server(m["target"], database, names)
        body = _on_one_server(m["body"], database, names)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {m['name']}{on}\nTO {target}\n{body}"]
    if m := _CREATE_VIEW.match(statement):
        return _view(m, database, cluster, names)
    if statement.startswith("INSERT INTO "):
        return [statement]
    raise StoreError(f"no cluster form for this migration statement:\n{statement[:300]}")


def _view(m: re.Match[str], database: str, cluster: str, names: dict[str, str]) -> list[str]:
    on = f" ON CLUSTER {cluster}"
    if _groups_across_travellers(m["body"]):
        return [f"CREATE VIEW IF NOT EXISTS {m['name']}{on} AS{m['body']}"]
    db, _, view = m["name"].partition(".")
    body = _on_one_server(m["body"], database, names)
    names[view] = f"{view}_shard"
    return [
        f"CREATE VIEW IF NOT EXISTS {db}.{view}_shard{on} AS{body}",
        f"CREATE TABLE IF NOT EXISTS {db}.{view}{on} AS {db}.{view}_shard\n"
        f"ENGINE = Distributed({cluster}, {database}, {view}_shard)",
    ]


def _groups_across_travellers(body: str) -> bool:
    """True if the outermost SELECT groups by something other than a traveller's rows."""
    outer = body
    while True:
        stripped = re.sub(r"\([^()]*\)", " ", outer)
        if stripped == outer:
            break
        outer = stripped
    group_by = outer.rpartition("GROUP BY")[2] if "GROUP BY" in outer else None
    return group_by is not None and "traveller_id" not in group_by


def _replicated_table(m: re.Match[str], database: str, cluster: str) -> list[str]:
    db, table, local = m["db"], m["table"], f"{m['table']}_local"
    path = f"'/clickhouse/tables/{{shard}}/{database}/{local}', '{{replica}}'"
    args = f"{path}, {m['args']}" if m["args"].strip() else path
    key = (
        "cityHash64(traveller_id)"
        if re.search(r"^\s*traveller_id\s", m["columns"], re.M)
        else "cityHash64(kafka_topic, kafka_partition)"
    )
    if "traveller_id" not in key and "kafka_partition" not in m["columns"]:
        raise StoreError(f"table {table}: no traveller_id or Kafka coordinates to shard by")
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster}\n{m['columns']}\n"
        f"ENGINE = Replicated{m['engine']}({args}){m['rest']}",
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {key})",
    ]


def _on_one_server(sql: str, database: str, names: dict[str, str]) -> str:
    """``sql`` with each ``db.X`` of the migration's tables and per-traveller views as the
    server's own part of it (``X_local``, ``X_shard``); other names are refused."""
    db = quote_identifier(database)

    def local(match: re.Match[str]) -> str:
        if match[1] not in names:
            raise StoreError(f"{db}.{match[1]} has no per-server form on a cluster")
        return f"{db}.{names[match[1]]}"

    return re.sub(rf"{re.escape(db)}\.(\w+)\b", local, sql)
