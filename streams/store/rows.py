"""The audit-table rows: one dataclass per row type whose fields are its table's columns.

:class:`EventRow`, :class:`DecisionRow`, :class:`DeadLetterRow` and :class:`SinkOffsetRow` are the
``events``, ``decisions``, ``dead_letters`` and ``sink_offsets`` tables of ``infra/sql``, column for
column in the table's order (a test holds them to the DDL); the store's column lists are taken from
them (``streams.store.base.COLUMNS``). The functions below map ledger values (events, emissions,
dead letters) to them and hand the store a row as a mapping (:meth:`as_mapping`). Pure, no I/O: the
sink calls them with the Kafka coordinates of the message the value came from. Instants are split
into a ``DateTime('UTC')`` second and a ``*_ms`` millisecond column; raw dead-letter bytes are
stored base64-encoded in ``raw_base64``. A decision row holds the fields of the one record mapping
(``schemas.mapping.emission_fields``).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from domain.decisions import Emission
from domain.events import (
    CrossingRecorded,
    Event,
    GateHeartbeat,
    PermitIssued,
    PermitRevoked,
    StayExtended,
    event_type,
)
from schemas.codec import current_schema, fingerprint
from schemas.mapping import Coordinates, emission_fields
from streams.store.payload import payload_json


def split_instant(value: datetime) -> tuple[datetime, int]:
    """An aware instant as (UTC second, milliseconds 0..999)."""
    if value.tzinfo is UTC:  # the common case (validated events): no conversion
        return value.replace(microsecond=0), value.microsecond // 1000
    if value.tzinfo is None:
        raise ValueError("naive datetime: instants must be aware")
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=0), utc.microsecond // 1000


def join_instant(second: datetime, ms: int) -> datetime:
    """Inverse of :func:`split_instant`: the instant in UTC with millisecond precision."""
    return second.astimezone(UTC).replace(microsecond=ms * 1000)


class _Row:
    """A row type: a dataclass whose fields are the columns of one table, in the table's order."""

    _names: ClassVar[tuple[str, ...]]

    def as_mapping(self) -> dict[str, Any]:
        """Column name -> value, in column order: what ``Store.insert`` takes (a copy: the
        sink adds the leaf columns to it)."""
        # A dataclass __init__ sets every field in field order, so its __dict__ is the row, in
        # column order; copying it is several times cheaper than reading the fields one by one.
        return self.__dict__.copy()


_R = TypeVar("_R", bound=type[_Row])


def columns(row_type: type[_Row]) -> tuple[str, ...]:
    """The column names of a row type, in the table's order."""
    return row_type._names


def _row_type(cls: _R) -> _R:
    cls._names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return cls


# Not yet a leaf of the Merkle log when built: the sink stamps leaf_index, leaf_hash and
# kafka_value on the mapping before it stores it (streams/trust/sinklog.py).
@_row_type
@dataclass
class EventRow(_Row):
    """A row of ``events`` (one per event message)."""

    event_id: str
    type: str
    traveller_id: str  # '' for a GateHeartbeat
    occurred_at: datetime
    occurred_at_ms: int
    port: str | None
    direction: str | None
    basis: str | None
    nationality: str | None
    document: str | None
    channel: str | None
    permit_id: str | None
    jurisdiction: str | None
    payload: str
    schema_fingerprint: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    ingested_at: datetime
    leaf_index: int = 0
    leaf_hash: str = ""
    kafka_value: str = ""


@_row_type
@dataclass
class DecisionRow(_Row):
    """A row of ``decisions`` (one per emission message)."""

    decision_id: str
    status: str
    traveller_id: str
    code: str
    severity: str
    jurisdiction: str | None
    rule: str
    evidence: list[str]
    deadline: datetime | None
    deadline_ms: int | None
    overstay_seconds: int | None
    observed_at: datetime
    observed_at_ms: int
    detail: str
    port: str | None
    port_at: datetime | None
    port_at_ms: int | None
    last_port: str | None
    last_at: datetime | None
    last_at_ms: int | None
    emitted_at: datetime
    emitted_at_ms: int
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    ingested_at: datetime
    leaf_index: int = 0
    leaf_hash: str = ""
    kafka_value: str = ""


@_row_type
@dataclass
class DeadLetterRow(_Row):
    """A row of ``dead_letters`` (one per dead-letter message)."""

    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: datetime | None
    source_timestamp_ms: int | None
    reason: str
    raw_base64: str
    failed_at: datetime
    failed_at_ms: int
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    ingested_at: datetime
    leaf_index: int = 0
    leaf_hash: str = ""
    kafka_value: str = ""


@_row_type
@dataclass
class SinkOffsetRow(_Row):
    """A row of ``sink_offsets``: every offset below ``next_offset`` is stored."""

    kafka_topic: str
    kafka_partition: int
    next_offset: int
    committed_at: datetime


