"""The effective history's shortcut: a sorted history without two events at one instant cannot
hold a suspected duplicate, so it skips the duplicate index. These tests pin the shortcut to the
general path (``_set_aside``) on simulated histories and on ties, duplicates and corrections."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from functools import cache

from domain.events import CrossingRecorded, GateHeartbeat, TravellerEvent
from domain.history import _set_aside, effective_history, insert_event, sort_key
from producers.simulator import SimulationConfig, simulate


@cache
def _histories() -> list[tuple[TravellerEvent, ...]]:
    config = SimulationConfig(start=date(2025, 12, 1), days=2, travellers=300, violation_share=0.2)
    by_traveller: dict[str, tuple[TravellerEvent, ...]] = defaultdict(tuple)
    for e in simulate(config).events:
        if not isinstance(e, GateHeartbeat):
            by_traveller[e.traveller_id] = insert_event(by_traveller[e.traveller_id], e) or ()
    return list(by_traveller.values())


def _general(events: tuple[TravellerEvent, ...]) -> object:
    superseded = frozenset(
        e.corrects for e in events if isinstance(e, CrossingRecorded) and e.corrects is not None
    )
    return _set_aside(events, superseded)


def test_the_shortcut_agrees_with_the_general_path_on_simulated_histories() -> None:
    histories = _histories()
    assert len(histories) > 100
    for events in histories:
        assert effective_history(events) == _general(events)


def test_a_duplicate_at_the_same_instant_is_still_set_aside() -> None:
    crossing = next(e for events in _histories() for e in events if isinstance(e, CrossingRecorded))
    twin = replace(crossing, event_id=crossing.event_id + "-twin")
    events = tuple(sorted((crossing, twin), key=sort_key))
    history = effective_history(events)
    assert history == _general(events)
    assert history.duplicates == ((events[0], events[1]),)
    assert history.events == (events[0],)


def test_a_correction_without_ties_replaces_the_corrected_event() -> None:
    crossing = next(e for events in _histories() for e in events if isinstance(e, CrossingRecorded))
    fix = replace(
        crossing,
        event_id=crossing.event_id + "-fix",
        occurred_at=crossing.occurred_at + timedelta(seconds=1),
        corrects=crossing.event_id,
    )
    events = (crossing, fix)
    history = effective_history(events)
    assert history == _general(events)
    assert history.events == (fix,)
    assert history.superseded == frozenset({crossing.event_id})


def test_an_unsorted_history_takes_the_general_path() -> None:
    crossing = next(e for events in _histories() for e in events if isinstance(e, CrossingRecorded))
    later = replace(crossing, event_id="later", occurred_at=crossing.occurred_at + timedelta(1))
    twin = replace(later, event_id="later-twin")
    events = (later, crossing, twin)  # out of order: ties cannot be told from neighbours
    history = effective_history(events)
    assert history == _general(events)
    assert history.duplicates == ((later, twin),)
