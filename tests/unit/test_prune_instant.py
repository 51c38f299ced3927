"""The pruning instant stops scanning the history at the first unattached crossing (prune.py): the
history is sorted and every later candidate is at least its event's instant plus the horizon. Here
it is compared with a scan of every event, on simulated travellers with permits, consent,
pre-registrations, stray exits and duplicates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain.derive import derive
from domain.engine import Engine
from domain.events import (
    BiometricConsentRecorded,
    CrossingRecorded,
    PermitIssued,
    PreRegistrationRecorded,
    StayExtended,
    TravellerEvent,
)
from domain.forgetting import validity_end
from domain.policy import Policy
from domain.prune import next_prune
from producers.simulator import SimulationConfig, simulate
from streams.policy_file import load_policy


def every_event_candidate(
    events: tuple[TravellerEvent, ...], attached: set[str], policy: Policy
) -> datetime | None:
    """The earliest candidate among the unattached events, looking at every one of them."""
    base = timedelta(days=policy.settings.prune_horizon_days)
    candidates: list[datetime] = []
    consents = 0
    for e in events:
        if e.event_id in attached:
            continue
        if isinstance(e, CrossingRecorded | StayExtended):
            candidates.append(e.occurred_at + base)
        elif isinstance(e, PermitIssued | PreRegistrationRecorded):
            candidates.append(max(e.occurred_at, validity_end(e)) + base)
        elif isinstance(e, BiometricConsentRecorded):
            consents += 1
            if consents > 1:
                candidates.append(e.occurred_at + base)
    return min(candidates, default=None)


def test_the_pruning_instant_equals_a_scan_of_every_event() -> None:
    policy = load_policy()
    config = SimulationConfig(
        start=date(2025, 12, 1), days=4, travellers=400, violation_share=0.3, seed=11
    )
    engine = Engine(policy)
    for e in simulate(config).events:
        engine.process(e)
    watermark = engine.watermark
    compared = 0
    for tid in engine.travellers():
        state = engine.state(tid)
        assert state is not None
        derivation = derive(tid, state.events, watermark, policy)
        attached = {
            c.event_id
            for s in derivation.stays
            for c in (s.entry, s.exit, s.exit_before_entry, *s.extensions)
            if c is not None
        }
        stays = [
            s.entry.occurred_at + timedelta(days=policy.settings.open_stay_horizon_days)
            if s.end() is None
            else s.end() + timedelta(days=policy.history_days(s.jurisdiction))  # type: ignore[operator]
            for s in derivation.stays
        ]
        scanned = every_event_candidate(state.events, attached, policy)
        expected = min([*stays, *([scanned] if scanned else [])], default=None)
        if expected is not None and watermark is not None and expected <= watermark:
            expected = watermark + timedelta(days=1)
        assert next_prune(derivation, state.events, watermark, policy) == expected
        compared += 1
    assert compared > 300
