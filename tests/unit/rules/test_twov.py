"""Visa-free transit (TWOV) into CN, DOMAIN.md section 4.1, plus stay opening/closing (section 5).

Every expected deadline is worked out by hand: entry local date D in Asia/Shanghai, 240 h
(from 2024-12-17) -> 00:00 local on D+11; 144 h (before) -> 00:00 local on D+7.
"""

from __future__ import annotations

import pytest

from domain.decisions import Code, Severity
from tests.unit.rules.helpers import (
    code_set,
    codes,
    deadline_of,
    instant,
    leave,
    run,
    the,
    twov_entry,
)

NATIONALITIES_54 = [
    "AUT",
    "BEL",
    "CZE",
    "DNK",
    "EST",
    "FIN",
    "FRA",
    "DEU",
    "GRC",
    "HUN",
    "ISL",
    "ITA",
    "LVA",
    "LTU",
    "LUX",
    "MLT",
    "NLD",
    "POL",
    "PRT",
    "SVK",
    "SVN",
    "ESP",
    "SWE",
    "CHE",
    "MCO",
    "RUS",
    "GBR",
    "IRL",
    "CYP",
    "BGR",
    "ROU",
    "UKR",
    "SRB",
    "HRV",
    "BIH",
    "MNE",
    "MKD",
    "ALB",
    "BLR",
    "NOR",
    "USA",
    "CAN",
    "BRA",
    "MEX",
    "ARG",
    "CHL",
    "AUS",
    "NZL",
    "KOR",
    "JPN",
    "SGP",
    "BRN",
    "ARE",
    "QAT",
]
PORTS_BEFORE_2024_12_17 = [
    "PEK",
    "PKX",
    "PVG",
    "SHA",
    "CAN",
    "SZX",
    "CTU",
    "CKG",
    "XIY",
    "KMG",
    "XMN",
    "HGH",
    "NKG",
    "TSN",
    "SHE",
    "DLC",
    "TAO",
    "WUH",
]
PORTS_FROM_2024_12_17 = [
    "TYN",
    "WUX",
    "YTY",
    "WNZ",
    "YIW",
    "HFE",
    "TXN",
    "FOC",
    "JJN",
    "WUS",
    "KHN",
    "TNA",
    "YNT",
    "WEH",
    "DYG",
    "NNG",
    "BHY",
    "HAK",
    "SYX",
    "TFU",
    "KWE",
]
PORTS_FROM_2025_11_05 = ["CN-PAZHOU", "CN-HENGQIN", "CN-HZMB", "CN-ZHONGSHAN", "CN-WEST-KOWLOON"]


def test_the_list_data_in_this_module_matches_the_spec_counts() -> None:
    assert len(set(NATIONALITIES_54)) == 54
    assert len(set(PORTS_FROM_2024_12_17)) == 21
    assert len(set(PORTS_FROM_2025_11_05)) == 5


# --- deadline -------------------------------------------------------------------------------------


def test_a_clean_twov_entry_opens_a_stay_with_only_an_info_decision() -> None:
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00")])
    assert codes(result) == [Code.STAY_OPENED]
    opened = the(result, Code.STAY_OPENED)
    assert opened.severity is Severity.INFO
    assert opened.jurisdiction == "CN"
    assert opened.traveller_id == "T1"


def test_240_hours_end_at_midnight_after_the_eleventh_local_day() -> None:
    # D = 2025-12-02 (Beijing); D + 11 = 2025-12-13.
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00")])
    assert deadline_of(result) == instant("2025-12-13T00:00:00+08:00")


def test_an_entry_given_in_utc_counts_from_the_beijing_local_date() -> None:
    # 2025-12-01T20:30Z is 2025-12-02 04:30 in Beijing: D = 12-02, D + 11 = 12-13.
    result = run([twov_entry("T1", "2025-12-01T20:30:00Z")])
    assert deadline_of(result) == instant("2025-12-13T00:00:00+08:00")


def test_an_entry_one_second_before_local_midnight_counts_from_that_day() -> None:
    # D = 2025-12-01; D + 11 = 2025-12-12.
    result = run([twov_entry("T1", "2025-12-01T23:59:59+08:00")])
    assert deadline_of(result) == instant("2025-12-12T00:00:00+08:00")


