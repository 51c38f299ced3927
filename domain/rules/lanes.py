"""Lane rules (DOMAIN.md 4.6, 4.7): smart (facial e-gate) and contactless clearance.

A smart-lane crossing at a CN port needs an enabled port, a traveller aged at least
``smart_lane_min_age`` on the local date, a granted latest consent, and an eligible document
(``EEP`` only with a valid multiple-entry permit for the destination). A contactless crossing needs
a port enabled for contactless clearance (designated, and on or after ``hetao_contactless_from``)
and a granted HETAO pre-registration valid on the local date.
"""

from __future__ import annotations

from datetime import date

from domain.decisions import Code
from domain.events import Channel, CrossingRecorded, Direction, Document, Entries, Zone
from domain.policy import Designation, Policy, Port, local_date
from domain.rules.common import DecisionSink, Facts

SMART_RULE = "SMART-LANE"
CONTACTLESS_RULE = "CONTACTLESS"
SMART_JURISDICTION = "CN"
_ALWAYS_ELIGIBLE = frozenset({Document.MTP_HKMO, Document.MTP_TW_5Y})
LANE_CHANNELS = frozenset({Channel.SMART, Channel.CONTACTLESS})  # channels with lane rules


def check_lanes(c: CrossingRecorded, port: Port, facts: Facts, sink: DecisionSink) -> None:
    """Record the lane decisions for one crossing."""
    if c.channel is Channel.SMART and port.jurisdiction == SMART_JURISDICTION:
        _check_smart(c, port, facts, sink)
    elif c.channel is Channel.CONTACTLESS:
        _check_contactless(c, port, facts, sink)


def _check_smart(c: CrossingRecorded, port: Port, facts: Facts, sink: DecisionSink) -> None:
    policy = sink.policy
    day = local_date(c.occurred_at, port.tz)
    jur = port.jurisdiction
    ev = (c.event_id,)
    if not port.designated(Designation.SMART_LANE, day):
        sink.add(
            Code.SMART_LANE_NOT_ENABLED,
            jur,
            SMART_RULE,
            ev,
            c.occurred_at,
            f"smart lanes are not enabled at {c.port} on {day.isoformat()}",
        )
    reasons = []
    min_age = policy.settings.smart_lane_min_age
    if c.birth_date is None:
        reasons.append("birth_date is required to check the minimum age")
    elif _age(c.birth_date, day) < min_age:
        reasons.append(f"aged under {min_age} on {day.isoformat()}")
    doc_problem = _document_problem(c, port, day, facts, policy)
    if doc_problem:
        reasons.append(doc_problem)
    if reasons:
        sink.add(Code.SMART_LANE_INELIGIBLE, jur, SMART_RULE, ev, c.occurred_at, "; ".join(reasons))
    consent = facts.consent_at(c.occurred_at)
    if consent is None or not consent.granted:
        sink.add(
            Code.SMART_LANE_NO_CONSENT,
            jur,
            SMART_RULE,
            ev if consent is None else (*ev, consent.event_id),
            c.occurred_at,
            "no biometric consent recorded"
            if consent is None
            else "the latest biometric consent record withdraws consent",
        )


def _document_problem(
    c: CrossingRecorded, port: Port, day: date, facts: Facts, policy: Policy
) -> str | None:
    if c.document in _ALWAYS_ELIGIBLE:
        return None
    if c.document is not Document.EEP:
        return f"document {c.document.value} is not eligible for smart lanes"
    destinations = _destinations(c, port, policy)
    for permit in facts.permits.values():
        if (
            permit.entries is Entries.MULTIPLE
            and permit.valid_from <= day <= permit.valid_until
            and facts.revoked_before(permit.permit_id, c.occurred_at) is None
            and (not destinations or destinations.intersection(permit.destinations))
        ):
            return None
    wanted = "/".join(sorted(destinations)) or "the destination"
    return f"EEP without a valid multiple-entry permit for {wanted}"


def _destinations(c: CrossingRecorded, port: Port, policy: Policy) -> set[str]:
    """Where the traveller is heading (exit) or coming from (entry), as jurisdictions."""
    country = c.onward_to if c.direction is Direction.EXIT else c.arrived_from
    if country is not None and country in policy.region_jurisdictions:
        return {policy.region_jurisdictions[country]}
    return set(port.connects_to)


def _age(birth: date, day: date) -> int:
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def _check_contactless(c: CrossingRecorded, port: Port, facts: Facts, sink: DecisionSink) -> None:
    settings = sink.policy.settings
    day = local_date(c.occurred_at, port.tz)
    ev = (c.event_id,)
    start = settings.hetao_contactless_from
    if not (port.designated(Designation.CONTACTLESS, day) and start is not None and day >= start):
        sink.add(
            settings.contactless_not_enabled_code,
            port.jurisdiction,
            CONTACTLESS_RULE,
            ev,
            c.occurred_at,
            f"contactless clearance is not enabled at {c.port} on {day.isoformat()}",
        )
    latest = None
    for reg in facts.preregistrations:
        if reg.occurred_at > c.occurred_at:
            break
        if reg.zone is Zone.HETAO and reg.valid_from <= day <= reg.valid_until:
            latest = reg
    if latest is None or not latest.granted:
        sink.add(
            Code.CONTACTLESS_NOT_REGISTERED,
            port.jurisdiction,
            CONTACTLESS_RULE,
            ev if latest is None else (*ev, latest.event_id),
            c.occurred_at,
            f"no granted HETAO pre-registration valid on {day.isoformat()}"
            if latest is None
            else f"HETAO pre-registration {latest.event_id} was refused",
        )
