"""``ledger retention``: find the stays whose retention ended and erase their payloads, verifiably.

A stay is a ``STAY_OPENED`` decision's entry (the ``stays`` view) with every decision citing
that entry first and every event those decisions cite. Its last record is the latest event time
or decision observation among them; the jurisdiction's rule (``retention_policy``) gives when
it is due. An event that a stay not yet due also cites is kept until that stay is due too.

Erasing keeps each row's Kafka coordinates, leaf index and leaf hash, and the non-personal
columns (ids, types, times, codes); it blanks the Kafka value, the JSON payload and every
personal column. ClickHouse cannot update sorting-key columns (``traveller_id``), so an erasure
inserts the erased copies and then deletes the originals (a mutation, waited for). The erasure
rows are inserted first: ``ledger verify`` then accepts the blanked rows as erased, and every
signed checkpoint still verifies, because leaf hashes never change.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from base.errors import LedgerError
from streams.store.base import COLUMNS, Store, Table, TopicPartition, quote_identifier
from streams.trust.retention_policy import RetentionPolicy

# Columns an erased row keeps: where it is in the log, what kind of record, when. The rest is
# blanked ('' / NULL / 0 by type). Evidence keeps the (opaque) event ids that make the stay.
KEPT: dict[Table, frozenset[str]] = {
    Table.EVENTS: frozenset({"event_id", "type", "occurred_at", "occurred_at_ms", "jurisdiction"}),
    Table.DECISIONS: frozenset(
        {"decision_id", "status", "code", "severity", "jurisdiction", "rule", "evidence"}
        | {"observed_at", "observed_at_ms", "emitted_at", "emitted_at_ms"}
    ),
}
ALWAYS_KEPT = frozenset(
    {"kafka_topic", "kafka_partition", "kafka_offset", "ingested_at", "leaf_index", "leaf_hash"}
)
ERASURE_COLUMNS: tuple[str, ...] = (
    "erasure_id", "jurisdiction", "policy", "stay", "outcome", "last_record_at", "due_at",
    "erased_at", "kafka_topic", "kafka_partition", "offsets", "first_leaf", "last_leaf",
)  # fmt: skip
_TOPIC = re.compile(r"^[A-Za-z0-9._-]+$")
_NEVER = datetime.min.replace(tzinfo=UTC)


class RetentionError(LedgerError):
    """Retention could not run (store mutation stuck, unsafe topic name)."""


@dataclass(slots=True)
class Stay:
    """One stay's records and when they are due."""

    stay: str
    jurisdiction: str
    outcome: str
    last_record_at: datetime = _NEVER
    due_at: datetime = _NEVER
    policy: str = ""
    events: set[str] = field(default_factory=set)
    decisions: list[tuple[str, int, int]] = field(default_factory=list)
    event_rows: list[tuple[str, int, int]] = field(default_factory=list)

    def offsets(self) -> dict[tuple[Table, str, int], list[int]]:
        by_log: dict[tuple[Table, str, int], list[int]] = {}
        for table, rows in ((Table.EVENTS, self.event_rows), (Table.DECISIONS, self.decisions)):
            for topic, partition, offset in rows:
                by_log.setdefault((table, topic, partition), []).append(offset)
        return by_log


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stays_with_records(store: Store, policy: RetentionPolicy) -> list[Stay]:
    """Every stay that still has unerased records, with its last record and due date."""
    db = quote_identifier(store.database)
    stays = {
        str(e): Stay(str(e), str(j or ""), str(o))
        for e, j, o in store.query(
            f"SELECT entry_event_id, jurisdiction, outcome FROM {db}.stays "
            "WHERE entry_event_id != ''"
        ).rows
    }
    cited = store.query(
        f"SELECT evidence, observed_at, kafka_topic, kafka_partition, kafka_offset "
        f"FROM {db}.decisions WHERE kafka_value != '' AND notEmpty(evidence)"
    ).rows
    for evidence, observed, topic, partition, offset in cited:
        stay = stays.get(str(evidence[0]))
        if stay is not None:
            stay.events.update(str(e) for e in evidence)
            stay.decisions.append((str(topic), int(partition), int(offset)))
            stay.last_record_at = max(stay.last_record_at, _aware(observed))
    events = store.query(
        f"SELECT event_id, occurred_at, kafka_topic, kafka_partition, kafka_offset "
        f"FROM {db}.events WHERE kafka_value != ''"
    ).rows
    where: dict[str, tuple[datetime, tuple[str, int, int]]] = {
        str(e): (_aware(t), (str(tp), int(p), int(o))) for e, t, tp, p, o in events
    }
    for stay in stays.values():
        for event_id in stay.events:
            if event_id in where:
                occurred, coordinates = where[event_id]
                stay.event_rows.append(coordinates)
                stay.last_record_at = max(stay.last_record_at, occurred)
        rule = policy.rule(stay.jurisdiction)
        stay.policy = rule.policy
        stay.due_at = rule.due_at(stay.outcome, stay.last_record_at)
    return [s for s in stays.values() if s.decisions or s.event_rows]


def due_stays(store: Store, policy: RetentionPolicy, as_of: datetime) -> list[Stay]:
    """The stays due at ``as_of``; events also cited by a stay not yet due are left out."""
    stays = stays_with_records(store, policy)
    due = [s for s in stays if s.due_at <= as_of]
    kept = {coordinates for s in stays if s.due_at > as_of for coordinates in s.event_rows}
    for stay in due:
        stay.event_rows = [c for c in stay.event_rows if c not in kept]
    return sorted(due, key=lambda s: (s.due_at, s.stay))


