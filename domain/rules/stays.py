"""Stay outcomes (DOMAIN.md 4.2, 4.5, 4.9 and 5): opened, closed in time, overstayed, suspected.

``SUSPECTED_OVERSTAY`` holds while the watermark is past the deadline and no exit is known; for a
stay closed by a second entry it stands only if the deadline had passed before that entry. A
``StayExtended`` for the open stay replaces its deadline. Airside transits get the direct-transit
outcomes instead (24 exact hours from the arrival).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from domain.decisions import Code
from domain.events import Basis, CrossingRecorded
from domain.policy import Designation, Policy
from domain.rules.common import SHARED_TEXTS, DecisionSink, fmt, shared_text
from domain.rules.entry import Terms, check_twov_exit
from domain.rules.sequence import Stay

DIRECT_TRANSIT = Basis.DIRECT_TRANSIT.value
THIRD_COUNTRY_OF = {"CN": "CHN", "HK": "HKG", "MO": "MAC"}


InForce = tuple[datetime | None, tuple[str, ...]]


def in_force(stay: Stay, terms: Terms) -> InForce:
    """The stay's deadline as currently known (the latest extension wins) and its evidence."""
    deadline = terms.deadline
    evidence: tuple[str, ...] = (stay.entry.event_id,)
    for ext in stay.extensions:
        deadline = ext.permitted_until
        evidence = (*evidence, ext.event_id)
    return deadline, evidence


def record_opened(
    stay: Stay,
    terms: Terms,
    sink: DecisionSink,
    deadline: datetime | None,
    evidence: tuple[str, ...],
) -> None:
    """STAY_OPENED with the deadline in force (``in_force``: an extension replaces it, and joins
    the evidence)."""
    entry = stay.entry
    basis: str = entry.basis or "UNKNOWN"
    key = (Code.STAY_OPENED, basis, entry.port, stay.entry_day, deadline, bool(stay.extensions))
    detail = SHARED_TEXTS.get(key)
    if detail is None:  # formatted once per distinct key (shared by travellers, re-derivations)
        detail = shared_text(
            key,
            lambda: (
                f"{basis} stay entered at {entry.port} on {stay.entry_day.isoformat()}, "
                + (f"deadline {fmt(deadline)}" if deadline else "no deadline")
                + (" (extended)" if stay.extensions else "")
            ),
        )
    sink.add(
        Code.STAY_OPENED,
        stay.jurisdiction,
        terms.rule_label,
        evidence,
        entry.occurred_at,
        detail,
        deadline=deadline,
    )


def record_landside(
    stay: Stay, label: str, sink: DecisionSink, policy: Policy, known: InForce
) -> None:
    """The outcome of a landside stay as far as it is known, judged by the rule labelled
    ``label`` (``known``: :func:`in_force`)."""
    deadline, evidence = known
    _record_outcome(stay, label, deadline, evidence, sink, landside=True)
    if stay.exit is not None and stay.entry.basis is Basis.TWOV:
        check_twov_exit(stay, stay.exit, label, sink, policy)


def record_airside(stay: Stay, sink: DecisionSink, policy: Policy) -> None:
    """Direct transit: designation and itinerary at arrival, 24 exact hours to departure."""
    arrival = stay.entry
    jur = stay.jurisdiction
    ev = (arrival.event_id,)
    rule = policy.rule_for(DIRECT_TRANSIT, jur, stay.entry_day)
    if rule is None:
        sink.add(
            Code.POLICY_REVIEW,
            jur,
            "NO-RULE",
            ev,
            arrival.occurred_at,
            f"no direct-transit rule for {jur} on {stay.entry_day.isoformat()}",
        )
        return
    label = rule.label
    designated = stay.port.designated(Designation.DIRECT_TRANSIT, stay.entry_day)
    if not designated:
        sink.add(
            Code.DIRECT_TRANSIT_NOT_DESIGNATED,
            jur,
            label,
            ev,
            arrival.occurred_at,
            f"{arrival.port} is not designated for direct transit on {stay.entry_day.isoformat()}",
        )
    problem = _itinerary_problem(arrival, jur)
    if problem:
        sink.add(Code.INVALID_ITINERARY, jur, label, ev, arrival.occurred_at, problem)
    deadline = arrival.occurred_at + timedelta(hours=rule.amount)
    if stay.exit is None:
        _record_outcome(stay, label, deadline, ev, sink, landside=False)
    elif not _departed_late(stay, stay.exit, deadline, sink, label, rule.amount):
        if problem or not designated:
            return  # in time, but not a valid direct transit: no DIRECT_TRANSIT_OK
        sink.add(
            Code.DIRECT_TRANSIT_OK,
            jur,
            label,
            (arrival.event_id, stay.exit.event_id),
            stay.exit.occurred_at,
            f"departed {stay.exit.port} within {rule.amount} h",
            deadline=deadline,
        )


