"""Events from plain data, validated: the single validator of the JSON-lines and Avro forms.

``event_from_mapping`` accepts ISO-8601 strings (JSON) or ``datetime``/``date`` objects (Avro),
rejects naive timestamps, and raises :class:`InvalidEventError` naming the field. Instants are
normalised to UTC with millisecond precision, the precision of Avro ``timestamp-millis``, so the
JSON and Avro paths yield equal events. The per-field checks are :mod:`domain.fields`, shared with
the policy's validator.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from base.errors import InvalidEventError
from domain.events import (
    EVENT_TYPES,
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Entries,
    Event,
    PermitCategory,
    PermitIssued,
    PermitKind,
    PreRegistrationRecorded,
    Zone,
)
from domain.fields import (
    E,
    require_alpha3,
    require_bool,
    require_date,
    require_int,
    require_member,
    require_text,
)

# Fields that must be a non-empty string of a fixed shape.
_ALPHA3_FIELDS = frozenset({"nationality", "arrived_from", "onward_to"})
_DIRECTIONS_NEEDING_BASIS = frozenset({Direction.ENTRY, Direction.AIRSIDE_ARRIVAL})


def parse_instant(value: object, field: str) -> datetime:
    """An aware instant from an ISO-8601 string or datetime, in UTC, truncated to milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is UTC and not value.microsecond % 1000:
            return value  # already normalised (the Avro path): skip the conversions
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as e:
            raise InvalidEventError(field, f"not an ISO-8601 instant: {value!r}") from e
    else:
        raise InvalidEventError(field, f"expected an instant, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidEventError(field, f"timestamp without a UTC offset: {value!r}")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError as e:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidEventError(field, f"instant out of range: {value!r}") from e
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


# ISO 8601 end of day: "T24:00", "T24:00:00" or "T24:00:00.000", then the offset.
_END_OF_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})T24:00(?::00(?:\.0+)?)?(Z|[+-]\d{2}:?\d{2})$")


def parse_limit(value: object, field: str) -> datetime:
    """An officer's limit: an instant, or the end-of-day form ``D T24:00`` = 00:00 of D+1.

    Officers write limits as "until 24:00 on day D" (DOMAIN.md 4.5), which ISO 8601 allows and
    Python's parser does not; it is the same instant as 00:00 of the next day at that offset.
    """
    if isinstance(value, str):
        match = _END_OF_DAY.match(value)
        if match is not None:
            day, offset = match.groups()
            midnight = parse_instant(f"{day}T00:00:00{offset}", field)
            return midnight + timedelta(days=1)
    return parse_instant(value, field)


def parse_date(value: object, field: str) -> date:
    """A calendar date from ``YYYY-MM-DD`` or a ``date`` (but not a ``datetime``)."""
    return require_date(value, field, InvalidEventError)


def _parse_enum(enum: type[E], value: object, field: str) -> E:
    return require_member(enum, value, field, InvalidEventError)


def _parse_str(value: object, field: str) -> str:
    text = require_text(value, field, InvalidEventError)
    return require_alpha3(text, field, InvalidEventError) if field in _ALPHA3_FIELDS else text


def _parse_bool(value: object, field: str) -> bool:
    return require_bool(value, field, InvalidEventError)


def _parse_int(value: object, field: str) -> int:
    return require_int(value, field, InvalidEventError, minimum=1)


def _parse_destinations(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidEventError(field, "expected a non-empty list of jurisdictions")
    return tuple(_parse_str(v, f"{field}[{i}]") for i, v in enumerate(value))


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "direction": Direction,
    "basis": Basis,
    "document": Document,
    "channel": Channel,
    "kind": PermitKind,
    "entries": Entries,
    "category": PermitCategory,
    "zone": Zone,
}
_INSTANT_FIELDS = frozenset({"occurred_at", "onward_departure_at"})
_DATE_FIELDS = frozenset({"birth_date", "valid_from", "valid_until"})

_Parser = Callable[[object, str], object]


def _enum_parser(enum: type[StrEnum]) -> _Parser:
    members = enum._value2member_map_  # what enum(value) looks a string up in first

    def parse(value: object, field: str) -> object:
        # A member's own string (every Avro enum symbol) is found here without enum()'s call
        # machinery; anything else takes the full check and its error.
        if type(value) is str:
            member = members.get(value)
            if member is not None:
                return member
        return _parse_enum(enum, value, field)

    return parse


def _parse_text(value: object, field: str) -> object:
    if type(value) is str and value.strip():  # require_text's own test, for the common case
        return value
    return require_text(value, field, InvalidEventError)


def _str_parser(name: str) -> _Parser:
    return _parse_str if name in _ALPHA3_FIELDS else _parse_text


def _parser_for(name: str) -> _Parser:
    if name in _INSTANT_FIELDS:
        return parse_instant
    if name == "permitted_until":
        return parse_limit
    if name in _DATE_FIELDS:
        return parse_date
    if name in _ENUM_FIELDS:
        return _enum_parser(_ENUM_FIELDS[name])
    if name == "granted":
        return _parse_bool
    if name == "max_stay_days":
        return _parse_int
    if name == "destinations":
        return _parse_destinations
    return _str_parser(name)


# One field of an event type: its name, whether it is required, its parser.
_FieldSpec = tuple[str, bool, _Parser]

# Per event type, its fields' parsers, computed once: validation is on every hot path.
_SPECS: dict[str, tuple[type[Any], tuple[_FieldSpec, ...], frozenset[str]]] = {
    name: (
        cls,
        tuple(
            (f.name, f.default is dataclasses.MISSING, _parser_for(f.name))
            for f in dataclasses.fields(cls)
        ),
        frozenset(f.name for f in dataclasses.fields(cls)) | {"type"},
    )
    for name, cls in EVENT_TYPES.items()
}


def event_from_mapping(data: Mapping[str, Any]) -> Event:
    """Validate a mapping with a ``type`` key into a domain event.

    Unknown fields are rejected (a typo must not silently drop data); optional fields may be
    absent or ``None``. Raises :class:`InvalidEventError` naming the first bad field.
    """
    type_name = data.get("type")
    spec = _SPECS.get(type_name) if isinstance(type_name, str) else None
    if spec is None:
        raise InvalidEventError("type", f"unknown event type {type_name!r}")
    cls, fields, known = spec
    if not known.issuperset(data):
        unknown = sorted(set(data) - known)
        raise InvalidEventError(unknown[0], f"unknown field for {type_name}")
    kwargs: dict[str, object] = {}
    for name, required, parse in fields:
        value = data.get(name)
        if value is None:
            if required:
                raise InvalidEventError(name, f"required field missing for {type_name}")
            continue
        kwargs[name] = parse(value, name)
    event: Event = cls(**kwargs)
    _check_invariants(event)
    return event


def _check_invariants(event: Event) -> None:
    if isinstance(event, CrossingRecorded):
        if event.direction in _DIRECTIONS_NEEDING_BASIS and event.basis is None:
            raise InvalidEventError("basis", f"required on {event.direction.value}")
    elif (
        isinstance(event, PermitIssued | PreRegistrationRecorded)
        and event.valid_until < event.valid_from
    ):
        raise InvalidEventError("valid_until", "is before valid_from")
