"""Sequence and integrity, DOMAIN.md section 4.9, and the sequence codes of section 5.

Stays here are TWOV stays at PEK entered on local date 2025-12-02, deadline
2025-12-13T00:00+08:00 (D + 11), unless a test says otherwise.
"""

from __future__ import annotations

from domain.decisions import Code, Severity, Status
from tests.unit.rules.helpers import (
    all_of,
    code_set,
    corrected,
    ever_issued,
    heartbeat,
    instant,
    leave,
    new_engine,
    retracted,
    run,
    the,
    to_event,
    twov_entry,
)

ENTRY_AT = "2025-12-02T10:00:00+08:00"
DEADLINE = "2025-12-13T00:00:00+08:00"


def test_a_repeated_event_id_changes_nothing() -> None:
    engine = new_engine()
    first = twov_entry("T1", ENTRY_AT)
    assert engine.process(to_event(first))
    assert engine.process(to_event(first)) == []


def test_a_repeated_event_id_with_different_content_is_still_ignored() -> None:
    first = twov_entry("T1", ENTRY_AT, event_id="E1")
    clash = leave("T1", "PEK", "2025-12-20T10:00:00+08:00", event_id="E1")
    result = run([first, clash])
    assert Code.OVERSTAY not in code_set(result)
    assert Code.STAY_CLOSED not in code_set(result)
    assert Code.DUPLICATE_SUSPECTED not in code_set(result)


def test_a_second_record_of_the_same_crossing_is_a_suspected_duplicate_kept_out_of_stays() -> None:
    original = twov_entry("T1", ENTRY_AT)
    echo = twov_entry("T1", ENTRY_AT)  # new event_id, same traveller/port/direction/instant
    result = run([original, echo, leave("T1", "PEK", "2025-12-10T10:00:00+08:00")])
    dup = the(result, Code.DUPLICATE_SUSPECTED)
    assert dup.severity is Severity.REVIEW
    assert echo["event_id"] in dup.evidence
    assert Code.ENTRY_WITHOUT_EXIT not in code_set(result)
    assert Code.OVERSTAY not in code_set(result)
    assert len(all_of(result, Code.STAY_CLOSED)) == 1


def test_a_duplicated_exit_does_not_become_an_exit_without_entry() -> None:
    exit_at = "2025-12-10T10:00:00+08:00"
    result = run(
        [twov_entry("T1", ENTRY_AT), leave("T1", "PEK", exit_at), leave("T1", "PEK", exit_at)]
    )
    assert Code.DUPLICATE_SUSPECTED in code_set(result)
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)


def test_the_same_instant_at_another_port_is_not_a_duplicate() -> None:
    result = run(
        [
            twov_entry("T1", ENTRY_AT),
            leave("T1", "PEK", "2025-12-10T10:00:00+08:00"),
            leave("T1", "PVG", "2025-12-10T10:00:00+08:00"),
        ]
    )
    assert Code.DUPLICATE_SUSPECTED not in code_set(result)


def test_an_exit_with_no_open_stay_is_an_anomaly_for_review() -> None:
    exit_ = leave("T1", "PEK", "2025-12-10T10:00:00+08:00")
    result = run([exit_])
    anomaly = the(result, Code.EXIT_WITHOUT_ENTRY)
    assert anomaly.severity is Severity.REVIEW
    assert anomaly.evidence == (exit_["event_id"],)


def test_an_exit_after_the_stay_was_already_closed_is_an_exit_without_entry() -> None:
    result = run(
        [
            twov_entry("T1", ENTRY_AT),
            leave("T1", "PEK", "2025-12-05T10:00:00+08:00"),
            leave("T1", "PVG", "2025-12-06T10:00:00+08:00"),
        ]
    )
    assert Code.EXIT_WITHOUT_ENTRY in code_set(result)
    assert Code.STAY_CLOSED in code_set(result)


def test_a_second_entry_while_a_stay_is_open_closes_it_with_an_unknown_exit() -> None:
    first = twov_entry("T1", ENTRY_AT)
    second = twov_entry("T1", "2025-12-05T10:00:00+08:00", "PVG")
    result = run([first, second])
    anomaly = the(result, Code.ENTRY_WITHOUT_EXIT)
    assert anomaly.evidence[0] == first["event_id"]
    assert anomaly.severity is Severity.REVIEW


