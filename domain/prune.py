"""Bounded state: forget history that no rule can need any more (ARCHITECTURE.md "State and time").

Closed stays are forgotten once they ended more than the jurisdiction's history horizon behind the
watermark (its longest rolling window plus ``prune_horizon_days`` for late events), never while a
rolling window of a retained stay could still count them; open stays after
``open_stay_horizon_days``. Permits and pre-registrations go once their validity is behind the
horizon and no retained crossing could consult them. Pruning never emits: decisions whose evidence
is forgotten are dropped silently from the held set. It leaves a mark of what it forgot (see
forgetting.py), and a ``LATE_EVENT_UNJUDGED`` is forgotten like the closed history it fell on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache

from domain.decisions import Decision
from domain.derive import Derivation
from domain.events import (
    BiometricConsentRecorded,
    CrossingRecorded,
    PermitIssued,
    PermitRevoked,
    PreRegistrationRecorded,
    StayExtended,
    TravellerEvent,
)
from domain.forgetting import (
    marks_after,
    unjudged_decisions,
    unjudged_expiry,
    validity_end,
)
from domain.held import select
from domain.policy import Policy
from domain.rules.sequence import Stay
from domain.state import TravellerState, with_state

RECHECK = timedelta(days=1)


@cache
def _days(days: int) -> timedelta:
    """``timedelta(days=days)``, built once per horizon length (asked for on every event)."""
    return timedelta(days=days)


def prune_due(state: TravellerState, watermark: datetime) -> bool:
    """Whether the watermark has reached the instant at which pruning could forget something."""
    return state.prune_at is not None and watermark >= state.prune_at


def next_prune(
    derivation: Derivation,
    events: tuple[TravellerEvent, ...],
    watermark: datetime | None,
    policy: Policy,
    unjudged: list[Decision] | None = None,
) -> datetime | None:
    """The earliest watermark at which :func:`prune` could forget part of this history.

    A lower bound: an item held back by a retained stay's rolling window is re-checked a day later.
    ``unjudged`` are the held ``LATE_EVENT_UNJUDGED`` decisions, forgotten in their turn.
    """
    earliest: datetime | None = None
    for d in unjudged or ():
        candidate = unjudged_expiry(d, policy)
        if earliest is None or candidate < earliest:
            earliest = candidate
    if not events and earliest is None:
        return None
    settings = policy.settings
    open_after = _days(settings.open_stay_horizon_days)
    base = _days(settings.prune_horizon_days)
    attached: set[str] = set()
    for stay in derivation.stays:
        end = stay.end()
        if end is None:
            candidate = stay.entry.occurred_at + open_after
        else:
            candidate = end + _days(policy.history_days(stay.jurisdiction))
        if earliest is None or candidate < earliest:
            earliest = candidate
        _attach(stay, attached)
    unattached = _unattached_candidate(events, attached, base)
    if unattached is not None and (earliest is None or unattached < earliest):
        earliest = unattached
    if earliest is None:
        return None
    if watermark is not None and earliest <= watermark:
        earliest = watermark + RECHECK
    return earliest


def _unattached_candidate(
    events: tuple[TravellerEvent, ...], attached: set[str], base: timedelta
) -> datetime | None:
    """The earliest pruning candidate among the events no stay is made of (sorted ``events``)."""
    earliest: datetime | None = None
    consent_seen = False
    for e in events:
        if e.event_id in attached:
            continue
        kind = type(e)
        if kind is CrossingRecorded or kind is StayExtended:
            candidate = e.occurred_at + base
            if earliest is None or candidate < earliest:
                earliest = candidate
            # the history is sorted and no later event's candidate is before its own instant
            # plus ``base``: nothing after this one can be earlier
            break
        if isinstance(e, PermitIssued | PreRegistrationRecorded):
            expired = validity_end(e)
            candidate = max(e.occurred_at, expired) + base
        elif isinstance(e, BiometricConsentRecorded):
            # Each consent record but the latest can go once the next one is behind the horizon;
            # that next one's instant is the candidate, so every record after the first is one.
            if not consent_seen:
                consent_seen = True
                continue
            candidate = e.occurred_at + base
        else:
            continue
        if earliest is None or candidate < earliest:
            earliest = candidate
    return earliest


def prune(
    state: TravellerState, derivation: Derivation, watermark: datetime, policy: Policy
) -> TravellerState:
    """``state`` without the history that is past every horizon (decisions dropped silently)."""
    settings = policy.settings
    base = watermark - timedelta(days=settings.prune_horizon_days)
    open_cutoff = watermark - timedelta(days=settings.open_stay_horizon_days)
    cutoffs = _history_cutoffs(derivation, watermark, policy)
    drop: set[str] = set()
    for stay in derivation.stays:
        end = stay.end()
        gone = (
            stay.entry.occurred_at < open_cutoff
            if end is None
            else end < cutoffs[stay.jurisdiction]
        )
        if gone:
            drop.update(_stay_event_ids(stay))
    attached = {i for stay in derivation.stays for i in _stay_event_ids(stay)}
    retained_crossings = [
        e.occurred_at
        for e in state.events
        if isinstance(e, CrossingRecorded) and e.event_id not in drop
    ]
    # Facts consulted by retained crossings (permits, consent) must stay with them.
    fact_cutoff = min([base, *retained_crossings[:1]])
    for e in state.events:
        if e.event_id in drop or e.occurred_at >= base:
            continue
        if isinstance(e, CrossingRecorded) and e.event_id not in attached:
            cutoff = min(cutoffs.get(_jurisdiction(e, policy), base), base)
            if e.occurred_at < cutoff:
                drop.add(e.event_id)  # anomalous exits, duplicates, superseded, unknown ports
        elif isinstance(e, StayExtended) and e.event_id not in attached:
            drop.add(e.event_id)
    drop.update(_expired_facts(state, fact_cutoff, drop))
    expired = {
        d.decision_id for d in unjudged_decisions(state) if unjudged_expiry(d, policy) <= watermark
    }
    if not drop and not expired:
        return state
    # A replaced event must not come back when its correction is forgotten.
    for e in state.events:
        if isinstance(e, CrossingRecorded) and e.corrects and e.event_id in drop:
            drop.add(e.corrects)
    events = tuple(e for e in state.events if e.event_id not in drop)
    held = state.held()
    kept = [
        i
        for i in range(len(held))
        if drop.isdisjoint(held.evidence(i)) and held.decision_id(i) not in expired
    ]
    forgotten = marks_after(state, derivation, drop, watermark, policy) if drop else state.forgotten
    return with_state(state, events=events, held=select(held, kept), forgotten=forgotten)


def _history_cutoffs(
    derivation: Derivation, watermark: datetime, policy: Policy
) -> dict[str, datetime]:
    """Per jurisdiction with stays, the instant before which its history may go (an open stay
    keeps the history its rules look back over from its entry)."""
    cutoffs: dict[str, datetime] = {}
    for stay in derivation.stays:
        jur = stay.jurisdiction
        if jur not in cutoffs:
            cutoffs[jur] = watermark - timedelta(days=policy.history_days(jur))
        if stay.end() is None:
            keep_from = stay.entry.occurred_at - timedelta(days=policy.history_days(jur))
            cutoffs[jur] = min(cutoffs[jur], keep_from)
    return cutoffs


def _stay_event_ids(stay: Stay) -> Iterator[str]:
    """The ids of the events a stay is made of: entry, exits and extensions."""
    yield stay.entry.event_id
    for c in (stay.exit, stay.exit_before_entry):
        if c is not None:
            yield c.event_id
    for ext in stay.extensions:
        yield ext.event_id


def _attach(stay: Stay, ids: set[str]) -> None:
    """Add to ``ids`` those of :func:`_stay_event_ids` (without a generator: once per stay and
    derivation)."""
    ids.add(stay.entry.event_id)
    if stay.exit is not None:
        ids.add(stay.exit.event_id)
    if stay.exit_before_entry is not None:
        ids.add(stay.exit_before_entry.event_id)
    for ext in stay.extensions:
        ids.add(ext.event_id)


def _jurisdiction(c: CrossingRecorded, policy: Policy) -> str:
    port = policy.port(c.port)
    return port.jurisdiction if port else ""


def _expired_facts(state: TravellerState, cutoff: datetime, drop: set[str]) -> set[str]:
    out: set[str] = set()
    expired_permits: set[str] = set()
    latest_consent: BiometricConsentRecorded | None = None
    for e in state.events:
        if e.occurred_at >= cutoff:
            break
        if isinstance(e, PermitIssued | PreRegistrationRecorded):
            if validity_end(e) < cutoff:
                out.add(e.event_id)
                if isinstance(e, PermitIssued):
                    expired_permits.add(e.permit_id)
        elif isinstance(e, BiometricConsentRecorded):
            if latest_consent is not None:
                out.add(latest_consent.event_id)  # superseded by a later record before cutoff
            latest_consent = e
    for e in state.events:
        if isinstance(e, PermitRevoked) and e.permit_id in expired_permits:
            out.add(e.event_id)
    return out