def test_an_entry_at_local_midnight_counts_from_the_new_day() -> None:
    # D = 2025-12-02; D + 11 = 2025-12-13.
    result = run([twov_entry("T1", "2025-12-02T00:00:00+08:00")])
    assert deadline_of(result) == instant("2025-12-13T00:00:00+08:00")


def test_144_hours_apply_to_entries_before_2024_12_17() -> None:
    # D = 2024-12-16; 144 h -> D + 7 = 2024-12-23.
    result = run([twov_entry("T1", "2024-12-16T23:59:59+08:00")])
    assert deadline_of(result) == instant("2024-12-23T00:00:00+08:00")


def test_240_hours_apply_from_the_local_date_2024_12_17_even_if_utc_is_still_the_16th() -> None:
    # 2024-12-16T16:30Z = 2024-12-17 00:30 Beijing; 240 h -> D + 11 = 2024-12-28.
    result = run([twov_entry("T1", "2024-12-16T16:30:00Z")])
    assert deadline_of(result) == instant("2024-12-28T00:00:00+08:00")


def test_an_entry_on_28_february_of_a_leap_year_counts_29_february() -> None:
    # D = 2028-02-28; +11 days through 29 Feb -> 2028-03-10.
    result = run([twov_entry("T1", "2028-02-28T12:00:00+08:00")])
    assert deadline_of(result) == instant("2028-03-10T00:00:00+08:00")


def test_an_entry_on_29_february_counts_from_the_leap_day() -> None:
    # D = 2028-02-29; +11 -> 2028-03-11.
    result = run([twov_entry("T1", "2028-02-29T12:00:00+08:00")])
    assert deadline_of(result) == instant("2028-03-11T00:00:00+08:00")


def test_an_entry_on_28_february_of_a_common_year_skips_to_march() -> None:
    # D = 2027-02-28; +11 -> 2027-03-11.
    result = run([twov_entry("T1", "2027-02-28T12:00:00+08:00")])
    assert deadline_of(result) == instant("2027-03-11T00:00:00+08:00")


# --- exit against the deadline ------------------------------------------------------------------


def test_exit_exactly_at_the_deadline_is_within_the_limit() -> None:
    # D = 2025-12-02 -> deadline 2025-12-13T00:00+08:00.
    result = run(
        [
            twov_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "PVG", "2025-12-13T00:00:00+08:00"),
        ]
    )
    closed = the(result, Code.STAY_CLOSED)
    assert closed.severity is Severity.INFO
    assert Code.OVERSTAY not in code_set(result)
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_exit_one_second_after_the_deadline_is_an_overstay_of_one_second() -> None:
    entry = twov_entry("T1", "2025-12-02T10:00:00+08:00")
    exit_ = leave("T1", "PVG", "2025-12-13T00:00:01+08:00")
    result = run([entry, exit_])
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2025-12-13T00:00:00+08:00")
    assert over.overstay_seconds == 1
    assert over.jurisdiction == "CN"
    assert over.evidence[0] == entry["event_id"]
    assert exit_["event_id"] in over.evidence
    assert over.observed_at == instant("2025-12-13T00:00:01+08:00")
    assert Code.STAY_CLOSED not in code_set(result)


def test_exit_a_day_and_a_half_late_reports_the_overstay_in_seconds() -> None:
    # deadline 2025-12-13T00:00+08:00; exit 2025-12-14T12:00+08:00 -> 36 h = 129600 s.
    result = run(
        [
            twov_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "PEK", "2025-12-14T12:00:00+08:00"),
        ]
    )
    assert the(result, Code.OVERSTAY).overstay_seconds == 129_600


