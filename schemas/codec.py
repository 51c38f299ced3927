"""The one Avro codec: every byte the ledger puts on or takes off Kafka goes through here.

Messages use Avro single-object encoding: the marker ``C3 01``, the 8-byte little-endian
CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body.
The schemas are the ``.avsc`` files next to this module (one per record, record name = event
name); ``history/`` keeps every version, so a catalogue maps the fingerprint of any version ever
written to its writer schema, and decoding resolves that writer against the current reader
schema of the same record. Schemas are parsed once at import; the hot path uses fastavro's
schemaless writer and reader. Decoded events are validated by
:func:`domain.event_data.event_from_mapping`, the single event validator.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import fastavro
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from base.errors import InvalidEventError, LedgerError
from base.settings import Settings
from domain.decisions import Emission
from domain.event_data import event_from_mapping
from domain.events import EVENT_TYPES, CrossingRecorded, Event, GateHeartbeat, event_to_mapping
from schemas.decision_body import DecisionBodies
from schemas.mapping import emission_from_fields

SCHEMA_DIR: Final = Path(__file__).resolve().parent
HISTORY_DIR: Final = SCHEMA_DIR / "history"
MARKER: Final = b"\xc3\x01"
HEADER_SIZE: Final = len(MARKER) + 8
DECISION_RECORD: Final = "DecisionEmitted"
DEAD_LETTER_RECORD: Final = "DeadLetter"
STATE_RECORD: Final = "TravellerState"  # the worker's table value (see schemas/state_schema.py)
RECORD_NAMES: Final = (*EVENT_TYPES, DECISION_RECORD, DEAD_LETTER_RECORD, STATE_RECORD)

Schema = dict[str, Any]
_HISTORY_FILE = re.compile(r"^(?P<name>[A-Za-z]+)\.v(?P<version>[0-9]+)\.avsc$")


class DecodeError(LedgerError):
    """Bytes that are not a decodable single-object message: the message says which check failed."""


class EncodeError(LedgerError):
    """A value that does not fit its record's schema (for example a missing required field)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the stream layer could not process, kept verbatim with its Kafka coordinates."""

    raw: bytes
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: datetime | None
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class _Writer:
    record: str
    version: int
    schema: Schema  # parsed by fastavro


def _load(path: Path) -> Schema:
    """Read and parse one ``.avsc`` file (every file is a self-contained record schema)."""
    return _parse(json.loads(path.read_text(encoding="utf-8")))


def _parse(raw: dict[str, Any]) -> Schema:
    parsed = fastavro.parse_schema(raw)
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise LedgerError(f"not a record schema: {raw!r:.80}")
    return parsed


def fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """CRC-64-AVRO fingerprint (8 bytes, little-endian) of a schema's Parsing Canonical Form.

    ``schema`` is a schema as a mapping (raw or parsed by fastavro) or as JSON text.
    """
    loaded = json.loads(schema) if isinstance(schema, str) else dict(schema)
    canonical = to_parsing_canonical_form(_parse(loaded))
    return bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))


def _build_catalogue() -> tuple[dict[str, Schema], dict[bytes, _Writer], dict[str, bytes]]:
    readers: dict[str, Schema] = {}
    writers: dict[bytes, _Writer] = {}
    current_fp: dict[str, bytes] = {}
    for name in RECORD_NAMES:
        readers[name] = _load(SCHEMA_DIR / f"{name}.avsc")
        current_fp[name] = fingerprint(readers[name])
    for path in sorted(HISTORY_DIR.glob("*.avsc")):
        match = _HISTORY_FILE.match(path.name)
        if match is None or match["name"] not in readers:
            raise LedgerError(f"unexpected schema history file {path.name}")
        parsed = _load(path)
        writers[fingerprint(parsed)] = _Writer(match["name"], int(match["version"]), parsed)
    for name, fp in current_fp.items():
        if fp not in writers:
            raise LedgerError(f"schemas/{name}.avsc is not the latest entry of schemas/history/")
    return readers, writers, current_fp


_READERS, _WRITERS, _CURRENT_FP = _build_catalogue()
_HEADERS: Final = {name: MARKER + fp for name, fp in _CURRENT_FP.items()}
# Decision bodies, for the decisions topic and inside traveller states (the HeldDecision items).
DECISION_BODIES: Final = DecisionBodies(
    _READERS[DECISION_RECORD],
    next(f for f in _READERS[STATE_RECORD]["fields"] if f["name"] == "decisions")["type"]["items"],
)


