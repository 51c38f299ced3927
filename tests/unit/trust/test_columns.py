"""``ledger verify``'s column check on blocks as the stores read them (Arrow, instants as epoch
seconds): rows derived from their values match, for each of the three tables (a nullable instant
column included); any edited derived column makes the block fail and the per-row check name it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import Basis, Channel, CrossingRecorded, Direction, Document
from schemas.codec import DeadLetter, encode_dead_letter, encode_emission, encode_event
from schemas.mapping import Coordinates
from streams.store.base import LEAF_COLUMNS, ColumnResult, Table
from streams.store.records import record_row
from streams.trust.columns import ColumnCheck
from streams.trust.logs import LeafBlock, LogRef, content_columns

T0 = datetime(2025, 12, 1, 8, 30, 15, 250_000, tzinfo=UTC)
CROSSING = CrossingRecorded(
    event_id="e-1",
    traveller_id="t-1",
    occurred_at=T0,
    port="HK-LO-WU",
    direction=Direction.ENTRY,
    nationality="GBR",
    document=Document.PASSPORT,
    channel=Channel.COUNTER,
    basis=Basis.VISITOR,
)
EMISSION = Emission(
    Status.ISSUED,
    Decision(
        decision_id="d-1",
        traveller_id="t-1",
        code=Code.SUSPECTED_OVERSTAY,
        severity=Severity.VIOLATION,
        jurisdiction="CN",
        rule="TWOV/2024-12-17",
        evidence=("e-1", "e-2"),
        deadline=None,  # a null instant column
        overstay_seconds=3600,
        observed_at=T0,
        detail="no exit known",
    ),
)
LETTER = DeadLetter(
    raw=b"\xc3\x01garbage",
    reason="unknown writer schema fingerprint",
    source_topic="border.crossings.v1",
    source_partition=3,
    source_offset=17,
    source_timestamp=T0,
    failed_at=T0,
)
VALUES = {
    Table.EVENTS: encode_event(CROSSING),
    Table.DECISIONS: encode_emission(EMISSION),
    Table.DEAD_LETTERS: encode_dead_letter(LETTER),
}
EDITS = {
    Table.EVENTS: ("payload", lambda v: v.replace("GBR", "GBX")),
    Table.DECISIONS: ("observed_at", lambda v: v + 1),
    Table.DEAD_LETTERS: ("reason", lambda v: v + "."),
}


def _stored(table: Table, offsets: range, edit: tuple[str, int, Any] | None = None) -> LeafBlock:
    """The rows the sink stores for the table's value at ``offsets``, as a bulk read gives them,
    with ``edit`` (column, row, new value) applied."""
    value = VALUES[table]
    leaf, derived = ("kafka_offset", *LEAF_COLUMNS), content_columns(table)
    rows: list[dict[str, Any]] = []
    for offset in offsets:
        row = record_row(table, value, Coordinates("topic", 0, offset), T0, T0)
        row.update(leaf_index=offset, leaf_hash="", kafka_value=base64.b64encode(value).decode())
        rows.append(
            {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in row.items()}
        )
    if edit is not None:
        column, at, new = edit
        rows[at][column] = new
    leaves = ColumnResult(leaf, [[r[c] for r in rows] for c in leaf])
    return LeafBlock(leaves, pa.table({c: [r[c] for r in rows] for c in derived}))


@pytest.mark.parametrize("table", list(Table), ids=str)
def test_derived_rows_match_and_an_edited_column_is_named(table: Table) -> None:
    check = ColumnCheck(LogRef(table, "topic", 0, 5, 4))
    assert check.block_matches(_stored(table, range(5)))

    column, edit = EDITS[table]
    untouched = next(_stored(table, range(3, 4)).rows())
    edited = _stored(table, range(5), (column, 3, edit(untouched[column])))
    assert not check.block_matches(edited)
    row = list(edited.rows())[3]
    assert check.differing(3, VALUES[table], row) == column


def test_an_erased_row_is_left_to_the_leaf_check() -> None:
    check = ColumnCheck(LogRef(Table.EVENTS, "topic", 0, 2, 1))
    block = _stored(Table.EVENTS, range(2), ("payload", 1, ""))
    assert not check.block_matches(block)  # the payload is gone, the value is still there
    block.column("kafka_value")[1] = ""
    assert check.block_matches(block)
