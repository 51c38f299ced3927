"""The ledger's facts: immutable, typed domain events, and their plain and JSON-ready values.

Events are frozen dataclasses whose field names are the contract shared by the Avro schemas and the
JSON-lines form of ``ledger check`` (DOMAIN.md section 3). :mod:`domain.event_data` validates
plain data into them (``event_from_mapping``, the single validator of both forms).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"
    AIRSIDE_ARRIVAL = "AIRSIDE_ARRIVAL"
    AIRSIDE_DEPARTURE = "AIRSIDE_DEPARTURE"


class Basis(StrEnum):
    TWOV = "TWOV"
    DIRECT_TRANSIT = "DIRECT_TRANSIT"
    TALENT = "TALENT"
    BUSINESS = "BUSINESS"
    VISITOR = "VISITOR"
    RESIDENT = "RESIDENT"
    VISA = "VISA"
    SHORT_STAY = "SHORT_STAY"


class Document(StrEnum):
    PASSPORT = "PASSPORT"
    OFFICIAL_PASSPORT = "OFFICIAL_PASSPORT"
    EEP = "EEP"
    MTP_HKMO = "MTP_HKMO"
    MTP_TW_5Y = "MTP_TW_5Y"
    MTP_TW_SINGLE = "MTP_TW_SINGLE"
    HKID = "HKID"
    MOID = "MOID"
    OTHER = "OTHER"


class Channel(StrEnum):
    COUNTER = "COUNTER"
    SMART = "SMART"
    CONTACTLESS = "CONTACTLESS"


class PermitKind(StrEnum):
    TALENT = "TALENT"
    HETAO_TALENT = "HETAO_TALENT"
    BUSINESS = "BUSINESS"
    VISITOR = "VISITOR"
    FAMILY = "FAMILY"
    VISA = "VISA"


class Entries(StrEnum):
    SINGLE = "SINGLE"
    MULTIPLE = "MULTIPLE"


class PermitCategory(StrEnum):
    OUTSTANDING = "OUTSTANDING"
    RESEARCH = "RESEARCH"
    EDUCATION = "EDUCATION"
    HEALTHCARE = "HEALTHCARE"
    LEGAL = "LEGAL"
    OTHER = "OTHER"


class Zone(StrEnum):
    HETAO = "HETAO"


@dataclass(frozen=True, slots=True)
class CrossingRecorded:
    """A traveller passed a control point (or arrived/departed airside for direct transit)."""

    event_id: str
    traveller_id: str
    occurred_at: datetime
    port: str
    direction: Direction
    nationality: str
    document: Document
    channel: Channel
    basis: Basis | None = None
    permit_id: str | None = None
    arrived_from: str | None = None
    onward_to: str | None = None
    onward_departure_at: datetime | None = None
    permitted_until: datetime | None = None
    birth_date: date | None = None
    gate_id: str | None = None
    corrects: str | None = None


@dataclass(frozen=True, slots=True)
class PermitIssued:
    """An issuing authority granted an endorsement or visa."""

    event_id: str
    traveller_id: str
    occurred_at: datetime
    permit_id: str
    kind: PermitKind
    issued_in: str
    destinations: tuple[str, ...]
    valid_from: date
    valid_until: date
    entries: Entries
    category: PermitCategory | None = None
    max_stay_days: int | None = None


@dataclass(frozen=True, slots=True)
class PermitRevoked:
    event_id: str
    traveller_id: str
    occurred_at: datetime
    permit_id: str


@dataclass(frozen=True, slots=True)
class StayExtended:
    """A force-majeure extension that supersedes the open stay's deadline."""

    event_id: str
    traveller_id: str
    occurred_at: datetime
    jurisdiction: str
    permitted_until: datetime


@dataclass(frozen=True, slots=True)
class BiometricConsentRecorded:
    event_id: str
    traveller_id: str
    occurred_at: datetime
    granted: bool


@dataclass(frozen=True, slots=True)
class PreRegistrationRecorded:
    event_id: str
    traveller_id: str
    occurred_at: datetime
    zone: Zone
    valid_from: date
    valid_until: date
    granted: bool


@dataclass(frozen=True, slots=True)
class GateHeartbeat:
    """A gate is alive: carries no traveller and only advances event time."""

    event_id: str
    occurred_at: datetime
    port: str


TravellerEvent = (
    CrossingRecorded
    | PermitIssued
    | PermitRevoked
    | StayExtended
    | BiometricConsentRecorded
    | PreRegistrationRecorded
)
Event = TravellerEvent | GateHeartbeat

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        CrossingRecorded,
        PermitIssued,
        PermitRevoked,
        StayExtended,
        BiometricConsentRecorded,
        PreRegistrationRecorded,
        GateHeartbeat,
    )
}


def event_type(event: Event) -> str:
    """The event's contract name, e.g. ``"CrossingRecorded"``."""
    return type(event).__name__


def event_to_mapping(event: Event) -> dict[str, Any]:
    """Plain values (enums as strings, dates and instants kept as objects), with ``type``."""
    out: dict[str, Any] = {"type": event_type(event)}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def format_instant(value: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