def test_the_rule_version_at_entry_applies_when_the_exit_is_after_the_change() -> None:
    # Entry 2024-12-10 (144 h): deadline D + 7 = 2024-12-17T00:00+08:00. The 240 h rule starts
    # on 2024-12-17 but does not apply to this stay; exit 2024-12-18T12:00 is 36 h late.
    result = run(
        [
            twov_entry("T1", "2024-12-10T12:00:00+08:00"),
            leave("T1", "PEK", "2024-12-18T12:00:00+08:00"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2024-12-17T00:00:00+08:00")
    assert over.overstay_seconds == 129_600


def test_stays_under_different_rule_versions_name_different_rules() -> None:
    result = run(
        [
            twov_entry("OLD", "2024-12-10T12:00:00+08:00"),
            twov_entry("NEW", "2024-12-20T12:00:00+08:00"),
        ]
    )
    old = the(result, Code.STAY_OPENED, "OLD")
    new = the(result, Code.STAY_OPENED, "NEW")
    assert old.rule != new.rule
    assert old.deadline == instant("2024-12-17T00:00:00+08:00")  # 2024-12-10 + 7
    assert new.deadline == instant("2024-12-31T00:00:00+08:00")  # 2024-12-20 + 11


# --- designated ports ---------------------------------------------------------------------------


@pytest.mark.parametrize("port", PORTS_FROM_2024_12_17)
def test_a_port_added_on_2024_12_17_is_not_designated_the_day_before(port: str) -> None:
    result = run([twov_entry("T1", "2024-12-16T23:59:00+08:00", port)])
    assert Code.NOT_DESIGNATED_PORT in code_set(result)


@pytest.mark.parametrize("port", PORTS_FROM_2024_12_17)
def test_a_port_added_on_2024_12_17_is_designated_from_that_local_date(port: str) -> None:
    # 2024-12-16T16:00Z is 2024-12-17 00:00 Beijing.
    result = run([twov_entry("T1", "2024-12-16T16:00:00Z", port)])
    assert Code.NOT_DESIGNATED_PORT not in code_set(result)
    assert deadline_of(result) == instant("2024-12-28T00:00:00+08:00")  # 12-17 + 11


@pytest.mark.parametrize("port", PORTS_BEFORE_2024_12_17)
def test_an_original_twov_airport_is_designated_before_2024_12_17(port: str) -> None:
    result = run([twov_entry("T1", "2024-06-01T12:00:00+08:00", port)])
    assert Code.NOT_DESIGNATED_PORT not in code_set(result)
    assert deadline_of(result) == instant("2024-06-08T00:00:00+08:00")  # 06-01 + 7 (144 h)


@pytest.mark.parametrize("port", PORTS_FROM_2025_11_05)
def test_a_port_added_on_2025_11_05_is_not_designated_the_day_before(port: str) -> None:
    result = run([twov_entry("T1", "2025-11-04T23:59:59+08:00", port)])
    assert Code.NOT_DESIGNATED_PORT in code_set(result)


@pytest.mark.parametrize("port", PORTS_FROM_2025_11_05)
def test_a_port_added_on_2025_11_05_is_designated_on_that_local_date(port: str) -> None:
    result = run([twov_entry("T1", "2025-11-05T00:00:00+08:00", port)])
    assert Code.NOT_DESIGNATED_PORT not in code_set(result)


@pytest.mark.parametrize("port", ["URC", "CN-LUOHU", "CN-GONGBEI", "CN-HETAO-BRIDGE"])
def test_a_port_never_designated_for_twov_is_flagged(port: str) -> None:
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00", port)])
    assert Code.NOT_DESIGNATED_PORT in code_set(result)


def test_an_exit_through_a_non_designated_port_is_flagged() -> None:
    result = run(
        [
            twov_entry("T1", "2025-12-02T10:00:00+08:00"),
            leave("T1", "URC", "2025-12-05T10:00:00+08:00"),
        ]
    )
    assert Code.NOT_DESIGNATED_PORT in code_set(result)
    assert Code.OVERSTAY not in code_set(result)


def test_an_exit_port_is_judged_at_the_exit_time_not_the_entry_time() -> None:
    # West Kowloon becomes a TWOV port on 2025-11-05; the entry on 11-01 is at PEK.
    before = run(
        [
            twov_entry("T1", "2025-11-01T10:00:00+08:00"),
            leave("T1", "CN-WEST-KOWLOON", "2025-11-04T23:00:00+08:00", onward_to="HKG"),
        ]
    )
    on_the_day = run(
        [
            twov_entry("T1", "2025-11-01T10:00:00+08:00"),
            leave("T1", "CN-WEST-KOWLOON", "2025-11-05T08:00:00+08:00", onward_to="HKG"),
        ]
    )
    assert Code.NOT_DESIGNATED_PORT in code_set(before)
    assert Code.NOT_DESIGNATED_PORT not in code_set(on_the_day)
    assert Code.STAY_CLOSED in code_set(on_the_day)


# --- nationality --------------------------------------------------------------------------------


@pytest.mark.parametrize("nationality", NATIONALITIES_54)
def test_each_of_the_54_nationalities_is_eligible(nationality: str) -> None:
    result = run([twov_entry("T1", "2024-12-17T12:00:00+08:00", nationality=nationality)])
    assert Code.INELIGIBLE_NATIONALITY not in code_set(result)


@pytest.mark.parametrize("nationality", ["BRA", "SRB", "IDN"])
def test_entries_before_2024_12_17_use_the_same_list_of_54(nationality: str) -> None:
    result = run([twov_entry("T1", "2024-06-01T12:00:00+08:00", nationality=nationality)])
    expected_ineligible = nationality == "IDN"
    assert (Code.INELIGIBLE_NATIONALITY in code_set(result)) is expected_ineligible


@pytest.mark.parametrize("nationality", ["IND", "CHN", "VNM", "TUR"])
def test_a_nationality_not_on_the_list_is_ineligible(nationality: str) -> None:
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00", nationality=nationality)])
    assert Code.INELIGIBLE_NATIONALITY in code_set(result)


def test_indonesia_is_ineligible_on_2025_06_11() -> None:
    result = run([twov_entry("T1", "2025-06-11T23:59:59+08:00", nationality="IDN")])
    assert Code.INELIGIBLE_NATIONALITY in code_set(result)


def test_indonesia_is_eligible_from_the_local_date_2025_06_12() -> None:
    # 2025-06-11T16:30Z is 2025-06-12 00:30 Beijing.
    result = run([twov_entry("T1", "2025-06-11T16:30:00Z", nationality="IDN")])
    assert Code.INELIGIBLE_NATIONALITY not in code_set(result)


# --- itinerary and onward ticket ----------------------------------------------------------------


def test_an_itinerary_back_to_the_origin_is_invalid() -> None:
    result = run(
        [twov_entry("T1", "2025-12-02T10:00:00+08:00", arrived_from="USA", onward_to="USA")]
    )
    assert Code.INVALID_ITINERARY in code_set(result)


def test_a_missing_onward_destination_is_an_invalid_itinerary() -> None:
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00", onward_to=None)])
    assert Code.INVALID_ITINERARY in code_set(result)


def test_a_missing_origin_is_an_invalid_itinerary() -> None:
    result = run([twov_entry("T1", "2025-12-02T10:00:00+08:00", arrived_from=None)])
    assert Code.INVALID_ITINERARY in code_set(result)


@pytest.mark.parametrize(("origin", "onward"), [("HKG", "JPN"), ("USA", "HKG"), ("MAC", "TWN")])
def test_hong_kong_macao_and_taiwan_count_as_regions_in_their_own_right(
    origin: str, onward: str
) -> None:
    result = run(
        [twov_entry("T1", "2025-12-02T10:00:00+08:00", arrived_from=origin, onward_to=onward)]
    )
    assert Code.INVALID_ITINERARY not in code_set(result)


def test_an_onward_ticket_exactly_at_the_deadline_is_accepted() -> None:
    # D = 2025-12-02 -> deadline 2025-12-13T00:00+08:00.
    result = run(
        [twov_entry("T1", "2025-12-02T10:00:00+08:00", onward_departure_at="2025-12-12T16:00:00Z")]
    )
    assert Code.ONWARD_AFTER_DEADLINE not in code_set(result)


def test_an_onward_ticket_one_second_after_the_deadline_is_flagged() -> None:
    result = run(
        [
            twov_entry(
                "T1", "2025-12-02T10:00:00+08:00", onward_departure_at="2025-12-13T00:00:01+08:00"
            )
        ]
    )
    assert Code.ONWARD_AFTER_DEADLINE in code_set(result)


def test_an_onward_ticket_is_judged_against_the_144_hour_deadline_before_the_change() -> None:
    # D = 2024-12-10; 144 h -> 2024-12-17T00:00+08:00; a ticket on 12-20 is too late.
    result = run(
        [
            twov_entry(
                "T1", "2024-12-10T12:00:00+08:00", onward_departure_at="2024-12-20T10:00:00+08:00"
            )
        ]
    )
    assert Code.ONWARD_AFTER_DEADLINE in code_set(result)
