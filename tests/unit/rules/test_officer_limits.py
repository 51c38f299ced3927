"""Officer-issued limits (``permitted_until``) and StayExtended, DOMAIN.md section 4.5.

A visitor entering HK on local date 2025-12-02 has the ledger's own deadline
2025-12-10T00:00+08:00 (7 days, D + 8).
"""

from __future__ import annotations

from streams.domain.decisions import Code
from tests.unit.rules.helpers import (
    code_set,
    entry,
    ever_issued,
    extended,
    instant,
    leave,
    run,
    the,
)

OWN_DEADLINE = "2025-12-10T00:00:00+08:00"


def visitor(at: str = "2025-12-02T10:00:00+08:00", **kw):  # type: ignore[no-untyped-def]
    return entry("T1", "HK-LO-WU", at, "VISITOR", nationality="CHN", document="EEP", **kw)


def test_an_officer_limit_equal_to_the_ledgers_deadline_is_no_mismatch() -> None:
    result = run([visitor(permitted_until=OWN_DEADLINE)])
    assert Code.PERMIT_MISMATCH not in code_set(result)
    assert the(result, Code.STAY_OPENED).deadline == instant(OWN_DEADLINE)


def test_24_00_on_the_last_day_given_in_utc_is_the_same_instant_as_00_00_next_day() -> None:
    # 24:00 on 2025-12-09 HK = 2025-12-10T00:00+08:00 = 2025-12-09T16:00Z.
    result = run([visitor(permitted_until="2025-12-09T16:00:00Z")])
    assert Code.PERMIT_MISMATCH not in code_set(result)


def test_an_officer_limit_one_second_earlier_is_a_mismatch_and_becomes_the_deadline() -> None:
    result = run([visitor(permitted_until="2025-12-09T23:59:59+08:00")])
    assert Code.PERMIT_MISMATCH in code_set(result)
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-12-09T23:59:59+08:00")


def test_an_officer_limit_longer_than_the_rule_is_a_mismatch_but_still_the_deadline() -> None:
    result = run(
        [
            visitor(permitted_until="2025-12-20T00:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-15T10:00:00+08:00"),
        ]
    )
    assert Code.PERMIT_MISMATCH in code_set(result)
    assert Code.OVERSTAY not in code_set(result)
    assert Code.STAY_CLOSED in code_set(result)


def test_an_exit_after_a_shorter_officer_limit_is_an_overstay_even_within_the_rule() -> None:
    # Officer deadline 2025-12-05T00:00+08:00; exit 12-05 06:00 -> 6 h = 21600 s late.
    result = run(
        [
            visitor(permitted_until="2025-12-05T00:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-05T06:00:00+08:00"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2025-12-05T00:00:00+08:00")
    assert over.overstay_seconds == 21_600


def test_a_stay_extension_replaces_the_deadline_without_a_mismatch() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "HK", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
        ]
    )
    assert Code.PERMIT_MISMATCH not in code_set(result)
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-12-20T00:00:00+08:00")


def test_an_exit_after_the_old_deadline_but_before_the_extension_is_within_the_limit() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "HK", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-15T10:00:00+08:00"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    assert Code.STAY_CLOSED in code_set(result)


def test_an_exit_after_the_extended_deadline_is_an_overstay_against_it() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "HK", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-20T01:00:00+08:00"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2025-12-20T00:00:00+08:00")
    assert over.overstay_seconds == 3600


def test_an_extension_supersedes_an_officer_limit_and_its_mismatch_needs_no_new_one() -> None:
    result = run(
        [
            visitor(permitted_until="2025-12-05T00:00:00+08:00"),
            extended("T1", "HK", "2025-12-25T00:00:00+08:00", "2025-12-04T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-22T10:00:00+08:00"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    # The entry's own mismatch (officer 12-05 vs rule 12-10) stays; the extension adds none.
    assert len([d for d in result.in_force.values() if d.code is Code.PERMIT_MISMATCH]) == 1


def test_an_extension_for_another_jurisdiction_does_not_touch_the_stay() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "MO", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
        ]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant(OWN_DEADLINE)


def test_an_extension_that_arrives_after_the_suspected_overstay_retracts_it() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "HK", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
        ],
        as_of="2025-12-12T00:00:00+08:00",
    )
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)
    late = run(
        [
            visitor(),
            {
                "type": "GateHeartbeat",
                "event_id": "hb-late",
                "occurred_at": "2025-12-12T00:00:00+08:00",
                "port": "HK-LO-WU",
            },
            extended("T1", "HK", "2025-12-20T00:00:00+08:00", "2025-12-08T10:00:00+08:00"),
        ]
    )
    assert ever_issued(late, Code.SUSPECTED_OVERSTAY)  # it had fired on the heartbeat
    assert Code.SUSPECTED_OVERSTAY not in code_set(late)
