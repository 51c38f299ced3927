"""Residents leaving home need no recorded entry (DOMAIN.md 4.9).

``EEP`` leaving CN, ``HKID`` leaving HK and ``MOID`` leaving MO: the first exit of a resident the
ledger has not seen enter is not ``EXIT_WITHOUT_ENTRY``. Anyone else's exit with no open stay is,
and so is a resident's second exit with no return recorded in between.
"""

from __future__ import annotations

import pytest

from domain.decisions import Code
from tests.unit.rules.helpers import code_set, entry, heartbeat, leave, run, the

AT = "2025-12-02T09:00:00+08:00"
BACK = "2025-12-02T19:00:00+08:00"  # the same evening
HOMES = [("CN-LUOHU", "EEP"), ("HK-LO-WU", "HKID"), ("MO-BORDER-GATE", "MOID")]


@pytest.mark.parametrize(("port", "document"), HOMES)
def test_a_residents_first_exit_from_home_is_no_anomaly(port: str, document: str) -> None:
    result = run([leave("R", port, AT, nationality="CHN", document=document)])
    assert Code.EXIT_WITHOUT_ENTRY not in code_set(result)
    assert code_set(result) == set()


@pytest.mark.parametrize(
    ("port", "document"),
    [
        ("HK-LO-WU", "EEP"),  # a Mainland resident leaving HK did enter it
        ("CN-LUOHU", "HKID"),  # a Hong Kong resident leaving CN did enter it
        ("MO-BORDER-GATE", "HKID"),
        ("CN-LUOHU", "PASSPORT"),
        ("CN-LUOHU", "MTP_HKMO"),
    ],
)
def test_an_exit_from_anywhere_but_home_without_an_entry_is_an_anomaly(
    port: str, document: str
) -> None:
    result = run([leave("R", port, AT, nationality="CHN", document=document)])
    assert the(result, Code.EXIT_WITHOUT_ENTRY).jurisdiction == port.split("-", maxsplit=1)[0]


def test_a_second_exit_from_home_with_no_return_in_between_is_an_anomaly() -> None:
    first = leave("R", "CN-LUOHU", AT, nationality="CHN", document="EEP", event_id="out-1")
    second = leave(
        "R",
        "CN-FUTIAN",
        "2025-12-05T09:00:00+08:00",
        nationality="CHN",
        document="EEP",
        event_id="out-2",
    )
    result = run([first, second])
    assert the(result, Code.EXIT_WITHOUT_ENTRY).evidence == ("out-2",)


def test_a_day_trip_out_and_back_home_is_no_anomaly_and_opens_a_resident_stay() -> None:
    out = leave("R", "CN-LUOHU", AT, nationality="CHN", document="EEP", event_id="out")
    back = entry("R", "CN-LUOHU", BACK, "RESIDENT", nationality="CHN", document="EEP")
    result = run([out, back, heartbeat("2026-06-01T00:00:00+08:00")])
    assert code_set(result) == {Code.STAY_OPENED}  # no EXIT_BEFORE_ENTRY, no deadline
    assert the(result, Code.STAY_OPENED).deadline is None


def test_the_exemption_holds_in_any_arrival_order() -> None:
    out = leave("R", "HK-LO-WU", AT, nationality="CHN", document="HKID", event_id="out")
    back = entry("R", "HK-LO-WU", BACK, "RESIDENT", nationality="CHN", document="HKID")
    assert code_set(run([back, out])) == code_set(run([out, back])) == {Code.STAY_OPENED}


def test_a_resident_who_entered_home_and_left_again_closes_the_stay() -> None:
    back = entry("R", "MO-BORDER-GATE", AT, "RESIDENT", nationality="CHN", document="MOID")
    out = leave("R", "MO-HZMB", BACK, nationality="CHN", document="MOID")
    assert code_set(run([back, out])) == {Code.STAY_OPENED, Code.STAY_CLOSED}


def test_a_resident_visiting_hk_then_leaving_home_is_judged_per_jurisdiction() -> None:
    # Leaving CN (home, first exit) and entering HK as a visitor: only the HK stay is decided.
    out = leave("R", "CN-LUOHU", AT, nationality="CHN", document="EEP")
    hk = entry(
        "R", "HK-LO-WU", "2025-12-02T09:30:00+08:00", "VISITOR", nationality="CHN", document="EEP"
    )
    result = run([out, hk])
    assert code_set(result) == {Code.STAY_OPENED}
    assert the(result, Code.STAY_OPENED).jurisdiction == "HK"


def test_a_resident_whose_home_history_was_forgotten_is_no_longer_leaving_for_the_first_time() -> (
    None
):
    # Back home and out again in October, forgotten by December: the ledger has seen this
    # resident cross, so a December exit with no return recorded since is an anomaly, as it
    # would be with the October history still held.
    october = [
        entry(
            "R",
            "CN-LUOHU",
            "2025-10-01T19:00:00+08:00",
            "RESIDENT",
            nationality="CHN",
            document="EEP",
        ),
        leave("R", "CN-LUOHU", "2025-10-03T09:00:00+08:00", nationality="CHN", document="EEP"),
    ]
    december = leave(
        "R",
        "CN-FUTIAN",
        "2025-12-20T09:00:00+08:00",
        nationality="CHN",
        document="EEP",
        event_id="dec-out",
    )
    result = run([*october, heartbeat("2025-12-15T00:00:00+08:00"), december])
    assert the(result, Code.EXIT_WITHOUT_ENTRY).evidence == ("dec-out",)
