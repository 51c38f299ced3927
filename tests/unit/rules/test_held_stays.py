"""An in-order crossing's derivation that reuses the held decisions of the stays it leaves alone
(held_stays.py) agrees with the full derivation: decision for decision, in the same order, with the
same due instant and deadlines; and the engine emits byte for byte the same with and without it.

Histories mix jurisdictions, both sides of the border, rolling windows, TWOV exits at ports that
are not TWOV ports, exits before entries, second entries, extensions, duplicates, corrections,
facts and late deliveries; the simulated streams add pruning (a short-horizon policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import domain.derive as derive_module
import domain.engine as engine_module
from domain.decisions import Code
from domain.derive import Derivation, derive
from domain.events import CrossingRecorded, Event, TravellerEvent
from domain.held_stays import stay_blocks
from domain.history import sort_key
from producers.simulator import SimulationConfig, simulate
from streams.policy_file import load_policy
from tests.unit.rules.helpers import (
    consent,
    corrected,
    crossing,
    default_policy,
    extended,
    json_lines,
    permit,
    run,
    to_event,
)
from tests.unit.rules.test_properties import BASE, PROPS, iso

# (port, direction, basis, extra fields): the crossings a traveller's steps are drawn from
MOVES: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("HK-LO-WU", "ENTRY", "VISITOR", {}),
    ("HK-LOK-MA-CHAU", "EXIT", None, {}),
    ("HK-SHENZHEN-BAY", "ENTRY", "TALENT", {"permit_id": "P1"}),
    ("PEK", "ENTRY", "TWOV", {"arrived_from": "USA", "onward_to": "JPN"}),
    ("PVG", "EXIT", None, {}),
    ("CN-LUOHU", "EXIT", None, {"channel": "SMART", "birth_date": "1990-01-01"}),
    ("PEK", "AIRSIDE_ARRIVAL", "DIRECT_TRANSIT", {"arrived_from": "USA", "onward_to": "JPN"}),
    ("PEK", "AIRSIDE_DEPARTURE", None, {}),
    ("CDG", "ENTRY", "SHORT_STAY", {}),
    ("MAD", "EXIT", None, {}),
    ("MO-BORDER-GATE", "ENTRY", "VISITOR", {}),
    ("MO-HZMB", "EXIT", None, {}),
]


# same instant (a duplicate), minutes, hours, within a stay's limit, past it, past a rolling window
GAPS_MINUTES = [0, 5, 90, 60 * 30, 60 * 24 * 12, 60 * 24 * 95]


@st.composite
def mixed_history(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One traveller's events in event-time order, with the odd duplicate, correction and fact."""
    events: list[dict[str, Any]] = []
    at = BASE
    for i in range(draw(st.integers(1, 9))):
        at += timedelta(minutes=draw(st.sampled_from(GAPS_MINUTES)))
        kind = draw(st.integers(0, 19))
        when = iso(at)
        if kind < len(MOVES):
            port, direction, basis, extra = MOVES[kind]
            events.append(
                crossing("T", port, direction, when, basis=basis, event_id=f"c{i}", **extra)
            )
        elif kind == 12 and events and events[-1]["type"] == "CrossingRecorded":
            events.append({**events[-1], "event_id": f"dup{i}"})  # same port, direction, instant
        elif kind == 13 and events and events[0]["type"] == "CrossingRecorded":
            events.append(corrected(events[0], occurred_at=when, event_id=f"fix{i}"))
        elif kind == 14:
            until = iso(at + timedelta(days=40))
            events.append(extended("T", "HK", until, when, event_id=f"ext{i}"))
        elif kind == 15:
            events.append(consent("T", when, granted=draw(st.booleans()), event_id=f"con{i}"))
        elif kind == 16:
            events.append(permit("T", "P1", at=when, event_id=f"perm{i}"))
    return events


@dataclass
class Compared:
    checked: int = 0


def _same(reused: Derivation, full: Derivation) -> None:
    assert list(reused.decisions.items()) == list(full.decisions.items())
    assert reused.due == full.due
    assert reused.deadlines == full.deadlines


