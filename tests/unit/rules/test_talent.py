"""Talent endorsement stays in HK and MO, DOMAIN.md section 4.3.

Default counting is day-after: entry on local date D, 30 days -> deadline 00:00 local on D+31.
Permits are issued at 09:00 Beijing time on their ``valid_from`` date, so "issue date" means the
same day whether read from ``occurred_at`` or ``valid_from``.
"""

from __future__ import annotations

import pytest

from domain.decisions import Code
from tests.unit.rules.helpers import (
    all_of,
    code_set,
    entry,
    ever_issued,
    instant,
    leave,
    permit,
    revoked,
    run,
    the,
)

GBA_CITIES = [f"CN-GD-{c}" for c in ["GZ", "SZ", "ZH", "FS", "HZ", "DG", "ZS", "JM", "ZQ"]]


def talent_entry(traveller: str, at: str, port: str = "HK-LO-WU", permit_id: str = "P1", **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("nationality", "CHN")
    kw.setdefault("document", "EEP")
    return entry(traveller, port, at, "TALENT", permit_id=permit_id, **kw)


def good_permit(traveller: str = "T1", permit_id: str = "P1", **kw):  # type: ignore[no-untyped-def]
    return permit(traveller, permit_id, **kw)


def test_a_talent_entry_with_a_valid_permit_opens_a_30_day_stay() -> None:
    # D = 2025-12-02 (Hong Kong); D + 31 = 2026-01-02.
    result = run([good_permit(), talent_entry("T1", "2025-12-02T10:00:00+08:00")])
    opened = the(result, Code.STAY_OPENED)
    assert opened.deadline == instant("2026-01-02T00:00:00+08:00")
    assert opened.jurisdiction == "HK"
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_talent_stay_in_macao_counts_in_macao_local_time() -> None:
    # 2025-12-01T16:30Z is 2025-12-02 00:30 in Macao: D + 31 = 2026-01-02.
    result = run([good_permit(), talent_entry("T1", "2025-12-01T16:30:00Z", "MO-BORDER-GATE")])
    opened = the(result, Code.STAY_OPENED)
    assert opened.deadline == instant("2026-01-02T00:00:00+08:00")
    assert opened.jurisdiction == "MO"


def test_a_talent_entry_on_leap_day_counts_thirty_days_after() -> None:
    # D = 2028-02-29; +31 -> 2028-03-31.
    result = run(
        [
            good_permit(valid_from="2028-01-01", valid_until="2029-12-31"),
            talent_entry("T1", "2028-02-29T12:00:00+08:00"),
        ]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2028-03-31T00:00:00+08:00")


def test_a_talent_entry_on_28_february_of_a_leap_year_includes_the_leap_day() -> None:
    # D = 2028-02-28; +31 -> 2028-03-30.
    result = run(
        [
            good_permit(valid_from="2028-01-01", valid_until="2029-12-31"),
            talent_entry("T1", "2028-02-28T12:00:00+08:00"),
        ]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2028-03-30T00:00:00+08:00")


def test_a_permit_max_stay_days_overrides_the_policy_default() -> None:
    # 14 days: D = 2025-12-02, D + 15 = 2025-12-17.
    result = run([good_permit(max_stay_days=14), talent_entry("T1", "2025-12-02T10:00:00+08:00")])
    assert the(result, Code.STAY_OPENED).deadline == instant("2025-12-17T00:00:00+08:00")


def test_a_talent_exit_at_the_deadline_closes_the_stay() -> None:
    result = run(
        [
            good_permit(),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2026-01-02T00:00:00+08:00"),
        ]
    )
    assert Code.STAY_CLOSED in code_set(result)
    assert Code.OVERSTAY not in code_set(result)


def test_a_talent_exit_one_second_late_is_an_overstay() -> None:
    result = run(
        [
            good_permit(),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2026-01-01T16:00:01Z"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.overstay_seconds == 1
    assert over.jurisdiction == "HK"


# --- permit conditions --------------------------------------------------------------------------


def test_an_entry_without_any_permit_record_has_no_valid_permit() -> None:
    result = run([talent_entry("T1", "2025-12-02T10:00:00+08:00")])
    assert Code.NO_VALID_PERMIT in code_set(result)
    assert the(result, Code.NO_VALID_PERMIT).detail


def test_a_permit_revoked_before_the_entry_is_not_valid() -> None:
    result = run(
        [
            good_permit(),
            revoked("T1", "P1", "2025-12-02T09:59:59+08:00"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_permit_revoked_after_the_entry_still_covered_the_entry() -> None:
    result = run(
        [
            good_permit(),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
            revoked("T1", "P1", "2025-12-05T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_revocation_that_arrives_late_but_predates_the_entry_invalidates_it() -> None:
    result = run(
        [
            good_permit(),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
            revoked("T1", "P1", "2025-12-01T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_permit_that_arrives_after_the_entry_it_covers_retracts_no_valid_permit() -> None:
    result = run([talent_entry("T1", "2025-12-02T10:00:00+08:00"), good_permit()])
    assert ever_issued(result, Code.NO_VALID_PERMIT)  # true on what was known at the entry
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_permit_for_hong_kong_only_does_not_cover_macao() -> None:
    result = run(
        [
            good_permit(destinations=["HK"]),
            talent_entry("T1", "2025-12-02T10:00:00+08:00", "MO-BORDER-GATE"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_permit_for_hong_kong_only_covers_hong_kong() -> None:
    result = run(
        [good_permit(destinations=["HK"]), talent_entry("T1", "2025-12-02T10:00:00+08:00")]
    )
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_permit_is_valid_through_its_last_day_in_local_time() -> None:
    # 2025-12-01T15:59:59Z is 23:59:59 on 12-01 in Hong Kong, the permit's last day.
    result = run(
        [
            good_permit(valid_until="2025-12-01"),
            talent_entry("T1", "2025-12-01T15:59:59Z"),
        ]
    )
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_permit_is_not_valid_the_day_after_its_last_day_even_if_utc_is_still_that_day() -> None:
    # 2025-12-01T20:30Z is 12-02 in Hong Kong, one day after valid_until.
    result = run(
        [good_permit(valid_until="2025-12-01"), talent_entry("T1", "2025-12-01T20:30:00Z")]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_permit_is_not_valid_before_its_first_day() -> None:
    result = run(
        [
            good_permit(valid_from="2025-12-03", at="2025-11-20T09:00:00+08:00"),
            talent_entry("T1", "2025-12-02T23:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


@pytest.mark.parametrize("city", GBA_CITIES)
def test_a_greater_bay_area_city_is_covered_from_2023_02_20(city: str) -> None:
    result = run(
        [
            good_permit(issued_in=city, valid_from="2023-02-20", valid_until="2025-02-19"),
            talent_entry("T1", "2023-03-01T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT not in code_set(result)


@pytest.mark.parametrize("city", GBA_CITIES)
def test_a_greater_bay_area_city_is_not_covered_on_2023_02_19(city: str) -> None:
    result = run(
        [
            good_permit(issued_in=city, valid_from="2023-02-19", valid_until="2025-02-18"),
            talent_entry("T1", "2023-03-01T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


@pytest.mark.parametrize("region", ["CN-BJ", "CN-SH"])
def test_beijing_and_shanghai_are_covered_from_2024_05_06(region: str) -> None:
    before = run(
        [
            good_permit(issued_in=region, valid_from="2024-05-05", valid_until="2026-05-04"),
            talent_entry("T1", "2024-06-01T10:00:00+08:00"),
        ]
    )
    on_the_day = run(
        [
            good_permit(issued_in=region, valid_from="2024-05-06", valid_until="2026-05-05"),
            talent_entry("T1", "2024-06-01T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(before)
    assert Code.NO_VALID_PERMIT not in code_set(on_the_day)


@pytest.mark.parametrize(
    "region", ["CN-JS", "CN-ZJ", "CN-AH", "CN-TJ", "CN-HE", "FTZ-SC", "FTZ-HI"]
)
def test_the_2025_regions_and_free_trade_zones_are_covered_from_2025_11_05(region: str) -> None:
    before = run(
        [
            good_permit(issued_in=region, valid_from="2025-11-04", valid_until="2027-11-03"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    on_the_day = run(
        [
            good_permit(issued_in=region, valid_from="2025-11-05", valid_until="2027-11-04"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(before)
    assert Code.NO_VALID_PERMIT not in code_set(on_the_day)


def test_the_pilot_region_is_judged_on_the_issue_date_not_the_entry_date() -> None:
    # Issued in CN-JS on 2025-11-04 (not yet covered); entering after 11-05 does not cure it.
    result = run(
        [
            good_permit(issued_in="CN-JS", valid_from="2025-11-04", valid_until="2026-11-03"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


@pytest.mark.parametrize("region", ["CN-GD", "CN-GD-ST", "CN-XJ", "CN-SC"])
def test_a_region_outside_the_pilot_is_never_covered(region: str) -> None:
    result = run(
        [
            good_permit(issued_in=region, valid_from="2025-11-05", valid_until="2027-11-04"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_hetao_talent_permit_issued_in_shenzhen_from_2025_11_05_is_valid() -> None:
    result = run(
        [
            good_permit(kind="HETAO_TALENT", issued_in="CN-GD-SZ", valid_from="2025-11-05"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00", "HK-HETAO-BRIDGE"),
        ]
    )
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_hetao_talent_permit_issued_on_2025_11_04_is_not_valid() -> None:
    result = run(
        [
            good_permit(kind="HETAO_TALENT", issued_in="CN-GD-SZ", valid_from="2025-11-04"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00", "HK-HETAO-BRIDGE"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


@pytest.mark.parametrize("region", ["CN-GD-GZ", "CN-BJ", "FTZ-GD"])
def test_a_hetao_talent_permit_issued_outside_shenzhen_is_not_valid(region: str) -> None:
    result = run(
        [
            good_permit(kind="HETAO_TALENT", issued_in=region, valid_from="2025-11-05"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


@pytest.mark.parametrize("kind", ["BUSINESS", "VISITOR", "FAMILY", "VISA"])
def test_a_permit_of_another_kind_does_not_support_a_talent_entry(kind: str) -> None:
    result = run([good_permit(kind=kind), talent_entry("T1", "2025-12-02T10:00:00+08:00")])
    assert Code.NO_VALID_PERMIT in code_set(result)


# --- review and consistency ---------------------------------------------------------------------


def test_a_stay_whose_deadline_falls_after_the_permits_last_day_goes_to_review() -> None:
    # D = 2025-12-02 -> deadline 2026-01-02T00:00; permit ends 2025-12-31 (24:00 = 01-01 00:00).
    result = run(
        [
            good_permit(valid_from="2025-01-01", valid_until="2025-12-31"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.POLICY_REVIEW in code_set(result)
    assert Code.NO_VALID_PERMIT not in code_set(result)


def test_a_stay_ending_exactly_when_the_permit_ends_needs_no_review() -> None:
    # D = 2025-12-02 -> deadline 2026-01-02T00:00+08:00 = 24:00 on 2026-01-01, the last valid day.
    result = run(
        [
            good_permit(valid_from="2025-01-02", valid_until="2026-01-01"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.POLICY_REVIEW not in code_set(result)


def test_a_permit_valid_for_exactly_five_years_is_consistent() -> None:
    # 2025-01-01 .. 2029-12-31 inclusive is exactly five years.
    result = run(
        [
            good_permit(valid_from="2025-01-01", valid_until="2029-12-31"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.PERMIT_INCONSISTENT not in code_set(result)


def test_a_permit_valid_for_more_than_five_years_is_inconsistent() -> None:
    # 2025-01-01 .. 2030-01-01 inclusive is five years and one day.
    result = run(
        [
            good_permit(valid_from="2025-01-01", valid_until="2030-01-01"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.PERMIT_INCONSISTENT in code_set(result)


def test_a_permit_valid_for_six_years_is_inconsistent() -> None:
    result = run(
        [
            good_permit(valid_from="2025-01-01", valid_until="2030-12-31"),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.PERMIT_INCONSISTENT in code_set(result)


def test_re_entry_starts_a_new_stay_with_no_cumulative_cap() -> None:
    # Stay 1: 2025-12-02 .. 12-30 (28 days). Stay 2 enters 2026-01-05: D + 31 = 2026-02-05.
    # Exit 2026-02-04: 30 days in, 58 days in total -- no overstay.
    result = run(
        [
            good_permit(),
            talent_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2025-12-30T10:00:00+08:00"),
            talent_entry("T1", "2026-01-05T10:00:00+08:00"),
            leave("T1", "HK-LO-WU", "2026-02-04T20:00:00+08:00"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    assert len(all_of(result, Code.STAY_CLOSED)) == 2
    second_stay_deadlines = {d.deadline for d in all_of(result, Code.STAY_CLOSED)}
    assert instant("2026-02-05T00:00:00+08:00") in second_stay_deadlines
