"""Late and out-of-order data (DOMAIN.md 4.9 "No event is ever ignored silently", issue 8).

A late event is judged against the traveller's retained history exactly as if it had arrived in
order, however late. Only a crossing at or before the instant up to which pruning forgot the
traveller's history in that jurisdiction gets ``LATE_EVENT_UNJUDGED`` (REVIEW) instead.

The pruned traveller below: TWOV entry PEK 2025-10-02T10:00+08:00, exit PEK
2025-10-05T10:00+08:00 (= 02:00Z). A heartbeat on 2025-12-01 puts the watermark 57 days past the
exit, beyond the 30-day horizon (``prune_horizon_days``): the stay is forgotten, and the CN
history is forgotten up to the exit instant.
"""

from __future__ import annotations

from typing import Any

from domain.decisions import Code, Severity, Status
from domain.state import TravellerState
from streams.worker.state_format import decode_state, encode_state
from streams.worker.state_json import state_from_dict, state_to_dict
from tests.unit.rules.helpers import (
    code_set,
    comparable,
    entry,
    heartbeat,
    instant,
    leave,
    new_engine,
    permit,
    run,
    the,
    to_event,
    twov_entry,
)

OLD_ENTRY = "2025-10-02T10:00:00+08:00"
OLD_EXIT = "2025-10-05T10:00:00+08:00"  # the forgotten-up-to instant once pruned
ONE_SECOND_AFTER = "2025-10-05T10:00:01+08:00"
FAR_AHEAD = "2025-12-01T00:00:00+08:00"


def pruned_history(traveller: str = "T1") -> list[dict[str, Any]]:
    """A closed TWOV stay, then a heartbeat that makes the engine forget it."""
    return [
        twov_entry(traveller, OLD_ENTRY, event_id=f"{traveller}-old-in"),
        leave(traveller, "PEK", OLD_EXIT, event_id=f"{traveller}-old-out"),
        heartbeat(FAR_AHEAD, "HK-LO-WU"),
    ]


def engine_after(events: list[dict[str, Any]]) -> Any:
    """An engine that processed ``events`` in this order."""
    engine = new_engine()
    for e in events:
        engine.process(to_event(e))
    return engine


def state_of(engine: Any, traveller: str = "T1") -> TravellerState:
    state = engine.state(traveller)
    assert state is not None
    return state


def citing(result: Any, event_id: str) -> set[Code]:
    """Codes in force whose evidence cites ``event_id`` (the pruned stay's stay in force too:
    pruning never retracts)."""
    return {d.code for d in result.in_force.values() if event_id in d.evidence}


def in_force_for(events: list[dict[str, Any]], traveller: str, as_of: str) -> dict[str, Any]:
    result = run(events, as_of=as_of)
    return {k: v for k, v in comparable(result.in_force).items() if v[0] == traveller}


# --- the forgotten-up-to mark -------------------------------------------------------------------


def test_pruning_forgets_the_closed_stay_and_marks_the_jurisdiction_up_to_its_exit() -> None:
    state = state_of(engine_after(pruned_history()))
    assert state.events == ()
    assert state.forgotten_up_to("CN") == instant(OLD_EXIT)
    assert state.forgotten_up_to("HK") is None


def test_a_late_crossing_exactly_at_the_forgotten_up_to_instant_is_unjudged() -> None:
    late = leave("T1", "PVG", OLD_EXIT, event_id="late-exit")
    result = run([*pruned_history(), late])
    flagged = the(result, Code.LATE_EVENT_UNJUDGED)
    assert flagged.evidence == ("late-exit",)
    assert flagged.severity is Severity.REVIEW
    assert flagged.jurisdiction == "CN"
    assert flagged.observed_at == instant(OLD_EXIT)
    assert "2025-10-05T02:00:00.000Z" in flagged.detail
    assert "forgotten" in flagged.detail
    # Not judged: no anomaly made up from the partial history.
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)


def test_a_late_entry_before_the_forgotten_exit_is_unjudged_not_a_false_overstay() -> None:
    late = twov_entry("T1", "2025-10-03T10:00:00+08:00", "PVG", event_id="late-entry")
    result = run([*pruned_history(), late], as_of="2025-12-02T00:00:00+08:00")
    assert the(result, Code.LATE_EVENT_UNJUDGED).evidence == ("late-entry",)
    assert citing(result, "late-entry") == {Code.LATE_EVENT_UNJUDGED}


