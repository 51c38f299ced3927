"""The sink's rows are the rows it always wrote: the ``payload`` text byte for byte, every column.

``payload_json`` and ``event_row`` are written for speed (the sink builds one per stored event);
``ledger verify`` hashes stored rows, so they are held here to the way they were first built:
the encoder over ``event_to_json_dict``, and an ``EventRow`` built field by field. Events are
generated over every type and every field's range (any text, instants in any zone, absent
optional fields), not only valid ones: the text must not depend on validation having run.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import (
    EVENT_TYPES,
    CrossingRecorded,
    Event,
    GateHeartbeat,
    PermitIssued,
    PermitRevoked,
    StayExtended,
    event_type,
)
from producers.simulator import SimulationConfig, simulate
from schemas.codec import HEADER_SIZE, decode_event, encode_event
from schemas.mapping import Coordinates, event_to_json_dict
from streams.store.base import Table
from streams.store.records import record_row
from streams.store.rows import EventRow, current_fingerprint, event_row, payload_json, split_instant

_REFERENCE_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def reference_payload(event: Event) -> str:
    """The payload as first built: ``event_to_json_dict`` through the sorted compact encoder."""
    return _REFERENCE_ENCODE(event_to_json_dict(event))


def reference_event_row(
    event: Event, at: Coordinates, ingested_at: datetime, schema_fingerprint: str | None = None
) -> dict[str, Any]:
    """The events row as first built: an ``EventRow`` field by field, then its mapping."""
    kind = event_type(event)
    occurred, occurred_ms = split_instant(event.occurred_at)
    crossing = event if isinstance(event, CrossingRecorded) else None
    permit_id = None
    if isinstance(event, CrossingRecorded | PermitIssued | PermitRevoked):
        permit_id = event.permit_id
    return EventRow(
        event_id=event.event_id,
        type=kind,
        traveller_id="" if isinstance(event, GateHeartbeat) else event.traveller_id,
        occurred_at=occurred,
        occurred_at_ms=occurred_ms,
        port=event.port if isinstance(event, CrossingRecorded | GateHeartbeat) else None,
        direction=str(crossing.direction) if crossing else None,
        basis=str(crossing.basis) if crossing and crossing.basis else None,
        nationality=crossing.nationality if crossing else None,
        document=str(crossing.document) if crossing else None,
        channel=str(crossing.channel) if crossing else None,
        permit_id=permit_id,
        jurisdiction=event.jurisdiction if isinstance(event, StayExtended) else None,
        payload=reference_payload(event),
        schema_fingerprint=schema_fingerprint or current_fingerprint(kind),
        kafka_topic=at.topic,
        kafka_partition=at.partition,
        kafka_offset=at.offset,
        ingested_at=split_instant(ingested_at)[0],
    ).as_mapping()


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3.5))])
_INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2105, 12, 31),  # noqa: DTZ001
    timezones=_ZONES,
)


def _values(annotation: Any) -> st.SearchStrategy[Any]:
    """Any value of a field's annotated type (``X | None`` also absent)."""
    if isinstance(annotation, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.one_of(st.none(), *[_values(a) for a in options])
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return st.sampled_from(list(annotation))
    if annotation is datetime:
        return _INSTANTS
    if annotation is date:
        return st.dates()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=-(2**63), max_value=2**63)
    if annotation is str:
        return st.text()
    if typing.get_origin(annotation) is tuple:
        return st.lists(st.text(), max_size=4).map(tuple)
    raise AssertionError(f"no strategy for {annotation!r}")


def _events_of(cls: type[Any]) -> st.SearchStrategy[Event]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _values(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


EVENTS = st.one_of(*[_events_of(cls) for cls in EVENT_TYPES.values()])


@settings(max_examples=600, deadline=None)
@given(EVENTS)
def test_the_payload_is_the_encoders_text_of_the_json_form(event: Event) -> None:
    assert payload_json(event) == reference_payload(event)


@settings(max_examples=300, deadline=None)
@given(
    EVENTS,
    st.integers(0, 2**31),
    _INSTANTS,
    st.none() | st.text("0123456789abcdef", min_size=16, max_size=16),
)
def test_an_events_row_is_the_row_first_built(
    event: Event, offset: int, ingested_at: datetime, fingerprint: str | None
) -> None:
    at = Coordinates("border.crossings.v1", 3, offset)
    row = event_row(event, at, ingested_at, fingerprint)
    reference = reference_event_row(event, at, ingested_at, fingerprint)
    assert row == reference
    assert list(row) == list(reference)  # column order
    assert [type(v) for v in row.values()] == [type(v) for v in reference.values()]


def test_the_sinks_row_of_a_message_is_the_row_first_built() -> None:
    """Over the simulator's events of every type: the row the sink builds from each message."""
    events = simulate(
        SimulationConfig(start=date(2025, 11, 30), travellers=200, seed=5, violation_share=0.2)
    ).events
    assert len({event_type(e) for e in events}) >= 5
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    for offset, event in enumerate(events):
        value = encode_event(event)
        at = Coordinates("border.crossings.v1", 0, offset)
        row = record_row(Table.EVENTS, value, at, now, now)
        fingerprint = value[2:HEADER_SIZE].hex()
        assert row == reference_event_row(decode_event(value), at, now, fingerprint)
        assert row["payload"].encode() == reference_payload(event).encode()
