"""Officer-issued limits (``permitted_until``) and StayExtended, DOMAIN.md section 4.5.

A visitor entering HK on local date 2025-12-02 has the ledger's own deadline
2025-12-10T00:00+08:00 (7 days, D + 8).
"""

from __future__ import annotations

import pytest

from base.errors import InvalidEventError
from domain.decisions import Code
from tests.unit.rules.helpers import (
    code_set,
    entry,
    ever_issued,
    extended,
    instant,
    leave,
    run,
    the,
    to_event,
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


# --- the ISO 8601 end-of-day form (DOMAIN.md 4.5) ------------------------------------------------


def test_24_00_on_the_last_day_is_accepted_and_is_no_mismatch() -> None:
    # The ledger's deadline is 00:00 on 12-10; the officer writes "until 24:00 on 12-09".
    result = run([visitor(permitted_until="2025-12-09T24:00:00+08:00")])
    assert Code.PERMIT_MISMATCH not in code_set(result)
    assert the(result, Code.STAY_OPENED).deadline == instant(OWN_DEADLINE)


def test_24_00_without_seconds_or_with_milliseconds_is_the_same_instant() -> None:
    for text in ("2025-12-09T24:00+08:00", "2025-12-09T24:00:00.000+08:00"):
        result = run([visitor(permitted_until=text)])
        assert the(result, Code.STAY_OPENED).deadline == instant(OWN_DEADLINE), text


def test_24_00_on_the_day_before_is_a_mismatch_a_day_early() -> None:
    result = run([visitor(permitted_until="2025-12-08T24:00:00+08:00")])
    assert the(result, Code.PERMIT_MISMATCH).deadline == instant("2025-12-09T00:00:00+08:00")


def test_an_exit_exactly_at_24_00_is_within_the_limit_and_one_second_later_is_not() -> None:
    limit = "2025-12-09T24:00:00+08:00"
    in_time = run([visitor(permitted_until=limit), leave("T1", "HK-LO-WU", OWN_DEADLINE)])
    assert Code.STAY_CLOSED in code_set(in_time)
    late = run(
        [visitor(permitted_until=limit), leave("T1", "HK-LO-WU", "2025-12-10T00:00:01+08:00")]
    )
    assert the(late, Code.OVERSTAY).overstay_seconds == 1


def test_a_stay_extension_until_24_00_replaces_the_deadline() -> None:
    result = run(
        [
            visitor(),
            extended("T1", "HK", "2025-12-20T24:00:00+08:00", "2025-12-08T12:00:00+08:00"),
        ]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-12-21T00:00:00+08:00")
    assert Code.PERMIT_MISMATCH not in code_set(result)


@pytest.mark.parametrize(
    "text", ["2025-12-09T24:00:01+08:00", "2025-12-09T24:30:00+08:00", "2025-12-09T24:00:00"]
)
def test_other_hour_24_forms_are_rejected_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        to_event(visitor(permitted_until=text))
    assert caught.value.field == "permitted_until"


def test_24_00_is_only_the_form_of_an_officers_limit_not_of_event_time() -> None:
    with pytest.raises(InvalidEventError) as caught:
        to_event(visitor(at="2025-12-01T24:00:00+08:00"))
    assert caught.value.field == "occurred_at"
