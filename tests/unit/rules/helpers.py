"""Terse builders for rule tests: JSON-form events, an engine run, and the decision set in force.

Events are built as the JSON-lines mappings of DOMAIN.md section 3 and validated through
``event_from_mapping``, so every test also exercises the edge contract. ``run`` feeds them to a
fresh :class:`Engine` in the given (arrival) order, optionally advances the watermark with
``as_of``, and folds the emissions (ISSUED adds, RETRACTED removes by ``decision_id``) into the
set of decisions in force. Expected deadlines are always written by hand in the tests.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from domain.decisions import Code, Decision, Emission, Status
from domain.event_data import event_from_mapping
from domain.events import Event
from schemas.mapping import emission_to_json_dict

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def instant(text: str) -> datetime:
    """An aware instant from ISO-8601 text with an offset (test-side parsing only)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"test instants need an offset: {text}"
    return value.astimezone(UTC)


def _mapping(type_name: str, prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_name}
    if fields.get("event_id") is None:
        fields["event_id"] = _next_id(prefix)
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


def crossing(
    traveller: str,
    port: str,
    direction: str,
    at: str,
    *,
    basis: str | None = None,
    nationality: str = "DEU",
    document: str = "PASSPORT",
    channel: str = "COUNTER",
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``CrossingRecorded`` in JSON form; ``extra`` carries the optional contract fields."""
    return _mapping(
        "CrossingRecorded",
        "x",
        {
            "event_id": event_id,
            "traveller_id": traveller,
            "occurred_at": at,
            "port": port,
            "direction": direction,
            "basis": basis,
            "nationality": nationality,
            "document": document,
            "channel": channel,
            **extra,
        },
    )


def entry(traveller: str, port: str, at: str, basis: str, **kw: Any) -> dict[str, Any]:
    return crossing(traveller, port, "ENTRY", at, basis=basis, **kw)


def leave(traveller: str, port: str, at: str, **kw: Any) -> dict[str, Any]:
    """An ``EXIT`` crossing (``exit`` is a builtin)."""
    return crossing(traveller, port, "EXIT", at, **kw)


def twov_entry(
    traveller: str,
    at: str,
    port: str = "PEK",
    *,
    nationality: str = "DEU",
    arrived_from: str | None = "USA",
    onward_to: str | None = "JPN",
    **kw: Any,
) -> dict[str, Any]:
    """A TWOV entry with a valid itinerary by default (USA -> CN -> JPN, German passport)."""
    return entry(
        traveller,
        port,
        at,
        "TWOV",
        nationality=nationality,
        arrived_from=arrived_from,
        onward_to=onward_to,
        **kw,
    )


def permit(
    traveller: str,
    permit_id: str,
    *,
    kind: str = "TALENT",
    issued_in: str = "CN-GD-SZ",
    destinations: Iterable[str] = ("HK", "MO"),
    valid_from: str = "2025-01-01",
    valid_until: str = "2027-12-31",
    entries: str = "MULTIPLE",
    at: str | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``PermitIssued``; issued (``occurred_at``) at 09:00 Beijing time on ``valid_from``."""
    return _mapping(
        "PermitIssued",
        "p",
        {
            "event_id": event_id,
            "traveller_id": traveller,
            "occurred_at": at or f"{valid_from}T09:00:00+08:00",
            "permit_id": permit_id,
            "kind": kind,
            "issued_in": issued_in,
            "destinations": list(destinations),
            "valid_from": valid_from,
            "valid_until": valid_until,
            "entries": entries,
            **extra,
        },
    )


def revoked(traveller: str, permit_id: str, at: str, **kw: Any) -> dict[str, Any]:
    return _mapping(
        "PermitRevoked",
        "r",
        {"traveller_id": traveller, "occurred_at": at, "permit_id": permit_id, **kw},
    )


def extended(traveller: str, jurisdiction: str, until: str, at: str, **kw: Any) -> dict[str, Any]:
    return _mapping(
        "StayExtended",
        "s",
        {
            "traveller_id": traveller,
            "occurred_at": at,
            "jurisdiction": jurisdiction,
            "permitted_until": until,
            **kw,
        },
    )


def consent(traveller: str, at: str, granted: bool = True, **kw: Any) -> dict[str, Any]:
    return _mapping(
        "BiometricConsentRecorded",
        "c",
        {"traveller_id": traveller, "occurred_at": at, "granted": granted, **kw},
    )


def preregistration(
    traveller: str,
    at: str,
    valid_from: str,
    valid_until: str,
    granted: bool = True,
    **kw: Any,
) -> dict[str, Any]:
    return _mapping(
        "PreRegistrationRecorded",
        "g",
        {
            "traveller_id": traveller,
            "occurred_at": at,
            "zone": "HETAO",
            "valid_from": valid_from,
            "valid_until": valid_until,
            "granted": granted,
            **kw,
        },
    )


def heartbeat(at: str, port: str = "PEK", **kw: Any) -> dict[str, Any]:
    return _mapping("GateHeartbeat", "h", {"occurred_at": at, "port": port, **kw})


def corrected(original: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A new ``CrossingRecorded`` that ``corrects`` ``original`` with some fields changed."""
    out = {**original, **changes}
    out["event_id"] = changes.get("event_id") or _next_id("fix")
    out["corrects"] = original["event_id"]
    return out


# --- running the engine -------------------------------------------------------------------------


@cache
def default_policy() -> Any:
    from streams.policy_file import load_policy

    return load_policy()


def to_event(item: Mapping[str, Any] | Event) -> Event:
    if isinstance(item, Mapping):
        return event_from_mapping(item)
    return item


@dataclass
class Result:
    """What a run produced: every emission in order, and the decisions in force at the end."""

    emissions: list[Emission]
    in_force: dict[str, Decision] = field(default_factory=dict)


def fold(emissions: Iterable[Emission]) -> dict[str, Decision]:
    """The decision set in force: ISSUED adds, RETRACTED removes by ``decision_id``."""
    state: dict[str, Decision] = {}
    for e in emissions:
        if e.status is Status.ISSUED:
            state[e.decision.decision_id] = e.decision
        else:
            state.pop(e.decision.decision_id, None)
    return state


def new_engine(lateness: timedelta = timedelta(0), policy: Any = None) -> Any:
    from domain.engine import Engine

    return Engine(policy or default_policy(), allowed_lateness=lateness)


def run(
    events: Iterable[Mapping[str, Any] | Event],
    *,
    as_of: str | None = None,
    lateness: timedelta = timedelta(0),
    policy: Any = None,
) -> Result:
    """Feed ``events`` in arrival order to a fresh engine, then ``advance_to(as_of)`` if given."""
    engine = new_engine(lateness, policy)
    emissions: list[Emission] = []
    for item in events:
        emissions.extend(engine.process(to_event(item)))
    if as_of is not None:
        emissions.extend(engine.advance_to(instant(as_of)))
    return Result(emissions, fold(emissions))


def codes(result: Result, traveller: str | None = None) -> list[Code]:
    """Sorted codes of the decisions in force (a multiset), optionally for one traveller."""
    return sorted(
        d.code for d in result.in_force.values() if traveller is None or d.traveller_id == traveller
    )


def code_set(result: Result, traveller: str | None = None) -> set[Code]:
    return set(codes(result, traveller))


def all_of(result: Result, code: Code, traveller: str | None = None) -> list[Decision]:
    return [
        d
        for d in result.in_force.values()
        if d.code is code and (traveller is None or d.traveller_id == traveller)
    ]


def the(result: Result, code: Code, traveller: str | None = None) -> Decision:
    """The single decision in force with ``code`` (fails, listing what is in force, otherwise)."""
    found = all_of(result, code, traveller)
    assert len(found) == 1, f"expected exactly one {code} in force, got {found!r}; in force: " + (
        ", ".join(str(c) for c in codes(result))
    )
    return found[0]


def ever_issued(result: Result, code: Code) -> list[Decision]:
    return [
        e.decision
        for e in result.emissions
        if e.status is Status.ISSUED and e.decision.code is code
    ]


def retracted(result: Result, code: Code) -> list[Decision]:
    return [
        e.decision
        for e in result.emissions
        if e.status is Status.RETRACTED and e.decision.code is code
    ]


def deadline_of(result: Result, traveller: str | None = None) -> datetime | None:
    """The deadline of the (single) ``STAY_OPENED`` in force."""
    return the(result, Code.STAY_OPENED, traveller).deadline


def stays_opened(result: Result, traveller: str | None = None) -> list[Decision]:
    """All STAY_OPENED decisions in force, ordered by the entry they cite (evidence[0])."""
    found = all_of(result, Code.STAY_OPENED, traveller)
    return sorted(found, key=lambda d: d.deadline or datetime.max.replace(tzinfo=UTC))


def json_lines(emissions: Iterable[Emission]) -> str:
    return "".join(json.dumps(emission_to_json_dict(e), sort_keys=True) + "\n" for e in emissions)


def comparable(in_force: Mapping[str, Decision]) -> dict[str, tuple[Any, ...]]:
    """The in-force set without ``observed_at``, which records *when* knowledge arrived."""
    return {
        k: (
            d.traveller_id,
            d.code,
            d.severity,
            d.jurisdiction,
            d.rule,
            d.evidence,
            d.deadline,
            d.overstay_seconds,
        )
        for k, d in in_force.items()
    }


def code_counts(result: Result) -> Counter[Code]:
    return Counter(codes(result))