def check_every_appended_crossing(history: list[TravellerEvent], counter: Compared) -> None:
    """For each crossing later than all before it: derived with reuse == derived in full."""
    policy = default_policy()
    ordered = sorted(history, key=sort_key)
    for i in range(1, len(ordered)):
        event, before = ordered[i], ordered[i - 1]
        if not isinstance(event, CrossingRecorded) or event.corrects is not None:
            continue
        if before.occurred_at >= event.occurred_at:
            continue
        prefix, events = tuple(ordered[:i]), tuple(ordered[: i + 1])
        for watermark in (None, event.occurred_at, event.occurred_at + timedelta(days=400)):
            held = tuple(derive("T", prefix, watermark, policy).decisions.values())
            full = derive("T", events, watermark, policy, held=held)
            reused = derive("T", events, watermark, policy, held=held, appended=event)
            _same(reused, full)
            counter.checked += 1


@PROPS
@given(mixed_history())
def test_a_derivation_reusing_held_stays_equals_the_full_one(events: list[dict[str, Any]]) -> None:
    history = [e for e in map(to_event, events) if isinstance(e, TravellerEvent)]
    check_every_appended_crossing(history, Compared())


def without_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "_appended", lambda state, event: None)


@pytest.mark.interpreted
@PROPS
@given(mixed_history(), st.randoms(use_true_random=False))
def test_the_engine_emits_the_same_with_and_without_reuse(
    events: list[dict[str, Any]], rnd: Any
) -> None:
    arrival = list(events)
    if len(arrival) > 2 and rnd.random() < 0.5:  # one event delivered last, late
        arrival.append(arrival.pop(rnd.randrange(len(arrival) - 1)))
    as_of = iso(BASE + timedelta(days=900))
    reused = run(arrival, as_of=as_of)
    with pytest.MonkeyPatch.context() as patch:
        without_reuse(patch)
        full = run(arrival, as_of=as_of)
    assert json_lines(reused.emissions) == json_lines(full.emissions)


def _short_horizon_policy(tmp_path: Path) -> Any:
    data = json.loads(Path("streams/policy/default.json").read_text("utf-8"))
    data["settings"]["prune_horizon_days"] = 1
    data["settings"]["open_stay_horizon_days"] = 2
    path = tmp_path / "short.json"
    path.write_text(json.dumps(data), "utf-8")
    return load_policy(path)


def _simulated(seed: int) -> list[Event]:
    config = SimulationConfig(
        start=date(2025, 12, 1), days=6, travellers=250, violation_share=0.4, seed=seed
    )
    return list(simulate(config).events)


