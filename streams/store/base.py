"""The audit-store contract: one abstract :class:`Store`, two ClickHouse backends.

The ledger's append-only tables (``infra/sql``) live either in embedded chDB (the default, one
engine per process) or in a ClickHouse server reached over the native protocol. Both backends run
the SAME DDL and the SAME SQL; a backend only supplies two primitives, ``_execute`` (a statement
with ``{name:Type}`` parameters, ClickHouse's own placeholder syntax) and ``_insert`` (typed rows
into one table), and translates its driver's errors into :class:`StoreError` (``from e``), with
:class:`ReadOnlyError` for permission refusals and :class:`StoreUnavailableError` for a broken
connection, which callers may retry. ``open_store`` picks the backend from settings; the
``investigator`` role is read-only, enforced by the database itself on both backends.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from importlib import resources
from itertools import chain
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa

from base.settings import Settings
from streams.store.cluster_ddl import cluster_statements
from streams.store.errors import (
    ReadOnlyError,
    StoreError,
    StoreUnavailableError,
    quote_identifier,
)
from streams.store.rows import (
    DeadLetterRow,
    DecisionRow,
    EventRow,
    SinkOffsetRow,
    columns,
    sink_offset_row,
)
from streams.store.sql_files import split_statements, with_fills

Role = Literal["writer", "investigator"]
Row = Mapping[str, Any]
TopicPartition = tuple[str, int]

__all__ = ["ReadOnlyError", "StoreError", "StoreUnavailableError", "quote_identifier"]


class Table(StrEnum):
    """The sink-written tables; values are the table names in the DDL."""

    EVENTS = "events"
    DECISIONS = "decisions"
    DEAD_LETTERS = "dead_letters"


# Each row's place in its (topic, partition) Merkle log (streams/trust): the sink fills them.
LEAF_COLUMNS: tuple[str, ...] = ("leaf_index", "leaf_hash", "kafka_value")
# Column order of each table, as in infra/sql: the fields of its row type (streams/store/rows.py).
# Rows passed to insert_* are mappings with exactly these keys; instants are aware datetimes
# truncated to the second, with a separate *_ms column.
COLUMNS: dict[Table, tuple[str, ...]] = {
    Table.EVENTS: columns(EventRow),
    Table.DECISIONS: columns(DecisionRow),
    Table.DEAD_LETTERS: columns(DeadLetterRow),
}
# (table, column, its type, the column it follows): columns added to the DDL after release.
# Rows stored before the Merkle log existed keep leaf_hash '' (``ledger verify`` names them).
_ADDED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("events", "schema_fingerprint", "String", "payload"),
    ("decisions", "port", "Nullable(String)", "detail"),
    ("decision_day", "port", "Nullable(String)", "rule"),
    ("decisions", "port_at", "Nullable(DateTime('UTC'))", "port"),
    ("decisions", "port_at_ms", "Nullable(UInt16)", "port_at"),
    ("decisions", "last_port", "Nullable(String)", "port_at_ms"),
    ("decisions", "last_at", "Nullable(DateTime('UTC'))", "last_port"),
    ("decisions", "last_at_ms", "Nullable(UInt16)", "last_at"),
    *(
        (table, column, kind, after)
        for table in ("events", "decisions", "dead_letters")
        for column, kind, after in (
            ("leaf_index", "UInt64", "ingested_at"),
            ("leaf_hash", "String", "leaf_index"),
            ("kafka_value", "String", "leaf_hash"),
        )
    ),
)
# Maintained tables whose engine changed (partitions and ordering for one traveller's rows), by
# their former engine: a store holding it drops them, and the migration builds them again.
_FORMER_ENGINES = {"decision_current": "ReplacingMergeTree", "event_ports": "ReplacingMergeTree"}
# Tables kept up to date at insert time by the materialized view `<table>_mv` (001_ledger_state).
MAINTAINED_TABLES: tuple[str, ...] = (
    "decision_current",
    "decision_day",
    "event_ports",
    "stay_emissions",
)
# Maintained tables no longer kept, with their feeding views: a store holding them drops them
# (stay_decisions, the closing decisions by code, became part of stay_emissions).
_RETIRED_TABLES: tuple[str, ...] = ("stay_decisions_mv", "stay_decisions")
OFFSET_COLUMNS: tuple[str, ...] = columns(SinkOffsetRow)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a query as Python values, with column names and ClickHouse type names."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class ColumnResult:
    """Rows of a query column by column, read in the backend's bulk format (see
    :meth:`Store.query_blocks`): one list per column, all of the same length."""

    columns: tuple[str, ...]
    data: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        return self.data[self.columns.index(name)]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0


def ddl_statements(database: str) -> list[str]:
    """The migration statements from ``infra/sql/*.sql`` (in file order) for ``database``, each
    materialized view followed by the fill of its table (:mod:`streams.store.sql_files`)."""
    quoted = quote_identifier(database)
    statements: list[str] = []
    sql_dir = resources.files("infra") / "sql"
    for entry in sorted(sql_dir.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".sql"):
            statements.extend(with_fills(split_statements(entry.read_text("utf-8"))))
    return [statement.replace("{database}", quoted) for statement in statements]


_MIGRATIONS = threading.Lock()  # see Store.migrate


class Store(ABC):
    """An append-only ClickHouse audit store (events, decisions, dead letters, sink offsets).

    Thread-safe: one lock serialises the session (chDB's engine is shared by the process).
    Parameters in :meth:`query` use ClickHouse's ``{name:Type}`` syntax on every backend.
    """

    backend: str

    def __init__(self, settings: Settings, role: Role) -> None:
        self.settings = settings
        self.role: Role = role
        self.database = settings.clickhouse_database
        quote_identifier(self.database)
        self._lock = threading.RLock()
        self.migrated = False  # whether migrate() completed on this store object

    # -- backend primitives ------------------------------------------------------------------

    @abstractmethod
    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
        """Run one statement, returning its rows (empty for DDL/commands)."""

    @abstractmethod
    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert ``rows`` (mappings over ``columns``) into ``database.table`` in one INSERT."""

    @abstractmethod
    def _stream_columns(
        self, sql: str, params: Mapping[str, Any] | None
    ) -> Generator[ColumnResult, None, None]:
        """Run one SELECT, streaming its rows in blocks (see :meth:`query_blocks`)."""

    @abstractmethod
    def _close(self) -> None:
        """Release the backend's connections."""

    def _after_migrate(self) -> None:  # noqa: B027 - optional hook
        """Hook for backends that need to rebind their session once the database exists."""

    # -- public API ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the database and tables if missing (idempotent; run on every start).

        Migrations of one process run one at a time, whatever the store object: the views are
        dropped and created again, and a CREATE VIEW of one store failed when another store's
        migration had just dropped the view it reads (two sinks of one process share chDB's
        engine, each migrating as it starts).
        """
        with _MIGRATIONS, self._lock:
            statements = ddl_statements(self.database)
            if self.settings.clickhouse_cluster:
                cluster = self.settings.clickhouse_cluster
                statements = cluster_statements(statements, self.database, cluster)
            for statement in statements:
                self._execute(statement, None)
                if statement.startswith("CREATE DATABASE"):
                    self._drop_outdated_tables()
                    self._add_missing_columns()
            self._after_migrate()
            self.migrated = True

    def _drop_outdated_tables(self) -> None:
        """Maintained tables of an older engine, with their feeding views (rebuilt afterwards),
        and retired ones."""
        db = quote_identifier(self.database)
        for table, engine in _FORMER_ENGINES.items():
            found = self._execute(
                "SELECT count() FROM system.tables WHERE database = {db:String} "
                "AND name = {table:String} AND engine = {engine:String}",
                {"db": self.database, "table": table, "engine": engine},
            )
            if int(found.rows[0][0]):
                self._execute(f"DROP TABLE IF EXISTS {db}.{table}_mv", None)
                self._execute(f"DROP TABLE {db}.{table}", None)
        for table in _RETIRED_TABLES:
            self._execute(f"DROP TABLE IF EXISTS {db}.{table}", None)

    def _add_missing_columns(self) -> None:
        """Columns added to an append-only table after a store was created (``IF NOT EXISTS``
        keeps the old table; 18.16 has no ``ADD COLUMN IF NOT EXISTS``, so look first)."""
        db = quote_identifier(self.database)
        for table, column, kind, after in _ADDED_COLUMNS:
            found = self._execute(
                "SELECT count() FROM system.columns WHERE database = {db:String} "
                "AND table = {table:String} AND name IN ({column:String}, {after:String})",
                {"db": self.database, "table": table, "column": column, "after": after},
            )
            if int(found.rows[0][0]) == 1:  # the table exists (it has `after`) without `column`
                self._execute(
                    f"ALTER TABLE {db}.{table} ADD COLUMN {column} {kind} AFTER {after}", None
                )
                if table in MAINTAINED_TABLES:  # its feeding view selects the old columns:
                    # created again by the rest of the migration, whose fill (of an empty table
                    # only) rebuilds the rows from the record with the new column filled in
                    self._execute(f"DROP TABLE IF EXISTS {db}.{table}_mv", None)
                    self._execute(f"TRUNCATE TABLE {db}.{table}", None)

    def insert_events(self, rows: Sequence[Row]) -> None:
        """Append rows to ``events`` in one INSERT (see :data:`COLUMNS`)."""
        self.insert(Table.EVENTS, rows)

    def insert_decisions(self, rows: Sequence[Row]) -> None:
        """Append rows to ``decisions`` in one INSERT (see :data:`COLUMNS`)."""
        self.insert(Table.DECISIONS, rows)

    def insert_dead_letters(self, rows: Sequence[Row]) -> None:
        """Append rows to ``dead_letters`` in one INSERT (see :data:`COLUMNS`)."""
        self.insert(Table.DEAD_LETTERS, rows)

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        """Append rows to one of the sink tables in one INSERT.

        Not atomic across months: ClickHouse writes one part per ``PARTITION BY`` month, so a
        failure can leave some months' rows stored; the sink's resume logic accounts for it.
        """
        if not rows:
            return
        with self._lock:
            self._insert(table.value, COLUMNS[table], rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Append ``rows`` (mappings over ``columns``) to another table of the DDL, one INSERT."""
        if rows:
            with self._lock:
                self._insert(quote_identifier(table).strip("`"), columns, rows)

    def committed_offsets(self) -> dict[TopicPartition, int]:
        """Per (topic, partition), the next offset the sink has not yet durably stored."""
        result = self.query(
            f"SELECT kafka_topic, kafka_partition, max(next_offset) "
            f"FROM {quote_identifier(self.database)}.sink_offsets "
            f"GROUP BY kafka_topic, kafka_partition"
        )
        return {(str(t), int(p)): int(o) for t, p, o in result.rows}

    def commit_offsets(self, offsets: Mapping[TopicPartition, int], at: datetime) -> None:
        """Record that every offset below ``offsets[tp]`` is stored (``at``: aware datetime)."""
        rows = [sink_offset_row(t, p, o, at) for (t, p), o in sorted(offsets.items())]
        if rows:
            with self._lock:
                self._insert("sink_offsets", OFFSET_COLUMNS, rows)

    def stored_offsets(
        self, table: Table, topic: str, partition: int, start: int, end: int | None = None
    ) -> set[int]:
        """Offsets of ``topic``/``partition`` in ``[start, end)`` already held by ``table``."""
        sql = (
            f"SELECT DISTINCT kafka_offset FROM {quote_identifier(self.database)}.{table.value} "
            "WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:Int32} "
            "AND kafka_offset >= {start:Int64}"
        )
        params: dict[str, Any] = {"topic": topic, "partition": partition, "start": start}
        if end is not None:
            sql += " AND kafka_offset < {end:Int64}"
            params["end"] = end
        return {int(row[0]) for row in self.query(sql, params).rows}

    def stored_offsets_from(
        self, table: Table, starts: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, set[int]]:
        """Per partition of ``starts``, its offsets at or above its start already held by
        ``table``: one query (the table is not ordered by its Kafka coordinates, so each query
        reads the coordinate columns of the whole table)."""
        found: dict[TopicPartition, set[int]] = {tp: set() for tp in starts}
        if not starts:
            return found
        conditions = []
        params: dict[str, Any] = {}
        for i, ((topic, partition), start) in enumerate(sorted(starts.items())):
            conditions.append(
                f"(kafka_topic = {{t{i}:String}} AND kafka_partition = {{p{i}:Int32}} "
                f"AND kafka_offset >= {{o{i}:Int64}})"
            )
            params.update({f"t{i}": topic, f"p{i}": partition, f"o{i}": start})
        sql = (
            "SELECT DISTINCT kafka_topic, kafka_partition, kafka_offset "
            f"FROM {quote_identifier(self.database)}.{table.value} WHERE " + " OR ".join(conditions)
        )
        for topic, partition, offset in self.query(sql, params).rows:
            found[(str(topic), int(partition))].add(int(offset))
        return found

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run ``sql`` with ``{name:Type}`` parameters bound by the backend; return its rows."""
        with self._lock:
            return self._execute(sql, params)

    def query_blocks(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> Generator[ColumnResult, None, None]:
        """Like :meth:`query`, streamed in blocks of rows given column by column (chDB: Arrow
        tables; server: the driver's row stream), for reading millions of rows in bounded memory.

        Values: integers, strings (bytes that are not UTF-8 decoded with replacement), lists for
        arrays, None for NULL, and DateTime as whole seconds since the epoch on both backends.
        Exhaust or close the iterator before the next query on this store.
        """
        stream = self._stream_columns(sql, params)
        try:
            while True:
                with self._lock:
                    block = next(stream, None)
                if block is None:
                    return
                if len(block):
                    yield block
        finally:
            with self._lock:
                stream.close()

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Like :meth:`query`, the whole result as one Arrow table, for reading many rows with
        little Python work (chDB: its own Arrow output; here: the streamed blocks converted)."""
        with self._lock:
            blocks = list(self._stream_columns(sql, params))
        columns = zip(*(zip(b.columns, b.data, strict=True) for b in blocks), strict=True)
        return pa.table({c[0][0]: list(chain.from_iterable(d for _, d in c)) for c in columns})

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ClickHouse codes meaning "not allowed": READONLY, QUERY_IS_PROHIBITED,
# SETTING_CONSTRAINT_VIOLATION, ACCESS_DENIED.
PERMISSION_CODES = frozenset({164, 392, 452, 497})
