"""Hypothesis property of late data with pruning on (DOMAIN.md 4.9, issue 8).

For any traveller history delivered in any order, interleaved with other gates' events that move
the watermark arbitrarily far ahead (so that pruning forgets history meanwhile), each traveller's
final decisions equal those of the in-order run, unless the run flags one of that traveller's
events ``LATE_EVENT_UNJUDGED``. A flag must be legitimate, which this module checks without the
engine's own bookkeeping: when the flagged event was delivered, the traveller already had an
event in that jurisdiction at or after it (or a stray exit, or a rolling window's days, just
before it) that was more than the pruning horizon behind the watermark, so it may have been
forgotten.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from domain.decisions import Code
from domain.events import CrossingRecorded, Event, GateHeartbeat, PermitIssued
from tests.unit.rules.helpers import (
    comparable,
    default_policy,
    fold,
    heartbeat,
    new_engine,
    to_event,
)
from tests.unit.rules.test_properties import BASE, PROPS, histories, iso

HORIZON = timedelta(days=30)  # prune_horizon_days of the default policy
STRAY_WINDOW = timedelta(hours=24)  # exit_before_entry_window_hours
ROLLING_WINDOW = timedelta(days=180)  # SCHENGEN 90 days in any 180


@st.composite
def far_ahead(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Other gates' heartbeats anywhere up to three years on: they only move event time."""
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 365 * 3), min_size=1, max_size=6))
    return [
        heartbeat(iso(BASE + timedelta(minutes=m)), "HK-LO-WU", event_id=f"far-{i}")
        for i, m in enumerate(minutes)
    ]


def deliver(events: list[Event]) -> tuple[list[Any], list[datetime | None]]:
    """Run ``events`` in this order; emissions, and the watermark before each delivery."""
    engine = new_engine()
    emissions: list[Any] = []
    before: list[datetime | None] = []
    for e in events:
        before.append(engine.watermark)
        emissions.extend(engine.process(e))
    return emissions, before


def jurisdiction(e: Event) -> str | None:
    if isinstance(e, CrossingRecorded):
        port = default_policy().port(e.port)
        return port.jurisdiction if port else None
    return getattr(e, "jurisdiction", None)


def reach(e: Event) -> datetime:
    """The earliest instant an event can matter to: a permit's first valid day, else its own."""
    if isinstance(e, PermitIssued):
        return datetime.combine(e.valid_from, time(0), tzinfo=UTC) - timedelta(days=1)
    return e.occurred_at


def may_have_been_forgotten(flagged: Event, order: list[Event], before: list[Any]) -> bool:
    """A crossing of the traveller, delivered earlier in the flagged event's jurisdiction (any,
    for a permit), late enough to matter to it and behind the horizon when the flagged event
    arrived."""
    i = next(n for n, e in enumerate(order) if e.event_id == flagged.event_id)
    watermark = before[i]
    jur = jurisdiction(flagged)
    return watermark is not None and any(
        isinstance(x, CrossingRecorded)
        and getattr(x, "traveller_id", None) == getattr(flagged, "traveller_id", None)
        and (jur is None or jurisdiction(x) == jur)
        and x.occurred_at
        >= reach(flagged) - (ROLLING_WINDOW if jurisdiction(x) == "SCHENGEN" else STRAY_WINDOW)
        and x.occurred_at < watermark - HORIZON
        for x in order[:i]
    )


def by_traveller(emissions: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in comparable(fold(emissions)).items():
        out.setdefault(value[0], {})[key] = value
    return out


@PROPS
@given(histories(), far_ahead(), st.randoms(use_true_random=False))
def test_late_delivery_with_pruning_decides_as_in_order_or_flags_forgotten_history(
    history: list[dict[str, Any]], movers: list[dict[str, Any]], rnd: random.Random
) -> None:
    travellers = [to_event(e) for e in history if e["type"] != "GateHeartbeat"]
    gates = [to_event(e) for e in (*movers, *(e for e in history if e["type"] == "GateHeartbeat"))]
    everything = [*travellers, *gates]
    in_order = sorted(everything, key=lambda e: (e.occurred_at, e.event_id))
    shuffled = list(travellers)
    rnd.shuffle(shuffled)
    for g in gates:  # the movers come anywhere, typically before the traveller's late events
        shuffled.insert(rnd.randint(0, len(shuffled)), g)
    end = max(e.occurred_at for e in everything)
    final = GateHeartbeat(event_id="final", occurred_at=end, port="HK-LO-WU")

    expected_emissions, _ = deliver([*in_order, final])
    actual_emissions, before = deliver([*shuffled, final])
    expected, actual = by_traveller(expected_emissions), by_traveller(actual_emissions)
    behind = sum(
        1
        for e, w in zip(shuffled, before, strict=False)
        if not isinstance(e, GateHeartbeat) and w is not None and e.occurred_at < w - HORIZON
    )
    event(f"delivered beyond the horizon: {min(behind, 3)}")
    assert not any(v[1] is Code.LATE_EVENT_UNJUDGED for t in expected.values() for v in t.values())

    events_by_id = {e.event_id: e for e in travellers}
    for traveller in sorted(set(expected) | set(actual)):
        mine = actual.get(traveller, {})
        flagged = [events_by_id[v[5][0]] for v in mine.values() if v[1] is Code.LATE_EVENT_UNJUDGED]
        event(f"flagged {min(len(flagged), 2)}")
        if not flagged:
            assert mine == expected.get(traveller, {}), traveller
        for late in flagged:
            assert may_have_been_forgotten(late, [*shuffled, final], before), late
