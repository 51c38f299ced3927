"""Entry assessment: the deadline of a landside stay and the entry conditions of its basis.

The rule version in force is the one at the entry's local date at the entry port. The deadline is
computed by the rule kind (DOMAIN.md 4.1, 4.3, 4.4, 4.8); an officer's ``permitted_until`` then
becomes the deadline, with ``PERMIT_MISMATCH`` when it differs from the computed one (4.5).
TWOV entries are checked for port designation, nationality, itinerary and onward ticket (4.1);
talent entries for a supporting endorsement (4.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from domain.decisions import Code
from domain.events import Basis, CrossingRecorded, PermitIssued
from domain.policy import (
    Designation,
    Policy,
    RuleKind,
    RuleVersion,
    local_date,
    local_midnight,
)
from domain.rules import rolling
from domain.rules.common import DecisionSink, Facts, fmt
from domain.rules.permits import find_talent_permit
from domain.rules.sequence import Stay

NO_RULE = "NO-RULE"
DIRECT_TRANSIT_LABEL = "DIRECT-TRANSIT"


class Terms(NamedTuple):
    """What the ledger holds about a stay at entry (a named tuple: built once per stay and
    derivation, and cheaper to build than a frozen dataclass)."""

    rule_label: str
    rule: RuleVersion | None
    computed: datetime | None  # the ledger's own deadline
    deadline: datetime | None  # the deadline in force at entry (officer's limit if given)
    permit: PermitIssued | None


def assess_entry(
    stay: Stay, facts: Facts, prior_days: Sequence[date], sink: DecisionSink, policy: Policy
) -> Terms:
    """Compute the stay's deadline and record the entry-condition decisions."""
    entry = stay.entry
    basis = entry.basis
    jur = stay.jurisdiction
    day = stay.entry_day
    ev = (entry.event_id,)
    at = entry.occurred_at
    if basis is None:  # event validation requires it on ENTRY; be total anyway
        sink.add(Code.POLICY_REVIEW, jur, NO_RULE, ev, at, "entry without a basis")
        return Terms(NO_RULE, None, None, entry.permitted_until, None)
    if basis is Basis.DIRECT_TRANSIT:
        sink.add(
            Code.DIRECT_TRANSIT_LEFT_AIRSIDE,
            jur,
            DIRECT_TRANSIT_LABEL,
            ev,
            at,
            f"landside entry at {entry.port} on a direct-transit basis: no basis for a stay",
        )
        return Terms(DIRECT_TRANSIT_LABEL, None, None, entry.permitted_until, None)
    rule = policy.rule_for(basis, jur, day)
    if rule is None:
        sink.add(
            Code.POLICY_REVIEW,
            jur,
            NO_RULE,
            ev,
            at,
            f"no {basis.value} rule for {jur} on {day.isoformat()}",
        )
        return Terms(NO_RULE, None, None, entry.permitted_until, None)
    label = rule.label
    permit: PermitIssued | None = None
    if basis is Basis.TALENT:
        permit, why, permit_ev = find_talent_permit(entry, jur, day, facts, policy)
        if permit is None:
            sink.add(Code.NO_VALID_PERMIT, jur, label, ev + permit_ev, at, why)
    elif entry.permit_id is not None:
        permit = facts.permits.get(entry.permit_id)
    computed = _computed_deadline(
        stay, rule, permit=permit, prior_days=prior_days, sink=sink, label=label, policy=policy
    )
    deadline = _officers_deadline(stay, computed, sink, label)
    if basis is Basis.TWOV:
        _check_twov(stay, computed, sink, label, policy)
    if permit is not None and basis is Basis.TALENT and deadline is not None:
        _check_within_permit(stay, permit, deadline, sink, label)
    return Terms(label, rule, computed, deadline, permit)


def entry_rule(stay: Stay, policy: Policy) -> tuple[str, RuleVersion | None]:
    """The rule label and version :func:`assess_entry` judges the stay's entry by (without
    recording anything: for a stay whose entry terms are reused from the held decisions)."""
    basis = stay.entry.basis
    if basis is None:
        return NO_RULE, None
    if basis is Basis.DIRECT_TRANSIT:
        return DIRECT_TRANSIT_LABEL, None
    rule = policy.rule_for(basis, stay.jurisdiction, stay.entry_day)
    if rule is None:
        return NO_RULE, None
    return rule.label, rule


def _officers_deadline(
    stay: Stay, computed: datetime | None, sink: DecisionSink, label: str
) -> datetime | None:
    """The officer's limit when one was given (a mismatch with ``computed`` is recorded)."""
    entry = stay.entry
    if entry.permitted_until is None:
        return computed
    if computed is not None and computed != entry.permitted_until:
        sink.add(
            Code.PERMIT_MISMATCH,
            stay.jurisdiction,
            label,
            (entry.event_id,),
            entry.occurred_at,
            f"officer's limit {fmt(entry.permitted_until)} differs from the ledger's "
            f"{fmt(computed)}",
            deadline=entry.permitted_until,
        )
    return entry.permitted_until


