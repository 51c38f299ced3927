"""24-hour direct transit at CN airports, DOMAIN.md section 4.2.

The 24 hours are exact (not by date) and the airport must be designated at the arrival's local
date: nine airports from 2024-01-11, ten more from 2025-11-05.
"""

from __future__ import annotations

import pytest

from domain.decisions import Code
from tests.unit.rules.helpers import (
    code_set,
    crossing,
    entry,
    heartbeat,
    instant,
    retracted,
    run,
    the,
)

AIRPORTS_FROM_2024_01_11 = ["PEK", "PKX", "PVG", "HGH", "XMN", "CAN", "SZX", "TFU", "XIY"]
AIRPORTS_FROM_2025_11_05 = ["TSN", "DLC", "NKG", "FOC", "TAO", "WUH", "NNG", "HAK", "CKG", "KMG"]


def arrival(traveller: str, port: str, at: str, **kw: object) -> dict[str, object]:
    kw.setdefault("arrived_from", "USA")
    kw.setdefault("onward_to", "JPN")
    return crossing(traveller, port, "AIRSIDE_ARRIVAL", at, basis="DIRECT_TRANSIT", **kw)


def departure(traveller: str, port: str, at: str, **kw: object) -> dict[str, object]:
    return crossing(traveller, port, "AIRSIDE_DEPARTURE", at, **kw)


def test_the_module_lists_match_the_spec_counts() -> None:
    assert len(set(AIRPORTS_FROM_2024_01_11)) == 9
    assert len(set(AIRPORTS_FROM_2025_11_05)) == 10