def _coordinates(at: Coordinates, ingested_at: datetime) -> dict[str, Any]:
    return {
        "kafka_topic": at.topic,
        "kafka_partition": at.partition,
        "kafka_offset": at.offset,
        "ingested_at": split_instant(ingested_at)[0],
    }


@functools.cache
def current_fingerprint(record: str) -> str:
    """Hex fingerprint of the current schema of ``record`` (what this process writes)."""
    return fingerprint(current_schema(record)).hex()


def event_row(
    event: Event, at: Coordinates, ingested_at: datetime, schema_fingerprint: str | None = None
) -> dict[str, Any]:
    """The ``events`` row for ``event`` (jurisdiction only when the event itself names it).

    ``schema_fingerprint`` is the hex fingerprint of the schema the message was written with
    (the sink passes the message's own); by default the current schema of the event's type.
    """
    kind = event_type(event)
    occurred, occurred_ms = split_instant(event.occurred_at)
    crossing = event if isinstance(event, CrossingRecorded) else None
    permit_id: str | None = None
    if isinstance(event, CrossingRecorded | PermitIssued | PermitRevoked):
        permit_id = event.permit_id
    # The EventRow's mapping, in column order, built as a dict (a dataclass's __init__ and
    # copy cost the sink a tenth of its row); test_rows holds it to EventRow's columns.
    return {
        "event_id": event.event_id,
        "type": kind,
        "traveller_id": "" if isinstance(event, GateHeartbeat) else event.traveller_id,
        "occurred_at": occurred,
        "occurred_at_ms": occurred_ms,
        "port": event.port if isinstance(event, CrossingRecorded | GateHeartbeat) else None,
        # str() of a StrEnum is its value, without the cost of the .value descriptor
        "direction": str(crossing.direction) if crossing else None,
        "basis": str(crossing.basis) if crossing and crossing.basis else None,
        "nationality": crossing.nationality if crossing else None,
        "document": str(crossing.document) if crossing else None,
        "channel": str(crossing.channel) if crossing else None,
        "permit_id": permit_id,
        "jurisdiction": event.jurisdiction if isinstance(event, StayExtended) else None,
        "payload": payload_json(event),
        "schema_fingerprint": schema_fingerprint or current_fingerprint(kind),
        "kafka_topic": at.topic,
        "kafka_partition": at.partition,
        "kafka_offset": at.offset,
        "ingested_at": split_instant(ingested_at)[0],
        "leaf_index": 0,
        "leaf_hash": "",
        "kafka_value": "",
    }


# The decision columns that hold an instant: those with a ``_ms`` companion.
_DECISION_INSTANTS = frozenset(
    c.removesuffix("_ms") for c in columns(DecisionRow) if c.endswith("_ms")
)


def decision_row(
    emission: Emission, at: Coordinates, emitted_at: datetime, ingested_at: datetime
) -> dict[str, Any]:
    """The ``decisions`` row for one emission (every DOMAIN.md section 5 field, plus status).

    ``emitted_at`` is the knowledge time: the Kafka timestamp of the decision message, i.e. when
    the ledger published the emission.
    """
    fields: dict[str, Any] = {}
    for name, value in emission_fields(emission).items():
        if isinstance(value, datetime):
            fields[name], fields[f"{name}_ms"] = split_instant(value)
        elif name in _DECISION_INSTANTS:  # an instant column that is null
            fields[name], fields[f"{name}_ms"] = None, None
        else:
            fields[name] = value
    emitted, emitted_ms = split_instant(emitted_at)
    return DecisionRow(
        **fields, emitted_at=emitted, emitted_at_ms=emitted_ms, **_coordinates(at, ingested_at)
    ).as_mapping()


def dead_letter_row(
    *,
    raw: bytes,
    reason: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    source_timestamp: datetime | None,
    failed_at: datetime,
    at: Coordinates,
    ingested_at: datetime,
) -> dict[str, Any]:
    """The ``dead_letters`` row; ``raw`` is stored base64-encoded (standard alphabet, padded)."""
    failed, failed_ms = split_instant(failed_at)
    source_ts, source_ms = split_instant(source_timestamp) if source_timestamp else (None, None)
    return DeadLetterRow(
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        source_timestamp=source_ts,
        source_timestamp_ms=source_ms,
        reason=reason,
        raw_base64=base64.b64encode(raw).decode("ascii"),
        failed_at=failed,
        failed_at_ms=failed_ms,
        **_coordinates(at, ingested_at),
    ).as_mapping()


def sink_offset_row(topic: str, partition: int, next_offset: int, at: datetime) -> dict[str, Any]:
    """The ``sink_offsets`` row: every offset of ``topic``/``partition`` below ``next_offset``
    is stored (``at``: the aware commit instant, stored as the server truncates it)."""
    return SinkOffsetRow(topic, partition, next_offset, at).as_mapping()