def _itinerary_problem(arrival: CrossingRecorded, jurisdiction: str) -> str | None:
    """Why a direct-transit itinerary is invalid (onward to a third country), or None."""
    onward = arrival.onward_to
    if onward is None:
        return "onward_to is required"
    if onward == arrival.arrived_from:
        return f"onward_to {onward} is the country arrived from"
    if onward == THIRD_COUNTRY_OF.get(jurisdiction):
        return f"onward_to {onward} is not a third country or region"
    return None


def _departed_late(  # noqa: PLR0917 - the stay, its departure and the rule's terms
    stay: Stay,
    departure: CrossingRecorded,
    deadline: datetime,
    sink: DecisionSink,
    label: str,
    hours: int,
) -> bool:
    """Records DIRECT_TRANSIT_EXCEEDED when the departure came after the deadline."""
    late = _overstay_seconds(departure.occurred_at, deadline)
    if late is None:
        return False
    sink.add(
        Code.DIRECT_TRANSIT_EXCEEDED,
        stay.jurisdiction,
        label,
        (stay.entry.event_id, departure.event_id),
        departure.occurred_at,
        f"departed {late} s after the {hours} h limit",
        deadline=deadline,
        overstay_seconds=late,
    )
    return True


def _record_outcome(
    stay: Stay,
    label: str,
    deadline: datetime | None,
    evidence: tuple[str, ...],
    sink: DecisionSink,
    *,
    landside: bool,
) -> None:
    jur = stay.jurisdiction
    entry_id = stay.entry.event_id
    if stay.exit is not None and landside:
        _record_exit(stay, stay.exit, label, deadline, evidence, sink)
        return
    if stay.exit_before_entry is not None:
        before = stay.exit_before_entry
        sink.add(
            Code.EXIT_BEFORE_ENTRY,
            jur,
            "SEQUENCE",
            (entry_id, before.event_id),
            stay.entry.occurred_at,
            f"exit {before.event_id} at {fmt(before.occurred_at)} is earlier than the entry",
        )
        return
    if stay.left_airside is not None:
        return  # the landside entry records DIRECT_TRANSIT_LEFT_AIRSIDE when it has no basis
    second = stay.closed_by_entry
    if second is not None:
        sink.add(
            Code.ENTRY_WITHOUT_EXIT,
            jur,
            "SEQUENCE",
            (entry_id, second.event_id),
            second.occurred_at,
            f"entry {second.event_id} while the stay from {fmt(stay.entry.occurred_at)} was open",
        )
        if deadline is None or deadline >= second.occurred_at:
            return
    if deadline is not None and sink.passed(deadline):
        sink.add(
            Code.SUSPECTED_OVERSTAY,
            jur,
            label,
            evidence,
            deadline,
            f"no exit known after the deadline {fmt(deadline)}",
            deadline=deadline,
        )


def _record_exit(  # noqa: PLR0917 - the stay, its exit and the terms it was judged by
    stay: Stay,
    exit_: CrossingRecorded,
    label: str,
    deadline: datetime | None,
    evidence: tuple[str, ...],
    sink: DecisionSink,
) -> None:
    """A landside stay closed by its exit: STAY_CLOSED in time, OVERSTAY after the deadline."""
    late = _overstay_seconds(exit_.occurred_at, deadline)
    if late is None:
        sink.add(
            Code.STAY_CLOSED,
            stay.jurisdiction,
            label,
            (*evidence, exit_.event_id),
            exit_.occurred_at,
            SHARED_TEXTS.get((Code.STAY_CLOSED, exit_.port))
            or shared_text(
                (Code.STAY_CLOSED, exit_.port), lambda: f"exit at {exit_.port} within the limit"
            ),
            deadline=deadline,
        )
    else:
        sink.add(
            Code.OVERSTAY,
            stay.jurisdiction,
            label,
            (*evidence, exit_.event_id),
            exit_.occurred_at,
            f"exit at {exit_.port} {late} s after the deadline",
            deadline=deadline,
            overstay_seconds=late,
        )


def _overstay_seconds(at: datetime, deadline: datetime | None) -> int | None:
    if deadline is None or at <= deadline:
        return None
    return math.ceil((at - deadline).total_seconds())  # any lateness counts as >= 1 s