def test_a_stay_closed_by_a_second_entry_before_its_deadline_is_never_suspected() -> None:
    # First stay's deadline 2025-12-13; the second entry (12-05, PVG) opens a stay to 12-16.
    # Watermark 12-20 passes both deadlines, but only the second stay is still open.
    first = twov_entry("T1", ENTRY_AT)
    second = twov_entry("T1", "2025-12-05T10:00:00+08:00", "PVG")
    result = run([first, second], as_of="2025-12-20T00:00:00+08:00")
    suspected = the(result, Code.SUSPECTED_OVERSTAY)
    assert suspected.evidence[0] == second["event_id"]
    assert suspected.deadline == instant("2025-12-16T00:00:00+08:00")  # 12-05 + 11


def test_a_suspected_overstay_stands_when_the_second_entry_came_after_the_deadline() -> None:
    # First deadline 2025-12-13; the second entry on 12-20 comes after it.
    first = twov_entry("T1", ENTRY_AT)
    second = twov_entry("T1", "2025-12-20T10:00:00+08:00", "PVG")
    result = run([first, second])
    assert Code.ENTRY_WITHOUT_EXIT in code_set(result)
    suspected = the(result, Code.SUSPECTED_OVERSTAY)
    assert suspected.evidence[0] == first["event_id"]
    assert suspected.deadline == instant(DEADLINE)


def test_an_exit_stamped_before_its_entry_is_an_anomaly_for_review() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    exit_ = leave("T1", "PEK", "2025-12-02T09:00:00+08:00")
    result = run([entry_, exit_])
    anomaly = the(result, Code.EXIT_BEFORE_ENTRY)
    assert anomaly.severity is Severity.REVIEW
    assert exit_["event_id"] in anomaly.evidence


def test_an_exit_before_entry_is_found_whichever_arrives_first() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    exit_ = leave("T1", "PEK", "2025-12-02T09:00:00+08:00")
    forward = run([entry_, exit_], as_of="2025-12-03T00:00:00+08:00")
    backward = run([exit_, entry_], as_of="2025-12-03T00:00:00+08:00")
    assert Code.EXIT_BEFORE_ENTRY in code_set(backward)
    assert sorted(code_set(forward)) == sorted(code_set(backward))


def test_an_exit_that_arrives_before_its_entry_is_paired_once_the_entry_turns_up() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    exit_ = leave("T1", "PEK", "2025-12-10T10:00:00+08:00")
    result = run([exit_, entry_])
    assert ever_issued(result, Code.EXIT_WITHOUT_ENTRY)  # true on what was known then
    assert retracted(result, Code.EXIT_WITHOUT_ENTRY)
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)
    assert Code.STAY_CLOSED in code_set(result)


def test_a_retraction_carries_the_decision_id_it_retracts() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    exit_ = leave("T1", "PEK", "2025-12-10T10:00:00+08:00")
    result = run([exit_, entry_])
    issued_ids = {
        e.decision.decision_id
        for e in result.emissions
        if e.status is Status.ISSUED and e.decision.code is Code.EXIT_WITHOUT_ENTRY
    }
    retracted_ids = {d.decision_id for d in retracted(result, Code.EXIT_WITHOUT_ENTRY)}
    assert retracted_ids == issued_ids


def test_a_late_entry_delivered_after_a_later_exit_gives_the_same_final_decisions() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    exit_ = leave("T1", "PEK", "2025-12-14T10:00:00+08:00")
    in_order = run([entry_, exit_])
    reversed_ = run([exit_, entry_])
    assert code_set(in_order) == code_set(reversed_)
    assert Code.OVERSTAY in code_set(in_order)
    assert the(in_order, Code.OVERSTAY).decision_id == the(reversed_, Code.OVERSTAY).decision_id


# --- corrections --------------------------------------------------------------------------------


def test_a_corrected_exit_time_retracts_the_overstay_it_caused() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    wrong = leave("T1", "PEK", "2025-12-14T10:00:00+08:00")
    fix = corrected(wrong, occurred_at="2025-12-12T10:00:00+08:00")
    result = run([entry_, wrong, fix])
    assert ever_issued(result, Code.OVERSTAY)
    assert Code.OVERSTAY not in code_set(result)
    closed = the(result, Code.STAY_CLOSED)
    assert fix["event_id"] in closed.evidence
    assert wrong["event_id"] not in closed.evidence