def _check_within_permit(
    stay: Stay, permit: PermitIssued, deadline: datetime, sink: DecisionSink, label: str
) -> None:
    """A talent stay's deadline must not fall after its permit's last valid day."""
    last = local_midnight(permit.valid_until + timedelta(days=1), stay.port.tz)
    if deadline > last:
        sink.add(
            Code.POLICY_REVIEW,
            stay.jurisdiction,
            label,
            (stay.entry.event_id, permit.event_id),
            stay.entry.occurred_at,
            f"deadline {fmt(deadline)} falls after permit {permit.permit_id}'s last valid "
            f"day {permit.valid_until.isoformat()}",
            deadline=deadline,
        )


def _computed_deadline(
    stay: Stay,
    rule: RuleVersion,
    *,
    permit: PermitIssued | None,
    prior_days: Sequence[date],
    sink: DecisionSink,
    label: str,
    policy: Policy,
) -> datetime | None:
    entry = stay.entry
    tz = stay.port.tz
    kind = rule.kind
    if kind is RuleKind.DAYS:
        days = rule.amount
        if permit is not None and permit.max_stay_days is not None:
            days = permit.max_stay_days
        return policy.day_deadline(stay.entry_day, days, policy.counting_for(rule), tz)
    if kind is RuleKind.HOURS:
        return policy.day_deadline(stay.entry_day, rule.amount // 24, policy.counting_for(rule), tz)
    if kind is RuleKind.EXACT_HOURS:
        return entry.occurred_at + timedelta(hours=rule.amount)
    if kind is RuleKind.ROLLING:
        last = rolling.last_allowed_day(prior_days, stay.entry_day, rule.amount, rule.window_days)
        return local_midnight(last + timedelta(days=1), tz)
    if kind is RuleKind.OFFICER and entry.permitted_until is None:
        sink.add(
            Code.NO_VALID_PERMIT,
            stay.jurisdiction,
            label,
            (entry.event_id,),
            entry.occurred_at,
            f"{entry.basis.value if entry.basis else 'VISA'} entry without an officer's "
            "permitted_until",
        )
    return None  # OFFICER (the officer's limit is the deadline) and UNLIMITED


def _check_twov(
    stay: Stay, computed: datetime | None, sink: DecisionSink, label: str, policy: Policy
) -> None:
    entry = stay.entry
    jur = stay.jurisdiction
    day = stay.entry_day
    ev = (entry.event_id,)
    at = entry.occurred_at
    if not stay.port.designated(Designation.TWOV, day):
        sink.add(
            Code.NOT_DESIGNATED_PORT,
            jur,
            label,
            ev,
            at,
            f"entry port {entry.port} is not a TWOV port on {day.isoformat()}",
        )
    if not policy.twov_eligible(entry.nationality, day):
        sink.add(
            Code.INELIGIBLE_NATIONALITY,
            jur,
            label,
            ev,
            at,
            f"{entry.nationality} is not on the TWOV list on {day.isoformat()}",
        )
    if entry.arrived_from is None or entry.onward_to is None:
        sink.add(
            Code.INVALID_ITINERARY, jur, label, ev, at, "arrived_from and onward_to are required"
        )
    elif entry.arrived_from == entry.onward_to:
        sink.add(
            Code.INVALID_ITINERARY,
            jur,
            label,
            ev,
            at,
            f"onward_to {entry.onward_to} is the country arrived from",
        )
    if (
        entry.onward_departure_at is not None
        and computed is not None
        and entry.onward_departure_at > computed
    ):
        sink.add(
            Code.ONWARD_AFTER_DEADLINE,
            jur,
            label,
            ev,
            at,
            f"onward departure {fmt(entry.onward_departure_at)} is after the deadline "
            f"{fmt(computed)}",
            deadline=computed,
        )


def check_twov_exit(
    stay: Stay, exit_: CrossingRecorded, label: str, sink: DecisionSink, policy: Policy
) -> None:
    """A TWOV stay must also end at a TWOV-designated port (designated at the exit)."""
    port = policy.port(exit_.port)
    if port is None:
        return
    day = local_date(exit_.occurred_at, port.tz)
    if not port.designated(Designation.TWOV, day):
        sink.add(
            Code.NOT_DESIGNATED_PORT,
            stay.jurisdiction,
            label,
            (stay.entry.event_id, exit_.event_id),
            exit_.occurred_at,
            f"exit port {exit_.port} is not a TWOV port on {day.isoformat()}",
        )