def test_a_late_crossing_one_second_after_the_forgotten_up_to_instant_is_judged_exactly() -> None:
    # A TWOV entry one second after the forgotten exit, never left: its deadline is 00:00 local
    # on 2025-10-05 + 11 = 2025-10-16, long past the watermark, so it is suspected at once.
    late = twov_entry("T1", ONE_SECOND_AFTER, "PVG", event_id="late-entry")
    result = run([*pruned_history(), late])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert citing(result, "late-entry") == {Code.STAY_OPENED, Code.SUSPECTED_OVERSTAY}
    assert the(result, Code.SUSPECTED_OVERSTAY).deadline == instant("2025-10-16T00:00:00+08:00")


def test_a_late_stay_after_the_forgotten_one_is_decided_as_in_order() -> None:
    late = [
        twov_entry("T1", ONE_SECOND_AFTER, "PVG", event_id="late-in"),
        leave("T1", "PEK", "2025-10-20T10:00:00+08:00", event_id="late-out"),  # 4 days over
    ]
    in_order = in_force_for([*pruned_history()[:2], *late, heartbeat(FAR_AHEAD)], "T1", FAR_AHEAD)
    delivered_late = in_force_for([*pruned_history(), *late], "T1", FAR_AHEAD)
    assert delivered_late == in_order
    result = run([*pruned_history(), *late])
    assert the(result, Code.OVERSTAY).overstay_seconds == 4 * 86_400 + 10 * 3600
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_a_late_crossing_in_another_jurisdiction_is_judged_exactly() -> None:
    late = entry(
        "T1", "HK-LO-WU", OLD_ENTRY, "VISITOR", nationality="CHN", document="EEP", event_id="hk-in"
    )
    result = run([*pruned_history(), late])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert citing(result, "hk-in") == {
        Code.STAY_OPENED,
        Code.SUSPECTED_OVERSTAY,
    }  # 7 days long past


def test_an_unjudged_event_redelivered_changes_nothing_and_stays_flagged() -> None:
    engine = engine_after(pruned_history())
    late = to_event(leave("T1", "PVG", "2025-10-04T10:00:00+08:00", event_id="late-exit"))
    first = engine.process(late)
    assert [(e.status, e.decision.code) for e in first] == [
        (Status.ISSUED, Code.LATE_EVENT_UNJUDGED)
    ]
    assert engine.process(late) == []
    # Later events of the traveller do not retract the flag.
    later = engine.process(to_event(twov_entry("T1", "2025-12-01T10:00:00+08:00")))
    assert all(e.status is Status.ISSUED for e in later)
    assert Code.LATE_EVENT_UNJUDGED in {d.code for d in engine.decisions()}


def test_the_mark_survives_the_state_round_trip_of_the_worker() -> None:
    state = state_of(engine_after(pruned_history()))
    restored = decode_state(encode_state(state))
    assert restored == state
    assert state_from_dict(state_to_dict(state)) == state, "and through the previous format"
    assert restored.forgotten_up_to("CN") == instant(OLD_EXIT)


def test_a_state_written_before_the_mark_existed_still_reads() -> None:
    state = state_of(engine_after([twov_entry("T1", OLD_ENTRY)]))
    old_form = state_to_dict(state)
    del old_form["forgotten"]
    assert state_from_dict(old_form) == state


def test_a_stray_exit_forgotten_covers_the_entries_it_could_have_paired_with() -> None:
    # An exit with no entry is kept 24 h (exit_before_entry_window_hours) before a later entry:
    # once forgotten, an entry arriving late within those 24 h cannot be judged.
    stray = leave("T1", "PEK", OLD_EXIT, event_id="stray")
    beat = heartbeat(FAR_AHEAD, "HK-LO-WU")
    within = twov_entry("T1", "2025-10-06T10:00:00+08:00", "PVG", event_id="within")
    after = twov_entry("T1", "2025-10-06T10:00:01+08:00", "PVG", event_id="after")
    assert the(run([stray, beat, within]), Code.LATE_EVENT_UNJUDGED).evidence == ("within",)
    assert Code.LATE_EVENT_UNJUDGED not in code_set(run([stray, beat, after]))


def test_an_open_stay_is_kept_so_its_exit_months_later_is_judged() -> None:
    entry_ = twov_entry("T1", OLD_ENTRY, event_id="open-in")
    exit_ = leave("T1", "PEK", OLD_EXIT, event_id="late-out")
    result = run([entry_, heartbeat("2026-06-01T00:00:00+08:00"), exit_])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)
    assert the(result, Code.STAY_CLOSED).evidence == ("open-in", "late-out")