def test_a_corrected_entry_port_retracts_the_port_violation() -> None:
    wrong = twov_entry("T1", ENTRY_AT, "URC")
    fix = corrected(wrong, port="PEK")
    result = run([wrong, fix])
    assert ever_issued(result, Code.NOT_DESIGNATED_PORT)
    assert Code.NOT_DESIGNATED_PORT not in code_set(result)
    assert Code.ENTRY_WITHOUT_EXIT not in code_set(result)
    assert Code.DUPLICATE_SUSPECTED not in code_set(result)


def test_a_corrected_entry_date_moves_the_deadline() -> None:
    wrong = twov_entry("T1", ENTRY_AT)
    fix = corrected(wrong, occurred_at="2025-12-03T10:00:00+08:00")
    result = run([wrong, fix])
    # D = 2025-12-03 -> D + 11 = 2025-12-14.
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-12-14T00:00:00+08:00")


def test_a_correction_that_arrives_before_the_event_it_replaces_still_wins() -> None:
    wrong = twov_entry("T1", ENTRY_AT, "URC")
    fix = corrected(wrong, port="PEK")
    result = run([fix, wrong])
    assert Code.NOT_DESIGNATED_PORT not in code_set(result)
    assert len(all_of(result, Code.STAY_OPENED)) == 1


def test_a_corrected_exit_port_closes_the_stay_through_the_correction() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    wrong = leave("T1", "PEK", "2025-12-05T10:00:00+08:00")
    fix = corrected(wrong, port="PVG")
    result = run([entry_, wrong, fix], as_of="2025-12-08T00:00:00+08:00")
    closed = the(result, Code.STAY_CLOSED)
    assert closed.evidence[0] == entry_["event_id"]
    assert fix["event_id"] in closed.evidence
    assert wrong["event_id"] not in closed.evidence
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)
    assert Code.DUPLICATE_SUSPECTED not in code_set(result)


def test_a_repeated_event_id_changes_nothing_while_the_state_remembers_it() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    engine = new_engine()
    engine.process(to_event(entry_))
    engine.process(to_event(leave("T1", "PEK", "2025-12-05T10:00:00+08:00")))
    engine.process(to_event(heartbeat("2025-12-30T00:00:00+08:00")))  # inside the 30-day horizon
    assert engine.process(to_event(entry_)) == []
    assert engine.advance_to(instant("2026-01-02T00:00:00+08:00")) == []


def test_a_redelivery_of_forgotten_history_is_flagged_once_never_rejudged() -> None:
    # The stay closed on 2025-12-05; a heartbeat three months on makes the engine forget it. The
    # redelivered entry cannot be paired with its forgotten exit: no false SUSPECTED_OVERSTAY,
    # but LATE_EVENT_UNJUDGED, and a second redelivery (the id is now remembered) is a no-op.
    entry_ = twov_entry("T1", ENTRY_AT)
    engine = new_engine()
    engine.process(to_event(entry_))
    engine.process(to_event(leave("T1", "PEK", "2025-12-05T10:00:00+08:00")))
    engine.process(to_event(heartbeat("2026-03-01T00:00:00+08:00")))
    flagged = engine.process(to_event(entry_))
    assert [(e.status, e.decision.code, e.decision.evidence) for e in flagged] == [
        (Status.ISSUED, Code.LATE_EVENT_UNJUDGED, (entry_["event_id"],))
    ]
    assert engine.process(to_event(entry_)) == []
    assert engine.advance_to(instant("2026-03-02T00:00:00+08:00")) == []


def test_a_correction_moving_an_exit_past_the_deadline_turns_the_close_into_an_overstay() -> None:
    # Deadline 2025-12-13T00:00+08:00; corrected exit 2025-12-13T02:00+08:00 -> 7200 s late.
    entry_ = twov_entry("T1", ENTRY_AT)
    wrong = leave("T1", "PEK", "2025-12-10T10:00:00+08:00")
    fix = corrected(wrong, occurred_at="2025-12-13T02:00:00+08:00")
    result = run([entry_, wrong, fix])
    assert ever_issued(result, Code.STAY_CLOSED)
    assert Code.STAY_CLOSED not in code_set(result)
    over = the(result, Code.OVERSTAY)
    assert over.overstay_seconds == 7200
    assert fix["event_id"] in over.evidence
