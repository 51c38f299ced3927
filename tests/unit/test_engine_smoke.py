"""Smoke tests of the rules engine's public API (the exhaustive rule tests live in rules/)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from base.errors import PolicyError
from domain.decisions import Code, Status
from domain.engine import (
    Engine,
    advance_watermark,
    apply_event,
    next_due,
)
from domain.event_data import event_from_mapping
from domain.events import Event
from domain.policy_data import policy_from_mapping
from schemas.mapping import emission_to_json_dict
from streams.policy_file import load_policy
from streams.worker.state_format import decode_state, encode_state

POLICY = load_policy()


def crossing(
    eid: str, at: str, port: str, direction: str, basis: str | None = None, **extra: Any
) -> Event:
    data = {
        "type": "CrossingRecorded",
        "event_id": eid,
        "traveller_id": extra.pop("traveller_id", "t1"),
        "occurred_at": at,
        "port": port,
        "direction": direction,
        "nationality": "FRA",
        "document": "PASSPORT",
        "channel": "COUNTER",
        "basis": basis,
        **extra,
    }
    return event_from_mapping(data)


def held_codes(engine: Engine) -> list[str]:
    return sorted(d.code.value for d in engine.decisions())


def run(events: list[Event], as_of: datetime | None = None) -> Engine:
    engine = Engine(POLICY)
    for e in events:
        engine.process(e)
    if as_of is not None:
        engine.advance_to(as_of)
    return engine


def test_twov_deadline_uses_the_local_date_of_the_port() -> None:
    engine = run(
        [
            crossing(
                "e1",
                "2025-12-01T20:30:00Z",
                "PVG",
                "ENTRY",
                "TWOV",
                arrived_from="FRA",
                onward_to="JPN",
            )
        ]
    )
    (opened,) = engine.decisions()
    assert opened.code is Code.STAY_OPENED
    # 2 December in Beijing, 240 h: 00:00 local on 13 December.
    assert opened.deadline == datetime(2025, 12, 12, 16, 0, tzinfo=UTC)
    assert opened.rule == f"TWOV-240H@2024-12-17/policy:{POLICY.version}"


def test_exit_after_deadline_is_an_overstay_and_retracts_the_suspicion() -> None:
    engine = Engine(POLICY)
    engine.process(crossing("e1", "2025-01-01T00:00:00Z", "HK-LO-WU", "ENTRY", "VISITOR"))
    fired = engine.advance_to(datetime(2025, 1, 10, tzinfo=UTC))
    assert [(e.status, e.decision.code) for e in fired] == [
        (Status.ISSUED, Code.SUSPECTED_OVERSTAY)
    ]
    out = engine.process(crossing("e2", "2025-01-09T00:00:00Z", "HK-LO-WU", "EXIT"))
    assert (Status.RETRACTED, Code.SUSPECTED_OVERSTAY) in [(e.status, e.decision.code) for e in out]
    assert held_codes(engine) == ["OVERSTAY", "STAY_OPENED"]


def test_final_decisions_do_not_depend_on_arrival_order() -> None:
    events = [
        crossing("a", "2025-01-01T00:00:00Z", "HK-LO-WU", "ENTRY", "VISITOR"),
        crossing("b", "2025-01-12T00:00:00Z", "HK-LO-WU", "EXIT"),
        crossing("c", "2025-01-05T00:00:00Z", "HK-LO-WU", "ENTRY", "BUSINESS"),
        crossing("d", "2025-01-06T00:00:00Z", "CN-LUOHU", "ENTRY", "RESIDENT"),
    ]
    as_of = datetime(2025, 3, 1, tzinfo=UTC)
    results = {
        tuple(d.decision_id for d in run(list(p), as_of).decisions())
        for p in itertools.permutations(events)
    }
    assert len(results) == 1


def test_a_repeated_event_id_changes_nothing() -> None:
    e = crossing("a", "2025-01-01T00:00:00Z", "HK-LO-WU", "ENTRY", "VISITOR")
    engine = Engine(POLICY)
    assert engine.process(e)
    assert engine.process(e) == []


def test_pure_fold_round_trips_through_the_worker_state() -> None:
    e1 = crossing("a", "2025-01-01T00:00:00Z", "HK-LO-WU", "ENTRY", "VISITOR")
    state, out = apply_event(None, e1, e1.occurred_at, POLICY)
    assert out and next_due(state) == datetime(2025, 1, 8, 16, 0, tzinfo=UTC)
    restored = decode_state(encode_state(state))
    assert restored == state
    later, fired = advance_watermark(restored, datetime(2025, 2, 1, tzinfo=UTC), POLICY)
    assert [e.decision.code for e in fired] == [Code.SUSPECTED_OVERSTAY]
    assert next_due(later) is None


def test_bad_policy_data_names_the_key() -> None:
    raw = json.loads(json.dumps(_default_policy_document()))
    raw["ports"][0]["tz"] = "Mars/Olympus"
    with pytest.raises(PolicyError, match=r"ports\[0\]\.tz"):
        policy_from_mapping(raw)


def _default_policy_document() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("streams").joinpath("policy/default.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_travellers_held_decisions_share_their_rule_and_detail_texts() -> None:
    # Two travellers entering the same port on the same day: their STAY_OPENED decisions differ
    # (ids, evidence) but hold one rule string and one detail string between them (issue 11).
    from tests.unit.rules.helpers import new_engine, to_event, twov_entry

    engine = new_engine()
    for traveller in ("S1", "S2"):
        engine.process(to_event(twov_entry(traveller, "2025-12-02T10:00:00+08:00")))
    first, second = (d for d in engine.decisions() if d.code is Code.STAY_OPENED)
    assert first.decision_id != second.decision_id
    assert first.detail == second.detail and first.detail is second.detail
    assert first.rule is second.rule


def test_a_decision_derived_again_unchanged_is_the_held_one_a_changed_one_keeps_its_id() -> None:
    # Issue 11: re-deriving a traveller reuses the held decision objects that did not change
    # (no id hashing, no new object); the result is equal whatever held set is given.
    from dataclasses import replace
    from datetime import timedelta, timezone

    from domain.derive import derive
    from domain.rules.common import decision_id

    events = (
        crossing("e1", "2025-01-01T00:00:00Z", "HK-LO-WU", "ENTRY", "VISITOR"),
        crossing("e2", "2025-01-09T00:00:00Z", "HK-LO-WU", "EXIT"),
    )
    at = datetime(2025, 1, 10, tzinfo=UTC)
    fresh = derive("t1", events, at, POLICY)  # type: ignore[arg-type]
    assert len(fresh.decisions) >= 2
    held = tuple(fresh.decisions.values())
    again = derive("t1", events, at, POLICY, held=held)  # type: ignore[arg-type]
    assert list(again.decisions) == list(fresh.decisions)
    assert all(again.decisions[k] is fresh.decisions[k] for k in fresh.decisions)
    # a held decision whose detail differs is not reused, but its id (same hashed fields) is
    stale = tuple(replace(d, detail=d.detail + " (old)") for d in held)
    rebuilt = derive("t1", events, at, POLICY, held=stale)  # type: ignore[arg-type]
    assert rebuilt.decisions == fresh.decisions
    assert all(rebuilt.decisions[d.decision_id] is not d for d in stale)
    # an equal deadline in another zone has another ISO text: its held id is not trusted
    plus8 = timezone(timedelta(hours=8))
    zoned = tuple(
        replace(
            d,
            deadline=d.deadline.astimezone(plus8),
            decision_id=decision_id(
                d.traveller_id,
                d.code,
                d.jurisdiction,
                d.rule,
                d.evidence,
                deadline=d.deadline.astimezone(plus8),
            ),
        )
        for d in held
        if d.deadline
    )
    assert zoned, "the visitor's stay has a deadline"
    shifted = derive("t1", events, at, POLICY, held=zoned)  # type: ignore[arg-type]
    assert [(d.decision_id, d) for d in shifted.decisions.values()] == [
        (d.decision_id, d) for d in fresh.decisions.values()
    ]


@pytest.mark.interpreted
def test_stale_deadline_entries_are_dropped_without_changing_what_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 11: the offline engine's heaps are rebuilt from the live instants once stale
    # entries (instants that moved) outnumber them; the emissions stay exactly the same.
    from datetime import date

    from domain import engine as engine_module
    from producers.simulator import SimulationConfig, simulate

    events = simulate(
        SimulationConfig(start=date(2025, 12, 1), days=2, travellers=300, violation_share=0.2)
    ).events

    def run(slack: int) -> tuple[list[dict[str, Any]], int]:
        monkeypatch.setattr(engine_module, "_STALE_SLACK", slack)
        engine = Engine(POLICY)
        out = [emission_to_json_dict(em) for e in events for em in engine.process(e)]
        size = engine._index.size(0)
        out += [
            emission_to_json_dict(em) for em in engine.advance_to(datetime(2026, 3, 1, tzinfo=UTC))
        ]
        return out, size

    kept, kept_size = run(10**9)
    compacted, compacted_size = run(0)
    assert compacted == kept
    assert len(kept) > 1000
    assert compacted_size < kept_size  # stale entries were dropped


def test_compacting_the_heaps_keeps_exactly_the_instants_a_rebuild_would_load() -> None:
    # The engine drops stale entries in place (DeadlineIndex.compact) instead of rebuilding the
    # heaps from its states: the live entries must be the same, once each, still heaps.
    import heapq
    from datetime import date

    from domain.timers import DeadlineIndex
    from producers.simulator import SimulationConfig, simulate

    engine = Engine(POLICY)
    for e in simulate(
        SimulationConfig(start=date(2025, 12, 1), days=2, travellers=300, violation_share=0.2)
    ).events:
        engine.process(e)
    states = engine._states
    index = engine._index
    assert index.size(0) > index.compact(0, states) > 0
    rebuilt = DeadlineIndex()
    rebuilt.load(0, ((tid, s.due, s.prune_at) for tid, s in states.items()))
    for heap, expected in ((index.due[0], rebuilt.due[0]), (index.prune[0], rebuilt.prune[0])):
        assert sorted(heap) == sorted(expected)
        assert [heapq.heappop(heap) for _ in range(len(heap))] == sorted(expected)