def test_a_departure_exactly_24_hours_after_arrival_is_direct_transit_ok() -> None:
    result = run(
        [
            arrival("T1", "PEK", "2025-12-02T10:00:00+08:00"),
            departure("T1", "PEK", "2025-12-03T10:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_OK in code_set(result)
    assert Code.DIRECT_TRANSIT_EXCEEDED not in code_set(result)


def test_a_departure_24_hours_and_one_second_after_arrival_exceeds_direct_transit() -> None:
    result = run(
        [
            arrival("T1", "PEK", "2025-12-02T10:00:00+08:00"),
            departure("T1", "PEK", "2025-12-03T10:00:01+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_EXCEEDED in code_set(result)
    assert Code.DIRECT_TRANSIT_OK not in code_set(result)


def test_direct_transit_hours_are_exact_not_counted_by_calendar_date() -> None:
    # Arrival 00:30 on 12-02, departure 23:00 on 12-03: "the next day" but 46.5 h later.
    result = run(
        [
            arrival("T1", "PVG", "2025-12-02T00:30:00+08:00"),
            departure("T1", "PVG", "2025-12-03T23:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_EXCEEDED in code_set(result)


def test_a_short_connection_across_utc_midnight_is_ok() -> None:
    result = run(
        [
            arrival("T1", "CAN", "2025-12-01T22:00:00Z"),
            departure("T1", "CAN", "2025-12-02T03:00:00Z"),
        ]
    )
    assert Code.DIRECT_TRANSIT_OK in code_set(result)
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED not in code_set(result)


@pytest.mark.parametrize("port", AIRPORTS_FROM_2024_01_11)
def test_an_early_airport_is_not_designated_on_2024_01_10(port: str) -> None:
    result = run([arrival("T1", port, "2024-01-10T23:59:59+08:00")])
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED in code_set(result)


@pytest.mark.parametrize("port", AIRPORTS_FROM_2024_01_11)
def test_an_early_airport_is_designated_from_2024_01_11_local(port: str) -> None:
    # 2024-01-10T16:00Z is 2024-01-11 00:00 Beijing.
    result = run(
        [
            arrival("T1", port, "2024-01-10T16:00:00Z"),
            departure("T1", port, "2024-01-11T08:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED not in code_set(result)
    assert Code.DIRECT_TRANSIT_OK in code_set(result)


@pytest.mark.parametrize("port", AIRPORTS_FROM_2025_11_05)
def test_a_new_airport_is_not_designated_on_2025_11_04(port: str) -> None:
    result = run([arrival("T1", port, "2025-11-04T23:59:59+08:00")])
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED in code_set(result)


@pytest.mark.parametrize("port", AIRPORTS_FROM_2025_11_05)
def test_a_new_airport_is_designated_from_2025_11_05(port: str) -> None:
    result = run(
        [
            arrival("T1", port, "2025-11-05T00:00:00+08:00"),
            departure("T1", port, "2025-11-05T09:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED not in code_set(result)
    assert Code.DIRECT_TRANSIT_OK in code_set(result)


def test_designation_is_judged_at_arrival_even_if_departure_is_after_the_start_date() -> None:
    result = run(
        [
            arrival("T1", "TSN", "2025-11-04T22:00:00+08:00"),
            departure("T1", "TSN", "2025-11-05T06:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED in code_set(result)


@pytest.mark.parametrize("port", ["SHA", "URC", "CTU", "SHE"])
def test_an_airport_not_on_either_list_is_not_designated(port: str) -> None:
    result = run([arrival("T1", port, "2025-12-02T10:00:00+08:00")])
    assert Code.DIRECT_TRANSIT_NOT_DESIGNATED in code_set(result)


def test_onward_travel_back_to_the_origin_is_not_a_third_country() -> None:
    # Spec: "Onward must go to a third country or region". The code is not named in the spec;
    # INVALID_ITINERARY is the itinerary code of section 5 (see docs/notes/engine-findings.md).
    result = run(
        [
            arrival("T1", "PEK", "2025-12-02T10:00:00+08:00", onward_to="USA"),
            departure("T1", "PEK", "2025-12-02T18:00:00+08:00"),
        ]
    )
    assert Code.INVALID_ITINERARY in code_set(result)
    assert Code.DIRECT_TRANSIT_OK not in code_set(result)


def test_onward_travel_to_hong_kong_counts_as_a_third_region() -> None:
    result = run(
        [
            arrival("T1", "SZX", "2025-12-02T10:00:00+08:00", onward_to="HKG"),
            departure("T1", "SZX", "2025-12-02T18:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_OK in code_set(result)
    assert Code.INVALID_ITINERARY not in code_set(result)


def test_a_landside_entry_on_a_direct_transit_basis_means_the_passenger_left_the_airside() -> None:
    result = run(
        [
            arrival("T1", "PEK", "2025-12-02T10:00:00+08:00"),
            entry("T1", "PEK", "2025-12-02T12:00:00+08:00", "DIRECT_TRANSIT", arrived_from="USA"),
        ]
    )
    assert Code.DIRECT_TRANSIT_LEFT_AIRSIDE in code_set(result)


def test_a_landside_direct_transit_entry_without_an_arrival_also_left_the_airside() -> None:
    result = run([entry("T1", "PVG", "2025-12-02T12:00:00+08:00", "DIRECT_TRANSIT")])
    assert Code.DIRECT_TRANSIT_LEFT_AIRSIDE in code_set(result)


def test_an_airside_transit_opens_no_stay_in_cn() -> None:
    result = run(
        [
            arrival("T1", "PEK", "2025-12-02T10:00:00+08:00"),
            departure("T1", "PEK", "2025-12-02T20:00:00+08:00"),
        ]
    )
    assert Code.DIRECT_TRANSIT_LEFT_AIRSIDE not in code_set(result)
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)
    assert Code.ENTRY_WITHOUT_EXIT not in code_set(result)


# --- an airside arrival with no departure known (DOMAIN.md 4.2) ----------------------------------

ARRIVED = "2025-12-02T10:00:00+08:00"
LIMIT = "2025-12-03T10:00:00+08:00"  # 24 exact hours


def test_an_airside_arrival_without_departure_is_suspected_once_the_watermark_passes_24h() -> None:
    at_limit = run([arrival("T1", "PEK", ARRIVED)], as_of=LIMIT)
    assert Code.SUSPECTED_OVERSTAY not in code_set(at_limit)
    past = run([arrival("T1", "PEK", ARRIVED, event_id="arr")], as_of="2025-12-03T10:00:01+08:00")
    suspected = the(past, Code.SUSPECTED_OVERSTAY)
    assert suspected.evidence == ("arr",)
    assert suspected.deadline == instant(LIMIT)
    assert suspected.jurisdiction == "CN"


def test_another_gates_heartbeat_past_24h_makes_the_airside_arrival_suspected() -> None:
    result = run([arrival("T1", "PEK", ARRIVED), heartbeat("2025-12-03T10:00:01+08:00", "PVG")])
    assert Code.SUSPECTED_OVERSTAY in code_set(result)


def test_a_departure_within_24h_arriving_later_retracts_the_suspicion_as_direct_transit_ok() -> (
    None
):
    late = departure("T1", "PEK", "2025-12-03T09:00:00+08:00")
    result = run([arrival("T1", "PEK", ARRIVED), heartbeat("2025-12-05T00:00:00+08:00"), late])
    assert len(retracted(result, Code.SUSPECTED_OVERSTAY)) == 1
    assert code_set(result) == {Code.DIRECT_TRANSIT_OK}


def test_a_departure_after_24h_arriving_later_retracts_the_suspicion_as_exceeded() -> None:
    late = departure("T1", "PEK", "2025-12-03T12:00:00+08:00")
    result = run([arrival("T1", "PEK", ARRIVED), heartbeat("2025-12-05T00:00:00+08:00"), late])
    assert len(retracted(result, Code.SUSPECTED_OVERSTAY)) == 1
    assert code_set(result) == {Code.DIRECT_TRANSIT_EXCEEDED}
    assert the(result, Code.DIRECT_TRANSIT_EXCEEDED).overstay_seconds == 7200


def test_a_departure_turning_up_40_days_late_still_retracts_the_suspicion() -> None:
    late = departure("T1", "PEK", "2025-12-03T09:00:00+08:00")
    result = run([arrival("T1", "PEK", ARRIVED), heartbeat("2026-01-12T00:00:00+08:00"), late])
    assert code_set(result) == {Code.DIRECT_TRANSIT_OK}