@pytest.mark.interpreted
@pytest.mark.parametrize(("short_horizon", "least_reused"), [(False, 200), (True, 5)])
def test_simulated_streams_give_the_same_emissions_with_and_without_reuse(
    short_horizon: bool, least_reused: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a one-day horizon pruning forgets within the week (and forgetting stops reuse)."""
    policy = _short_horizon_policy(tmp_path) if short_horizon else None
    events = _simulated(seed=3)
    reused_blocks: list[object] = []
    original = derive_module.reusable_block

    def counting(*args: Any) -> Any:
        block = original(*args)
        reused_blocks.append(block)
        return block

    monkeypatch.setattr(derive_module, "reusable_block", counting)
    as_of = "2026-01-20T00:00:00Z"
    reused = run(events, as_of=as_of, policy=policy)
    assert sum(b is not None for b in reused_blocks) >= least_reused  # the reuse did happen
    without_reuse(monkeypatch)
    full = run(events, as_of=as_of, policy=policy)
    assert json_lines(reused.emissions) == json_lines(full.emissions)


def test_simulated_histories_derive_the_same_with_reuse() -> None:
    by_traveller: dict[str, list[TravellerEvent]] = {}
    for e in _simulated(seed=5):
        if isinstance(e, TravellerEvent):
            by_traveller.setdefault(e.traveller_id, []).append(e)
    counter = Compared()
    for history in by_traveller.values():
        check_every_appended_crossing([_as_t(e) for e in history], counter)
    assert counter.checked > 500


def _as_t(event: TravellerEvent) -> TravellerEvent:
    """The event as traveller ``T`` (check_every_appended_crossing derives for ``T``)."""
    return replace(event, traveller_id="T")


def test_no_reuse_when_the_contactless_code_could_be_a_stays() -> None:
    policy = default_policy()
    settings = policy.settings
    odd = replace(policy, settings=replace(settings, contactless_not_enabled_code=Code.OVERSTAY))
    entry_at = datetime(2025, 1, 1, tzinfo=BASE.tzinfo)
    first = to_event(crossing("T", "HK-LO-WU", "ENTRY", iso(entry_at), basis="VISITOR"))
    later = to_event(crossing("T", "HK-LO-WU", "EXIT", iso(entry_at + timedelta(hours=1))))
    assert isinstance(first, CrossingRecorded) and isinstance(later, CrossingRecorded)
    held = tuple(derive("T", (first,), None, policy).decisions.values())
    assert stay_blocks(held, later, policy) is not None
    assert stay_blocks(held, later, odd) is None


def test_no_reuse_when_a_stays_decisions_are_not_contiguous() -> None:
    policy = default_policy()
    at = BASE
    entries = [
        to_event(crossing("T", "HK-LO-WU", "ENTRY", iso(at), basis="VISITOR", event_id="a")),
        to_event(crossing("T", "HK-LO-WU", "EXIT", iso(at + timedelta(hours=1)), event_id="b")),
        to_event(crossing("T", "CDG", "ENTRY", iso(at + timedelta(hours=20)), basis="SHORT_STAY")),
    ]
    held = tuple(derive("T", tuple(entries), None, policy).decisions.values())  # type: ignore[arg-type]
    later = to_event(crossing("T", "MAD", "EXIT", iso(at + timedelta(days=3))))
    assert isinstance(later, CrossingRecorded)
    assert stay_blocks(held, later, policy) is not None
    shuffled = (held[0], held[-1], *held[1:-1])  # the first stay's block split by the second's
    assert stay_blocks(shuffled, later, policy) is None


def test_a_stay_held_under_another_policy_version_is_judged_again() -> None:
    # A worker restarted with a new policy over its stored states: the full derivation re-issues
    # every decision under the new version, and so must the one that reuses held stays.
    policy = default_policy()
    newer = replace(policy, version=policy.version + "-next")
    at = BASE
    history = [
        to_event(crossing("T", "HK-LO-WU", "ENTRY", iso(at), basis="VISITOR", event_id="a")),
        to_event(crossing("T", "HK-LO-WU", "EXIT", iso(at + timedelta(hours=5)), event_id="b")),
        to_event(
            crossing("T", "MO-BORDER-GATE", "ENTRY", iso(at + timedelta(hours=9)), basis="VISITOR")
        ),
    ]
    appended = to_event(crossing("T", "MO-HZMB", "EXIT", iso(at + timedelta(days=2))))
    assert isinstance(appended, CrossingRecorded)
    held = tuple(derive("T", tuple(history), None, policy).decisions.values())  # type: ignore[arg-type]
    events = (*history, appended)
    full = derive("T", events, None, newer, held=held)  # type: ignore[arg-type]
    reused = derive("T", events, None, newer, held=held, appended=appended)  # type: ignore[arg-type]
    _same(reused, full)
    assert all(d.rule.endswith("-next") for d in reused.decisions.values())


def test_no_reuse_when_a_stays_decision_comes_after_the_others() -> None:
    policy = default_policy()
    at = BASE
    history = [
        to_event(crossing("T", "HK-LOK-MA-CHAU", "EXIT", iso(at), event_id="stray")),
        to_event(crossing("T", "HK-LO-WU", "ENTRY", iso(at + timedelta(days=3)), basis="VISITOR")),
    ]
    held = tuple(derive("T", tuple(history), None, policy).decisions.values())  # type: ignore[arg-type]
    assert [d.code for d in held] == [Code.STAY_OPENED, Code.EXIT_WITHOUT_ENTRY]
    later = to_event(crossing("T", "HK-LOK-MA-CHAU", "EXIT", iso(at + timedelta(days=4))))
    assert isinstance(later, CrossingRecorded)
    assert stay_blocks(held, later, policy) is not None
    assert stay_blocks(held[::-1], later, policy) is None
