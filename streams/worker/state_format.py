"""The worker's persistence formats: traveller states as Avro, partition clocks as text.

A traveller state is written as a ``TravellerState`` record through the project's codec
(single-object encoding: marker, schema fingerprint, Avro body), so the changelog carries the
writer schema's fingerprint and older writers are resolved like on the topics. Reading trusts
what the worker itself wrote: the events and decisions in a state were validated when they
entered the ledger, so they are rebuilt field by field without being validated again (that
re-validation was most of the cost of the former JSON form).

Values written by the previous format (JSON of ``state_to_dict``, format 1) are still read, so a
worker restarted on an old changelog keeps its state; they are rewritten in Avro the next time
the traveller changes. A partition clock is ``max_seen|watermark`` in ISO-8601 UTC, followed by
``|topic=offset;...`` once the worker has recorded which input offsets the partition's stored
states include (see ``streams.worker.processor``); a clock without them reads as "none recorded".
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from domain.clock import EventClock
from domain.decisions import Decision
from domain.event_data import parse_instant
from domain.events import EVENT_TYPES, TravellerEvent, format_instant
from domain.held import STRIDE, Held, Ids, Rows
from domain.state import TravellerState
from schemas.avro_binary import (
    END_OF_ARRAY,
    write_count,
    write_instant,
    write_optional_instant,
    write_string,
)
from schemas.codec import (
    DECISION_BODIES,
    HEADER_SIZE,
    MARKER,
    STATE_RECORD,
    DecodeError,
    decode_record,
    fingerprint,
    record_header,
)
from schemas.mapping import decision_fields, decision_from_fields
from schemas.state_schema import STATE_EVENTS
from streams.worker.state_json import state_from_dict
from streams.worker.state_writer import BodyCache, body_writer, event_branch_schemas

NAMESPACE: Final = "border.ledger."
BODIES_KEPT: Final = 200_000  # encoded events (and decisions) kept for the next state writes
_STATE_FIELDS: Final = ("traveller_id", "events", "decisions", "due", "prune_at", "forgotten")

# what a state is built from (its __init__'s parameters; it keeps its decisions compact)
if tuple(inspect.signature(TravellerState).parameters) != _STATE_FIELDS:
    # A new state field must reach the table value, or a restarted worker would lose it.
    raise ImportError("TravellerState changed: extend schemas/state_schema.py and this module")

Converter = Callable[[Any], Any]


def _converters(cls: type[Any]) -> dict[str, Converter]:
    """Per field of an event class, how to turn its Avro value into the dataclass value."""
    out: dict[str, Converter] = {}
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        for kind in typing.get_args(hint) if union else (hint,):
            if isinstance(kind, type) and issubclass(kind, StrEnum):
                out[name] = kind._value2member_map_.__getitem__
            elif typing.get_origin(kind) is tuple:
                out[name] = tuple
    return out


# full record name -> (event class, field names, converters of the fields that need one)
_EVENTS: Final = {
    NAMESPACE + name: (
        EVENT_TYPES[name],
        tuple(f.name for f in dataclasses.fields(EVENT_TYPES[name])),
        _converters(EVENT_TYPES[name]),
    )
    for name in STATE_EVENTS
}
_EVENT_NAMES: Final = {cls: full for full, (cls, _, _) in _EVENTS.items()}


def _event_mapping(e: TravellerEvent) -> dict[str, Any]:
    return {name: getattr(e, name) for name in _EVENTS[_EVENT_NAMES[type(e)]][1]}


def _decision_mapping(d: Decision) -> dict[str, Any]:
    return decision_fields(d)  # a HeldDecision: fastavro writes its fields, not traveller_id


def state_record(state: TravellerState) -> dict[str, Any]:
    """The state as a ``TravellerState`` record mapping (what fastavro writes as a whole)."""
    return {
        "traveller_id": state.traveller_id,
        "due": state.due,
        "prune_at": state.prune_at,
        "events": [(_EVENT_NAMES[type(e)], _event_mapping(e)) for e in state.events],
        "decisions": [_decision_mapping(d) for d in state.decisions],
        "forgotten": [{"jurisdiction": j, "up_to": at} for j, at in state.forgotten],
    }


_BRANCH_SCHEMAS: Final = event_branch_schemas()
_BRANCH_INDEX: Final = {cls: write_count(i) for i, cls in enumerate(_EVENT_NAMES)}
_EVENT_BODIES: Final = {
    cls: BodyCache(body_writer(schema, _event_mapping), BODIES_KEPT)
    for cls, schema in zip(_EVENT_NAMES, _BRANCH_SCHEMAS, strict=True)
}
# Each event branch of the state is its event's topic schema (the same fingerprint, checked here
# rather than assumed): a message written with it already holds the event's state body, which
# InputDecoder hands over so it is not written a second time. Avro's encoding of a value is
# fixed by the schema, and decoding such a body gives the event exactly as validated.
_TOPIC_HEADERS: Final = {
    cls: record_header(name)
    for cls, schema in zip(_EVENT_NAMES, _BRANCH_SCHEMAS, strict=True)
    if record_header(name := _EVENT_NAMES[cls].removeprefix(NAMESPACE))
    == MARKER + fingerprint(schema)
}


def keep_input_body(event: TravellerEvent, message: bytes) -> bool:
    """Keep ``message``'s body as ``event``'s state body if the event's current schema wrote it.

    ``event`` must be what decoding ``message`` gave. Returns whether the body was kept.
    """
    header = _TOPIC_HEADERS.get(type(event))
    if header is None or message[:HEADER_SIZE] != header:
        return False  # another writer's body: written again with the current schema when stored
    _EVENT_BODIES[type(event)].seed(event, bytes(message[HEADER_SIZE:]))
    return True


# Held decision bodies by what they are made of (id and compact row, held.py): a state keeps its
# decisions compact and builds new objects on each read, so they cannot be cached by object as
# events are. The format stores the state's traveller once, so a body does not depend on it.
_DECISION_BODIES: Final[dict[tuple[object, ...], bytes]] = {}


# The whole array (count and bodies) by the held rows' object: an unchanged state keeps its rows.
_DECISION_ARRAYS: Final[dict[int, tuple[Rows, Ids, bytes]]] = {}


def _decisions(held: Held) -> bytes:
    rows, ids = held.rows, held.ids
    hit = _DECISION_ARRAYS.get(id(rows))
    if hit is not None and hit[0] is rows and hit[1] is ids:
        return hit[2]
    n = len(held)
    array = write_count(n) + b"".join(_decision_body(held, i) for i in range(n))
    if len(_DECISION_ARRAYS) >= BODIES_KEPT:
        _DECISION_ARRAYS.clear()
    _DECISION_ARRAYS[id(rows)] = (rows, ids, array)  # holding rows keeps its id unique
    return array


def _decision_body(held: Held, i: int) -> bytes:
    k = i * STRIDE
    key = (held.decision_id(i), *held.rows[k : k + STRIDE])
    body = _DECISION_BODIES.get(key)
    if body is None:
        if len(_DECISION_BODIES) >= BODIES_KEPT:
            _DECISION_BODIES.clear()  # simple bound, as BodyCache's
        body = _DECISION_BODIES[key] = DECISION_BODIES.held(held.decision(i))
    return body


_STATE_HEADER: Final = record_header(STATE_RECORD)


def encode_state(state: TravellerState) -> bytes:
    """The table value of a traveller state (see :mod:`streams.worker.state_writer`)."""
    tid = state.traveller_id
    parts = [
        _STATE_HEADER,
        write_string(tid),
        write_optional_instant(state.due),
        write_optional_instant(state.prune_at),
    ]
    if state.events:
        parts.append(write_count(len(state.events)))
        for e in state.events:
            cls = type(e)
            parts.append(_BRANCH_INDEX[cls])
            parts.append(_EVENT_BODIES[cls].body(e))
    parts.append(END_OF_ARRAY)
    if state.decision_rows:
        parts.append(_decisions(state.held()))
    parts.append(END_OF_ARRAY)
    if state.forgotten:
        parts.append(write_count(len(state.forgotten)))
        for jurisdiction, up_to in state.forgotten:
            parts.append(write_string(jurisdiction))
            parts.append(write_instant(up_to))
    parts.append(END_OF_ARRAY)
    return b"".join(parts)


def decode_state(raw: bytes) -> TravellerState:
    """Inverse of :func:`encode_state`; also reads the previous JSON format.

    Raises :class:`~schemas.codec.DecodeError` (or ``InvalidEventError`` for a malformed JSON
    state) when the bytes are not a state.
    """
    if is_previous_format(raw):
        return state_from_dict(json.loads(raw))
    if raw[:2] != MARKER:
        raise DecodeError(f"not a traveller state: starts with {bytes(raw[:2]).hex()}")
    r = decode_record(raw, STATE_RECORD)
    tid = r["traveller_id"]
    try:
        return TravellerState(
            traveller_id=tid,
            events=tuple(_event(full, values) for full, values in r["events"]),
            decisions=tuple(_decision(tid, values) for values in r["decisions"]),
            due=r["due"],
            prune_at=r["prune_at"],
            forgotten=tuple((f["jurisdiction"], f["up_to"]) for f in r["forgotten"]),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise DecodeError(f"{STATE_RECORD} of {tid} does not map to a state: {e!r}") from e


def is_previous_format(raw: bytes) -> bool:
    """Whether ``raw`` is a state in the previous (JSON) format."""
    return raw[:1] == b"{"


def _event(full: str, values: dict[str, Any]) -> TravellerEvent:
    cls, _, converters = _EVENTS[full]
    for name, convert in converters.items():
        value = values[name]
        if value is not None:
            values[name] = convert(value)
    event: TravellerEvent = cls(**values)
    return event


def _decision(tid: str, v: dict[str, Any]) -> Decision:
    return decision_from_fields(v, traveller_id=tid)


def encode_clock(clock: EventClock, applied: Mapping[str, int] | None = None) -> bytes:
    """``max_seen|watermark`` in ISO-8601 UTC (empty when unknown), then ``|topic=offset;...``.

    ``applied`` maps each input topic to the offset below which every message of the partition
    is in the stored states. Kafka topic names never contain ``|``, ``=`` or ``;``.
    """
    text = "|".join(_instant(v) for v in (clock.max_seen, clock.watermark))
    if applied:
        text += "|" + ";".join(f"{topic}={offset}" for topic, offset in sorted(applied.items()))
    return text.encode()


def decode_clock(raw: bytes) -> EventClock:
    """The clock of an :func:`encode_clock` value."""
    seen, mark = raw.decode().split("|")[:2]
    return EventClock(
        parse_instant(seen, "max_seen") if seen else None,
        parse_instant(mark, "watermark") if mark else None,
    )


def decode_applied(raw: bytes) -> dict[str, int]:
    """The applied input offsets of an :func:`encode_clock` value (empty if none recorded)."""
    fields = raw.decode().split("|")
    if len(fields) < 3 or not fields[2]:
        return {}
    pairs = (item.rpartition("=") for item in fields[2].split(";"))
    return {topic: int(offset) for topic, _, offset in pairs}


def _instant(value: datetime | None) -> str:
    return format_instant(value) if value is not None else ""