def current_schema(record: str) -> Schema:
    """The current (reader) schema of a record, parsed by fastavro."""
    return _READERS[record]


def schema_history(record: str) -> list[tuple[int, Schema]]:
    """Every known version of a record as ``(version, parsed schema)``, oldest first."""
    return sorted(
        ((w.version, w.schema) for w in _WRITERS.values() if w.record == record),
        key=lambda item: item[0],
    )


def encode_with_writer(writer_schema: Mapping[str, Any], record: Mapping[str, Any]) -> bytes:
    """Frame ``record`` written with a catalogued (possibly older) writer schema.

    Production code uses the ``encode_*`` functions, which always write the current schema; this
    exists so compatibility tests and tools can produce what an older writer produced.
    """
    fp = fingerprint(writer_schema)
    writer = _WRITERS.get(fp)
    if writer is None:
        raise EncodeError(f"writer schema {fp.hex()} is not in the schema catalogue")
    return MARKER + fp + _write_body(writer.schema, record, writer.record)


# What writing a value of the wrong type raises, in fastavro's writer and in DecisionBodies alike.
_UNFIT: Final = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def _write_body(schema: Schema, record: Mapping[str, Any], name: str) -> bytes:
    out = io.BytesIO()
    try:
        fastavro.schemaless_writer(out, schema, record)
    except _UNFIT as e:
        raise EncodeError(f"{name} does not fit its schema: {e}") from e
    return out.getvalue()


def _encode(name: str, record: Mapping[str, Any]) -> bytes:
    return _HEADERS[name] + _write_body(_READERS[name], record, name)


def _decode(data: bytes, named: bool = False) -> tuple[str, dict[str, Any]]:
    """Check the framing, resolve the writer schema and read the body into a plain mapping.

    ``named``: a value of a union of records is read as ``(record full name, mapping)``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    if len(data) < HEADER_SIZE:
        raise DecodeError(f"truncated header: {len(data)} bytes, need at least {HEADER_SIZE}")
    if data[:2] != MARKER:
        raise DecodeError(f"bad marker {bytes(data[:2]).hex()}, expected {MARKER.hex()}")
    fp = bytes(data[2:HEADER_SIZE])
    writer = _WRITERS.get(fp)
    if writer is None:
        raise DecodeError(f"unknown writer schema fingerprint {fp.hex()}")
    # Same fingerprint as the current schema: no resolution needed (the common, fast case).
    reader = None if fp == _CURRENT_FP[writer.record] else _READERS[writer.record]
    body = io.BytesIO(data)  # shares the bytes of a bytes message: no copy of the body
    body.seek(HEADER_SIZE)
    try:
        record = fastavro.schemaless_reader(body, writer.schema, reader, return_record_name=named)
    except (
        EOFError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        OverflowError,
        MemoryError,
        struct.error,
        fastavro.read.SchemaResolutionError,
    ) as e:
        raise DecodeError(
            f"corrupt or truncated {writer.record} v{writer.version} body: {type(e).__name__}: {e}"
        ) from e
    left = len(data) - body.tell()
    if left:
        raise DecodeError(f"corrupt {writer.record} body: {left} trailing bytes")
    if not isinstance(record, dict):
        raise DecodeError(f"corrupt {writer.record} body: not a record")
    return writer.record, record


def encode_record(name: str, record: Mapping[str, Any]) -> bytes:
    """Single-object encoding of a plain mapping as record ``name`` (current schema), unvalidated.

    For the worker's own values (its table state), whose mappings it builds from domain objects
    that were validated when they entered; a union of records takes ``(full name, mapping)``.
    """
    return _encode(name, record)


def record_header(name: str) -> bytes:
    """The single-object header (marker and fingerprint) of record ``name``'s current schema."""
    return _HEADERS[name]


def decode_record(data: bytes, name: str) -> dict[str, Any]:
    """The plain mapping of a ``name`` record (resolved from any catalogued writer version).

    Values of a union of records come back as ``(full name, mapping)``. Raises
    :class:`DecodeError` for bad framing or bodies, or a record of another kind.
    """
    found, record = _decode(data, named=True)
    if found != name:
        raise DecodeError(f"expected a {name} record, got {found}")
    return record


