"""Event time: SUSPECTED_OVERSTAY from the watermark and its retraction, DOMAIN.md section 5.

T1 enters PEK on TWOV on local date 2025-12-02: deadline 2025-12-13T00:00+08:00
(= 2025-12-12T16:00Z). The watermark is the greatest occurred_at seen minus the allowed lateness.
"""

from __future__ import annotations

from datetime import timedelta

from domain.decisions import Code, Status
from tests.unit.rules.helpers import (
    code_set,
    consent,
    entry,
    ever_issued,
    extended,
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
JUST_AFTER = "2025-12-13T00:00:01+08:00"


def test_a_heartbeat_exactly_at_the_deadline_raises_no_suspicion() -> None:
    result = run([twov_entry("T1", ENTRY_AT), heartbeat(DEADLINE)])
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_a_heartbeat_past_the_deadline_raises_a_suspected_overstay() -> None:
    entry_ = twov_entry("T1", ENTRY_AT)
    result = run([entry_, heartbeat(JUST_AFTER, "HK-AIRPORT")])
    suspected = the(result, Code.SUSPECTED_OVERSTAY)
    assert suspected.deadline == instant(DEADLINE)
    assert suspected.evidence[0] == entry_["event_id"]
    assert suspected.jurisdiction == "CN"
    assert suspected.traveller_id == "T1"


def test_another_travellers_later_event_advances_the_watermark() -> None:
    result = run([twov_entry("T1", ENTRY_AT), twov_entry("T2", "2025-12-14T10:00:00+08:00", "PVG")])
    assert the(result, Code.SUSPECTED_OVERSTAY).traveller_id == "T1"


def test_advance_to_fires_a_due_suspected_overstay() -> None:
    result = run([twov_entry("T1", ENTRY_AT)], as_of=JUST_AFTER)
    assert Code.SUSPECTED_OVERSTAY in code_set(result)


def test_advance_to_the_deadline_itself_fires_nothing() -> None:
    result = run([twov_entry("T1", ENTRY_AT)], as_of=DEADLINE)
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_an_exit_known_before_the_deadline_prevents_any_suspicion() -> None:
    result = run(
        [twov_entry("T1", ENTRY_AT), leave("T1", "PEK", "2025-12-10T10:00:00+08:00")],
        as_of="2026-01-01T00:00:00Z",
    )
    assert ever_issued(result, Code.SUSPECTED_OVERSTAY) == []


def test_allowed_lateness_holds_the_watermark_back() -> None:
    # Lateness 1 h: a heartbeat at deadline + 30 min gives watermark deadline - 30 min.
    held = run(
        [twov_entry("T1", ENTRY_AT), heartbeat("2025-12-13T00:30:00+08:00")],
        lateness=timedelta(hours=1),
    )
    fired = run(
        [twov_entry("T1", ENTRY_AT), heartbeat("2025-12-13T01:00:01+08:00")],
        lateness=timedelta(hours=1),
    )
    assert Code.SUSPECTED_OVERSTAY not in code_set(held)
    assert Code.SUSPECTED_OVERSTAY in code_set(fired)


def test_a_late_exit_within_the_limit_retracts_the_suspicion_and_closes_the_stay() -> None:
    exit_ = leave("T1", "PEK", "2025-12-12T20:00:00+08:00")
    result = run([twov_entry("T1", ENTRY_AT), heartbeat("2025-12-15T00:00:00+08:00"), exit_])
    issued = ever_issued(result, Code.SUSPECTED_OVERSTAY)
    assert len(issued) == 1
    assert [d.decision_id for d in retracted(result, Code.SUSPECTED_OVERSTAY)] == [
        issued[0].decision_id
    ]
    closed = the(result, Code.STAY_CLOSED)
    assert closed.observed_at == instant("2025-12-12T20:00:00+08:00")
    assert code_set(result) & {Code.SUSPECTED_OVERSTAY, Code.OVERSTAY} == set()


def test_a_late_exit_after_the_deadline_turns_the_suspicion_into_an_overstay() -> None:
    # Exit 2025-12-14T00:00+08:00 is 24 h = 86400 s after the deadline.
    exit_ = leave("T1", "PEK", "2025-12-14T00:00:00+08:00")
    result = run([twov_entry("T1", ENTRY_AT), heartbeat("2025-12-20T00:00:00+08:00"), exit_])
    assert retracted(result, Code.SUSPECTED_OVERSTAY)
    over = the(result, Code.OVERSTAY)
    assert over.overstay_seconds == 86_400
    assert over.observed_at == instant("2025-12-14T00:00:00+08:00")
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_a_suspected_overstay_is_issued_once_however_often_the_watermark_moves() -> None:
    result = run(
        [
            twov_entry("T1", ENTRY_AT),
            heartbeat("2025-12-14T00:00:00+08:00"),
            heartbeat("2025-12-15T00:00:00+08:00"),
            heartbeat("2025-12-16T00:00:00+08:00"),
        ],
        as_of="2025-12-31T00:00:00+08:00",
    )
    assert len(ever_issued(result, Code.SUSPECTED_OVERSTAY)) == 1


def test_the_watermark_never_moves_backwards() -> None:
    result = run(
        [
            twov_entry("T1", ENTRY_AT),
            heartbeat("2025-12-20T00:00:00+08:00"),
            heartbeat("2025-12-01T00:00:00+08:00"),
        ]
    )
    assert Code.SUSPECTED_OVERSTAY in code_set(result)
    assert retracted(result, Code.SUSPECTED_OVERSTAY) == []


def test_a_late_entry_already_past_its_deadline_is_suspected_at_once() -> None:
    engine = new_engine()
    engine.process(to_event(heartbeat("2025-12-20T00:00:00+08:00")))
    emissions = engine.process(to_event(twov_entry("T1", ENTRY_AT)))
    assert any(
        e.status is Status.ISSUED and e.decision.code is Code.SUSPECTED_OVERSTAY for e in emissions
    )


def test_a_heartbeat_emits_nothing_when_no_deadline_is_due() -> None:
    engine = new_engine()
    engine.process(to_event(twov_entry("T1", ENTRY_AT)))
    assert engine.process(to_event(heartbeat("2025-12-05T00:00:00+08:00"))) == []


def test_a_heartbeat_alone_emits_nothing() -> None:
    engine = new_engine()
    assert engine.process(to_event(heartbeat("2025-12-05T00:00:00+08:00"))) == []


def test_advance_to_emits_only_what_became_due() -> None:
    engine = new_engine()
    engine.process(to_event(twov_entry("T1", ENTRY_AT)))
    engine.process(to_event(twov_entry("T2", "2025-12-05T10:00:00+08:00", "PVG")))
    # T1 due after 2025-12-13T00:00+08:00, T2 after 2025-12-16T00:00+08:00 (12-05 + 11).
    first = engine.advance_to(instant("2025-12-14T00:00:00+08:00"))
    assert [(e.status, e.decision.code, e.decision.traveller_id) for e in first] == [
        (Status.ISSUED, Code.SUSPECTED_OVERSTAY, "T1")
    ]
    second = engine.advance_to(instant("2025-12-17T00:00:00+08:00"))
    assert [(e.status, e.decision.code, e.decision.traveller_id) for e in second] == [
        (Status.ISSUED, Code.SUSPECTED_OVERSTAY, "T2")
    ]


def test_a_talent_stay_without_exit_is_suspected_after_its_30_days() -> None:
    # HK entry 2025-12-02 -> deadline 2026-01-02T00:00+08:00.
    result = run(
        [
            {
                "type": "PermitIssued",
                "event_id": "p-t1",
                "traveller_id": "T1",
                "occurred_at": "2025-01-01T09:00:00+08:00",
                "permit_id": "P1",
                "kind": "TALENT",
                "issued_in": "CN-GD-SZ",
                "destinations": ["HK"],
                "valid_from": "2025-01-01",
                "valid_until": "2027-12-31",
                "entries": "MULTIPLE",
            },
            entry(
                "T1",
                "HK-LO-WU",
                ENTRY_AT,
                "TALENT",
                nationality="CHN",
                document="EEP",
                permit_id="P1",
            ),
        ],
        as_of="2026-01-02T00:00:01+08:00",
    )
    assert the(result, Code.SUSPECTED_OVERSTAY).deadline == instant("2026-01-02T00:00:00+08:00")


def test_a_late_second_entry_before_the_deadline_retracts_the_first_stays_suspicion() -> None:
    # Stay 1 (12-02, deadline 12-13) is suspected at watermark 12-20. Then a second entry on
    # 12-05 turns up: stay 1 was closed with an unknown exit before its deadline, so its
    # suspicion goes; stay 2 (12-05 + 11 -> deadline 12-16) is the one still open and overdue.
    first = twov_entry("T1", ENTRY_AT)
    second = twov_entry("T1", "2025-12-05T10:00:00+08:00", "PVG")
    result = run([first, heartbeat("2025-12-20T00:00:00+08:00"), second])
    assert [d.evidence[0] for d in retracted(result, Code.SUSPECTED_OVERSTAY)] == [
        first["event_id"]
    ]
    suspected = the(result, Code.SUSPECTED_OVERSTAY)
    assert suspected.evidence[0] == second["event_id"]
    assert suspected.deadline == instant("2025-12-16T00:00:00+08:00")
    assert Code.ENTRY_WITHOUT_EXIT in code_set(result)


def test_advance_to_an_earlier_instant_does_not_move_the_watermark_back() -> None:
    engine = new_engine()
    engine.process(to_event(twov_entry("T1", ENTRY_AT)))
    fired = engine.advance_to(instant("2025-12-20T00:00:00+08:00"))
    assert [e.decision.code for e in fired] == [Code.SUSPECTED_OVERSTAY]
    assert engine.advance_to(instant("2025-12-01T00:00:00+08:00")) == []


def test_an_exit_turning_up_months_later_still_retracts_the_suspicion() -> None:
    # The stay is still open (nothing about it was forgotten); its exit on 12-10 (within the
    # 2025-12-13 deadline) is only delivered after a heartbeat on 2026-03-01.
    exit_ = leave("T1", "PEK", "2025-12-10T10:00:00+08:00")
    result = run([twov_entry("T1", ENTRY_AT), heartbeat("2026-03-01T00:00:00+08:00"), exit_])
    assert ever_issued(result, Code.SUSPECTED_OVERSTAY)
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)
    closed = the(result, Code.STAY_CLOSED)
    assert exit_["event_id"] in closed.evidence


