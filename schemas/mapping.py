"""The one record mapping: every form a decision, an event or a stay view takes outside the domain.

A decision leaves the engine in four forms, all built here from :func:`emission_fields` (or
:func:`decision_fields`): the ``DecisionEmitted`` Avro record (``schemas/codec.py``), the JSON
line of ``ledger check`` (:func:`emission_to_json_dict`), the worker's table state (its Avro
``HeldDecision`` and the previous JSON format) and the ClickHouse ``decisions`` row
(``streams/store/rows.py``). Every form is read back by :func:`decision_from_fields`. Fields come
in the contract's order (DOMAIN.md section 5); an instant stays a ``datetime`` (Avro, rows) or
becomes ISO-8601 text (JSON) through the ``instant`` argument. :class:`Coordinates`, where a
message sits in Kafka, is the one description of a message's place used by the worker and the
sink. Pure functions, no I/O: the domain stays free of these formats.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from domain.decisions import Code, Decision, Emission, Severity, Status, new_decision
from domain.events import Event, event_type, format_instant
from domain.stay_views import StayView

Instant = Callable[[datetime], Any]
ReadInstant = Callable[[Any, str], datetime]

_CODES: Final = Code._value2member_map_
_SEVERITIES: Final = Severity._value2member_map_


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where a message sits in Kafka: topic, partition, offset (and, when read, time and key)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    key: bytes | None = None


def _as_is(value: datetime) -> datetime:
    return value


def _read_as_is(value: Any, field: str) -> datetime:
    return value  # type: ignore[no-any-return]  # Avro reads instants as aware datetimes


def decision_fields(d: Decision, instant: Instant = _as_is) -> dict[str, Any]:
    """A decision's fields in contract order: enums as their names, evidence as a list."""
    return {
        "decision_id": d.decision_id,
        "traveller_id": d.traveller_id,
        "code": d.code.value,
        "severity": d.severity.value,
        "jurisdiction": d.jurisdiction,
        "rule": d.rule,
        "evidence": list(d.evidence),
        "deadline": None if d.deadline is None else instant(d.deadline),
        "overstay_seconds": d.overstay_seconds,
        "observed_at": instant(d.observed_at),
        "detail": d.detail,
    }


def emission_fields(em: Emission, instant: Instant = _as_is) -> dict[str, Any]:
    """The ``DecisionEmitted`` fields: the decision's, ``status`` second, the places of the
    crossings cited first and last (:data:`PLACE_FIELDS`) at the end."""
    out: dict[str, Any] = {"decision_id": None, "status": em.status.value}
    out.update(decision_fields(em.decision, instant))  # decision_id keeps the first place
    out["port"] = em.port
    out["port_at"] = None if em.port_at is None else instant(em.port_at)
    out["last_port"] = em.last_port
    out["last_at"] = None if em.last_at is None else instant(em.last_at)
    return out


# The emission fields that are not the decision's: where and when its first and last evidence
# crossings happened (for a store; ``ledger check`` output leaves them out).
PLACE_FIELDS: Final = ("port", "port_at", "last_port", "last_at")


def emission_to_json_dict(em: Emission) -> dict[str, Any]:
    """The flat JSON form written by ``ledger check`` (the emission fields without the
    :data:`PLACE_FIELDS`)."""
    out = emission_fields(em, format_instant)
    for name in PLACE_FIELDS:
        del out[name]
    return out


def decision_from_fields(
    v: Mapping[str, Any],
    *,
    traveller_id: str | None = None,
    instant: ReadInstant = _read_as_is,
    text: Callable[[Any], str] | None = None,
) -> Decision:
    """Inverse of :func:`decision_fields` (``traveller_id`` given when the record omits it).

    ``instant`` reads an instant field (by default it already is one, as Avro reads it); ``text``
    converts the text fields (the previous JSON state format took ``str`` of each). Raises
    ``KeyError``, ``ValueError`` or ``TypeError`` for a malformed mapping: callers name the record.
    """
    evidence = v["evidence"]
    deadline = v["deadline"]
    values = (v["decision_id"], v["traveller_id"] if traveller_id is None else traveller_id)
    rule, detail = v["rule"], v["detail"]
    if text is not None:
        values = (text(values[0]), text(values[1]))
        rule, detail, evidence = text(rule), text(detail), [text(x) for x in evidence]
    code, severity = v["code"], v["severity"]
    if code not in _CODES or severity not in _SEVERITIES:
        raise ValueError(f"unknown code {code!r} or severity {severity!r}")
    # new_decision: Decision(...) field by field, without the frozen dataclass's __init__ (which
    # stays interpreted when the domain is compiled): every state read builds its decisions
    return new_decision(
        values[0],
        values[1],
        _CODES[code],  # type: ignore[arg-type]  # the map holds Code members
        _SEVERITIES[severity],  # type: ignore[arg-type]
        v["jurisdiction"],
        rule,
        tuple(evidence),
        None if deadline is None else instant(deadline, "deadline"),
        v["overstay_seconds"],
        instant(v["observed_at"], "observed_at"),
        detail,
    )


def emission_from_fields(v: Mapping[str, Any]) -> Emission:
    """Inverse of :func:`emission_fields` (as Avro reads a ``DecisionEmitted`` record)."""
    return Emission(
        Status(v["status"]),
        decision_from_fields(v),
        v["port"],
        v["port_at"],
        v["last_port"],
        v["last_at"],
    )


_FIELD_NAMES: dict[str, tuple[str, ...]] = {}
_FIELD_GETTERS: dict[str, Callable[[Event], tuple[Any, ...]]] = {}


def _field_names(event: Event) -> tuple[str, ...]:
    kind = event_type(event)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(event))
    return names


def _field_values(kind: str, names: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]]:
    """All fields of an event of type ``kind`` at once (one C call instead of one per field)."""
    getter = _FIELD_GETTERS.get(kind)
    if getter is None:
        getter = _FIELD_GETTERS[kind] = operator.attrgetter(*names)  # events have >= 2 fields
    return getter


def event_to_json_dict(event: Event) -> dict[str, Any]:
    """An event as JSON-ready values, ``type`` first, then its fields in contract order.

    Instants are ISO-8601 UTC with ``Z`` and milliseconds, dates ``YYYY-MM-DD``, enums their
    names. Built in one pass (the sink builds one per stored event for its ``payload`` column,
    ``ledger verify`` one per verified event: plain strings and nulls, most fields, skip the
    type tests).
    """
    kind = event_type(event)
    names = _field_names(event)
    out: dict[str, Any] = {"type": kind}
    for name, value in zip(names, _field_values(kind, names)(event), strict=True):
        if value is None or type(value) is str:
            out[name] = value
        elif isinstance(value, StrEnum):
            out[name] = str(value)  # a StrEnum's str() is its value, without .value's descriptor
        elif isinstance(value, datetime):
            out[name] = format_instant(value)
        elif isinstance(value, date):
            out[name] = value.isoformat()
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def stay_view_to_json_dict(view: StayView) -> dict[str, Any]:
    """The JSON form of an open stay shared by ``ledger stay`` and the worker's ``/stay``."""
    remaining = view.remaining_seconds
    return {
        "traveller_id": view.traveller_id,
        "jurisdiction": view.jurisdiction,
        "entry_event_id": view.entry_event_id,
        "port": view.port,
        "basis": view.basis,
        "entered_at": format_instant(view.entered_at),
        "deadline": format_instant(view.deadline) if view.deadline else None,
        "remaining_seconds": remaining,
        "overdue": remaining is not None and remaining < 0,
    }