def encode_event(event: Event) -> bytes:
    """Single-object encoding of a domain event with its current schema.

    The event is re-validated first, so a naive datetime or a ``None`` required field raises
    :class:`InvalidEventError` naming the field instead of reaching the topic.
    """
    mapping = event_to_mapping(event)
    checked = event_from_mapping(mapping)
    if checked != event:  # validation normalised something (e.g. sub-millisecond instants)
        mapping = event_to_mapping(checked)
    name = mapping.pop("type")
    return _encode(name, mapping)


def decode_event(data: bytes) -> Event:
    """Decode a single-object message into a validated domain event.

    Raises :class:`DecodeError` for bad framing or bodies (including messages of a non-event
    record) and :class:`InvalidEventError` (naming the field) when the record breaks the event
    contract.
    """
    name, record = _decode(data)
    if name not in EVENT_TYPES:
        raise DecodeError(f"a {name} record is not an event")
    record["type"] = name
    return event_from_mapping(record)


def encode_emission(em: Emission) -> bytes:
    """Single-object encoding of a decision emission as a flat ``DecisionEmitted`` record."""
    d = em.decision
    instants = (
        ("observed_at", d.observed_at),
        ("deadline", d.deadline),
        ("port_at", em.port_at),
        ("last_at", em.last_at),
    )
    for field, value in instants:
        if value is not None and value.utcoffset() is None:
            raise InvalidEventError(field, "timestamp without a UTC offset")
    try:
        body = DECISION_BODIES.emission(em)
    except _UNFIT as e:  # None for a required field, a non-member enum: as _write_body refuses
        raise EncodeError(f"{DECISION_RECORD} does not fit its schema: {e!r}") from e
    return _HEADERS[DECISION_RECORD] + body


def decode_emission(data: bytes) -> Emission:
    """Decode a ``DecisionEmitted`` message back into an :class:`Emission`."""
    name, r = _decode(data)
    if name != DECISION_RECORD:
        raise DecodeError(f"expected a {DECISION_RECORD} record, got {name}")
    try:
        return emission_from_fields(r)
    except (KeyError, ValueError) as e:
        raise DecodeError(f"{DECISION_RECORD} record does not map to an emission: {e}") from e


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """Single-object encoding of a dead letter (raw bytes kept verbatim)."""
    stamps = (("failed_at", letter.failed_at), ("source_timestamp", letter.source_timestamp))
    for field, value in stamps:
        if value is not None and value.utcoffset() is None:
            raise InvalidEventError(field, "timestamp without a UTC offset")
    return _encode(
        DEAD_LETTER_RECORD,
        {
            "raw": bytes(letter.raw),
            "reason": letter.reason,
            "source_topic": letter.source_topic,
            "source_partition": letter.source_partition,
            "source_offset": letter.source_offset,
            "source_timestamp": letter.source_timestamp,
            "failed_at": letter.failed_at,
        },
    )


def decode_dead_letter(data: bytes) -> DeadLetter:
    """Decode a ``DeadLetter`` message."""
    name, r = _decode(data)
    if name != DEAD_LETTER_RECORD:
        raise DecodeError(f"expected a {DEAD_LETTER_RECORD} record, got {name}")
    return DeadLetter(
        raw=r["raw"],
        reason=r["reason"],
        source_topic=r["source_topic"],
        source_partition=r["source_partition"],
        source_offset=r["source_offset"],
        source_timestamp=r["source_timestamp"],
        failed_at=r["failed_at"],
    )


def topic_for(event: Event, settings: Settings) -> str:
    """The topic for an event: gate traffic to crossings, authority events to permits."""
    if isinstance(event, CrossingRecorded | GateHeartbeat):
        return settings.topic_crossings
    return settings.topic_permits


def record_name(data: bytes) -> str:
    """The record name a framed message was written as (checks the framing only)."""
    if len(data) < HEADER_SIZE or data[:2] != MARKER:
        raise DecodeError("not a single-object encoded message")
    writer = _WRITERS.get(bytes(data[2:HEADER_SIZE]))
    if writer is None:
        raise DecodeError(f"unknown writer schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()}")
    return writer.record


__all__ = [
    "DeadLetter",
    "DecodeError",
    "EncodeError",
    "current_schema",
    "decode_dead_letter",
    "decode_emission",
    "decode_event",
    "decode_record",
    "encode_dead_letter",
    "encode_emission",
    "encode_event",
    "encode_record",
    "encode_with_writer",
    "fingerprint",
    "record_header",
    "record_name",
    "schema_history",
    "topic_for",
]