def test_an_overdue_exit_turning_up_months_later_becomes_an_overstay() -> None:
    # Exit 2025-12-20T00:00+08:00 is 7 days = 604800 s after the 2025-12-13 deadline.
    exit_ = leave("T1", "PEK", "2025-12-20T00:00:00+08:00")
    result = run([twov_entry("T1", ENTRY_AT), heartbeat("2026-03-01T00:00:00+08:00"), exit_])
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)
    assert the(result, Code.OVERSTAY).overstay_seconds == 604_800


# --- only gate events move the watermark (DOMAIN.md 5) -------------------------------------------


def test_authority_events_never_move_the_watermark() -> None:
    # A permit, an extension and a consent stamped months after the deadline fire nothing.
    later = "2026-03-01T00:00:00+08:00"
    result = run(
        [
            twov_entry("T1", ENTRY_AT),
            {
                "type": "PermitIssued",
                "event_id": "p-late",
                "traveller_id": "T2",
                "occurred_at": later,
                "permit_id": "P2",
                "kind": "VISITOR",
                "issued_in": "CN-GD-SZ",
                "destinations": ["HK"],
                "valid_from": "2026-03-01",
                "valid_until": "2026-12-31",
                "entries": "SINGLE",
            },
            extended("T3", "HK", "2026-04-01T00:00:00+08:00", later),
            consent("T4", later),
        ]
    )
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_a_crossing_and_a_heartbeat_move_it_alike() -> None:
    first = twov_entry("T1", ENTRY_AT, event_id="t1-in")
    by_crossing = run([first, leave("T2", "PVG", JUST_AFTER)])
    by_heartbeat = run([first, heartbeat(JUST_AFTER)])
    assert the(by_crossing, Code.SUSPECTED_OVERSTAY) == the(by_heartbeat, Code.SUSPECTED_OVERSTAY)