def _blank(type_name: str) -> Any:
    if type_name.startswith("Nullable("):
        return None
    if type_name.startswith("Array("):
        return []
    if type_name.startswith(("Int", "UInt")):
        return 0
    return ""


def erased_copy(table: Table, row: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """The row as stored after erasure (see :data:`KEPT`)."""
    keep = KEPT[table] | ALWAYS_KEPT
    copy: dict[str, Any] = {}
    for column, value in row.items():
        if isinstance(value, datetime):
            copy[column] = _aware(value)  # instants are never personal on their own: kept
        else:
            copy[column] = value if column in keep else _blank(types[column])
    return copy


def _wait_for_mutations(store: Store, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    sql = "SELECT count() FROM system.mutations WHERE database = {db:String} AND is_done = 0"
    while int(store.query(sql, {"db": store.database}).rows[0][0]):
        if time.monotonic() > deadline:
            raise RetentionError(f"erasing: mutations not done within {timeout:.0f}s")
        time.sleep(0.05)


def _rows(
    store: Store, table: Table, topic: str, partition: int, offsets: Iterable[int]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    columns = COLUMNS[table]
    result = store.query(
        f"SELECT {', '.join(columns)} FROM {quote_identifier(store.database)}.{table.value} "
        "WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:Int32} "
        "AND has({offsets:Array(Int64)}, kafka_offset) AND kafka_value != ''",
        {"topic": topic, "partition": partition, "offsets": sorted(offsets)},
    )
    types = dict(zip(result.columns, result.types, strict=True))
    return [dict(zip(columns, r, strict=True)) for r in result.rows], types


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(slots=True)
class _Work:
    """What one erasure run changes, gathered before anything is written."""

    rows: dict[tuple[Table, str, int], list[dict[str, Any]]] = field(default_factory=dict)
    types: dict[Table, dict[str, str]] = field(default_factory=dict)
    erasures: list[dict[str, Any]] = field(default_factory=list)

    def ids(self, table: Table, column: str) -> list[str]:
        return sorted(
            {str(r[column]) for (t, _, _), rows in self.rows.items() if t is table for r in rows}
        )


def _gather(store: Store, stays: list[Stay], now: datetime) -> _Work:
    work = _Work()
    for stay in stays:
        for (table, topic, partition), offsets in sorted(stay.offsets().items()):
            if not _TOPIC.match(topic):
                raise RetentionError(f"refusing to erase from an unusual topic name {topic!r}")
            rows, work.types[table] = _rows(store, table, topic, partition, offsets)
            if rows:
                work.rows.setdefault((table, topic, partition), []).extend(rows)
                work.erasures.append(_erasure_row(stay, (topic, partition), rows, now))
    return work


def erase(store: Store, stays: list[Stay], now: datetime) -> list[dict[str, Any]]:
    """Erase the stays' payloads (see module docstring); return the erasure rows recorded."""
    work = _gather(store, stays, now)
    store.insert_rows("erasures", ERASURE_COLUMNS, work.erasures)
    db = quote_identifier(store.database)
    for (table, topic, partition), rows in sorted(work.rows.items()):
        store.insert(table, [erased_copy(table, r, work.types[table]) for r in rows])
        listed = ", ".join(str(int(r["kafka_offset"])) for r in rows)
        store.query(
            f"ALTER TABLE {db}.{table.value} DELETE WHERE kafka_topic = '{topic}' "
            f"AND kafka_partition = {int(partition)} AND kafka_offset IN ({listed}) "
            "AND kafka_value != ''"
        )
    _erase_maintained(store, work)
    _wait_for_mutations(store)
    return work.erasures


# Tables the store fills from the record tables at insert time (infra/sql/001_ledger_state.sql):
# they copy personal columns, so erased ids are deleted from them (originals and erased copies).
MAINTAINED: dict[str, tuple[Table, str]] = {
    "decision_current": (Table.DECISIONS, "decision_id"),
    "decision_day": (Table.DECISIONS, "decision_id"),
    "event_ports": (Table.EVENTS, "event_id"),
    "stay_emissions": (Table.DECISIONS, "decision_id"),
}


def _erase_maintained(store: Store, work: _Work) -> None:
    present = {
        str(r[0])
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": store.database}
        ).rows
    }
    db = quote_identifier(store.database)
    for name, (table, column) in MAINTAINED.items():
        ids = work.ids(table, column)
        if ids and name in present:
            listed = ", ".join(_literal(i) for i in ids)
            store.query(f"ALTER TABLE {db}.{name} DELETE WHERE {column} IN ({listed})")


def _erasure_row(
    stay: Stay, tp: TopicPartition, rows: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    leaves = [int(r["leaf_index"]) for r in rows]
    ident = hashlib.sha256(f"{stay.stay}|{stay.policy}|{tp[0]}|{tp[1]}".encode()).hexdigest()
    return {
        "erasure_id": ident[:24],
        "jurisdiction": stay.jurisdiction,
        "policy": stay.policy,
        "stay": stay.stay,
        "outcome": stay.outcome,
        "last_record_at": stay.last_record_at.replace(microsecond=0),
        "due_at": stay.due_at.replace(microsecond=0),
        "erased_at": now.replace(microsecond=0),
        "kafka_topic": tp[0],
        "kafka_partition": tp[1],
        "offsets": sorted(int(r["kafka_offset"]) for r in rows),
        "first_leaf": min(leaves),
        "last_leaf": max(leaves),
    }
