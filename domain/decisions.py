"""Decisions and their emissions (DOMAIN.md section 5).

A :class:`Decision` is a fact the engine currently holds true about a traveller. When knowledge
changes the engine emits the difference as :class:`Emission` values: ``ISSUED`` for newly true
decisions and ``RETRACTED`` (same ``decision_id``) for ones no longer true.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from domain.events import CrossingRecorded, TravellerEvent


class Status(StrEnum):
    ISSUED = "ISSUED"
    RETRACTED = "RETRACTED"


class Severity(StrEnum):
    VIOLATION = "VIOLATION"
    WARNING = "WARNING"
    REVIEW = "REVIEW"
    INFO = "INFO"


class Code(StrEnum):
    STAY_OPENED = "STAY_OPENED"
    STAY_CLOSED = "STAY_CLOSED"
    OVERSTAY = "OVERSTAY"
    SUSPECTED_OVERSTAY = "SUSPECTED_OVERSTAY"
    NOT_DESIGNATED_PORT = "NOT_DESIGNATED_PORT"
    INELIGIBLE_NATIONALITY = "INELIGIBLE_NATIONALITY"
    INVALID_ITINERARY = "INVALID_ITINERARY"
    ONWARD_AFTER_DEADLINE = "ONWARD_AFTER_DEADLINE"
    NO_VALID_PERMIT = "NO_VALID_PERMIT"
    PERMIT_INCONSISTENT = "PERMIT_INCONSISTENT"
    PERMIT_MISMATCH = "PERMIT_MISMATCH"
    POLICY_REVIEW = "POLICY_REVIEW"
    DIRECT_TRANSIT_OK = "DIRECT_TRANSIT_OK"
    DIRECT_TRANSIT_EXCEEDED = "DIRECT_TRANSIT_EXCEEDED"
    DIRECT_TRANSIT_NOT_DESIGNATED = "DIRECT_TRANSIT_NOT_DESIGNATED"
    DIRECT_TRANSIT_LEFT_AIRSIDE = "DIRECT_TRANSIT_LEFT_AIRSIDE"
    SMART_LANE_NOT_ENABLED = "SMART_LANE_NOT_ENABLED"
    SMART_LANE_INELIGIBLE = "SMART_LANE_INELIGIBLE"
    SMART_LANE_NO_CONSENT = "SMART_LANE_NO_CONSENT"
    CONTACTLESS_NOT_REGISTERED = "CONTACTLESS_NOT_REGISTERED"
    EXIT_WITHOUT_ENTRY = "EXIT_WITHOUT_ENTRY"
    ENTRY_WITHOUT_EXIT = "ENTRY_WITHOUT_EXIT"
    EXIT_BEFORE_ENTRY = "EXIT_BEFORE_ENTRY"
    DUPLICATE_SUSPECTED = "DUPLICATE_SUSPECTED"
    LATE_EVENT_UNJUDGED = "LATE_EVENT_UNJUDGED"


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision about one traveller, identified deterministically by ``decision_id``."""

    decision_id: str
    traveller_id: str
    code: Code
    severity: Severity
    jurisdiction: str | None
    rule: str
    evidence: tuple[str, ...]
    deadline: datetime | None
    overstay_seconds: int | None
    observed_at: datetime
    detail: str


# The slot setters of Decision, in field order: building a frozen dataclass through its
# generated __init__ (object.__setattr__ per field) is about 3x slower, and the engine builds
# one per derived decision. Compiled or not, that __init__ is the interpreted one dataclasses
# generates; the class's own __new__ (object's, or mypyc's, which would refuse object.__new__)
# allocates without running it.
(
    _set_id,
    _set_traveller,
    _set_code,
    _set_severity,
    _set_jurisdiction,
    _set_rule,
    _set_evidence,
    _set_deadline,
    _set_overstay,
    _set_observed,
    _set_detail,
) = (getattr(Decision, f.name).__set__ for f in fields(Decision))
_new_decision = Decision.__new__


