"""Reading the Merkle logs back from the store: which logs exist, their checkpoints, their rows.

Shared by ``ledger verify`` and ``ledger prove``. Everything here only reads, so it runs as the
read-only investigator. Rows come back in Kafka offset order, in offset-range chunks, so memory
stays bounded on logs of millions of leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from base.settings import Settings
from streams.store.arrow import python_values
from streams.store.base import (
    COLUMNS,
    LEAF_COLUMNS,
    ColumnResult,
    Store,
    Table,
    quote_identifier,
)
from streams.trust.checkpoint import CHECKPOINT_COLUMNS, Checkpoint

# Columns that do not come from the Kafka value: where and when the sink stored it, the leaf.
NOT_FROM_VALUE = frozenset(
    {"kafka_topic", "kafka_partition", "kafka_offset", "ingested_at", *LEAF_COLUMNS}
    | {"emitted_at", "emitted_at_ms"}  # the decision message's Kafka timestamp
)
# Offsets per query: the tables are sorted by traveller, so each query scans the table once;
# its rows are held in memory while they are checked (more with the column checks, hence fewer
# offsets per query with them).
CHUNK_OFFSETS = 100_000
HASHES_CHUNK_OFFSETS = 400_000
# Rows per block handed to the checks (a block with a problem is walked row by row).
BLOCK_ROWS = 65_536
_WHERE = "kafka_topic = {topic:String} AND kafka_partition = {partition:Int32}"


def tables_of(settings: Settings) -> dict[str, Table]:
    """The table each stored topic feeds (as in the sink)."""
    return {
        settings.topic_crossings: Table.EVENTS,
        settings.topic_permits: Table.EVENTS,
        settings.topic_decisions: Table.DECISIONS,
        settings.topic_deadletter: Table.DEAD_LETTERS,
    }


def content_columns(table: Table) -> tuple[str, ...]:
    """The columns of ``table`` derived from the Kafka value."""
    return tuple(c for c in COLUMNS[table] if c not in NOT_FROM_VALUE)


@dataclass(frozen=True, slots=True)
class LogRef:
    """One (topic, partition) log and how many rows / the last offset the store holds for it."""

    table: Table
    topic: str
    partition: int
    rows: int
    max_offset: int


def list_logs(store: Store, settings: Settings) -> list[LogRef]:
    """Every log with stored rows or checkpoints, in (topic, partition) order."""
    db = quote_identifier(store.database)
    found: dict[tuple[str, int], LogRef] = {}
    for topic, table in tables_of(settings).items():
        result = store.query(
            f"SELECT kafka_partition, count(), max(kafka_offset) FROM {db}.{table.value} "
            "WHERE kafka_topic = {topic:String} GROUP BY kafka_partition",
            {"topic": topic},
        )
        for p, n, top in result.rows:
            found[(topic, int(p))] = LogRef(table, topic, int(p), int(n), int(top))
        signed = store.query(
            f"SELECT DISTINCT kafka_partition FROM {db}.checkpoints "
            "WHERE kafka_topic = {topic:String}",
            {"topic": topic},
        )
        for (p,) in signed.rows:
            found.setdefault((topic, int(p)), LogRef(table, topic, int(p), 0, -1))
    return [found[k] for k in sorted(found)]


def checkpoints_of(store: Store, topic: str, partition: int) -> list[Checkpoint]:
    """The log's checkpoints as stored, by tree size then signing time."""
    db = quote_identifier(store.database)
    result = store.query(
        f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM {db}.checkpoints WHERE {_WHERE} "
        "ORDER BY tree_size, signed_at, signed_at_ms",
        {"topic": topic, "partition": partition},
    )
    return [Checkpoint.from_row(dict(zip(result.columns, r, strict=True))) for r in result.rows]


@dataclass(frozen=True, slots=True)
class LeafBlock:
    """Consecutive rows of a log: the offsets and leaf columns as Python lists (``leaves``) and,
    for the column pass, the derived columns as read (``content``, Arrow), made Python values
    only for a row walk (``streams.trust.columns`` compares them column-wise in Arrow)."""

    leaves: ColumnResult
    content: pa.Table | None = None

    def __len__(self) -> int:
        return len(self.leaves)

    def column(self, name: str) -> list[Any]:
        """One of the offset and leaf columns."""
        return self.leaves.column(name)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows one by one, as mappings of column name to value (every column read)."""
        names, data = self.leaves.columns, self.leaves.data
        if self.content is not None:
            names += tuple(self.content.column_names)
            data = data + [python_values(c) for c in self.content.columns]
        for row in zip(*data, strict=True):
            yield dict(zip(names, row, strict=True))


def leaf_blocks_of(store: Store, log: LogRef, *, columns: bool = False) -> Iterator[LeafBlock]:
    """The log's rows in offset order (ties by leaf index): the offset and the leaf columns, and
    with ``columns`` every column derived from the value (:func:`content_columns`), in blocks
    of ``BLOCK_ROWS``.

    One query per offset chunk (``HASHES_CHUNK_OFFSETS``, or ``CHUNK_OFFSETS`` with the wider
    rows), read as one Arrow table (``Store.query_arrow``: chDB's own Arrow output is about 5
    times cheaper than its row stream), asked for unsorted and sorted by Arrow: the tables are
    sorted by traveller, and the server's sort of the wide value column cost more than reading
    it (chDB, 36k rows/s sorted against 159k unsorted, same run). Each chunk is fetched whole
    before any row is checked: a query kept open while a slow consumer checks its rows runs into
    the investigator's ``max_execution_time``, and chDB's stream then ends early without an
    error (seen at 250k rows with column checks)."""
    db = quote_identifier(store.database)
    leaf = ("kafka_offset", *LEAF_COLUMNS)
    derived = content_columns(log.table) if columns else ()
    chunk = CHUNK_OFFSETS if columns else HASHES_CHUNK_OFFSETS
    for lo in range(0, log.max_offset + 1, chunk):
        table = store.query_arrow(
            f"SELECT {', '.join((*leaf, *derived))} FROM {db}.{log.table.value} WHERE {_WHERE} "
            "AND kafka_offset >= {lo:Int64} AND kafka_offset < {hi:Int64}",
            {"topic": log.topic, "partition": log.partition, "lo": lo, "hi": lo + chunk},
        )
        if not table.num_rows:
            continue
        table = _arrow_in_offset_order(table)
        data = [python_values(table.column(c)) for c in leaf]
        content = table.select(list(derived)) if derived else None
        for start in range(0, table.num_rows, BLOCK_ROWS):
            leaves = ColumnResult(leaf, [c[start : start + BLOCK_ROWS] for c in data])
            part = None if content is None else content.slice(start, BLOCK_ROWS)
            yield LeafBlock(leaves, part)


def _arrow_in_offset_order(table: pa.Table) -> pa.Table:
    """``table`` by offset then leaf index (a stable sort: a row keeps its place among equals)."""

    def pairs(name: str) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
        column = table.column(name)
        return column.slice(1), column.slice(0, len(column) - 1)

    offsets, indexes = pairs("kafka_offset"), pairs("leaf_index")
    ordered = pc.or_(pc.greater(*offsets), pc.and_(pc.equal(*offsets), pc.greater_equal(*indexes)))
    if pc.all(ordered).as_py() is not False:
        return table
    keys = [("kafka_offset", "ascending"), ("leaf_index", "ascending")]
    return table.take(pc.sort_indices(table, sort_keys=keys))
