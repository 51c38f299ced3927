"""What pruning forgot, and the late events that fall on it (DOMAIN.md 4.9, "No event is ever
ignored silently").

When pruning forgets part of a traveller's history it leaves a mark per jurisdiction: the instant
up to which that jurisdiction's history can no longer be replayed exactly. A late crossing (or
extension) after the mark is judged against the retained history exactly as if it had arrived in
order; one at or before it gets ``LATE_EVENT_UNJUDGED`` (REVIEW) with the event as evidence. The
mark covers everything the forgotten history could still change: a closed stay up to its end, a
stray exit up to the exit-before-entry window after it (it could have paired with a later entry),
a rolling-window jurisdiction up to one window further (its days count for later entries), an open
stay up to the watermark that forgot it. Forgotten permits, consent and pre-registrations leave a
mark under :data:`~domain.state.FACTS` that only crossings consulting them look at. A late
fact reaching back to or before a mark is admitted and flagged: what it would have changed in the
forgotten history is not re-judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from domain.decisions import Code, Decision
from domain.derive import Derivation, derive
from domain.events import (
    Basis,
    BiometricConsentRecorded,
    CrossingRecorded,
    Direction,
    PermitIssued,
    PreRegistrationRecorded,
    StayExtended,
    TravellerEvent,
)
from domain.policy import Policy, local_midnight
from domain.rules.common import decision_id, fmt
from domain.rules.lanes import LANE_CHANNELS
from domain.state import FACTS, TravellerState

LATE_RULE = "LATE-EVENT"
UNJUDGED = Code.LATE_EVENT_UNJUDGED
_MILLISECOND = timedelta(milliseconds=1)  # instants are millisecond-precise (events.py)
_NOTHING: frozenset[str] = frozenset()


def validity_end(fact: PermitIssued | PreRegistrationRecorded) -> datetime:
    """An instant after the last valid local day of ``fact`` in every time zone."""
    return local_midnight(fact.valid_until + timedelta(days=2), UTC)


def forgotten_jurisdictions(state: TravellerState) -> frozenset[str]:
    """The jurisdictions whose history was (partly) forgotten."""
    if not state.forgotten:
        return _NOTHING
    return frozenset(jur for jur, _ in state.forgotten if jur != FACTS)


def unjudged_decisions(state: TravellerState) -> list[Decision]:
    """The held ``LATE_EVENT_UNJUDGED`` decisions (only a state with a mark can have any)."""
    if not state.forgotten:
        return []
    held = state.held()
    return [held.decision(i) for i in range(len(held)) if held.code(i) is UNJUDGED]


def remembers_unjudged(state: TravellerState, event_id: str) -> bool:
    """Whether ``event_id`` was already flagged as unjudged (a redelivery changes nothing)."""
    return any(d.evidence[0] == event_id for d in unjudged_decisions(state))


def consults_facts(c: CrossingRecorded) -> bool:
    """Whether judging ``c`` reads permits, consent or pre-registrations."""
    return c.channel in LANE_CHANNELS or c.basis is Basis.TALENT or c.permit_id is not None


def late_event_unjudged(
    state: TravellerState, event: TravellerEvent, policy: Policy
) -> Decision | None:
    """``LATE_EVENT_UNJUDGED`` for an event at or before what was forgotten, else ``None``."""
    if not state.forgotten:
        return None
    if isinstance(event, CrossingRecorded):
        port = policy.port(event.port)
        if port is None:
            return None  # an unknown port is a policy review whatever the history
        jur = port.jurisdiction
        what = f"{event.direction.value} at {event.port}"
        marks = [(state.forgotten_up_to(jur), f"{jur} history")]
        if consults_facts(event):
            marks.append((state.forgotten_up_to(FACTS), "permit, consent and pre-registration"))
    elif isinstance(event, StayExtended):
        jur = event.jurisdiction
        what = f"extension of the {jur} stay"
        marks = [(state.forgotten_up_to(jur), f"{jur} history")]
    else:
        return _late_fact(state, event, policy)
    hits = [(at, name) for at, name in marks if at is not None and event.occurred_at <= at]
    if not hits:
        return None
    at, name = max(hits)
    return _decision(
        state,
        event,
        jur,
        policy,
        f"{what} on {fmt(event.occurred_at)} arrived after the traveller's {name} up to "
        f"{fmt(at)} was forgotten (pruned): it cannot be judged exactly",
    )


def is_fact(event: TravellerEvent) -> bool:
    """A validity-dated fact (permit, revocation, consent, pre-registration): always admitted."""
    return not isinstance(event, CrossingRecorded | StayExtended)


def _late_fact(state: TravellerState, event: TravellerEvent, policy: Policy) -> Decision | None:
    """A fact that could have changed forgotten crossings: admitted (retained crossings are
    judged with it), and flagged, since what it would have changed before the mark is unknown."""
    if isinstance(event, PermitIssued | PreRegistrationRecorded):
        # the earliest instant whose local date, in any time zone, is the first valid day
        reach = local_midnight(event.valid_from, UTC) - timedelta(days=1)
    else:
        reach = event.occurred_at  # a revocation or consent counts from its instant
    crossings = [(at, jur) for jur, at in state.forgotten if jur != FACTS and reach <= at]
    if not crossings:
        return None
    at, jur = max(crossings)
    name = type(event).__name__
    return _decision(
        state,
        event,
        jur,
        policy,
        f"{name} {event.event_id} reaches back to {fmt(reach)}, before the traveller's {jur} "
        f"history up to {fmt(at)} was forgotten (pruned): what it would have changed there "
        "cannot be judged",
    )


def _decision(
    state: TravellerState, event: TravellerEvent, jur: str, policy: Policy, detail: str
) -> Decision:
    rule = f"{LATE_RULE}/policy:{policy.version}"
    evidence = (event.event_id,)
    return Decision(
        decision_id(state.traveller_id, UNJUDGED, jur, rule, evidence, deadline=None),
        state.traveller_id,
        UNJUDGED,
        policy.severities[UNJUDGED],
        jur,
        rule,
        evidence,
        None,
        None,
        event.occurred_at,
        detail,
    )


def unjudged_expiry(decision: Decision, policy: Policy) -> datetime:
    """The watermark from which a held ``LATE_EVENT_UNJUDGED`` may be forgotten too."""
    days = policy.history_days(decision.jurisdiction or "")
    return decision.observed_at + timedelta(days=days)


def marks_after(
    state: TravellerState,
    derivation: Derivation,
    drop: set[str],
    watermark: datetime,
    policy: Policy,
) -> tuple[tuple[str, datetime], ...]:
    """``state.forgotten`` raised to cover the events in ``drop``, which pruning forgets."""
    marks = dict(state.forgotten)
    horizon = policy.settings.prune_horizon_days

    def cover(jur: str, at: datetime) -> None:
        if jur != FACTS:  # a rolling window counts the forgotten days for one window more
            at += timedelta(days=policy.history_days(jur) - horizon)
        if jur not in marks or at > marks[jur]:
            marks[jur] = at

    attached: set[str] = set()
    for stay in derivation.stays:
        attached.update(_stay_event_ids(stay.entry, stay.exit, stay.exit_before_entry))
        attached.update(ext.event_id for ext in stay.extensions)
        if stay.entry.event_id in drop:
            end = stay.end()
            cover(stay.jurisdiction, watermark if end is None else end)
    window = timedelta(hours=policy.settings.exit_before_entry_window_hours)
    for e in state.events:
        if e.event_id not in drop or e.event_id in attached:
            continue
        if isinstance(e, CrossingRecorded):
            port = policy.port(e.port)
            if port is not None:  # a stray exit could have paired with an entry after it
                cover(port.jurisdiction, e.occurred_at + (window if _is_exit(e) else timedelta()))
        elif isinstance(e, StayExtended):
            cover(e.jurisdiction, e.occurred_at)
        elif isinstance(e, PermitIssued | PreRegistrationRecorded):
            cover(FACTS, validity_end(e))
        elif isinstance(e, BiometricConsentRecorded):
            cover(FACTS, _consent_superseded_at(e, state.events))
    return tuple(sorted(marks.items()))


def _stay_event_ids(*crossings: CrossingRecorded | None) -> Iterable[str]:
    return (c.event_id for c in crossings if c is not None)


def _is_exit(c: CrossingRecorded) -> bool:
    return c.direction is Direction.EXIT


def _consent_superseded_at(
    consent: BiometricConsentRecorded, events: tuple[TravellerEvent, ...]
) -> datetime:
    """Just before the next consent record: crossings until then read the forgotten one."""
    for e in events:
        if isinstance(e, BiometricConsentRecorded) and e.occurred_at > consent.occurred_at:
            return e.occurred_at - _MILLISECOND
    return consent.occurred_at


def derive_state(state: TravellerState, watermark: datetime | None, policy: Policy) -> Derivation:
    """The derivation of a traveller's state: its history, judged with what it has forgotten."""
    return derive(
        state.traveller_id,
        state.events,
        watermark,
        policy,
        forgotten_jurisdictions(state),
        held=state.held(),
    )
