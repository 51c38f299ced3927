"""Rolling window: at most 90 days in any 180-day window (SHORT_STAY, SCHENGEN), DOMAIN.md 4.8.

Both the entry day and the exit day count, as local dates (Europe/Paris at CDG, Europe/Madrid at
MAD, Europe/Berlin at FRA). The deadline at entry is the end of the last day on which the count
stays within 90; any excess at exit is an overstay.
"""

from __future__ import annotations

from typing import Any

from domain.decisions import Code
from tests.unit.rules.helpers import (
    all_of,
    code_set,
    entry,
    instant,
    leave,
    run,
    the,
)


def arrive(at: str, port: str = "CDG", traveller: str = "T1") -> dict[str, Any]:
    return entry(traveller, port, at, "SHORT_STAY", nationality="USA")


def depart(at: str, port: str = "CDG", traveller: str = "T1") -> dict[str, Any]:
    return leave(traveller, port, at, nationality="USA")


def open_deadline(result: Any) -> Any:
    """The deadline of the one stay still open (the STAY_OPENED not followed by a close)."""
    closed_entries = {
        d.evidence[0] for d in all_of(result, Code.STAY_CLOSED) + all_of(result, Code.OVERSTAY)
    }
    still_open = [
        d for d in all_of(result, Code.STAY_OPENED) if d.evidence[0] not in closed_entries
    ]
    assert len(still_open) == 1, still_open
    return still_open[0].deadline


def test_a_first_stay_may_last_90_days_including_the_entry_day() -> None:
    # Jan 1 .. Mar 31 2025 is 31 + 28 + 31 = 90 days -> deadline 00:00 on Apr 1 (CEST, +02:00).
    result = run([arrive("2025-01-01T10:00:00+01:00")])
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-04-01T00:00:00+02:00")


def test_earlier_days_in_the_window_shorten_the_next_stay() -> None:
    # Jan 1..Jan 10 used (10 days). Entry Mar 1: 80 days left while Jan 1..10 stay in the
    # window (until Jul 8) -> Mar 1 + 79 days = May 19 -> deadline 00:00 May 20 (+02:00).
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-01-10T18:00:00+01:00"),
            arrive("2025-03-01T10:00:00+01:00"),
        ]
    )
    assert open_deadline(result) == instant("2025-05-20T00:00:00+02:00")


def test_leaving_before_the_rolling_deadline_closes_the_stay() -> None:
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-01-10T18:00:00+01:00"),
            arrive("2025-03-01T10:00:00+01:00"),
            depart("2025-05-19T23:00:00+02:00", "MAD"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    assert len(all_of(result, Code.STAY_CLOSED)) == 2


def test_leaving_on_the_91st_day_is_an_overstay_measured_from_the_deadline() -> None:
    # Deadline 2025-05-20T00:00+02:00; exit 10:00 that day -> 36000 s.
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-01-10T18:00:00+01:00"),
            arrive("2025-03-01T10:00:00+01:00"),
            depart("2025-05-20T10:00:00+02:00"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2025-05-20T00:00:00+02:00")
    assert over.overstay_seconds == 36_000
    assert over.jurisdiction == "SCHENGEN"


def test_a_one_day_visit_counts_as_one_day() -> None:
    # Jan 1 (1 day) used; entry Jan 10 -> 89 days left -> Jan 10 + 88 = Apr 8 -> 00:00 Apr 9.
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-01-01T18:00:00+01:00"),
            arrive("2025-01-10T10:00:00+01:00"),
        ]
    )
    assert open_deadline(result) == instant("2025-04-09T00:00:00+02:00")


def test_an_overnight_visit_counts_both_the_entry_and_the_exit_day() -> None:
    # 23:00 Jan 1 -> 01:00 Jan 2 is two days; entry Jan 10 -> 88 left -> Apr 7 -> 00:00 Apr 8.
    result = run(
        [
            arrive("2025-01-01T23:00:00+01:00"),
            depart("2025-01-02T01:00:00+01:00"),
            arrive("2025-01-10T10:00:00+01:00"),
        ]
    )
    assert open_deadline(result) == instant("2025-04-08T00:00:00+02:00")


def test_days_are_counted_in_the_ports_local_time_not_utc() -> None:
    # Exit at 2025-01-01T23:30Z is 00:30 on Jan 2 in Paris: two days used, as above.
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-01-01T23:30:00Z"),
            arrive("2025-01-10T10:00:00+01:00"),
        ]
    )
    assert open_deadline(result) == instant("2025-04-08T00:00:00+02:00")


def test_days_leave_the_window_after_180_days() -> None:
    # Jan 1..Mar 31 (90 days) used. Entry Jun 30 (= Jan 1 + 180): window Jan 2..Jun 30 holds
    # 89 + 1 = 90. Each later day drops one old day until Mar 31 leaves on Sep 27 (= Mar 31 +
    # 180): window Apr 1..Sep 27 holds Jun 30..Sep 27 = 1 + 31 + 31 + 27 = 90. Sep 28 would be
    # 91 -> deadline 00:00 Sep 28 (+02:00).
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00"),
            depart("2025-03-31T20:00:00+02:00"),
            arrive("2025-06-30T10:00:00+02:00"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    assert open_deadline(result) == instant("2025-09-28T00:00:00+02:00")


def test_stays_through_different_schengen_ports_share_one_window() -> None:
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00", "FRA"),
            depart("2025-01-10T18:00:00+01:00", "MAD"),
            arrive("2025-03-01T10:00:00+01:00", "CDG"),
        ]
    )
    assert open_deadline(result) == instant("2025-05-20T00:00:00+02:00")


def test_another_travellers_days_do_not_count() -> None:
    result = run(
        [
            arrive("2025-01-01T10:00:00+01:00", traveller="OTHER"),
            depart("2025-03-31T10:00:00+02:00", traveller="OTHER"),
            arrive("2025-03-01T10:00:00+01:00"),
        ]
    )
    # T1 alone: Mar 1 + 89 = May 29 -> 00:00 May 30.
    assert the(result, Code.STAY_OPENED, "T1").deadline == instant("2025-05-30T00:00:00+02:00")