def test_a_late_extension_of_a_forgotten_stay_is_unjudged() -> None:
    late = {
        "type": "StayExtended",
        "event_id": "late-ext",
        "traveller_id": "T1",
        "occurred_at": "2025-10-04T10:00:00+08:00",
        "jurisdiction": "CN",
        "permitted_until": "2025-10-31T24:00:00+08:00",
    }
    result = run([*pruned_history(), late])
    assert the(result, Code.LATE_EVENT_UNJUDGED).evidence == ("late-ext",)


# --- backlogs: a gate offline for weeks uploads its crossings ------------------------------------


def backlog(traveller: str) -> list[dict[str, Any]]:
    """A TWOV stay 40 days before FAR_AHEAD: in on 10-22, out on 10-30 (within 11-02's deadline)."""
    return [
        twov_entry(traveller, "2025-10-22T10:00:00+08:00", event_id=f"{traveller}-b-in"),
        leave(traveller, "PVG", "2025-10-30T10:00:00+08:00", event_id=f"{traveller}-b-out"),
    ]


def test_a_backlog_40_days_late_for_a_new_traveller_is_judged_exactly() -> None:
    others = [heartbeat(FAR_AHEAD, "HK-LO-WU")]
    result = run([*others, *backlog("N")])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert the(result, Code.STAY_CLOSED, "N").evidence == ("N-b-in", "N-b-out")
    assert in_force_for([*others, *backlog("N")], "N", FAR_AHEAD) == in_force_for(
        [*backlog("N"), *others], "N", FAR_AHEAD
    )


def test_a_backlog_40_days_late_for_a_traveller_with_recent_history_is_judged_exactly() -> None:
    recent = twov_entry("R", "2025-11-28T10:00:00+08:00", event_id="R-recent")
    beat = heartbeat(FAR_AHEAD, "HK-LO-WU")
    late = run([recent, beat, *backlog("R")])
    in_order = run([*backlog("R"), recent, beat])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(late)
    assert comparable(late.in_force) == comparable(in_order.in_force)
    assert the(late, Code.STAY_CLOSED, "R").evidence == ("R-b-in", "R-b-out")


def test_a_backlog_40_days_late_for_a_traveller_whose_old_stays_were_pruned() -> None:
    # The backlog stay (10-22 to 10-30) comes after the forgotten one (exit 10-05): judged.
    result = run([*pruned_history("P"), *backlog("P")])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert citing(result, "P-b-out") == {Code.STAY_CLOSED}
    # A backlog crossing from before the forgotten exit is flagged, never dropped.
    older = leave("P", "PEK", "2025-09-30T10:00:00+08:00", event_id="P-older")
    flagged = run([*pruned_history("P"), *backlog("P"), older])
    assert the(flagged, Code.LATE_EVENT_UNJUDGED, "P").evidence == ("P-older",)


def test_every_crossing_of_a_backlog_is_in_some_decision() -> None:
    events = [*pruned_history("P"), *backlog("P"), *backlog("N")]
    events.append(leave("P", "PEK", "2025-09-30T10:00:00+08:00", event_id="P-older"))
    result = run(events)
    cited = {i for e in result.emissions if e.status is Status.ISSUED for i in e.decision.evidence}
    crossings = {e["event_id"] for e in events if e["type"] == "CrossingRecorded"}
    assert crossings <= cited


def test_the_lateness_of_an_event_alone_never_decides_whether_it_is_judged() -> None:
    # The same backlog, a year late rather than 40 days: still judged, nothing forgotten.
    year_later = heartbeat("2026-11-01T00:00:00+08:00", "HK-LO-WU")
    result = run([year_later, *backlog("N")])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
    assert the(result, Code.STAY_CLOSED, "N").observed_at == instant("2025-10-30T10:00:00+08:00")


def test_a_late_permit_reaching_back_over_forgotten_history_is_flagged_and_still_admitted() -> None:
    # Valid from 2025-09-01: it could have changed the forgotten October stay (not re-judged),
    # and it supports the traveller's crossings from now on (admitted).
    late_permit = permit("T1", "P9", valid_from="2025-09-01", at=FAR_AHEAD, event_id="p9")
    engine = engine_after([*pruned_history(), late_permit])
    flagged = [d for d in engine.decisions() if d.code is Code.LATE_EVENT_UNJUDGED]
    assert [d.evidence for d in flagged] == [("p9",)]
    assert [e.event_id for e in state_of(engine).events] == ["p9"]
    assert engine.process(to_event(late_permit)) == []  # redelivered: remembered


def test_a_permit_valid_only_after_the_forgotten_history_is_not_flagged() -> None:
    fresh = permit("T1", "P9", valid_from="2025-11-01", at=FAR_AHEAD, event_id="p9")
    result = run([*pruned_history(), fresh])
    assert Code.LATE_EVENT_UNJUDGED not in code_set(result)
