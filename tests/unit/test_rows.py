"""The store's row mapping: the payload JSON (built in one pass) is the event's JSON form."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.event_data import event_from_mapping
from domain.events import Event, event_to_mapping, event_type
from producers.simulator import SimulationConfig, simulate
from schemas.mapping import Coordinates, event_to_json_dict
from streams.store.base import COLUMNS, LEAF_COLUMNS, OFFSET_COLUMNS, Table
from streams.store.rows import (
    DeadLetterRow,
    DecisionRow,
    EventRow,
    SinkOffsetRow,
    columns,
    current_fingerprint,
    dead_letter_row,
    event_row,
    payload_json,
    sink_offset_row,
)

DDL = Path(__file__).resolve().parents[2] / "infra" / "sql" / "001_ledger.sql"
ROW_TYPES = {
    "events": EventRow,
    "decisions": DecisionRow,
    "dead_letters": DeadLetterRow,
    "sink_offsets": SinkOffsetRow,
}


def _ddl_columns(table: str) -> list[tuple[str, bool]]:
    """(column, nullable) of ``table`` as its CREATE TABLE in infra/sql/001_ledger.sql says."""
    sql = DDL.read_text()
    body = re.search(rf"CREATE TABLE IF NOT EXISTS {{database}}\.{table}\n\((.*?)\n\)", sql, re.S)
    assert body is not None, table
    out = []
    for line in body.group(1).splitlines():
        definition = line.split("--")[0].strip().rstrip(",")
        if definition:
            name, kind = definition.split(None, 1)
            out.append((name, kind.startswith("Nullable(")))
    return out


@pytest.mark.parametrize("table", sorted(ROW_TYPES))
def test_each_row_type_is_its_table_column_for_column(table: str) -> None:
    row_type = ROW_TYPES[table]
    hints = typing.get_type_hints(row_type)
    fields = [
        (f.name, type(None) in typing.get_args(hints[f.name])) for f in dataclasses.fields(row_type)
    ]
    assert fields == _ddl_columns(table)  # names, order and which may be NULL


def test_the_store_column_lists_are_the_row_types() -> None:
    assert {
        Table.EVENTS: columns(EventRow),
        Table.DECISIONS: columns(DecisionRow),
        Table.DEAD_LETTERS: columns(DeadLetterRow),
    } == COLUMNS
    assert columns(SinkOffsetRow) == OFFSET_COLUMNS
    for table in Table:
        assert COLUMNS[table][-len(LEAF_COLUMNS) :] == LEAF_COLUMNS


def test_a_row_mapping_has_every_column_in_order_and_is_a_copy() -> None:
    at, now = Coordinates("dead", 1, 9), datetime(2026, 1, 1, 0, 0, 2, 345678, tzinfo=UTC)
    row = dead_letter_row(
        raw=b"\x00\xff",
        reason="bad",
        source_topic="crossings",
        source_partition=2,
        source_offset=7,
        source_timestamp=None,
        failed_at=now,
        at=at,
        ingested_at=now,
    )
    assert list(row) == list(COLUMNS[Table.DEAD_LETTERS])
    assert row["raw_base64"] == "AP8=" and row["failed_at_ms"] == 345
    assert row["source_timestamp"] is None and row["source_timestamp_ms"] is None
    assert row["ingested_at"] == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert (row["leaf_index"], row["leaf_hash"], row["kafka_value"]) == (0, "", "")
    built = DeadLetterRow(**row)
    mapping = built.as_mapping()
    mapping["leaf_index"] = 5  # the sink stamps the leaf on the mapping, not on the row
    assert built.leaf_index == 0 and built.as_mapping() == row
    offsets = sink_offset_row("crossings", 3, 41, now)
    assert offsets == {
        "kafka_topic": "crossings",
        "kafka_partition": 3,
        "next_offset": 41,
        "committed_at": now,
    }
    assert list(offsets) == list(OFFSET_COLUMNS)


def _reference_json_form(event: Event) -> dict[str, Any]:
    """The JSON form built in two steps: the domain's plain mapping, then instants and dates."""
    out = event_to_mapping(event)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
        elif isinstance(value, date):
            out[key] = value.isoformat()
    return out


def test_payload_json_is_the_json_form_of_every_event_type() -> None:
    config = SimulationConfig(
        start=date(2025, 11, 30), travellers=600, seed=11, violation_share=0.2
    )
    events = simulate(config).events
    kinds = Counter(event_type(e) for e in events)
    assert len(kinds) >= 5, kinds  # crossings, heartbeats, permits, extensions, consent...
    for event in events:
        reference = _reference_json_form(event)
        assert event_to_json_dict(event) == reference
        assert list(event_to_json_dict(event)) == list(reference)  # contract order
        assert payload_json(event) == json.dumps(reference, sort_keys=True, separators=(",", ":"))
        assert event_from_mapping(json.loads(payload_json(event))) == event


def test_event_row_records_the_writer_schema_fingerprint() -> None:
    event = simulate(SimulationConfig(start=date(2025, 11, 30), travellers=5, seed=3)).events[0]
    at, now = Coordinates("t", 0, 0), datetime(2026, 1, 1, tzinfo=UTC)
    default = event_row(event, at, now)["schema_fingerprint"]
    assert default == current_fingerprint(event_type(event))
    assert len(default) == 16 and int(default, 16) >= 0
    assert event_row(event, at, now, "00ff00ff00ff00ff")["schema_fingerprint"] == "00ff00ff00ff00ff"