def new_decision(  # noqa: PLR0917 - one argument per field, in field order
    decision_id: str,
    traveller_id: str,
    code: Code,
    severity: Severity,
    jurisdiction: str | None,
    rule: str,
    evidence: tuple[str, ...],
    deadline: datetime | None,
    overstay_seconds: int | None,
    observed_at: datetime,
    detail: str,
) -> Decision:
    """``Decision(...)`` with the same fields, built by setting its slots directly."""
    d: Decision = _new_decision(Decision)
    _set_id(d, decision_id)
    _set_traveller(d, traveller_id)
    _set_code(d, code)
    _set_severity(d, severity)
    _set_jurisdiction(d, jurisdiction)
    _set_rule(d, rule)
    _set_evidence(d, evidence)
    _set_deadline(d, deadline)
    _set_overstay(d, overstay_seconds)
    _set_observed(d, observed_at)
    _set_detail(d, detail)
    return d


@dataclass(frozen=True, slots=True)
class Emission:
    """A decision entering (``ISSUED``) or leaving (``RETRACTED``) the set the engine holds true."""

    status: Status
    decision: Decision
    # The port of the decision's first evidence event (the crossing it judges), when the engine
    # had that crossing in hand. Not part of the decision: it lets a store count decisions per
    # port and day without joining every crossing (``ledger check`` output leaves it out).
    port: str | None = None
    # The instant of that crossing (for a stay's decisions: the entry), so a store can show
    # where and when a suspected stay began without looking the entry up among all crossings.
    port_at: datetime | None = None
    # The port and instant of the crossing cited last, when the evidence holds more than one
    # event (for STAY_CLOSED and OVERSTAY: the exit), so a store can show where and when a stay
    # ended without looking the exit up among all crossings either.
    last_port: str | None = None
    last_at: datetime | None = None


# The slot setters of Emission, in field order: the engine builds one or two per decision that
# changes, and its frozen dataclass __init__ (object.__setattr__ per field) is slower.
_set_status, _set_decision, _set_port, _set_port_at, _set_last_port, _set_last_at = (
    getattr(Emission, f.name).__set__ for f in fields(Emission)
)
_new_emission = Emission.__new__


def new_emission(
    status: Status,
    decision: Decision,
    first: CrossingRecorded | None = None,
    last: CrossingRecorded | None = None,
) -> Emission:
    """``Emission(...)`` with the places of ``first`` and ``last`` (the crossings cited first
    and last), built by setting its slots directly."""
    port, port_at = _place(first)
    em: Emission = _new_emission(Emission)
    _set_status(em, status)
    _set_decision(em, decision)
    _set_port(em, port)
    _set_port_at(em, port_at)
    last_port, last_at = _place(last)
    _set_last_port(em, last_port)
    _set_last_at(em, last_at)
    return em


def _place(crossing: CrossingRecorded | None) -> tuple[str | None, datetime | None]:
    return (None, None) if crossing is None else (crossing.port, crossing.occurred_at)


def fold_emissions(emissions: Iterable[Emission]) -> dict[str, Decision]:
    """The decisions in force after ``emissions``, as a consumer that dedups on id sees them.

    Each emission replaces what was known about its ``decision_id``: ``ISSUED`` puts the decision
    in force (a repeated delivery changes nothing), ``RETRACTED`` takes it out. Emissions of one
    traveller must come in the order they were published (one Kafka partition keeps it).
    """
    held: dict[str, Decision] = {}
    for em in emissions:
        if em.status is Status.ISSUED:
            held[em.decision.decision_id] = em.decision
        else:
            held.pop(em.decision.decision_id, None)
    return held


def emission_with_port(
    status: Status, decision: Decision, histories: tuple[Sequence[TravellerEvent], ...]
) -> Emission:
    """A new emission with the port and instant of the crossing cited first in the evidence
    and, when the evidence cites more than one event, of the one cited last.

    An evidence event that is not a crossing of the histories (a permit, a forgotten event)
    leaves its pair ``None``. A crossing found in several histories is taken from the last.
    """
    evidence = decision.evidence
    if not evidence or not histories:
        return new_emission(status, decision)
    first = _crossing(evidence[0], histories)
    last = _crossing(evidence[-1], histories) if len(evidence) > 1 else None
    return new_emission(status, decision, first, last)


def _crossing(
    event_id: str, histories: tuple[Sequence[TravellerEvent], ...]
) -> CrossingRecorded | None:
    # A traveller's histories hold a few events: scanning them is cheaper than indexing them.
    for history in reversed(histories):
        for e in history:
            if e.event_id == event_id and isinstance(e, CrossingRecorded):
                return e
    return None
